"""MNIST from the original IDX files (gzipped or not), read offline with numpy.

Layout under the data root::

    <root>/mnist/train-images-idx3-ubyte[.gz]   60,000 x 28 x 28 uint8
    <root>/mnist/train-labels-idx1-ubyte[.gz]   60,000 uint8
    <root>/mnist/t10k-images-idx3-ubyte[.gz]    10,000 x 28 x 28 uint8
    <root>/mnist/t10k-labels-idx1-ubyte[.gz]    10,000 uint8

When both the plain and the ``.gz`` file are there, the plain one is read (no decompression).

Checksums: the md5 of the **decompressed** content is compared with the well-known md5 of the
original uncompressed files (:data:`CANONICAL_MD5`). Checking the content rather than the gz file
means that re-gzipped copies (such as the ones in ``/work/shared/data/mnist``, whose gzip headers
differ from the canonical archives) pass, while any change to the actual bytes fails.
``verify=None`` (default) checks a file whenever its decompressed length equals the canonical
length, i.e. whenever it claims to be the official file; smaller files (test fakes, subsets) are
only checked structurally (magic number, dimensions, byte count, label range). ``verify=True``
insists on the canonical md5; ``verify=False`` skips it.
"""
from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

import numpy as np

from .paths import CorruptDataError, data_root, require_file

__all__ = ["load_mnist", "read_idx", "write_idx", "mnist_path", "CANONICAL_MD5", "CANONICAL_SIZE", "FILES"]

#: split -> (images file, labels file), without the optional ``.gz``
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

#: md5 of the uncompressed original files (LeCun's distribution)
CANONICAL_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}

#: byte length of the uncompressed original files
CANONICAL_SIZE = {
    "train-images-idx3-ubyte": 47_040_016,
    "train-labels-idx1-ubyte": 60_008,
    "t10k-images-idx3-ubyte": 7_840_016,
    "t10k-labels-idx1-ubyte": 10_008,
}

# IDX type codes -> numpy big-endian dtypes
_IDX_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_IDX_CODES = {v: k for k, v in _IDX_TYPES.items()}


def _where(root: Path, name: str) -> str:
    return (f"place {name}.gz (or the uncompressed {name}) from the MNIST distribution "
            f"in {root / 'mnist'}/")


def mnist_path(name: str, root=None) -> Path:
    """Path of the IDX file ``name`` (e.g. ``"train-images-idx3-ubyte"``): the plain file if
    present, else the ``.gz``. Raises :class:`MissingDataError` when neither is there."""
    folder = data_root(root) / "mnist"
    plain = folder / name
    if plain.is_file():
        return plain
    return require_file(folder / f"{name}.gz", f"MNIST IDX file {name} (gzipped or not)",
                        _where(data_root(root), name))


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise CorruptDataError(f"corrupt MNIST file {path}: cannot decompress ({type(e).__name__}: {e}); "
                               f"expected a complete gzip archive of an IDX file") from None


def _parse_idx(data: bytes, path) -> np.ndarray:
    if len(data) < 4:
        raise CorruptDataError(f"corrupt IDX file {path}: only {len(data)} bytes, expected an IDX header")
    zero, code, ndim = int.from_bytes(data[:2], "big"), data[2], data[3]
    if zero != 0 or code not in _IDX_TYPES or ndim == 0:
        raise CorruptDataError(f"corrupt IDX file {path}: bad magic number 0x{data[:4].hex()} "
                               f"(expected 0x0000 + type code + ndim, e.g. 0x00000803 for MNIST images)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise CorruptDataError(f"corrupt IDX file {path}: truncated header ({len(data)} bytes, expected {header})")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = _IDX_TYPES[code]
    expected = header + int(np.prod(dims)) * dtype.itemsize
    if len(data) != expected:
        raise CorruptDataError(f"corrupt IDX file {path}: {len(data)} bytes, expected {expected} for shape "
                               f"{dims} of {dtype} ({'truncated' if len(data) < expected else 'trailing bytes'})")
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path) -> np.ndarray:
    """Read one IDX file (``.gz`` or plain) into a native-endian numpy array, with structural checks."""
    path = require_file(path, "an IDX file")
    return _parse_idx(_read_bytes(path), path)


def write_idx(path, array) -> Path:
    """Write ``array`` as an IDX file; gzipped when ``path`` ends in ``.gz`` (used for fakes/tests)."""
    array = np.asarray(array)
    dt = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    if dt not in _IDX_CODES:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    header = bytes([0, 0, _IDX_CODES[dt], array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + np.ascontiguousarray(array, dtype=dt).tobytes()
    path = Path(path)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(data, compresslevel=6, mtime=0))
    else:
        path.write_bytes(data)
    return path


def _load_checked(path: Path, name: str, verify) -> np.ndarray:
    data = _read_bytes(path)
    canonical = len(data) == CANONICAL_SIZE[name]
    if verify or (verify is None and canonical):
        md5 = hashlib.md5(data).hexdigest()
        if md5 != CANONICAL_MD5[name]:
            raise CorruptDataError(
                f"checksum mismatch for {path}: md5 of the decompressed content is {md5}, expected "
                f"{CANONICAL_MD5[name]} ({CANONICAL_SIZE[name]:,} bytes) for the original {name}; "
                f"the file is damaged or not the official MNIST file")
    arr = _parse_idx(data, path)
    want_ndim = 3 if "images" in name else 1
    if arr.dtype != np.uint8 or arr.ndim != want_ndim or (want_ndim == 3 and arr.shape[1:] != (28, 28)):
        raise CorruptDataError(f"corrupt MNIST file {path}: array {arr.dtype} {arr.shape}, expected uint8 "
                               + ("[N, 28, 28] images (magic 2051)" if want_ndim == 3 else "[N] labels (magic 2049)"))
    return arr


def load_mnist(split: str = "train", root=None, verify: bool | None = None):
    """Load MNIST ``split`` ("train" or "test") from ``<root>/mnist``.

    Returns ``(images uint8 [N, 28, 28], labels uint8 [N])``. Never downloads: a missing file
    raises :class:`MissingDataError`, a damaged one :class:`CorruptDataError` (see the module
    docstring for ``verify``).
    """
    if split not in FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    img_name, lab_name = FILES[split]
    img_path, lab_path = mnist_path(img_name, root), mnist_path(lab_name, root)
    labels = _load_checked(lab_path, lab_name, verify)
    images = _load_checked(img_path, img_name, verify)
    if len(images) != len(labels):
        raise CorruptDataError(f"MNIST {split}: {img_path} holds {len(images)} images but {lab_path} holds "
                               f"{len(labels)} labels; expected the same count")
    if labels.size and labels.max() > 9:
        raise CorruptDataError(f"corrupt MNIST labels in {lab_path}: max label {labels.max()}, expected 0-9")
    return images, labels
