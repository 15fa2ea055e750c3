"""Spiking Heidelberg Digits (SHD) h5 files, and binning events to dense (time, channel) arrays.

Official schema (Cramer et al. 2020; SSC uses the same one)::

    spikes/times   vlen float   spike times in seconds, one array per sample
    spikes/units   vlen int     channel (0..699) of each spike
    labels         int [N]      class 0..19
    extra/...      optional     speaker, keys, meta_info (read into ``SHD.extra``)

Quirks handled: times are floats (float16/32/64 are all accepted and kept as stored, converted
to a float dtype if needed); some public copies hold NaN times, which are dropped together with
their units and counted in ``SHD.n_nan_dropped``. The official release publishes md5s only for
its zip archives (not for the h5 files), so the h5 is checked against the schema instead: a
missing dataset, different numbers of samples, a sample whose times and units differ in length,
or a unit outside ``[0, n_channels)`` raises :class:`CorruptDataError`.

A stand-in written by :func:`write_shd_h5` with ``extra={"n_channels": C}`` is read with
``n_channels = C``; otherwise ``n_channels = 700``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .paths import CorruptDataError, data_root, require_file

__all__ = ["SHD", "load_shd", "read_shd_h5", "write_shd_h5", "bin_events", "bin_samples", "N_CHANNELS", "N_CLASSES"]

N_CHANNELS = 700
N_CLASSES = 20
_SPLITS = ("train", "test")


class SHD:
    """SHD samples held in memory: ``times[i]`` (float, s), ``units[i]`` (int), ``labels[i]``."""

    def __init__(self, times, units, labels, n_channels, source, n_nan_dropped=0, extra=None):
        self.times, self.units = times, units
        self.labels = np.asarray(labels, dtype=np.int64)
        self.n_channels, self.source = int(n_channels), source
        self.n_nan_dropped = int(n_nan_dropped)
        self.extra = extra or {}

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.times[i], self.units[i], int(self.labels[i])

    @property
    def n_events(self) -> int:
        return int(sum(len(t) for t in self.times))

    def __repr__(self):
        return (f"SHD(n={len(self)}, n_channels={self.n_channels}, n_events={self.n_events}, "
                f"n_nan_dropped={self.n_nan_dropped}, source={str(self.source)!r})")


def _read_extra(group) -> dict:
    import h5py
    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            val = obj[()]
            if isinstance(val, np.ndarray) and val.dtype.kind in "OS":
                val = np.array([v.decode() if isinstance(v, bytes) else v for v in val.ravel()],
                               dtype=object).reshape(val.shape)
            elif isinstance(val, bytes):
                val = val.decode()
            out[name] = val
    group.visititems(visit)
    return out


def read_shd_h5(path, n_channels: int | None = None) -> SHD:
    """Read an h5 file in the SHD schema (see the module docstring)."""
    import h5py

    path = require_file(path, "an h5 file in the SHD schema (spikes/times, spikes/units, labels)")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise CorruptDataError(f"corrupt SHD file {path}: not a readable HDF5 file ({e}); "
                               f"expected the official shd_*.h5 schema") from None
    with f:
        for key in ("spikes/times", "spikes/units", "labels"):
            if key not in f or not isinstance(f[key], h5py.Dataset):
                raise CorruptDataError(f"corrupt SHD file {path}: dataset '{key}' is missing; expected "
                                       f"datasets spikes/times, spikes/units and labels (found {sorted(_walk(f))})")
        try:
            times_raw = f["spikes/times"][()]
            units_raw = f["spikes/units"][()]
            labels = np.asarray(f["labels"][()])
        except (OSError, RuntimeError, KeyError) as e:
            raise CorruptDataError(f"corrupt SHD file {path}: cannot read datasets ({e}); the file may be "
                                   f"truncated") from None
        extra = _read_extra(f["extra"]) if "extra" in f and isinstance(f["extra"], h5py.Group) else {}
    n = len(labels)
    if labels.ndim != 1 or len(times_raw) != n or len(units_raw) != n:
        raise CorruptDataError(f"corrupt SHD file {path}: {len(times_raw)} time arrays, {len(units_raw)} unit "
                               f"arrays and labels of shape {labels.shape}; expected one of each per sample")
    if labels.dtype.kind not in "iu":
        raise CorruptDataError(f"corrupt SHD file {path}: labels have dtype {labels.dtype}, expected integers")
    if n_channels is None:
        n_channels = int(extra.get("n_channels", N_CHANNELS))
    if n == 0:
        return SHD([], [], labels, n_channels, path, 0, extra)
    lengths = np.fromiter((len(t) for t in times_raw), dtype=np.int64, count=n)
    ulengths = np.fromiter((len(u) for u in units_raw), dtype=np.int64, count=n)
    if (lengths != ulengths).any():
        i = int(np.flatnonzero(lengths != ulengths)[0])
        raise CorruptDataError(f"corrupt SHD file {path}: sample {i} has {lengths[i]} times but {ulengths[i]} "
                               f"units; expected equal lengths")
    # vectorised: concatenate once, filter, split back
    t_all = np.concatenate(times_raw) if lengths.sum() else np.zeros(0, np.float32)
    u_all = np.concatenate(units_raw) if lengths.sum() else np.zeros(0, np.int64)
    if t_all.dtype.kind != "f":
        t_all = t_all.astype(np.float64)
    if u_all.dtype.kind not in "iu":
        raise CorruptDataError(f"corrupt SHD file {path}: units have dtype {u_all.dtype}, expected integers")
    if u_all.size and (u_all.min() < 0 or u_all.max() >= n_channels):
        raise CorruptDataError(f"corrupt SHD file {path}: units range [{u_all.min()}, {u_all.max()}], "
                               f"expected [0, {n_channels})")
    nan = np.isnan(t_all)
    n_nan = int(nan.sum())
    if n_nan:
        keep = ~nan
        sample_of = np.repeat(np.arange(n), lengths)
        lengths = np.bincount(sample_of[keep], minlength=n)
        t_all, u_all = t_all[keep], u_all[keep]
    cuts = np.cumsum(lengths)[:-1]
    return SHD(np.split(t_all, cuts), np.split(u_all, cuts), labels, n_channels, path, n_nan, extra)


def _walk(f) -> list[str]:
    names = []
    f.visit(names.append)
    return names


def load_shd(split: str = "train", root=None, path=None) -> SHD:
    """SHD ``split`` from ``<root>/shd/shd_{train,test}.h5``, or the h5 file ``path`` if given
    (used for stand-ins written with :func:`write_shd_h5`). Never downloads."""
    if path is None:
        if split not in _SPLITS:
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        root = data_root(root)
        path = require_file(root / "shd" / f"shd_{split}.h5",
                            f"the official SHD {split} file shd_{split}.h5 (Cramer et al. 2020, h5 schema "
                            f"spikes/times, spikes/units, labels)",
                            f"place shd_train.h5 and shd_test.h5 from the official release (unzipped) in "
                            f"{root / 'shd'}/")
    return read_shd_h5(path)


def write_shd_h5(path, times, units, labels, extra: dict | None = None,
                 time_dtype=np.float32, unit_dtype=np.uint16) -> Path:
    """Write samples in the SHD schema, so stand-ins and fakes go through the same reader.
    ``extra`` entries become datasets under ``extra/`` (e.g. ``{"speaker": [...], "n_channels": 140}``)."""
    import h5py

    labels = np.asarray(labels)
    if not (len(times) == len(units) == len(labels)):
        raise ValueError(f"need one times array, one units array and one label per sample, got "
                         f"{len(times)}, {len(units)}, {len(labels)}")
    for i, (t, u) in enumerate(zip(times, units)):
        if len(t) != len(u):
            raise ValueError(f"sample {i}: {len(t)} times but {len(u)} units")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        g = f.create_group("spikes")
        for name, arrs, dt in (("times", times, time_dtype), ("units", units, unit_dtype)):
            ds = g.create_dataset(name, (len(arrs),), dtype=h5py.vlen_dtype(np.dtype(dt)))
            obj = np.empty(len(arrs), dtype=object)
            obj[:] = [np.asarray(a, dtype=dt) for a in arrs]
            if len(arrs):
                try:  # one bulk write; h5py refuses it when all arrays have the same length
                    ds[...] = obj
                except (TypeError, AttributeError, ValueError):
                    for i, a in enumerate(obj):
                        ds[i] = a
        f.create_dataset("labels", data=labels.astype(np.uint16 if labels.size == 0 or labels.min() >= 0 else np.int32))
        if extra:
            e = f.create_group("extra")
            for k, v in extra.items():
                v = np.asarray(v)
                if v.dtype.kind == "U":
                    v = v.astype(h5py.string_dtype())
                e.create_dataset(k, data=v)
    tmp.replace(path)
    return path


def _check_edges(edges) -> np.ndarray:
    edges = np.asarray(edges, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 2:
        raise ValueError(f"edges must be a 1-D array of at least 2 values, got shape {edges.shape}")
    if not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
        raise ValueError("edges must be finite and strictly increasing")
    return edges


def _bin_index(times, units, edges, n_channels):
    """Bin index of every event and the mask of events inside the edges (NaN times outside)."""
    t = np.asarray(times, dtype=np.float64).ravel()
    u = np.asarray(units).ravel()
    if t.shape != u.shape:
        raise ValueError(f"times and units must have the same length, got {t.size} and {u.size}")
    if u.size and (u.dtype.kind not in "iu" or u.min() < 0 or u.max() >= n_channels):
        raise ValueError(f"units must be integers in [0, {n_channels})")
    n_bins = len(edges) - 1
    # numpy.histogram semantics: [e_k, e_k+1) except the last bin, which is closed [e_-2, e_-1]
    b = np.searchsorted(edges, t, side="right") - 1
    b[t == edges[-1]] = n_bins - 1
    inside = (b >= 0) & (b < n_bins) & ~np.isnan(t)
    return b, u.astype(np.int64), inside


def bin_events(times, units, edges, n_channels: int = N_CHANNELS, dtype=np.int32, binary: bool = False) -> np.ndarray:
    """Count events per (time bin, channel): an array ``[len(edges) - 1, n_channels]``.

    Bins follow ``numpy.histogram``: bin k is ``[edges[k], edges[k+1])`` and the last bin is
    closed, so an event exactly on an inner edge goes to the right-hand bin. Events outside
    ``[edges[0], edges[-1]]`` and NaN times are dropped; every other event is counted once.
    ``binary=True`` clips counts at 1 (a spike raster).

    Note: code that indexes bins with ``numpy.digitize(t, edges)`` (as the DenRAM reference does)
    puts ``[edges[k], edges[k+1])`` at index ``k + 1`` and keeps index 0 empty; that raster is this
    one shifted down by one row.
    """
    edges = _check_edges(edges)
    b, u, inside = _bin_index(times, units, edges, n_channels)
    n_bins = len(edges) - 1
    counts = np.bincount(b[inside] * n_channels + u[inside], minlength=n_bins * n_channels)
    counts = counts.reshape(n_bins, n_channels)
    if binary:
        counts = np.minimum(counts, 1)
    return _cast(counts, dtype)


def bin_samples(times, units, edges, n_channels: int = N_CHANNELS, dtype=np.uint8, binary: bool = False) -> np.ndarray:
    """:func:`bin_events` for many samples at once: ``[N, len(edges) - 1, n_channels]`` (one
    ``bincount`` over all events). Raises if a count does not fit ``dtype``."""
    edges = _check_edges(edges)
    n, n_bins = len(times), len(edges) - 1
    if len(units) != n:
        raise ValueError(f"got {n} time arrays but {len(units)} unit arrays")
    if n == 0:
        return np.zeros((0, n_bins, n_channels), dtype=dtype)
    lengths = np.array([len(t) for t in times])
    if (lengths != np.array([len(u) for u in units])).any():
        raise ValueError("each sample needs as many units as times")
    sample = np.repeat(np.arange(n), lengths)
    t_all = np.concatenate([np.asarray(t, np.float64).ravel() for t in times])
    u_all = np.concatenate([np.asarray(u).ravel() if len(u) else np.zeros(0, np.int64) for u in units])
    b, u, inside = _bin_index(t_all, u_all, edges, n_channels)
    flat = (sample[inside] * n_bins + b[inside]) * n_channels + u[inside]
    out = np.zeros(n * n_bins * n_channels, dtype=dtype)  # no int64 temporary of the full size
    if binary:
        out[flat] = 1
    else:
        cells, counts = np.unique(flat, return_counts=True)
        out[cells] = _cast(counts, dtype)
    return out.reshape(n, n_bins, n_channels)


def _cast(counts: np.ndarray, dtype) -> np.ndarray:
    dtype = np.dtype(dtype)
    if dtype.kind in "iu" and counts.size and counts.max() > np.iinfo(dtype).max:
        raise ValueError(f"a bin holds {counts.max()} events, more than {dtype} can store; pass a wider dtype")
    return counts.astype(dtype, copy=False)
