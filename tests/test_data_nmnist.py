"""N-MNIST .bin reader/writer and both folder layouts, on fakes and on the real files."""
import time
from pathlib import Path

import numpy as np
import pytest
import tonic.io

from snncore.data import CorruptDataError, MissingDataError
from snncore.data.fakes import fake_events, write_fake_nmnist_official, write_fake_nmnist_small
from snncore.data.nmnist import (EVENT_DTYPE, SENSOR_SIZE, decode_nmnist, encode_nmnist, load_nmnist,
                                 read_nmnist_bin, write_nmnist_bin)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"  # the Makefile's ../shared/data
needs_shared = pytest.mark.skipif(not (SHARED / "nmnist" / "NMNISTsmall").is_dir(), reason="shared N-MNIST not present")


def test_dtype_matches_tonic_dataset():
    import tonic.datasets
    assert EVENT_DTYPE == tonic.datasets.NMNIST.dtype
    assert SENSOR_SIZE == tonic.datasets.NMNIST.sensor_size


def test_write_read_roundtrip_and_tonic_agrees(tmp_path):
    rng = np.random.default_rng(1)
    ev = fake_events(rng, 500)
    ev["t"][-1] = 2**23 - 1  # largest timestamp the format holds
    p = write_nmnist_bin(tmp_path / "a.bin", ev)
    assert p.stat().st_size == 5 * 500
    back = read_nmnist_bin(p)
    assert back.dtype == EVENT_DTYPE
    np.testing.assert_array_equal(back, ev)
    np.testing.assert_array_equal(back, tonic.io.read_mnist_file(str(p), dtype=EVENT_DTYPE))


def test_byte_layout_by_hand():
    ev = np.array([(3, 7, 0x12345, 1), (33, 0, 5, 0)], dtype=EVENT_DTYPE)
    raw = encode_nmnist(ev)
    assert raw == bytes([3, 7, 0x80 | 0x01, 0x23, 0x45, 33, 0, 0, 0, 5])


def test_overflow_markers_like_tonic(tmp_path):
    # y == 240 marks a timestamp overflow: later events get +2**13 µs, the marker is dropped
    raw = bytes([1, 2, 0, 0, 10,   0, 240, 0, 0, 0,   4, 5, 0x80, 0, 20,   0, 240, 0, 0, 0,   6, 7, 0, 0, 30])
    (tmp_path / "o.bin").write_bytes(raw)
    ours = read_nmnist_bin(tmp_path / "o.bin")
    assert ours["t"].tolist() == [10, 20 + 8192, 30 + 2 * 8192] and ours["p"].tolist() == [0, 1, 0]
    np.testing.assert_array_equal(ours, tonic.io.read_mnist_file(str(tmp_path / "o.bin"), dtype=EVENT_DTYPE))


def test_corrupt_bin(tmp_path):
    p = write_nmnist_bin(tmp_path / "a.bin", fake_events(np.random.default_rng(0), 10))
    p.write_bytes(p.read_bytes()[:-2])
    with pytest.raises(CorruptDataError, match="not a multiple of 5") as e:
        read_nmnist_bin(p)
    assert str(p) in str(e.value)
    with pytest.raises(CorruptDataError, match="coordinates"):
        decode_nmnist(bytes([200, 3, 0, 0, 1]))
    assert decode_nmnist(bytes([200, 3, 0, 0, 1]), sensor_size=None)["x"][0] == 200
    with pytest.raises(MissingDataError, match="nope.bin"):
        read_nmnist_bin(tmp_path / "nope.bin")


def test_encode_rejects_bad_events():
    ev = np.zeros(1, dtype=EVENT_DTYPE)
    ev["t"] = 2**23
    with pytest.raises(ValueError, match="2\\*\\*23"):
        encode_nmnist(ev)
    ev["t"], ev["y"] = 0, 240
    with pytest.raises(ValueError, match="240"):
        encode_nmnist(ev)


def test_small_layout(tmp_path):
    truth = write_fake_nmnist_small(tmp_path, n_train=5, n_test=3)
    for split in ("train", "test"):
        ds = load_nmnist(split, root=tmp_path)
        assert ds.layout == "small" and len(ds) == len(truth[split][0])
        np.testing.assert_array_equal(ds.labels, truth[split][1])
        for i in range(len(ds)):
            ev, label = ds[i]
            np.testing.assert_array_equal(ev, truth[split][0][i])
            assert label == truth[split][1][i]
    assert ds[-1][1] == truth["test"][1][-1]
    with pytest.raises(IndexError):
        ds[len(ds)]
    assert [p.name for p in load_nmnist("test", root=tmp_path).paths] == ["60001.bs2", "60002.bs2", "60003.bs2"]


def test_small_layout_missing_and_checksum(tmp_path):
    with pytest.raises(MissingDataError) as e:
        load_nmnist("train", root=tmp_path)
    assert "train1K.txt" in str(e.value) and "Train/<digit>" in str(e.value)
    write_fake_nmnist_small(tmp_path, n_train=5, n_test=3)
    (tmp_path / "nmnist" / "NMNISTsmall" / "3.bs2").unlink()
    with pytest.raises(MissingDataError, match="3.bs2"):
        load_nmnist("train", root=tmp_path)
    # checksum mismatch is caught through SHA256SUMS, and only when verifying
    p = tmp_path / "nmnist" / "NMNISTsmall" / "60002.bs2"
    data = bytearray(p.read_bytes())
    data[3] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(CorruptDataError, match="60002.bs2"):
        load_nmnist("test", root=tmp_path)
    assert len(load_nmnist("test", root=tmp_path, verify=False)) == 3


def test_bad_label_file(tmp_path):
    write_fake_nmnist_small(tmp_path, n_train=2, n_test=1, checksums=False)
    (tmp_path / "nmnist" / "NMNISTsmall" / "test100.txt").write_text("#sample #class\n60001\tseven\n")
    with pytest.raises(CorruptDataError, match="test100.txt, line 2"):
        load_nmnist("test", root=tmp_path)


def test_official_layout(tmp_path):
    truth = write_fake_nmnist_official(tmp_path, n_per_digit=2)
    ds = load_nmnist("train", root=tmp_path)
    assert ds.layout == "official" and len(ds) == 20
    np.testing.assert_array_equal(ds.labels, np.repeat(np.arange(10), 2))
    for i in (0, 7, 19):
        np.testing.assert_array_equal(ds[i][0], truth["train"][0][i])
    # official layout wins in auto mode when both exist; "small" can be forced
    write_fake_nmnist_small(tmp_path, n_train=3, n_test=1)
    assert load_nmnist("train", root=tmp_path).layout == "official"
    assert len(load_nmnist("train", root=tmp_path, layout="small")) == 3
    # a missing digit folder is named
    import shutil
    shutil.rmtree(tmp_path / "nmnist" / "Test" / "4")
    with pytest.raises(MissingDataError, match="Test/4"):
        load_nmnist("test", root=tmp_path)


def test_official_numeric_order(tmp_path):
    sub = tmp_path / "nmnist" / "Train"
    rng = np.random.default_rng(0)
    for d in range(10):
        (sub / str(d)).mkdir(parents=True)
        for k in (10, 9, 100):
            write_nmnist_bin(sub / str(d) / f"{k}.bin", fake_events(rng, 3))
    assert [p.name for p in load_nmnist("train", root=tmp_path).paths[:3]] == ["9.bin", "10.bin", "100.bin"]


@needs_shared
def test_real_sample_bin():
    ev = read_nmnist_bin(SHARED / "dvs_samples" / "sample_nmnist.bin")
    assert len(ev) == 4325
    np.testing.assert_array_equal(ev, tonic.io.read_mnist_file(str(SHARED / "dvs_samples" / "sample_nmnist.bin"),
                                                              dtype=EVENT_DTYPE))


@needs_shared
def test_real_nmnistsmall():
    from snncore.data.mnist import load_mnist
    t0 = time.perf_counter()
    tr, te = load_nmnist("train", root=SHARED), load_nmnist("test", root=SHARED)  # verifies SHA256SUMS
    counts = [len(tr[i][0]) for i in range(len(tr))] + [len(te[i][0]) for i in range(len(te))]
    dt = time.perf_counter() - t0
    assert (len(tr), len(te)) == (1000, 100) and tr.layout == "small"
    assert dt < 5.0, f"reading 1,100 N-MNIST files took {dt:.2f} s"
    assert min(counts) == 1069 and max(counts) == 7152 and abs(np.mean(counts) - 4108) < 1
    np.testing.assert_array_equal(tr.labels, load_mnist("train", root=SHARED)[1][:1000])
    np.testing.assert_array_equal(te.labels, load_mnist("test", root=SHARED)[1][:100])
    ev = tr[0][0]
    assert ev["x"].max() < 34 and ev["y"].max() < 34 and set(np.unique(ev["p"])) <= {0, 1}
    assert np.all(np.diff(ev["t"]) >= 0) and 250_000 < ev["t"].max() < 350_000  # 3 saccades, ~306 ms
