"""N-MNIST (Orchard et al. 2015) event files, read offline with numpy.

On-disk format (``.bin``, renamed ``.bs2`` in NMNISTsmall): 5 bytes per event,
byte 0 = x, byte 1 = y, bit 7 of byte 2 = polarity, bits 22..0 of bytes 2-4 = timestamp in µs
(big-endian). An event with y == 240 is a timestamp-overflow marker: every later timestamp is
increased by 2**13 and the marker itself is dropped (the same rule as ``tonic.io.read_mnist_file``,
whose output :func:`read_nmnist_bin` reproduces exactly, with the dtype of ``tonic.datasets.NMNIST``).

Two layouts under ``<root>/nmnist/`` are understood (``layout="auto"`` picks the official one when
its ``Train``/``Test`` folder exists, else NMNISTsmall):

* ``NMNISTsmall/``: ``N.bs2`` files with label files ``train1K.txt`` / ``test100.txt``
  (a ``#sample #class`` header, then ``sample<TAB>class`` lines);
* official: ``Train/<digit>/*.bin`` and ``Test/<digit>/*.bin`` (label = folder name).

Checksums: with ``verify=True`` (the default) the files used are hashed against
``<root>/nmnist/SHA256SUMS`` when that file exists (entries for files it does not list are
skipped). Hashing the 1,100 NMNISTsmall files takes about 0.05 s, so this is on by default; pass
``verify=False`` to skip it. The official full set has checksums only for its zip archives, so its
unzipped ``.bin`` files are checked structurally (byte count a multiple of 5, coordinates in range)
when read.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .paths import CorruptDataError, MissingDataError, data_root, require_file, sha256sum

__all__ = ["EVENT_DTYPE", "SENSOR_SIZE", "NMNIST", "read_nmnist_bin", "decode_nmnist", "encode_nmnist",
           "write_nmnist_bin", "load_nmnist", "read_sha256sums"]

#: the dtype of ``tonic.datasets.NMNIST`` (x, y, t in µs, p), all int64
EVENT_DTYPE = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])
#: (width, height, polarities)
SENSOR_SIZE = (34, 34, 2)

_OVERFLOW_Y = 240
_OVERFLOW_STEP = 1 << 13
_T_MAX = 1 << 23
_SMALL_LABELS = {"train": "train1K.txt", "test": "test100.txt"}
_OFFICIAL_DIRS = {"train": "Train", "test": "Test"}


def _where(root: Path) -> str:
    return (f"place the NMNISTsmall folder (N.bs2 files with train1K.txt and test100.txt) in {root / 'nmnist'}/, "
            f"or the unzipped official N-MNIST Train/<digit>/*.bin and Test/<digit>/*.bin folders in {root / 'nmnist'}/")


def decode_nmnist(raw: bytes | np.ndarray, source="<bytes>", sensor_size=SENSOR_SIZE) -> np.ndarray:
    """Decode the raw bytes of an N-MNIST ``.bin`` file into an :data:`EVENT_DTYPE` array."""
    raw = np.frombuffer(raw, dtype=np.uint8) if isinstance(raw, (bytes, bytearray, memoryview)) else np.asarray(raw, np.uint8)
    if raw.size % 5:
        raise CorruptDataError(f"corrupt N-MNIST file {source}: {raw.size} bytes is not a multiple of 5 "
                               f"(5 bytes per event); the file is truncated or not in the N-MNIST .bin format")
    r = raw.reshape(-1, 5).astype(np.int64)
    y = r[:, 1]
    overflow = y == _OVERFLOW_Y
    t = ((r[:, 2] & 127) << 16) | (r[:, 3] << 8) | r[:, 4]
    if overflow.any():
        t = t + _OVERFLOW_STEP * np.cumsum(overflow)
    keep = ~overflow
    ev = np.empty(int(keep.sum()), dtype=EVENT_DTYPE)
    ev["x"], ev["y"], ev["t"], ev["p"] = r[keep, 0], y[keep], t[keep], r[keep, 2] >> 7
    if sensor_size is not None and ev.size:
        w, h = sensor_size[:2]
        if ev["x"].max() >= w or ev["y"].max() >= h:
            raise CorruptDataError(f"corrupt N-MNIST file {source}: coordinates up to x={ev['x'].max()}, "
                                   f"y={ev['y'].max()}, expected x < {w} and y < {h} (sensor {sensor_size})")
    return ev


def read_nmnist_bin(path, sensor_size=SENSOR_SIZE) -> np.ndarray:
    """Read one N-MNIST ``.bin``/``.bs2`` file. ``sensor_size=None`` disables the coordinate check
    (for N-Caltech101 files, which share the format with a larger sensor)."""
    path = require_file(path, "an N-MNIST event file (.bin / .bs2, 5 bytes per event)")
    return decode_nmnist(np.fromfile(path, dtype=np.uint8), path, sensor_size)


def encode_nmnist(events) -> bytes:
    """Encode events (fields x, y, t, p) into the 5-byte N-MNIST format (no overflow markers)."""
    ev = np.asarray(events)
    if ev.dtype.names is None or not {"x", "y", "t", "p"} <= set(ev.dtype.names):
        raise ValueError(f"events need fields x, y, t, p; got dtype {ev.dtype}")
    x, y, t, p = (ev[k].astype(np.int64) for k in ("x", "y", "t", "p"))
    if ev.size:
        if x.min() < 0 or x.max() > 255 or y.min() < 0 or y.max() > 255 or (y == _OVERFLOW_Y).any():
            raise ValueError("x and y must lie in 0..255 and y must not be 240 (the overflow marker)")
        if t.min() < 0 or t.max() >= _T_MAX:
            raise ValueError(f"timestamps must lie in [0, 2**23) µs, got [{t.min()}, {t.max()}]")
        if not np.isin(p, (0, 1)).all():
            raise ValueError("polarity p must be 0 or 1")
    out = np.empty((ev.size, 5), dtype=np.uint8)
    out[:, 0], out[:, 1] = x, y
    out[:, 2] = (p << 7) | (t >> 16)
    out[:, 3] = (t >> 8) & 0xFF
    out[:, 4] = t & 0xFF
    return out.tobytes()


def write_nmnist_bin(path, events) -> Path:
    """Write events in the official N-MNIST ``.bin`` format (x, y, p bit 7 + 23-bit µs timestamp)."""
    path = Path(path)
    path.write_bytes(encode_nmnist(events))
    return path


def read_sha256sums(path) -> dict[str, str]:
    """Parse a ``sha256sum`` output file into {relative path: hex digest}."""
    sums = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        digest, _, name = line.partition(" ")
        sums[name.strip().lstrip("*")] = digest.lower()
    return sums


class NMNIST:
    """A list of N-MNIST samples read lazily: ``ds[i] -> (events, label)``."""

    def __init__(self, paths, labels, split: str, layout: str, root: Path):
        self.paths = list(paths)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.split, self.layout, self.root = split, layout, root
        self.sensor_size = SENSOR_SIZE

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        if not isinstance(i, (int, np.integer)):
            raise TypeError(f"NMNIST index must be an int, got {type(i).__name__}")
        n = len(self.paths)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for {n} samples")
        return read_nmnist_bin(self.paths[i]), int(self.labels[i])

    def __repr__(self):
        return f"NMNIST(split={self.split!r}, layout={self.layout!r}, n={len(self)}, root={str(self.root)!r})"


def _parse_label_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    samples, labels = [], []
    for k, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        try:
            s, c = int(parts[0]), int(parts[1])
        except (ValueError, IndexError):
            raise CorruptDataError(f"corrupt N-MNIST label file {path}, line {k}: {line!r}; "
                                   f"expected '<sample><TAB><class>'") from None
        if not 0 <= c <= 9:
            raise CorruptDataError(f"corrupt N-MNIST label file {path}, line {k}: class {c}, expected 0-9")
        samples.append(s)
        labels.append(c)
    if not samples:
        raise CorruptDataError(f"corrupt N-MNIST label file {path}: no '<sample> <class>' lines")
    return np.array(samples), np.array(labels)


def _natural_key(p: Path):
    return [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", p.name)]


def _load_small(split, base: Path, root: Path):
    folder = base / "NMNISTsmall"
    label_file = require_file(folder / _SMALL_LABELS[split],
                              f"N-MNIST {split} label file of the NMNISTsmall layout", _where(root))
    samples, labels = _parse_label_file(label_file)
    paths = [folder / f"{s}.bs2" for s in samples]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise MissingDataError(
            f"missing data file: {missing[0]} ({len(missing)} of the {len(paths)} files listed in {label_file} "
            f"are missing)\n  expected: N-MNIST event file in the NMNISTsmall layout\n  where: {_where(root)}")
    return paths, labels, [label_file]


def _load_official(split, base: Path, root: Path):
    folder = base / _OFFICIAL_DIRS[split]
    paths, labels = [], []
    for d in range(10):
        sub = folder / str(d)
        if not sub.is_dir():
            raise MissingDataError(f"missing data folder: {sub}\n  expected: the N-MNIST {split} files of digit {d} "
                                   f"(*.bin)\n  where: {_where(root)}")
        files = sorted(sub.glob("*.bin"), key=_natural_key)
        if not files:
            raise MissingDataError(f"missing data files: {sub} holds no *.bin files\n  expected: the N-MNIST "
                                   f"{split} recordings of digit {d}\n  where: {_where(root)}")
        paths += files
        labels += [d] * len(files)
    return paths, np.array(labels), []


def _verify(base: Path, files) -> None:
    sums_file = base / "SHA256SUMS"
    if not sums_file.is_file():
        return
    sums = read_sha256sums(sums_file)
    bad = []
    for p in files:
        rel = p.relative_to(base).as_posix()
        if rel in sums and sha256sum(p) != sums[rel]:
            bad.append(rel)
    if bad:
        raise CorruptDataError(f"checksum mismatch for {len(bad)} N-MNIST file(s) under {base}: "
                               f"{', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}; expected the sha256 "
                               f"listed in {sums_file}")


def load_nmnist(split: str = "train", root=None, layout: str = "auto", verify: bool = True) -> NMNIST:
    """N-MNIST ``split`` ("train" or "test") from ``<root>/nmnist`` (see the module docstring).

    ``layout``: "auto", "small" (NMNISTsmall) or "official" (Train/<digit>/*.bin). File lists and
    labels are read now; events are read lazily by ``ds[i]``.
    """
    if split not in _SMALL_LABELS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if layout not in ("auto", "small", "official"):
        raise ValueError(f"layout must be 'auto', 'small' or 'official', got {layout!r}")
    root = data_root(root)
    base = root / "nmnist"
    if layout == "auto":
        layout = "official" if (base / _OFFICIAL_DIRS[split]).is_dir() else "small"
    loader = _load_official if layout == "official" else _load_small
    paths, labels, extra = loader(split, base, root)
    if verify:
        _verify(base, list(paths) + extra)
    return NMNIST(paths, labels, split, layout, root)
