"""Tiny fake data files in the raw on-disk formats, for tests and smoke runs.

Each writer puts files under a data root exactly where the readers look for them and returns
what it wrote, so a test can compare the reader's output with the truth:

* :func:`write_fake_mnist`: IDX files (gzipped or plain) in ``<root>/mnist/``;
* :func:`write_fake_nmnist_small`: ``N.bs2`` files, ``train1K.txt`` / ``test100.txt`` (header,
  tabs, CRLF like the real ones) and a ``SHA256SUMS`` in ``<root>/nmnist/``;
* :func:`write_fake_nmnist_official`: ``<root>/nmnist/{Train,Test}/<digit>/NNNNN.bin``;
* :func:`write_fake_shd`: ``<root>/shd/shd_{train,test}.h5`` with float times, a few NaN times
  and one empty sample.

The contents are random (not digits): they test formats, not learning.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .mnist import FILES, write_idx
from .nmnist import EVENT_DTYPE, SENSOR_SIZE, write_nmnist_bin
from .paths import sha256sum
from .shd import write_shd_h5

__all__ = ["fake_events", "write_fake_mnist", "write_fake_nmnist_small", "write_fake_nmnist_official",
           "write_fake_shd", "fake_shd_samples", "write_sha256sums"]


def fake_events(rng, n: int, duration_us: int = 300_000, sensor_size=SENSOR_SIZE) -> np.ndarray:
    """``n`` random N-MNIST-like events sorted by time (:data:`EVENT_DTYPE`)."""
    ev = np.empty(n, dtype=EVENT_DTYPE)
    ev["x"] = rng.integers(0, sensor_size[0], n)
    ev["y"] = rng.integers(0, sensor_size[1], n)
    ev["t"] = np.sort(rng.integers(0, duration_us, n))
    ev["p"] = rng.integers(0, 2, n)
    return ev


def write_sha256sums(folder, files) -> Path:
    """Write ``folder/SHA256SUMS`` for ``files`` (paths under ``folder``), like ``sha256sum``."""
    folder = Path(folder)
    lines = [f"{sha256sum(p)}  {Path(p).relative_to(folder).as_posix()}" for p in sorted(files)]
    out = folder / "SHA256SUMS"
    out.write_text("\n".join(lines) + "\n")
    return out


def write_fake_mnist(root, n_train: int = 20, n_test: int = 10, gz: bool = True, seed: int = 0) -> dict:
    """Random IDX files for both splits; returns {split: (images, labels)}."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "mnist"
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        img_name, lab_name = FILES[split]
        suffix = ".gz" if gz else ""
        write_idx(folder / (img_name + suffix), images)
        write_idx(folder / (lab_name + suffix), labels)
        out[split] = (images, labels)
    return out


def write_fake_nmnist_small(root, n_train: int = 6, n_test: int = 4, seed: int = 0, checksums: bool = True,
                            events_per_sample=(50, 400)) -> dict:
    """NMNISTsmall layout; samples 1..n_train and 60001..60000+n_test.
    Returns {split: (list of events, labels)} in label-file order."""
    rng = np.random.default_rng(seed)
    base = Path(root) / "nmnist"
    folder = base / "NMNISTsmall"
    folder.mkdir(parents=True, exist_ok=True)
    out, written = {}, []
    for split, n, first, label_name in (("train", n_train, 1, "train1K.txt"), ("test", n_test, 60001, "test100.txt")):
        labels = rng.integers(0, 10, n)
        evs = []
        lines = ["#sample #class"]
        for k in range(n):
            ev = fake_events(rng, int(rng.integers(*events_per_sample)))
            written.append(write_nmnist_bin(folder / f"{first + k}.bs2", ev))
            evs.append(ev)
            lines.append(f"{first + k}\t{labels[k]}")
        label_file = folder / label_name
        label_file.write_bytes(("\r\n".join(lines) + "\r\n").encode())
        written.append(label_file)
        out[split] = (evs, labels)
    if checksums:
        write_sha256sums(base, written)
    return out


def write_fake_nmnist_official(root, n_per_digit: int = 2, seed: int = 0, events_per_sample=(50, 400)) -> dict:
    """Official layout ``Train/<digit>/*.bin`` and ``Test/<digit>/*.bin``.
    Returns {split: (list of events, labels)} in the reader's order (digit, then file number)."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, folder_name in (("train", "Train"), ("test", "Test")):
        evs, labels, k = [], [], 0
        for d in range(10):
            sub = Path(root) / "nmnist" / folder_name / str(d)
            sub.mkdir(parents=True, exist_ok=True)
            for _ in range(n_per_digit):
                k += 1
                ev = fake_events(rng, int(rng.integers(*events_per_sample)))
                write_nmnist_bin(sub / f"{k:05d}.bin", ev)
                evs.append(ev)
                labels.append(d)
        out[split] = (evs, np.array(labels))
    return out


def fake_shd_samples(rng, n: int, n_channels: int = 700, n_nan: int = 5, duration_s: float = 1.0,
                     events_per_sample=(20, 300), empty_first: bool = True):
    """Random SHD-like samples: (times float64 s with ``n_nan`` NaNs spread over samples, units, labels)."""
    times, units = [], []
    for i in range(n):
        m = 0 if (empty_first and i == 0) else int(rng.integers(*events_per_sample))
        times.append(np.sort(rng.uniform(0.0, duration_s, m)))
        units.append(rng.integers(0, n_channels, m))
    candidates = [i for i in range(n) if len(times[i])]
    for _ in range(n_nan if candidates else 0):
        i = candidates[int(rng.integers(len(candidates)))]
        times[i][int(rng.integers(len(times[i])))] = np.nan
    labels = rng.integers(0, 20, n)
    return times, units, labels


def write_fake_shd(root, n_train: int = 8, n_test: int = 4, n_channels: int = 700, n_nan: int = 5,
                   seed: int = 0, time_dtype=np.float32) -> dict:
    """``<root>/shd/shd_{train,test}.h5`` in the official schema. Returns {split: (times, units,
    labels)} as written (times in ``time_dtype`` precision, NaNs included)."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        times, units, labels = fake_shd_samples(rng, n, n_channels, n_nan)
        times = [t.astype(time_dtype) for t in times]
        extra = {"speaker": rng.integers(0, 12, n)}
        if n_channels != 700:
            extra["n_channels"] = n_channels
        write_shd_h5(Path(root) / "shd" / f"shd_{split}.h5", times, units, labels, extra=extra, time_dtype=time_dtype)
        out[split] = (times, units, labels)
    return out
