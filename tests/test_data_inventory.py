"""Data inventory: presence, checksums and where missing files belong."""
import time
from pathlib import Path

import pytest

from snncore.data.fakes import write_fake_mnist, write_fake_nmnist_official, write_fake_nmnist_small, write_fake_shd
from snncore.data.inventory import DATASETS, format_inventory, inventory

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"  # the Makefile's ../shared/data
needs_shared = pytest.mark.skipif(not (SHARED / "README.md").is_file(), reason="shared data not present")


def _by_file(rows):
    return {r["file"]: r for r in rows}


def test_empty_root_names_every_missing_file(tmp_path):
    rows = inventory(tmp_path)
    assert {r["dataset"] for r in rows} == set(DATASETS)
    assert not any(r["present"] for r in rows)
    by = _by_file(rows)
    r = by["mnist/train-images-idx3-ubyte.gz"]
    assert r["status"] == "MISSING" and r["where"] == str(tmp_path / "mnist" / "train-images-idx3-ubyte.gz")
    assert str(tmp_path / "mnist") in r["detail"]
    shd = by["shd/shd_train.h5"]
    assert shd["status"] == "not available here"
    assert shd["detail"] == (f"not available here: place shd_train.h5 and shd_test.h5 from the official "
                             f"release in {tmp_path / 'shd'}/")
    fsdd = [r for r in rows if r["dataset"] == "fsdd"][0]
    assert "0/3000" in fsdd["detail"] and "0_george_0.wav" in fsdd["detail"]
    text = format_inventory(rows)
    assert str(tmp_path) in text and "MISSING: mnist/t10k-labels-idx1-ubyte.gz" in text
    assert "dvs_samples/sample_nmnist.bin" in text


def test_fake_root_presence_and_checksums(tmp_path):
    write_fake_mnist(tmp_path, n_train=4, n_test=2)
    write_fake_nmnist_small(tmp_path, n_train=3, n_test=2)
    write_fake_nmnist_official(tmp_path, n_per_digit=1)
    write_fake_shd(tmp_path, n_train=3, n_test=2)
    by = _by_file(inventory(tmp_path))
    # fakes are present, but are not the official MNIST content
    r = by["mnist/train-images-idx3-ubyte.gz"]
    assert r["present"] and r["checksum_ok"] is False and r["status"] == "CORRUPT"
    # NMNISTsmall: the label files define the expected samples; SHA256SUMS verifies them
    small = by["nmnist/NMNISTsmall/*.bs2 (train, 3 samples)"]
    assert small["present"] and small["checksum_ok"] is True and "3/3 sha256 ok" in small["detail"]
    assert by["nmnist/NMNISTsmall/test100.txt"]["checksum_ok"] is True
    assert by["nmnist/Train/<digit>/*.bin"]["present"] and "10 .bin files" in by["nmnist/Train/<digit>/*.bin"]["detail"]
    shd = by["shd/shd_test.h5"]
    assert shd["present"] and shd["status"] == "ok (schema)" and "2 samples" in shd["detail"]


def test_detects_damage(tmp_path):
    write_fake_nmnist_small(tmp_path, n_train=3, n_test=2)
    p = tmp_path / "nmnist" / "NMNISTsmall" / "2.bs2"
    p.write_bytes(p.read_bytes()[:-5])
    (tmp_path / "nmnist" / "NMNISTsmall" / "60002.bs2").unlink()
    (tmp_path / "shd").mkdir()
    (tmp_path / "shd" / "shd_train.h5").write_bytes(b"garbage")
    rows = inventory(tmp_path, datasets=("nmnist-small", "shd"))
    by = _by_file(rows)
    train = by["nmnist/NMNISTsmall/*.bs2 (train, 3 samples)"]
    assert train["checksum_ok"] is False and train["status"] == "CORRUPT" and "2.bs2" in train["detail"]
    test = by["nmnist/NMNISTsmall/*.bs2 (test, 2 samples)"]
    assert not test["present"] and test["status"] == "INCOMPLETE" and "60002.bs2" in test["detail"]
    assert by["shd/shd_train.h5"]["status"] == "CORRUPT"
    text = format_inventory(rows)
    assert "CORRUPT: nmnist/NMNISTsmall/*.bs2 (train, 3 samples)" in text and "INCOMPLETE" in text


def test_verify_false_skips_hashing(tmp_path):
    write_fake_mnist(tmp_path, n_train=4, n_test=2)
    r = _by_file(inventory(tmp_path, verify=False, datasets=("mnist",)))["mnist/t10k-images-idx3-ubyte.gz"]
    assert r["present"] and r["checksum_ok"] is None


def test_unknown_dataset(tmp_path):
    with pytest.raises(ValueError, match="unknown datasets"):
        inventory(tmp_path, datasets=("imagenet",))


@needs_shared
def test_real_data_root():
    t0 = time.perf_counter()
    rows = inventory(SHARED)
    dt = time.perf_counter() - t0
    assert dt < 10, f"inventory took {dt:.1f} s"
    by = _by_file(rows)
    for f in ("mnist/train-images-idx3-ubyte.gz", "nmnist/NMNISTsmall/*.bs2 (train, 1000 samples)",
              "fsdd/recordings/*.wav (3000 recordings)", "dvs_samples/sample_nmnist.bin",
              "speech_commands_v0.01_subset/<word>/*.wav (300 clips)"):
        assert by[f]["present"] and by[f]["checksum_ok"] is True, by[f]
    assert by["shd/shd_train.h5"]["status"] == "not available here"
    assert not [r for r in rows if r["status"] in ("MISSING", "INCOMPLETE", "CORRUPT")]
