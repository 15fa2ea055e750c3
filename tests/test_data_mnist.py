"""MNIST IDX reader: fakes in the raw format (gz and plain), corruption, missing files, real data."""
import gzip
import time
from pathlib import Path

import numpy as np
import pytest

from snncore.data import CorruptDataError, MissingDataError
from snncore.data.fakes import write_fake_mnist
from snncore.data.mnist import load_mnist, read_idx, write_idx

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"  # the Makefile's ../shared/data
needs_shared = pytest.mark.skipif(not (SHARED / "mnist").is_dir(), reason="shared MNIST data not present")


@pytest.mark.parametrize("gz", [True, False])
def test_roundtrip_fake(tmp_path, gz):
    truth = write_fake_mnist(tmp_path, n_train=7, n_test=3, gz=gz)
    for split in ("train", "test"):
        images, labels = load_mnist(split, root=tmp_path)
        assert images.dtype == np.uint8 and labels.dtype == np.uint8
        assert images.shape == (len(truth[split][0]), 28, 28)
        np.testing.assert_array_equal(images, truth[split][0])
        np.testing.assert_array_equal(labels, truth[split][1])
    assert (tmp_path / "mnist" / ("train-images-idx3-ubyte" + (".gz" if gz else ""))).is_file()


def test_env_root(tmp_path, monkeypatch):
    truth = write_fake_mnist(tmp_path, n_train=4, n_test=2)
    monkeypatch.setenv("SNNCORE_DATA", str(tmp_path))
    np.testing.assert_array_equal(load_mnist("test")[1], truth["test"][1])


def test_missing_file_names_file_and_place(tmp_path):
    with pytest.raises(MissingDataError) as e:
        load_mnist("train", root=tmp_path)
    msg = str(e.value)
    assert "train-" in msg and "idx" in msg and str(tmp_path / "mnist") in msg and "place" in msg


def test_missing_one_of_two(tmp_path):
    write_fake_mnist(tmp_path, n_train=4, n_test=2)
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(MissingDataError, match="t10k-labels-idx1-ubyte"):
        load_mnist("test", root=tmp_path)
    load_mnist("train", root=tmp_path)  # the other split is unaffected


def test_bad_magic(tmp_path):
    write_fake_mnist(tmp_path, n_train=4, n_test=2, gz=False)
    p = tmp_path / "mnist" / "train-images-idx3-ubyte"
    data = bytearray(p.read_bytes())
    data[0] = 0x12
    p.write_bytes(bytes(data))
    with pytest.raises(CorruptDataError, match="magic") as e:
        load_mnist("train", root=tmp_path)
    assert str(p) in str(e.value)


def test_truncated_plain_and_gz(tmp_path):
    write_fake_mnist(tmp_path, n_train=4, n_test=2, gz=False)
    p = tmp_path / "mnist" / "train-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(CorruptDataError, match="truncated"):
        load_mnist("train", root=tmp_path)
    write_fake_mnist(tmp_path / "g", n_train=50, n_test=2, gz=True)
    g = tmp_path / "g" / "mnist" / "train-images-idx3-ubyte.gz"
    g.write_bytes(g.read_bytes()[: len(g.read_bytes()) // 2])
    with pytest.raises(CorruptDataError, match="decompress") as e:
        load_mnist("train", root=tmp_path / "g")
    assert str(g) in str(e.value)


def test_count_mismatch_and_label_range(tmp_path):
    write_fake_mnist(tmp_path, n_train=4, n_test=2)
    write_idx(tmp_path / "mnist" / "train-labels-idx1-ubyte.gz", np.zeros(5, np.uint8))
    with pytest.raises(CorruptDataError, match="4 images but .* 5 labels"):
        load_mnist("train", root=tmp_path)
    write_idx(tmp_path / "mnist" / "train-labels-idx1-ubyte.gz", np.full(4, 12, np.uint8))
    with pytest.raises(CorruptDataError, match="label"):
        load_mnist("train", root=tmp_path)


def test_wrong_kind_of_idx(tmp_path):
    write_fake_mnist(tmp_path, n_train=4, n_test=2)
    write_idx(tmp_path / "mnist" / "train-images-idx3-ubyte.gz", np.zeros((4, 28, 27), np.uint8))
    with pytest.raises(CorruptDataError, match="28, 28"):
        load_mnist("train", root=tmp_path)


def test_checksum_on_canonical_length(tmp_path):
    """A file of the official length must carry the official md5; small fakes are exempt
    unless verify=True."""
    write_fake_mnist(tmp_path, n_train=4, n_test=10_000)  # t10k labels: exactly 10,008 bytes
    with pytest.raises(CorruptDataError, match="checksum mismatch.*27ae3e4e"):
        load_mnist("test", root=tmp_path)
    assert load_mnist("test", root=tmp_path, verify=False)[1].shape == (10_000,)
    load_mnist("train", root=tmp_path)
    with pytest.raises(CorruptDataError, match="checksum"):
        load_mnist("train", root=tmp_path, verify=True)


def test_read_write_idx_other_dtypes(tmp_path):
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    write_idx(tmp_path / "a.idx", a)
    b = read_idx(tmp_path / "a.idx")
    assert b.dtype == np.float32 and b.dtype.isnative
    np.testing.assert_array_equal(a, b)


def test_bad_split(tmp_path):
    with pytest.raises(ValueError, match="split"):
        load_mnist("validation", root=tmp_path)


@needs_shared
def test_real_mnist_fast_and_checked():
    t0 = time.perf_counter()
    images, labels = load_mnist("train", root=SHARED, verify=True)
    dt = time.perf_counter() - t0
    assert images.shape == (60_000, 28, 28) and labels.shape == (60_000,)
    assert labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert np.bincount(labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert dt < 2.0, f"loading 60,000 MNIST images took {dt:.2f} s"
    images, labels = load_mnist("test", root=SHARED)
    assert images.shape == (10_000, 28, 28) and labels[:5].tolist() == [7, 2, 1, 0, 4]


@needs_shared
def test_real_regzipped_copy_passes_content_md5(tmp_path):
    # the plain, decompressed file must pass the same check
    (tmp_path / "mnist").mkdir()
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        with gzip.open(SHARED / "mnist" / f"{name}.gz") as f:
            (tmp_path / "mnist" / name).write_bytes(f.read())
    images, labels = load_mnist("test", root=tmp_path, verify=True)
    assert images.shape == (10_000, 28, 28)
    # one flipped pixel in the official-length file is caught
    p = tmp_path / "mnist" / "t10k-images-idx3-ubyte"
    data = bytearray(p.read_bytes())
    data[5000] ^= 1
    p.write_bytes(bytes(data))
    with pytest.raises(CorruptDataError, match="checksum mismatch"):
        load_mnist("test", root=tmp_path)
