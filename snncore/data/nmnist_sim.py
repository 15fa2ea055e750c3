"""A full-size N-MNIST stand-in simulated from MNIST images (an idealised event camera).

The real N-MNIST (Orchard et al. 2015) was recorded by moving an ATIS sensor in three saccades in
front of MNIST digits shown on a monitor: about 306 ms, a 34x34 sensor. Only 1,000 + 100 real
recordings are staged offline, so this module renders every MNIST image along the same three
saccades and emits ON/OFF events wherever a pixel's log intensity has changed by ``threshold``
since its last event (the DVS principle). Files are written in the official ``.bin`` format with
:func:`snncore.data.nmnist.write_nmnist_bin`, in the official layout

    <cache_dir("nmnist_sim")>/nmnist/{Train,Test}/<digit>/<n>.bin

where ``n`` is the N-MNIST sample number (train sample ``n`` = MNIST train image ``n-1``; test
sample ``n`` = MNIST test image ``n-1``; the real test files are named ``60000+n``). They are read
back by :func:`snncore.data.nmnist.load_nmnist` (``root=sim_root()``) like the real data.

The saccade path was calibrated on the 1,000 real training recordings (event centroid relative to
the MNIST image centroid over time, see ``notebooks/larisch_data.py``): a triangle with corners
``SACCADE_CORNERS`` (x, y offsets in sensor pixels of the 28x28 image's top-left corner), each leg
``SACCADE_MS`` long with a raised-cosine (bell-shaped) velocity, so the event rate dips at the
turns as it does in the recordings. ``threshold`` was chosen so the mean event count matches the
real recordings (about 4,100 per sample).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .nmnist import EVENT_DTYPE, SENSOR_SIZE, write_nmnist_bin
from .paths import cache_dir

__all__ = ["SimConfig", "trajectory", "simulate_events", "simulate_split", "sim_root"]

#: top-left offset (x, y) of the 28x28 image at the start of each saccade (the path closes)
SACCADE_CORNERS = ((0.8, 1.5), (2.6, 6.2), (5.7, 1.6))
SACCADE_MS = 102.0
#: the movement inside each leg lasts this long, then the image rests until the next leg
MOVE_MS = 88.0


class SimConfig(dict):
    """Simulator settings (a dict, so it is written to the manifest as JSON)."""

    DEFAULTS = {"threshold": 0.34, "eps": 0.1, "blur_sigma": 0.6, "dt_us": 1000,
                "corners": SACCADE_CORNERS, "saccade_ms": SACCADE_MS, "move_ms": MOVE_MS, "seed": 0, "version": 1}

    def __init__(self, **kw):
        bad = set(kw) - set(self.DEFAULTS)
        if bad:
            raise ValueError(f"unknown simulator setting(s) {sorted(bad)}; valid: {sorted(self.DEFAULTS)}")
        super().__init__({**self.DEFAULTS, **kw})
        self["corners"] = [list(map(float, c)) for c in self["corners"]]
        if not 0 < self["move_ms"] <= self["saccade_ms"]:
            raise ValueError("move_ms must lie in (0, saccade_ms]")
        if not (self["threshold"] > 0 and self["eps"] > 0 and self["dt_us"] > 0 and self["saccade_ms"] > 0):
            raise ValueError(f"threshold, eps, dt_us and saccade_ms must be positive: {dict(self)}")
        if len(self["corners"]) != 3:
            raise ValueError("corners: three (x, y) saccade corners are needed")


def trajectory(cfg: SimConfig, times_us: np.ndarray) -> np.ndarray:
    """Image offset (x, y) in sensor pixels at ``times_us``: three legs A->B->C->A."""
    c = np.asarray(cfg["corners"], float)
    legs = [(c[0], c[1]), (c[1], c[2]), (c[2], c[0])]
    T = cfg["saccade_ms"] * 1000.0
    t = np.clip(np.asarray(times_us, float), 0, 3 * T - 1e-9)
    k = (t // T).astype(int)
    tau = np.minimum((t - k * T) / (cfg["move_ms"] * 1000.0), 1.0)
    s = (1 - np.cos(np.pi * tau)) / 2              # raised-cosine velocity profile
    a = np.stack([legs[i][0] for i in range(3)])[k]
    b = np.stack([legs[i][1] for i in range(3)])[k]
    return a + (b - a) * s[:, None]


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return img
    r = int(np.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    out = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), -1, img)
    return np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), -2, out)


def _render(canvas: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Shift ``canvas`` [B, H, W] (image at offset 0) by (dx, dy) >= 0 px, bilinear, zero fill."""
    B, H, W = canvas.shape
    ix, fx = int(np.floor(dx)), dx - np.floor(dx)
    iy, fy = int(np.floor(dy)), dy - np.floor(dy)
    pad = np.zeros((B, H + 1, W + 1), canvas.dtype)
    pad[:, 1:, 1:] = canvas
    # value at sensor (y, x) = canvas(y - dy, x - dx): bilinear from the 4 neighbours
    out = np.zeros_like(canvas)
    ys = np.arange(H) - iy
    xs = np.arange(W) - ix
    yy0 = np.clip(ys, -1, H - 1) + 1  # index into pad (pad row 0 = outside)
    yy1 = np.clip(ys - 1, -1, H - 1) + 1
    xx0 = np.clip(xs, -1, W - 1) + 1
    xx1 = np.clip(xs - 1, -1, W - 1) + 1
    for (yi, wy) in ((yy0, 1 - fy), (yy1, fy)):
        for (xi, wx) in ((xx0, 1 - fx), (xx1, fx)):
            out += wy * wx * pad[:, yi][:, :, xi]
    return out


def simulate_events(images: np.ndarray, cfg: SimConfig | None = None, rng=None) -> list[np.ndarray]:
    """Simulate N-MNIST-like recordings of ``images`` (uint8 [B, 28, 28]); returns one
    :data:`EVENT_DTYPE` array per image, sorted by time (µs)."""
    cfg = cfg or SimConfig()
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"images must be [B, 28, 28], got {images.shape}")
    rng = rng if rng is not None else np.random.default_rng(cfg["seed"])
    B = images.shape[0]
    W, H = SENSOR_SIZE[:2]
    canvas = np.zeros((B, H, W))
    canvas[:, :28, :28] = images / 255.0
    canvas = _blur(canvas, cfg["blur_sigma"])
    dt = float(cfg["dt_us"])
    t_end = 3 * cfg["saccade_ms"] * 1000.0
    times = np.arange(0.0, t_end + dt, dt)
    path = trajectory(cfg, times)
    logi = lambda im: np.log(im + cfg["eps"])  # noqa: E731
    ref = logi(_render(canvas, *path[0]))
    th = cfg["threshold"]
    chunks = [[] for _ in range(B)]
    for k in range(1, len(times)):
        cur = logi(_render(canvas, *path[k]))
        d = cur - ref
        n = np.floor(np.abs(d) / th).astype(np.int64)
        if not n.any():
            continue
        b, y, x = np.nonzero(n)
        cnt = n[b, y, x]
        pol = (d[b, y, x] > 0).astype(np.int64)
        ref[b, y, x] += np.sign(d[b, y, x]) * cnt * th
        rep = np.repeat(np.arange(len(b)), cnt)
        # crossing times spread uniformly within the step (linear interpolation of log intensity)
        t = times[k - 1] + rng.random(len(rep)) * dt
        ev = np.empty(len(rep), EVENT_DTYPE)
        ev["x"], ev["y"], ev["t"], ev["p"] = x[rep], y[rep], t.astype(np.int64), pol[rep]
        bb = b[rep]
        order = np.argsort(bb, kind="stable")
        bounds = np.searchsorted(bb[order], np.arange(B + 1))
        for i in np.unique(bb):
            chunks[i].append(ev[order[bounds[i]:bounds[i + 1]]])
    out = []
    for c in chunks:
        e = np.concatenate(c) if c else np.zeros(0, EVENT_DTYPE)
        out.append(e[np.argsort(e["t"], kind="stable")])
    return out


def sim_root(sub: str = "nmnist_sim") -> Path:
    """Data root of the simulated set (pass as ``root=`` to :func:`load_nmnist`)."""
    return cache_dir(sub)


def simulate_split(split: str, n: int | None = None, cfg: SimConfig | None = None, *, root=None,
                   mnist_root=None, batch: int = 500, progress=None) -> Path:
    """Simulate the first ``n`` images (all if ``None``: 60,000 train / 10,000 test) of an MNIST
    split into ``<sim_root>/nmnist/{Train,Test}/<digit>/<n>.bin``. Files already present with
    the same settings (``manifest.json``) are kept, so the call is resumable and cheap to repeat;
    different settings raise. Returns the root to pass to ``load_nmnist``."""
    from .mnist import load_mnist

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    cfg = cfg or SimConfig()
    root = Path(root) if root is not None else sim_root()
    base = root / "nmnist"
    base.mkdir(parents=True, exist_ok=True)
    man = base / "manifest.json"
    if man.exists():
        old = json.loads(man.read_text())
        if old != json.loads(json.dumps(cfg)):
            raise ValueError(f"{man} was written with other simulator settings {old}; use another root "
                             f"or delete {base}")
    else:
        man.write_text(json.dumps(cfg, indent=1))
    images, labels = load_mnist(split, root=mnist_root)
    n = len(images) if n is None else int(n)
    if not 0 < n <= len(images):
        raise ValueError(f"n must be in 1..{len(images)}, got {n}")
    folder = base / ("Train" if split == "train" else "Test")
    for d in range(10):
        (folder / str(d)).mkdir(parents=True, exist_ok=True)
    paths = [folder / str(int(labels[i])) / f"{i + 1}.bin" for i in range(n)]
    for s in range(0, n, batch):
        idx = [i for i in range(s, min(n, s + batch)) if not paths[i].exists()]
        if idx:
            # one generator per batch start: the same files whatever was generated before
            rng = np.random.default_rng([cfg["seed"], 0 if split == "train" else 1, s])
            evs = simulate_events(images[s:min(n, s + batch)], cfg, rng)
            for i in idx:   # write then rename: an interruption never leaves a truncated file
                tmp = paths[i].with_suffix(".bin.tmp")
                write_nmnist_bin(tmp, evs[i - s])
                os.replace(tmp, paths[i])
        if progress is not None:
            progress(min(n, s + batch))
    return root
