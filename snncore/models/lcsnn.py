"""LC-SNN: unsupervised STDP networks with locally connected, convolutional or fully connected
input layers on MNIST (Saunders et al. 2019, as re-implemented in D. Gafni's bachelor thesis).

This module follows the behaviour of the thesis code (``../shared/papers/lcsnn.md``), quirks
included. Units: one time step = ``dt`` = 1 ms; potentials in mV; rates in Hz.

Network
-------
X (input): the 20x20 centre crop of an MNIST digit, Poisson-ISI encoded (:func:`encode`).
Y (hidden): ``n_filters x conv_size x conv_size`` adaptive-threshold LIF neurons, flat index
``f * P + p`` with ``p = i * conv_size + j`` (filter-major), ``P = conv_size**2``.

* ``LC``: neuron ``(f, p)`` has its own ``k*k`` weights ``w[f, p, :]`` on the window with top-left
  corner ``(i*stride, j*stride)``; the window is *gathered* (:func:`patch_index`), no dense
  400 x n_Y masked matrix exists.
* ``C``: shared kernels ``w[f, :]`` (a strided convolution, no padding, no bias).
* ``FC``: ``LC`` with ``kernel = crop`` (one patch, every neuron sees all 400 inputs).

Same-location competition: neuron ``(f, p)`` receives ``c_w`` from every ``(f', p)``, ``f' != f``.
With competition learning (``comp_learning=True``) the competition is a dense ``n_Y x n_Y``
matrix ``wyy[pre, post]`` (the learning rule touches every entry during an image, the mask is
re-applied after each image, as in the thesis code).

Step order (one step, :func:`_step`)
------------------------------------
input current ``I(t) = sX(t-1) . W + sY(t-1) . W_YY`` (one-step synaptic delay), then for Y::

    v <- rest + decay (v - rest)
    theta <- theta * theta_decay              (training only)
    v <- v + I * [refractory count == 0]
    rc <- max(rc - 1, 0)
    s  = v >= thresh + theta
    rc <- refrac, v <- reset  where s
    theta <- theta + theta_plus * s           (training only)
    traces: x <- x * exp(-1/tau); x <- 1 where s    (X and Y alike)

then STDP (training only; PostPre with the same-step traces)::

    W <- clip(W + nu_post * xX_pre * sY - nu_pre * sX * xY_post, 0, 1)

and, with competition learning, ``W_YY <- clip(W_YY - A_pos sY_i xpost_j + A_neg xpre_i sY_j,
c_w_min, c_w_max)``. After each training image every LC/FC neuron's (C: every kernel's) weights
are rescaled to sum to ``mean_weight * k**2``. Between images the state (v, refractory counters,
spikes, traces) is reset; thresholds ``theta`` and weights persist.

Exactness note: the thesis clamps W at every training step. Clamping is idempotent, so the
steps where no spike happens leave W unchanged; we clamp once at the start of each training image
(where the thesis' first step would do it). ``skip_silent=True`` skips the STDP arithmetic on
silent steps with ``lax.cond`` (identical results); on CPU the conditional copies the weights and
is about 3x slower than the plain dense update, so it is off by default.

Event-driven training (``impl="event"``, the default for LC/FC with ``n_y >= 3 * EVENT_SLOTS``):
a neuron's STDP update is exactly 0 until it spikes in the image, so only the rows of the
neurons that have spiked are updated, and the other neurons' X current comes from one batched
matmul with the image's initial weights (:func:`_simulate_train_event`; same spikes and weights
as the dense path in the tests; ``impl="dense"`` keeps the reference formulation).

Batched inference (:func:`spike_counts`, fixed competition): one scan for a batch of images
(:func:`_counts_batch`), the X current of each step one batched matmul over the batch inside the
loop, only potentials, refractory counters and counts carried (same counts as
``vmap(simulate_image)`` in the tests; ``impl="dense"`` keeps the per-image path).
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from snncore.parallel import shard_leading

__all__ = [
    "LCConfig", "HParams", "NetState", "hparams", "patch_index", "crop_images", "poisson_table",
    "encode", "init_state", "normalise", "competition_mask", "simulate_image", "train",
    "train_networks", "spike_counts", "compute_votes", "vote", "VOTING", "linear_classifier_accuracy",
    "THESIS_TABLE", "count_params",
]

REST, RESET, THRESH = -65.0, -65.0, -52.0
ARCHS = ("LC", "C", "FC")


# --------------------------------------------------------------------------------------------
# configuration (static) and hyper-parameters (numeric, vmappable)
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class LCConfig:
    """Static shape of one network (hashable: a jit static argument).

    ``refrac=None`` picks the thesis' per-architecture value: 2 steps for LC, 5 for C and FC.
    ``kernel`` is forced to ``crop`` for FC.
    """
    arch: str = "LC"
    n_filters: int = 100
    kernel: int = 12
    stride: int = 4
    crop: int = 20
    time: int = 250
    intensity: float = 127.5
    refrac: Optional[int] = None
    comp_learning: bool = False

    def __post_init__(self):
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        if self.arch == "FC" and self.kernel != self.crop:
            object.__setattr__(self, "kernel", self.crop)
        for name in ("n_filters", "kernel", "stride", "crop", "time"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if self.crop > 28:
            raise ValueError(f"crop must be in 1..28 (MNIST is 28x28), got {self.crop}")
        if self.kernel > self.crop:
            raise ValueError(f"kernel must be in 1..crop={self.crop} so that at least one patch exists, "
                             f"got kernel={self.kernel}")
        if self.stride > self.crop:
            raise ValueError(f"stride must be in 1..crop={self.crop}, got {self.stride}")
        if not (np.isfinite(self.intensity) and self.intensity > 0):
            raise ValueError(f"intensity must be a positive rate in Hz, got {self.intensity!r}")
        if self.refrac is not None and (self.refrac < 0 or int(self.refrac) != self.refrac):
            raise ValueError(f"refrac must be a non-negative integer number of steps, got {self.refrac!r}")

    @property
    def conv_size(self) -> int:
        return (self.crop - self.kernel) // self.stride + 1

    @property
    def n_patches(self) -> int:
        return self.conv_size ** 2

    @property
    def k2(self) -> int:
        return self.kernel ** 2

    @property
    def n_y(self) -> int:
        return self.n_filters * self.n_patches

    @property
    def refractory(self) -> int:
        if self.refrac is not None:
            return int(self.refrac)
        return 2 if self.arch == "LC" else 5


class HParams(NamedTuple):
    """Numeric hyper-parameters; every field may carry a leading network axis for ``vmap``."""
    mean_weight: Any      # mean in-field weight; per-neuron (C: per-kernel) sum = mean_weight * k^2
    c_w: Any              # competition weight (<= 0)
    nu_pre: Any           # depression rate (pre spike x post trace)
    nu_post: Any          # potentiation rate (pre trace x post spike)
    tau_x: Any            # X trace time constant (ms)
    tau_pos: Any          # Y presynaptic trace (only YY learning)
    tau_neg: Any          # Y postsynaptic trace (XY and YY learning)
    a_pos: Any            # YY: subtracted, pre spike x post trace
    a_neg: Any            # YY: added, pre trace x post spike
    c_w_min: Any          # YY clamp
    c_w_max: Any
    tc_decay: Any         # membrane time constant (ms)
    theta_plus: Any       # threshold increment per training spike (mV)
    tc_theta_decay: Any   # threshold decay time constant (ms)


def hparams(mean_weight=0.32, c_w=-50.0, *, nu_pre=1e-4, nu_post=1e-2, tau_x=20.0, tau_pos=20.0,
            tau_neg=20.0, a_pos=-0.3, a_neg=-3.0, c_w_min=-np.inf, c_w_max=0.0, tc_decay=20.0,
            theta_plus=0.05, tc_theta_decay=1e6) -> HParams:
    """Build :class:`HParams` (thesis defaults), checking ranges. Arrays give a grid/network axis."""
    mw = np.asarray(mean_weight, np.float64)
    if not (np.all(np.isfinite(mw)) and np.all(mw > 0)):
        raise ValueError(f"mean_weight must be > 0 and finite (a zero mean weight gives zero-sum "
                         f"columns that cannot be normalised), got {mean_weight!r}")
    cw = np.asarray(c_w, np.float64)
    if not (np.all(np.isfinite(cw)) and np.all(cw <= 0)):
        raise ValueError(f"c_w (competition weight) must be finite and <= 0, got {c_w!r}")
    for name, v in (("tau_x", tau_x), ("tau_pos", tau_pos), ("tau_neg", tau_neg),
                    ("tc_decay", tc_decay), ("tc_theta_decay", tc_theta_decay)):
        a = np.asarray(v, np.float64)
        if not (np.all(np.isfinite(a)) and np.all(a > 0)):
            raise ValueError(f"{name} must be a positive time constant in ms, got {v!r}")
    if np.any(np.asarray(c_w_min) > np.asarray(c_w_max)):
        raise ValueError(f"c_w_min ({c_w_min}) must be <= c_w_max ({c_w_max})")
    vals = (mean_weight, c_w, nu_pre, nu_post, tau_x, tau_pos, tau_neg, a_pos, a_neg, c_w_min, c_w_max, tc_decay,
            theta_plus, tc_theta_decay)
    shape = np.broadcast_shapes(*[np.shape(v) for v in vals])   # a grid axis reaches every field
    f = lambda v: jnp.broadcast_to(jnp.asarray(v, jnp.float32), shape)  # noqa: E731
    return HParams(f(mean_weight), f(c_w), f(nu_pre), f(nu_post), f(tau_x), f(tau_pos), f(tau_neg),
                   f(a_pos), f(a_neg), f(c_w_min), f(c_w_max), f(tc_decay), f(theta_plus),
                   f(tc_theta_decay))


class NetState(NamedTuple):
    w: Any      # LC/FC: [F, P, K]; C: [F, K]
    theta: Any  # [F, P] adaptive threshold (mV)
    wyy: Any    # [n_Y, n_Y] (pre, post) with competition learning, else None


# --------------------------------------------------------------------------------------------
# geometry
# --------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _patch_index_np(crop: int, kernel: int, stride: int) -> np.ndarray:
    cs = (crop - kernel) // stride + 1
    if cs < 1:
        raise ValueError(f"kernel={kernel} with stride={stride} gives no patch in a {crop}x{crop} crop")
    i, j, ki, kj = np.meshgrid(np.arange(cs), np.arange(cs), np.arange(kernel), np.arange(kernel),
                               indexing="ij")
    rows, cols = i * stride + ki, j * stride + kj
    return (rows * crop + cols).reshape(cs * cs, kernel * kernel).astype(np.int32)


def patch_index(cfg: LCConfig) -> np.ndarray:
    """``idx[p, k]``: flat crop pixel seen by patch ``p = i*cs + j`` at kernel offset
    ``k = ki*kernel + kj``, i.e. row ``i*stride + ki``, column ``j*stride + kj``."""
    return _patch_index_np(cfg.crop, cfg.kernel, cfg.stride)


def to_patches(cfg: LCConfig, x):
    """``x [..., crop*crop]`` -> ``[..., P, k*k]``, the same as ``x[..., patch_index(cfg)]`` but by
    static slices (a gather is several times slower on a CPU)."""
    c, k, st, cs = cfg.crop, cfg.kernel, cfg.stride, cfg.conv_size
    img = x.reshape(x.shape[:-1] + (c, c))
    tiles = [img[..., i * st:i * st + k, j * st:j * st + k].reshape(x.shape[:-1] + (k * k,))
             for i in range(cs) for j in range(cs)]
    return jnp.stack(tiles, axis=-2)


def competition_mask(cfg: LCConfig) -> np.ndarray:
    """Dense ``[n_Y, n_Y]`` 0/1 mask of competition pairs: same patch, different filter."""
    p = np.arange(cfg.n_y) % cfg.n_patches
    same = p[:, None] == p[None, :]
    return (same & ~np.eye(cfg.n_y, dtype=bool)).astype(np.float32)


def crop_images(images, cfg: LCConfig) -> np.ndarray:
    """Centre-crop uint8 images ``[N, 28, 28]`` (or one ``[28, 28]``) to ``[N, crop*crop]``."""
    a = np.asarray(images)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[1:] != (28, 28):
        raise ValueError(f"images must be MNIST-shaped [N, 28, 28] (or [28, 28]), got shape {a.shape}")
    if a.dtype != np.uint8:
        raise ValueError(f"images must be uint8 pixel values 0..255, got dtype {a.dtype}")
    top = int(round((28 - cfg.crop) / 2.0))  # torchvision CenterCrop
    return np.ascontiguousarray(a[:, top:top + cfg.crop, top:top + cfg.crop].reshape(len(a), -1))


# --------------------------------------------------------------------------------------------
# Poisson-ISI encoder (bindsnet `poisson` semantics)
# --------------------------------------------------------------------------------------------

_QBITS = 14  # resolution of the quantile table that starts the exact CDF inversion


@functools.lru_cache(maxsize=None)
def _table_np(intensity: float, time: int):
    from scipy.stats import poisson
    v = np.arange(256, dtype=np.float64)
    rate = v / 255.0 * intensity                       # Hz
    lam = np.where(rate > 0, 1000.0 / np.maximum(rate, 1e-300), np.inf)   # mean ISI in steps
    m = np.arange(time + 1)
    cdf = np.zeros((256, time + 1))
    cdf[1:] = poisson.cdf(m[None, :], lam[1:, None])
    cdf = cdf.astype(np.float32)
    # start[v, b] = #{m : cdf[v, m] < b / 2^QBITS}: a lower bound of the inverse CDF for every u in
    # bin b; the exact value is reached by stepping up while cdf[v, isi] < u (see encode)
    grid = (np.arange(2 ** _QBITS + 1) / 2 ** _QBITS).astype(np.float32)
    start = np.stack([np.searchsorted(cdf[i], grid, side="left") for i in range(256)])
    start[0] = time + 1   # pixel 0: rate 0, never spikes
    dtype = np.uint8 if time + 1 < 256 else np.int32
    # ISIs are >= 1 step (zeros replaced by 1), so at most `time` are ever needed; fewer suffice
    # whenever the sum of n ISIs exceeds `time` with overwhelming probability (12 sigma).
    lmin = max(float(lam[255]), 1.0)
    n = 1
    while n < time and n * lmin - 12.0 * math.sqrt(n * lmin) <= time:
        n += 1
    return cdf, start.astype(dtype), int(n)


def _table_dev(intensity: float, time: int):
    cdf, start, n = _table_np(intensity, time)
    return jnp.asarray(cdf.reshape(-1)), jnp.asarray(start.reshape(-1)), n


def poisson_table(cfg: LCConfig):
    """``(cdf [256, time+1], start [256, 2^14 + 1], n_isi)``: the Poisson CDF of the inter-spike
    interval (in steps) for every pixel value, a quantile table to start its inversion, and the
    number of intervals drawn per pixel."""
    return _table_np(float(cfg.intensity), int(cfg.time))


def encode(cfg: LCConfig, pixels, key):
    """Poisson-ISI spike trains ``[time, n_pixels]`` (float32 0/1) for uint8 ``pixels [n]``.

    As bindsnet's ``poisson``: rate ``r = pixel/255 * intensity`` Hz; ISIs ~ Poisson with mean
    ``1000 / r`` steps, a zero ISI becomes 1; spike times are the cumulative sums, kept in
    ``1..time``; time ``t`` is step ``t-1``. Pixels at 0 never spike. The ISI is drawn exactly by
    inverting the tabulated CDF (``isi = #{m : cdf[m] < u}``; values above ``time`` are lumped:
    they cannot produce a spike): a quantile table gives a lower bound, then the search steps up
    while ``cdf[isi] < u``.
    """
    cdf, start, n_isi = _table_dev(float(cfg.intensity), int(cfg.time))
    T = cfg.time
    pixels = jnp.asarray(pixels).astype(jnp.int32)
    u = jax.random.uniform(key, (pixels.shape[0], n_isi), jnp.float32)
    b = jnp.minimum((u * 2 ** _QBITS).astype(jnp.int32), 2 ** _QBITS - 1)
    row = (pixels * (2 ** _QBITS + 1))[:, None]
    lo = start[row + b].astype(jnp.int32)          # answer in [lo, hi]: the bin's bounds
    hi = start[row + b + 1].astype(jnp.int32)
    base = (pixels * (T + 1))[:, None]

    def bisect(c):
        lo, hi = c
        mid = (lo + hi) // 2
        below = cdf[base + jnp.minimum(mid, T)] < u
        open_ = lo < hi
        return (jnp.where(open_ & below, mid + 1, lo), jnp.where(open_ & ~below, mid, hi))

    # few draws fall in a bin that straddles several CDF steps: bisect those on a compacted list
    # (fixed 2^k rounds), then finish any left over (more than `n_sub` of them) on the full array
    shape = u.shape
    n_sub = min(1024, lo.size)
    ids = jnp.nonzero((lo < hi).ravel(), size=n_sub, fill_value=lo.size)[0]
    pad = lambda a: jnp.concatenate([a.ravel(), jnp.zeros((1,), a.dtype)])  # noqa: E731
    lo_f, hi_f = pad(lo), pad(hi)
    sub = (lo_f[ids], hi_f[ids])
    u_s, base_s = pad(u)[ids], pad(jnp.broadcast_to(base, shape))[ids]
    for _ in range(int(np.ceil(np.log2(T + 2)))):
        slo, shi = sub
        mid = (slo + shi) // 2
        below = cdf[base_s + jnp.minimum(mid, T)] < u_s
        open_ = slo < shi
        sub = (jnp.where(open_ & below, mid + 1, slo), jnp.where(open_ & ~below, mid, shi))
    lo = lo_f.at[ids].set(sub[0])[:-1].reshape(shape)
    hi = hi_f.at[ids].set(sub[1])[:-1].reshape(shape)
    isi, _ = jax.lax.while_loop(lambda c: jnp.any(c[0] < c[1]), bisect, (lo, hi))
    isi = jnp.maximum(isi, 1)
    times = jnp.cumsum(isi, axis=1)                                        # [n, n_isi]
    n = pixels.shape[0]
    # spike at time t (1..T) -> flat entry (t-1)*n + pixel of a uint8 raster; times of a pixel are
    # strictly increasing, so the kept indices are unique, and each dropped one gets its own
    # out-of-range index (a unique-index uint8 scatter is ~10x faster than a float one on a CPU)
    flat = jnp.where(times <= T, (times - 1) * n + jnp.arange(n)[:, None],
                     T * n + jnp.arange(times.size).reshape(times.shape))
    raster = jnp.zeros((T * n,), jnp.uint8).at[flat.ravel()].set(1, mode="drop", unique_indices=True)
    return raster.reshape(T, n).astype(jnp.float32)


#: margin (in standard deviations of the sum of ISIs) of the number of intervals drawn per pixel
#: by the lazy encoder; a pixel whose intervals end before ``time`` sends the whole call back to
#: :func:`encode` (exact either way)
_LAZY_SIGMA = 6.0


@functools.lru_cache(maxsize=None)
def _nreq_np(intensity: float, time: int) -> np.ndarray:
    """Intervals the lazy encoder draws per pixel value (``<= n_isi``, 0 for pixel 0)."""
    _, _, n_isi = _table_np(intensity, time)
    out = np.zeros(256, np.int32)
    for v in range(1, 256):
        lam = max(1000.0 / (v / 255.0 * intensity), 1.0)
        n = 1
        while n < n_isi and n * lam - _LAZY_SIGMA * math.sqrt(n * lam) <= time:
            n += 1
        out[v] = n
    return out


def lazy_budget(cfg: LCConfig, pixels) -> int:
    """Slots the lazy encoder needs for all of ``pixels [..., n]`` (uint8, host numpy), rounded up
    to one of 8 sizes per octave (a few compiled sizes, at most 12.5 % padding)."""
    need = max(int(_nreq_np(float(cfg.intensity), int(cfg.time))[np.asarray(pixels)].sum()), 1024)
    step = 1 << max(0, (need - 1).bit_length() - 3)
    return -(-need // step) * step


def _uniform_at(key, counters):
    """``jax.random.uniform(key, shape)`` evaluated only at the flat positions ``counters``
    (partitionable threefry: element ``i`` is ``threefry(key, (0, i))``, its two words xor-ed)."""
    from jax.extend.random import threefry2x32_p
    k = jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    c = counters.astype(jnp.uint32)
    b1, b2 = threefry2x32_p.bind(k[..., 0], k[..., 1], jnp.zeros_like(c), c)
    bits = (b1 ^ b2) >> 9 | jnp.uint32(0x3F800000)
    return jax.lax.bitcast_convert_type(bits, jnp.float32) - 1.0


def _lazy_ok() -> bool:
    return bool(jax.config.jax_threefry_partitionable) and jax.config.jax_default_prng_impl == "threefry2x32"


def _encode_lazy(cfg: LCConfig, pixels, keys, budget: int, time_major: bool = False):
    """:func:`encode` of ``M`` images at once (``pixels [M, n]``, ``keys [M]``), drawing only the
    intervals that can matter: ``_nreq_np[pixel]`` per pixel, in ``budget`` flat slots. The
    uniforms are the ones ``encode`` draws at the same positions, inverted the same exact way, so
    the spikes are identical whenever ``ok``: every pixel's drawn intervals reach past ``time``
    (or are all ``n_isi`` of them) and the slots fit in ``budget``. Returns ``(rasters
    [M, time, n] float32, ok)``; with ``time_major`` the rasters are ``[time, M, n]`` uint8 (as
    the batched inference scan reads them: no float copy, no transpose)."""
    cdf, start, n_isi = _table_dev(float(cfg.intensity), int(cfg.time))
    nreq = jnp.asarray(_nreq_np(float(cfg.intensity), int(cfg.time)))
    T = cfg.time
    M, n = pixels.shape
    px = pixels.astype(jnp.int32).reshape(-1)                            # [M n]
    cnt = nreq[px]
    end = jnp.cumsum(cnt)
    offs = end - cnt
    total = end[-1]
    q = jnp.arange(M * n, dtype=jnp.int32)
    s = jnp.arange(budget, dtype=jnp.int32)
    # owner pixel of every slot: its id written at its first slot, carried forward by cummax
    mark = jnp.zeros((budget,), jnp.int32).at[jnp.where(cnt > 0, offs, budget)].set(q, mode="drop")
    owner = jax.lax.cummax(mark)
    live = s < total
    j = s - offs[owner]
    m, i = owner // n, owner % n
    u = _uniform_at(keys[m], i * n_isi + j)
    v = jnp.where(live, px[owner], 0)
    # exact inversion isi = #{k : cdf[v, k] < u}: the quantile table brackets it, bisection ends it
    b = jnp.minimum((u * 2 ** _QBITS).astype(jnp.int32), 2 ** _QBITS - 1)
    row = v * (2 ** _QBITS + 1)
    lo, hi = start[row + b].astype(jnp.int32), start[row + b + 1].astype(jnp.int32)
    base = v * (T + 1)

    def bisect(c):
        lo, hi = c
        mid = (lo + hi) // 2
        below = cdf[base + jnp.minimum(mid, T)] < u
        open_ = lo < hi
        return jnp.where(open_ & below, mid + 1, lo), jnp.where(open_ & ~below, mid, hi)

    # few draws fall in a bin that straddles several CDF steps: bisect those on a compacted list
    # (fixed rounds), then finish any left over on the full array (usually none)
    n_sub = min(budget, max(256, budget // 128))
    ids = jnp.nonzero(lo < hi, size=n_sub, fill_value=budget)[0]
    pad = lambda a: jnp.concatenate([a, jnp.zeros((1,), a.dtype)])  # noqa: E731
    lo_f, hi_f = pad(lo), pad(hi)
    u_s, base_s = pad(u)[ids], pad(base)[ids]
    slo, shi = lo_f[ids], hi_f[ids]
    for _ in range(int(np.ceil(np.log2(T + 2)))):
        mid = (slo + shi) // 2
        below = cdf[base_s + jnp.minimum(mid, T)] < u_s
        open_ = slo < shi
        slo, shi = jnp.where(open_ & below, mid + 1, slo), jnp.where(open_ & ~below, mid, shi)
    lo = lo_f.at[ids].set(slo)[:-1]
    hi = hi_f.at[ids].set(shi)[:-1]
    isi, _ = jax.lax.while_loop(lambda c: jnp.any(c[0] < c[1]), bisect, (lo, hi))
    isi = jnp.where(live, jnp.maximum(isi, 1), 0)
    cs = jnp.cumsum(isi)
    times = cs - (cs[offs[owner]] - isi[offs[owner]])                    # per-pixel cumulative sum
    last = times[jnp.clip(end - 1, 0, budget - 1)]
    short = (cnt > 0) & (cnt < n_isi) & (last <= T)
    ok = (total <= budget) & ~jnp.any(short)
    keep = live & (times <= T)
    if time_major:
        flat = jnp.where(keep, (times - 1) * (M * n) + m * n + i, M * T * n + s)
    else:
        flat = jnp.where(keep, m * (T * n) + (times - 1) * n + i, M * T * n + s)
    raster = jnp.zeros((M * T * n,), jnp.uint8).at[flat].set(1, mode="drop", unique_indices=True)
    if time_major:
        return raster.reshape(T, M, n), ok
    return raster.reshape(M, T, n).astype(jnp.float32), ok


#: slot budgets of the lazy encoder inside training (one image; the smallest that fits is used)
_LAZY_TIERS = (8192,)


def encode_one(cfg: LCConfig, pixels, key):
    """:func:`encode` of one image (identical spikes) through the lazy encoder, with the slot
    budget picked per image among :data:`_LAZY_TIERS` (``lax.switch``; ``encode`` itself above
    them). For use outside ``vmap`` (a batched switch would run every branch)."""
    if not _lazy_ok():
        return encode(cfg, pixels, key)
    need = jnp.sum(jnp.asarray(_nreq_np(float(cfg.intensity), int(cfg.time)))[jnp.asarray(pixels).astype(jnp.int32)])
    tiers = [b for b in _LAZY_TIERS if b < cfg.crop ** 2 * _table_np(float(cfg.intensity), int(cfg.time))[2]]
    branches = [functools.partial(lambda b, p, k: encode_many(cfg, p[None], k[None], b)[0], b) for b in tiers]
    branches.append(lambda p, k: encode(cfg, p, k))
    idx = sum((need > b).astype(jnp.int32) for b in tiers) if tiers else 0
    return jax.lax.switch(idx, branches, pixels, key)


def encode_many(cfg: LCConfig, pixels, keys, budget: Optional[int] = None, time_major: bool = False):
    """``vmap(encode)`` over ``pixels [M, n]`` and ``keys [M]`` (identical spikes), through the
    lazy encoder when ``budget`` (slots, see :func:`lazy_budget`) is given, with ``encode`` as
    the fallback of the whole call. ``time_major``: ``[time, M, n]`` uint8 instead of
    ``[M, time, n]`` float32 (the same spikes)."""
    def dense():
        r = jax.vmap(lambda p, k: encode(cfg, p, k))(pixels, keys)
        return r.transpose(1, 0, 2).astype(jnp.uint8) if time_major else r
    if budget is None or not _lazy_ok():
        return dense()
    fast, ok = _encode_lazy(cfg, pixels, keys, int(budget), time_major)
    return jax.lax.cond(ok, lambda: fast, dense)


# --------------------------------------------------------------------------------------------
# state
# --------------------------------------------------------------------------------------------

def normalise(cfg: LCConfig, hp: HParams, w):
    """Rescale each neuron's (C: each kernel's) weights to sum to ``mean_weight * k^2``.
    A column that sums to zero stays zero (the thesis code would produce NaN there)."""
    s = jnp.sum(w, axis=-1, keepdims=True)
    norm = hp.mean_weight * cfg.k2
    return jnp.where(s > 0, w * (norm / jnp.where(s > 0, s, 1.0)), 0.0)


def init_state(cfg: LCConfig, hp: HParams, key) -> NetState:
    """Uniform(0, 1) weights; LC/FC pre-normalised, C not (as in the thesis); theta = 0; with
    competition learning ``wyy = U(0,1) * c_w`` on the competition pairs."""
    k1, k2 = jax.random.split(key)
    F, P, K = cfg.n_filters, cfg.n_patches, cfg.k2
    if cfg.arch == "C":
        w = jax.random.uniform(k1, (F, K), jnp.float32)
    else:
        w = normalise(cfg, hp, jax.random.uniform(k1, (F, P, K), jnp.float32))
    wyy = None
    if cfg.comp_learning:
        wyy = jax.random.uniform(k2, (cfg.n_y, cfg.n_y), jnp.float32) * hp.c_w * competition_mask(cfg)
    return NetState(w=w, theta=jnp.zeros((F, P), jnp.float32), wyy=wyy)


# --------------------------------------------------------------------------------------------
# one image
# --------------------------------------------------------------------------------------------

class _Carry(NamedTuple):
    v: Any
    rc: Any
    theta: Any
    xx: Any       # X trace, in patch space [P, K]
    ypost: Any    # Y post trace (tau_neg) [F, P]
    ypre: Any     # Y pre trace (tau_pos) [F, P]
    sx: Any       # previous X spikes, in patch space [P, K]
    sy: Any       # previous Y spikes [F, P]
    w: Any
    wyy: Any
    count: Any    # Y spike counts [F, P]


def _current(cfg: LCConfig, w, sxp):
    """X current ``[F, P]`` from patch inputs ``sxp [P, K]`` (w: LC/FC ``[F, P, K]``, C ``[F, K]``)."""
    if cfg.arch == "C":
        return w @ sxp.T                                  # [F,K] x [K,P]
    return jnp.einsum("fpk,pk->fp", w, sxp)


def _current_pfk(w_pfk, sxp):
    # same as _current for LC/FC with the weights held patch-major [P, F, K] during an image
    # (batched mat-vec with a leading batch axis: no per-step transpose on CPU)
    return jnp.einsum("pfk,pk->pf", w_pfk, sxp).T


def _x_current_all(cfg: LCConfig, w, raster):
    """X current ``[T, F, P]`` of every step from the previous step's spikes, fixed weights."""
    rp = to_patches(cfg, raster)                                   # [T, P, K]
    prev = jnp.concatenate([jnp.zeros_like(rp[:1]), rp[:-1]], axis=0)   # [T, P, K]
    if cfg.arch == "C":
        T_, P_, K_ = prev.shape
        return (prev.reshape(T_ * P_, K_) @ w.T).reshape(T_, P_, -1).transpose(0, 2, 1)
    # batched matmul with the patch as the leading batch axis
    return jnp.einsum("ptk,pkf->ptf", prev.transpose(1, 0, 2), w.transpose(1, 2, 0)).transpose(1, 2, 0)


def simulate_image(cfg: LCConfig, hp: HParams, state: NetState, raster, *, learn_xy: bool = False,
                   learn_yy: bool = False, adapt: Optional[bool] = None, yy: str = "fixed",
                   skip_silent: bool = False, record: bool = False, impl: str = "auto"):
    """Run one image ``raster [time, crop*crop]`` from the reset state.

    ``impl``: ``"dense"`` = the reference formulation (every weight and trace, every step).
    ``"event"``: with ``learn_xy`` (no ``learn_yy``, LC or FC, no ``record``) the event-driven
    training path (:func:`_simulate_train_event`), with the dense path as the fallback for an
    image where more than :data:`EVENT_SLOTS` neurons spike. ``"auto"``: as ``"event"``, but
    dense when ``n_y < 3 * EVENT_SLOTS`` (measured slower there: 25 filters). All other cases
    (inference, C, competition learning) run the dense path. Same results up to float rounding
    of the input current (summation order; identical in the tests).
    """
    if impl not in ("auto", "event", "dense"):
        raise ValueError(f"impl must be 'auto', 'event' or 'dense', got {impl!r}")
    if adapt is None:
        adapt = learn_xy or learn_yy
    dense = functools.partial(_simulate_dense, cfg, hp, state, raster, learn_xy=learn_xy, learn_yy=learn_yy,
                              adapt=adapt, yy=yy, skip_silent=skip_silent, record=record)
    if impl == "dense" or not learn_xy or learn_yy or record or cfg.arch == "C":
        return dense()
    if yy not in ("fixed", "dense"):
        raise ValueError(f"yy must be 'fixed' or 'dense', got {yy!r}")
    if yy == "dense" and state.wyy is None:
        raise ValueError("yy='dense' / learn_yy need state.wyy (build the config with comp_learning=True)")
    if not _event_pays(cfg, impl):   # too few neurons: the dense update is cheaper
        return dense()
    new, cnt, over = _simulate_train_event(cfg, hp, state, raster, adapt=adapt, yy=yy, slots=EVENT_SLOTS)
    return jax.lax.cond(over, dense, lambda: (new, cnt))


def _simulate_dense(cfg: LCConfig, hp: HParams, state: NetState, raster, *, learn_xy: bool = False,
                    learn_yy: bool = False, adapt: Optional[bool] = None, yy: str = "fixed",
                    skip_silent: bool = False, record: bool = False):
    """The reference formulation of :func:`simulate_image` (``impl="dense"``).

    ``learn_xy`` / ``learn_yy``: STDP on the input / competition weights. ``adapt`` (default:
    ``learn_xy or learn_yy``): the network is in training mode (threshold adaptation and decay).
    ``yy``: ``"fixed"`` = same-location competition with weight ``c_w`` (block form), ``"dense"`` =
    the matrix ``state.wyy``. Returns ``(state, counts [F, P])`` (plus the spike raster
    ``[time, F, P]`` when ``record``); no normalisation here.
    """
    if adapt is None:
        adapt = learn_xy or learn_yy
    if yy not in ("fixed", "dense"):
        raise ValueError(f"yy must be 'fixed' or 'dense', got {yy!r}")
    if (yy == "dense" or learn_yy) and state.wyy is None:
        raise ValueError("yy='dense' / learn_yy need state.wyy (build the config with comp_learning=True)")
    F, P = cfg.n_filters, cfg.n_patches
    decay = jnp.exp(-1.0 / hp.tc_decay)
    th_decay = jnp.exp(-1.0 / hp.tc_theta_decay)
    dx, dpos, dneg = jnp.exp(-1.0 / hp.tau_x), jnp.exp(-1.0 / hp.tau_pos), jnp.exp(-1.0 / hp.tau_neg)
    refrac = float(cfg.refractory)

    def step(c: _Carry, xs):
        sxp, i_pre = xs          # this step's X spikes in patch space [P, K]
        # input current from the previous step's spikes (one-step delay)
        if learn_xy:
            i_in = c.w @ c.sx.T if cfg.arch == "C" else _current_pfk(c.w, c.sx)
        else:  # weights fixed during the image: the X current was computed for all steps at once
            i_in = i_pre
        if yy == "fixed":
            i_in = i_in + hp.c_w * (jnp.sum(c.sy, axis=0, keepdims=True) - c.sy)
        else:
            i_in = i_in + (c.sy.reshape(-1) @ c.wyy).reshape(F, P)
        v = REST + decay * (c.v - REST)
        theta = c.theta * th_decay if adapt else c.theta
        v = v + i_in * (c.rc == 0)
        rc = jnp.maximum(c.rc - 1.0, 0.0)
        s = (v >= THRESH + theta).astype(jnp.float32)
        rc = jnp.where(s > 0, refrac, rc)
        v = jnp.where(s > 0, RESET, v)
        if adapt:
            theta = theta + hp.theta_plus * s
        xxp = jnp.where(sxp > 0, 1.0, c.xx * dx)
        ypost = jnp.where(s > 0, 1.0, c.ypost * dneg)
        ypre = jnp.where(s > 0, 1.0, c.ypre * dpos)
        w, wyy = c.w, c.wyy
        if learn_xy:
            def upd(w):
                if cfg.arch == "C":
                    dw = hp.nu_post * (s @ xxp) - hp.nu_pre * (ypost @ sxp)
                else:  # patch-major [P, F, K]
                    dw = (hp.nu_post * s.T[:, :, None] * xxp[:, None, :]
                          - hp.nu_pre * ypost.T[:, :, None] * sxp[:, None, :])
                return jnp.clip(w + dw, 0.0, 1.0)

            if skip_silent:
                active = jnp.any(s > 0) | (jnp.any(sxp > 0) & jnp.any(ypost > 0))
                w = jax.lax.cond(active, upd, lambda w: w, w)
            else:
                w = upd(w)
        if learn_yy:
            sf, pof, prf = s.reshape(-1), ypost.reshape(-1), ypre.reshape(-1)
            wyy = jnp.clip(wyy - hp.a_pos * sf[:, None] * pof[None, :] + hp.a_neg * prf[:, None] * sf[None, :],
                           hp.c_w_min, hp.c_w_max)
        return _Carry(v, rc, theta, xxp, ypost, ypre, sxp, s, w, wyy, c.count + s), (s if record else None)

    w0 = jnp.clip(state.w, 0.0, 1.0) if learn_xy else state.w
    patch_major = learn_xy and cfg.arch != "C"
    zf = jnp.zeros((F, P), jnp.float32)
    zx = jnp.zeros((P, cfg.k2), jnp.float32)
    rp = to_patches(cfg, raster)                                   # [T, P, K]
    c0 = _Carry(v=jnp.full((F, P), REST, jnp.float32), rc=zf, theta=state.theta, xx=zx, ypost=zf, ypre=zf,
                sx=zx, sy=zf, w=w0.transpose(1, 0, 2) if patch_major else w0, wyy=state.wyy, count=zf)
    if learn_xy:
        i_all = jnp.zeros((raster.shape[0], 0), jnp.float32)   # unused
    else:
        i_all = _x_current_all(cfg, w0, raster)
    c, rec = jax.lax.scan(step, c0, (rp, i_all))
    if patch_major:
        c = c._replace(w=c.w.transpose(1, 0, 2))
    if record:
        return NetState(w=c.w, theta=c.theta, wyy=c.wyy), c.count, rec
    return NetState(w=c.w, theta=c.theta, wyy=c.wyy), c.count


# --------------------------------------------------------------------------------------------
# event-driven training path (same step order and arithmetic; the work on neurons whose weights
# cannot change is skipped)
# --------------------------------------------------------------------------------------------

#: neurons per image whose weights the event-driven training path updates (an image in which
#: more Y neurons spike runs again on the dense path; 100 filters, k12, untrained: ~1 % of images)
EVENT_SLOTS = 256
#: the first ``EVENT_TIER`` of those rows are updated every step, the others (``lax.cond``) only
#: in the steps where more neurons than that have spiked (most steps need fewer)
EVENT_TIER = 96


def _event_pays(cfg: LCConfig, impl: str) -> bool:
    """``impl="auto"`` policy: the event-driven training path and the lazy encoder inside training
    pay for their overhead (and compile time) only on large networks (measured: 100 filters yes,
    25 no)."""
    if impl not in ("auto", "event", "dense"):
        raise ValueError(f"impl must be 'auto', 'event' or 'dense', got {impl!r}")
    return impl == "event" or (impl == "auto" and cfg.n_y >= 3 * EVENT_SLOTS)


def _simulate_train_event(cfg: LCConfig, hp: HParams, state: NetState, raster, *, adapt: bool,
                          yy: str, slots: int = EVENT_SLOTS, tier: int = EVENT_TIER):
    """:func:`simulate_image` with ``learn_xy=True, learn_yy=False`` for LC / FC, event-driven.

    The dense PostPre update ``dw = nu_post s x_pre - nu_pre y_post s_pre`` is exactly 0 for a
    neuron that has not spiked yet in this image (``s = 0`` and ``y_post = 0``), and ``clip`` is
    idempotent on the clamped weights: only the neurons that have spiked so far (at most
    ``slots``, held as compact rows ``[slots, K]`` in neuron order) are updated, with the dense
    formula. The other neurons keep their initial weights, so their X current for all steps is
    one batched matmul before the loop; the updated neurons' current is recomputed from their new
    rows. The compact set is rebuilt (``lax.cond``) only in the steps where a neuron spikes for
    the first time. Returns ``(state, counts [F, P], overflow)``: ``overflow`` = more than
    ``slots`` neurons spiked (the result is then incomplete and the caller uses the dense path)."""
    F, P, K = cfg.n_filters, cfg.n_patches, cfg.k2
    NY = P * F                                   # neuron rows, patch-major: n = p * F + f
    decay = jnp.exp(-1.0 / hp.tc_decay)
    th_decay = jnp.exp(-1.0 / hp.tc_theta_decay)
    dx, dneg = jnp.exp(-1.0 / hp.tau_x), jnp.exp(-1.0 / hp.tau_neg)
    refrac = float(cfg.refractory)
    slots = min(slots, NY)
    w0 = jnp.clip(state.w, 0.0, 1.0)
    wr = w0.transpose(1, 0, 2).reshape(NY, K)
    rp = to_patches(cfg, raster)                                            # [T, P, K]
    prev = jnp.concatenate([jnp.zeros_like(rp[:1]), rp[:-1]], axis=0)
    i_pre = jnp.einsum("ptk,pkf->tpf", prev.transpose(1, 0, 2), w0.transpose(1, 2, 0)).reshape(-1, NY)
    nu_pre, nu_post = hp.nu_pre, hp.nu_post

    A = min(tier, slots)                          # rows always updated; the rest only when needed
    B = slots - A

    def regroup(ops):
        ever_prev, ever, rank_prev, ws_a, ws_b = ops
        sel = jnp.nonzero(ever, size=slots, fill_value=NY)[0]
        ok = sel < NY
        sel_c = jnp.minimum(sel, NY - 1)
        was = ever_prev[sel_c] & ok
        ws = jnp.concatenate([ws_a, ws_b]) if B else ws_a
        rows = jnp.where(was[:, None], ws[rank_prev[sel_c]], wr[sel_c])
        return sel, jnp.cumsum(ever.astype(jnp.int32)) - 1, rows[:A], rows[A:]

    def update(ws, sel, s, ypost, sxp, xxp):
        # the dense formula on the gathered rows; their X current at the next step
        ok = sel < NY
        sel_c = jnp.minimum(sel, NY - 1)
        ps = sel_c // F
        s_r = jnp.where(ok, s[sel_c], 0.0)
        y_r = jnp.where(ok, ypost[sel_c], 0.0)
        sx_r = sxp[ps]
        new = jnp.clip(ws + ((nu_post * s_r)[:, None] * xxp[ps] - (nu_pre * y_r)[:, None] * sx_r), 0.0, 1.0)
        return new, jnp.sum(new * sx_r, axis=1)

    def step(c, xs):
        sx, sxp, ip = xs                          # X spikes [n], in patch space [P, K]; current from w0 [NY]
        v_, rc_, theta, xxp, ypost, sy, ever_prev, sel, rank, ws_a, ws_b, i_a, i_b, count, over = c
        # neurons updated so far: current from their new rows (gathered by rank: no scatter)
        i_sel = jnp.concatenate([i_a, i_b]) if B else i_a
        i_x = jnp.where(ever_prev, i_sel[jnp.clip(rank, 0, slots - 1)], ip)
        if yy == "fixed":
            sy2 = sy.reshape(P, F)
            i_in = i_x + hp.c_w * (jnp.sum(sy2, axis=1, keepdims=True) - sy2).reshape(-1)
        else:
            i_in = i_x + (sy.reshape(P, F).T.reshape(-1) @ state.wyy).reshape(F, P).T.reshape(-1)
        v = REST + decay * (v_ - REST)
        if adapt:
            theta = theta * th_decay
        v = v + i_in * (rc_ == 0)
        rc = jnp.maximum(rc_ - 1.0, 0.0)
        s = (v >= THRESH + theta).astype(jnp.float32)
        rc = jnp.where(s > 0, refrac, rc)
        v = jnp.where(s > 0, RESET, v)
        if adapt:
            theta = theta + hp.theta_plus * s
        xxp = jnp.where(sxp > 0, 1.0, xxp * dx)
        ypost = jnp.where(s > 0, 1.0, ypost * dneg)
        ever = ever_prev | (s > 0)
        n_ever = jnp.sum(ever)
        over = over | (n_ever > slots)
        sel, rank, ws_a, ws_b = jax.lax.cond(n_ever > jnp.sum(ever_prev), regroup,
                                             lambda o: (sel, rank, o[3], o[4]), (ever_prev, ever, rank, ws_a, ws_b))
        ws_a, i_a = update(ws_a, sel[:A], s, ypost, sxp, xxp)
        if B:
            ws_b, i_b = jax.lax.cond(n_ever > A, lambda o: update(o[0], sel[A:], s, ypost, sxp, xxp),
                                     lambda o: o, (ws_b, i_b))
        return (v, rc, theta, xxp, ypost, s, ever, sel, rank, ws_a, ws_b, i_a, i_b, count + s, over), None

    zf = jnp.zeros((NY,), jnp.float32)
    c0 = (jnp.full((NY,), REST, jnp.float32), zf, state.theta.T.reshape(-1), jnp.zeros((P, K), jnp.float32),
          zf, zf, jnp.zeros((NY,), bool), jnp.full((slots,), NY, jnp.int32), jnp.full((NY,), -1, jnp.int32),
          jnp.zeros((A, K), jnp.float32), jnp.zeros((B, K), jnp.float32), jnp.zeros((A,), jnp.float32),
          jnp.zeros((B,), jnp.float32), zf, jnp.array(False))
    c, _ = jax.lax.scan(step, c0, (raster, rp, i_pre))
    ever, rank = c[6], c[8]
    ws = jnp.concatenate([c[9], c[10]]) if B else c[9]
    w = jnp.where(ever[:, None], ws[jnp.clip(rank, 0, slots - 1)], wr)
    w = w.reshape(P, F, K).transpose(1, 0, 2)
    return NetState(w=w, theta=c[2].reshape(P, F).T, wyy=state.wyy), c[13].reshape(P, F).T, c[14]


# --------------------------------------------------------------------------------------------
# training (one image at a time) and batched spike counts
# --------------------------------------------------------------------------------------------

def train(cfg: LCConfig, hp: HParams, state: NetState, images, order, key, *, learn_xy: bool = True,
          learn_yy: Optional[bool] = None, yy: Optional[str] = None, skip_silent: bool = False,
          valid=None, impl: str = "auto"):
    """Train one network on ``images[order]`` one image at a time (``images``: cropped uint8
    ``[N, crop*crop]``, ``order``: int indices). Per image: encode, 250 steps with learning,
    competition mask (with competition learning), per-neuron normalisation. Pure and jittable
    (``cfg`` and the flags static); returns ``(state, total Y spikes per image)``. ``impl``: see
    :func:`simulate_image`; the Poisson trains come from the lazy encoder
    (:func:`encode_one`, identical spikes) where the event path is used (``"auto"``: large
    networks)."""
    if learn_yy is None:
        learn_yy = cfg.comp_learning
    if yy is None:
        yy = "dense" if cfg.comp_learning else "fixed"
    mask = jnp.asarray(competition_mask(cfg)) if (cfg.comp_learning and learn_yy) else None
    keys = jax.random.split(key, order.shape[0])
    if valid is None:
        valid = jnp.ones(order.shape, bool)

    def body(st, xs):
        i, k, ok = xs
        raster = encode_one(cfg, images[i], k) if _event_pays(cfg, impl) else encode(cfg, images[i], k)
        new, cnt = simulate_image(cfg, hp, st, raster, learn_xy=learn_xy, learn_yy=learn_yy,
                                  adapt=True, yy=yy, skip_silent=skip_silent, impl=impl)
        wyy = new.wyy * mask if mask is not None else new.wyy
        w = normalise(cfg, hp, new.w) if learn_xy else new.w
        new = NetState(w, new.theta, wyy)
        # padding entries (fixed-size chunks: one compilation) leave the state untouched
        new = jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), new, st)
        return new, jnp.sum(cnt) * ok

    return jax.lax.scan(body, state, (order, keys, valid))


@functools.partial(jax.jit, static_argnames=("cfg", "learn_xy", "learn_yy", "yy", "skip_silent", "hp_axis",
                                             "networks", "impl"))
def _train_many(cfg, hp, states, images, orders, keys, valid, learn_xy, learn_yy, yy, skip_silent, hp_axis,
                networks, impl="auto"):
    f = lambda h, s, o, k: train(cfg, h, s, images, o, k, learn_xy=learn_xy, learn_yy=learn_yy,  # noqa: E731
                                 yy=yy, skip_silent=skip_silent, valid=valid, impl=impl)
    if networks == "vmap":
        return jax.vmap(f, in_axes=(hp_axis, 0, 0, 0))(hp, states, orders, keys)
    # "map": the networks one after the other inside the same launch (faster on a CPU)
    if hp_axis is None:
        return jax.lax.map(lambda a: f(hp, *a), (states, orders, keys))
    return jax.lax.map(lambda a: f(*a), (hp, states, orders, keys))


def train_networks(cfg: LCConfig, hp: HParams, states: NetState, images, orders, keys, *,
                   learn_xy: bool = True, learn_yy: Optional[bool] = None, yy: Optional[str] = None,
                   skip_silent: bool = False, chunk: Optional[int] = None, progress=None,
                   networks: str = "auto", start: int = 0, impl: str = "auto"):
    """Train ``N`` networks together (``vmap``; each still one image at a time): ``states`` and
    ``orders [N, n_iter]`` and ``keys [N]`` carry the network axis; ``hp`` too when its fields
    are arrays with a leading axis of size N (a grid), else it is shared. The image sequence runs
    in launches of ``chunk`` images (default 100; the last one padded, so one compilation serves
    any length). ``networks``: ``"vmap"`` (one batched program: the choice for a GPU), ``"map"``
    (the networks one after the other inside the same launch: faster on a CPU, where batching
    the per-step updates gains nothing), ``"auto"`` = vmap on an accelerator, map on a CPU.
    ``progress(n_done, states)`` is called after every launch (checkpoint there); ``start`` =
    images already done in an earlier call (resume: the Poisson keys continue as in one call when
    the chunk boundaries are the same). ``impl``: see :func:`simulate_image`; ``"auto"`` means
    ``"dense"`` with ``"vmap"`` (the event path's per-image fallback would become a select that
    runs both)."""
    if networks == "auto":
        networks = "map" if jax.default_backend() == "cpu" else "vmap"
    if impl == "auto" and networks == "vmap":
        impl = "dense"
    if networks not in ("vmap", "map"):
        raise ValueError(f"networks must be 'auto', 'vmap' or 'map', got {networks!r}")
    if learn_yy is None:
        learn_yy = cfg.comp_learning
    if yy is None:
        yy = "dense" if cfg.comp_learning else "fixed"
    orders = jnp.asarray(orders, jnp.int32)
    if orders.ndim != 2:
        raise ValueError(f"orders must be [n_networks, n_images], got shape {orders.shape}")
    n_net, n_iter = orders.shape
    hp_axis = 0 if np.ndim(hp.mean_weight) >= 1 else None
    if hp_axis == 0 and np.shape(hp.mean_weight)[0] != n_net:
        raise ValueError(f"hp has {np.shape(hp.mean_weight)[0]} settings but orders has {n_net} networks")
    if hp_axis == 0:
        hp = HParams(*[jnp.broadcast_to(x, (n_net,)) for x in hp])
    images = jnp.asarray(images)
    if n_iter == 0:
        return states, np.zeros((n_net, 0))
    if networks == "vmap":  # networks over all local accelerators (no-op on one device)
        states, orders, keys = shard_leading((states, orders, keys), require_divisible=False)
        if hp_axis == 0:
            hp = shard_leading(hp, require_divisible=False)
    chunk = min(n_iter, int(chunk) if chunk else 100)
    totals = []
    for a in range(0, n_iter, chunk):
        ks = jax.vmap(lambda k: jax.random.fold_in(k, start + a))(keys)
        o = orders[:, a:a + chunk]
        m = o.shape[1]
        valid = jnp.arange(chunk) < m
        if m < chunk:   # pad the last chunk (padding entries do not touch the state)
            o = jnp.concatenate([o, jnp.zeros((n_net, chunk - m), o.dtype)], axis=1)
        states, tot = _train_many(cfg, hp, states, images, o, ks, valid, learn_xy, learn_yy,
                                  yy, skip_silent, hp_axis, networks, impl)
        totals.append(np.asarray(tot)[:, :m])
        if progress is not None:
            progress(start + min(a + chunk, n_iter), states)
    return states, (np.concatenate(totals, axis=1) if totals else np.zeros((n_net, 0)))


def _patches_pmk(cfg: LCConfig, x):
    """``x [M, crop*crop]`` -> ``[P, M, k*k]`` (patch-major; static slices)."""
    c, k, st, cs = cfg.crop, cfg.kernel, cfg.stride, cfg.conv_size
    img = x.reshape(x.shape[0], c, c)
    return jnp.stack([img[:, i * st:i * st + k, j * st:j * st + k].reshape(x.shape[0], k * k)
                      for i in range(cs) for j in range(cs)])


def _counts_batch(cfg: LCConfig, hp: HParams, state: NetState, rasters):
    """Inference spike counts ``[M, F, P]`` of one network on ``M`` images at once (learning off,
    ``yy="fixed"``): ``rasters [time, M, crop*crop]`` (uint8, time-major, see
    :func:`encode_many`). The same step as :func:`_simulate_dense` without learning, but one scan
    for the whole batch with only the state that inference needs (no traces), the X current of a
    step computed inside the loop as one batched matmul ``[P, M, K] x [P, K, F]`` from the
    previous step's spikes (nothing of size ``time x M x n_Y`` is materialised), state held
    ``[P, M, F]``, and the previous step's spikes read off the refractory counters (``rc ==
    refrac`` exactly when the neuron spiked, for ``refrac >= 1``) instead of carried. Same spikes
    as ``vmap(simulate_image)`` up to the float summation order of the input current (tested)."""
    F, P = cfg.n_filters, cfg.n_patches
    M = rasters.shape[1]
    decay = jnp.exp(-1.0 / hp.tc_decay)
    refrac = float(cfg.refractory)
    if cfg.arch == "C":
        w = normalise(cfg, hp, state.w).T                  # [K, F]; C starts unnormalised
        cur = lambda xp: jnp.einsum("pmk,kf->pmf", xp, w)  # noqa: E731
    else:
        w = state.w.transpose(1, 2, 0)                     # [P, K, F]
        cur = lambda xp: jnp.einsum("pmk,pkf->pmf", xp, w)  # noqa: E731
    theta = state.theta.T[:, None, :]                      # [P, 1, F]

    def step(c, sx):
        v, rc, sy, prev, count = c
        if refrac >= 1:   # a neuron spiked in the previous step iff its counter was just set
            sy = (rc == refrac).astype(jnp.float32)
        i_in = cur(_patches_pmk(cfg, prev).astype(jnp.float32))
        i_in = i_in + hp.c_w * (jnp.sum(sy, axis=2, keepdims=True) - sy)
        v = REST + decay * (v - REST)
        v = v + i_in * (rc == 0)
        rc = jnp.maximum(rc - 1.0, 0.0)
        s = (v >= THRESH + theta).astype(jnp.float32)
        rc = jnp.where(s > 0, refrac, rc)
        v = jnp.where(s > 0, RESET, v)
        return (v, rc, s if refrac < 1 else sy0, sx, count + s), None

    z = jnp.zeros((P, M, F), jnp.float32)
    sy0 = z if refrac < 1 else jnp.zeros((), jnp.float32)   # carried only without refractory steps
    c0 = (jnp.full((P, M, F), REST, jnp.float32), z, sy0, jnp.zeros_like(rasters[0]), z)
    c, _ = jax.lax.scan(step, c0, rasters)
    return c[4].transpose(1, 2, 0)


@functools.partial(jax.jit, static_argnames=("cfg", "yy", "hp_axis", "budget", "impl"))
def _counts_chunk(cfg, hp, states, pixels, keys, yy, hp_axis, budget=None, impl="auto"):
    """``(counts [N, M, F, P], ok)``; ``ok`` False: the lazy encoder's draws did not suffice
    (the caller reruns the chunk with ``budget=None``, i.e. :func:`encode`: the same spikes)."""
    # the Poisson trains of an image are drawn once and shared by the networks
    if impl != "dense" and yy == "fixed":   # one scan for the batch (see _counts_batch)
        if budget is not None and _lazy_ok():   # the fallback is decided on the host (no cond here)
            rasters, ok = _encode_lazy(cfg, pixels, keys, int(budget), True)
        else:
            rasters, ok = encode_many(cfg, pixels, keys, None, time_major=True), jnp.array(True)
        return jax.vmap(lambda h, st: _counts_batch(cfg, h, st, rasters), in_axes=(hp_axis, 0))(hp, states), ok
    rasters = encode_many(cfg, pixels, keys, budget)

    def one_net(h, st):
        if cfg.arch == "C":  # C starts unnormalised; trained networks are normalised already
            st = NetState(normalise(cfg, h, st.w), st.theta, st.wyy)
        return jax.vmap(lambda r: simulate_image(cfg, h, st, r, yy=yy)[1])(rasters)
    return jax.vmap(one_net, in_axes=(hp_axis, 0))(hp, states), jnp.array(True)


def spike_counts(cfg: LCConfig, hp: HParams, states: NetState, images, key, *, batch: int = 128,
                 yy: Optional[str] = None, progress=None, impl: str = "auto") -> np.ndarray:
    """Spike counts ``[N_networks, n_images, F, P]`` of ``N`` networks (leading axis of
    ``states``) on the same ``images`` (cropped uint8 ``[n, crop*crop]``), learning off (theta
    frozen, no STDP), batched over images. The Poisson trains of an image are drawn once per call
    and shared by the networks (each network alone sees independent random trains per image).
    ``impl="dense"`` draws them with ``vmap(encode)`` and runs ``vmap(simulate_image)``;
    otherwise the lazy encoder (:func:`encode_many`, identical spikes) and, with ``yy="fixed"``,
    one scan for the whole batch (:func:`_counts_batch`; the same counts in the tests)."""
    if yy is None:
        yy = "dense" if cfg.comp_learning else "fixed"
    images = np.asarray(images)
    if images.ndim != 2 or images.shape[1] != cfg.crop ** 2 or images.dtype != np.uint8:
        raise ValueError(f"images must be cropped uint8 [n, {cfg.crop ** 2}] (see crop_images), got "
                         f"{images.dtype} {images.shape}")
    n = len(images)
    n_net = jax.tree_util.tree_leaves(states)[0].shape[0]
    hp_axis = 0 if np.ndim(hp.mean_weight) >= 1 else None
    if hp_axis == 0:
        hp = HParams(*[jnp.broadcast_to(x, (n_net,)) for x in hp])
    batch = max(1, min(batch, n))
    out = np.zeros((n_net, n, cfg.n_filters, cfg.n_patches), np.float32)
    for a in range(0, n, batch):
        px = images[a:a + batch]
        m = len(px)
        if m < batch:  # pad to a fixed shape (one compilation)
            px = np.concatenate([px, np.zeros((batch - m, px.shape[1]), px.dtype)])
        ks = jax.random.split(jax.random.fold_in(key, a), batch)
        budget = None if impl == "dense" else lazy_budget(cfg, px)   # lazy encoder (same spikes)
        c, ok = _counts_chunk(cfg, hp, states, jnp.asarray(px), ks, yy, hp_axis, budget, impl)
        if not bool(ok):   # a pixel needed more intervals than the lazy encoder drew: encode
            c, _ = _counts_chunk(cfg, hp, states, jnp.asarray(px), ks, yy, hp_axis, None, impl)
        out[:, a:a + m] = np.asarray(c)[:, :m]
        if progress is not None:
            progress(a + m)
    return out


# --------------------------------------------------------------------------------------------
# calibration, voting, linear classifier
# --------------------------------------------------------------------------------------------

def compute_votes(counts, labels, n_classes: int = 10) -> np.ndarray:
    """``votes[c, f, p]`` = mean spike count of neuron (f, p) over the calibration images of
    class ``c`` (0 for a class without images). ``counts [n, F, P]``."""
    counts = np.asarray(counts, np.float64)
    labels = np.asarray(labels).astype(int)
    if counts.ndim != 3 or len(counts) != len(labels):
        raise ValueError(f"counts must be [n, F, P] with one label per image; got {counts.shape}, "
                         f"{labels.shape}")
    votes = np.zeros((n_classes,) + counts.shape[1:])
    for c in range(n_classes):
        sel = labels == c
        if sel.any():
            votes[c] = counts[sel].mean(0)
    return votes


def vote(counts, votes, method: str = "patch") -> np.ndarray:
    """Predicted classes ``[n]`` (−1 where the network was silent, ``Σ_c res_c == 0``).

    * ``patch``: ``res_c = Σ_p max_f counts[f,p] votes[c,f,p]``
    * ``all``: ``res_c = Σ_{f,p} counts[f,p] votes[c,f,p]``
    * ``spikes_first``: per patch the filter with most spikes (first on ties) votes with
      ``counts[f*,p] votes[c,f*,p]``.
    """
    counts = np.asarray(counts, np.float64)
    votes = np.asarray(votes, np.float64)
    if method not in VOTING:
        raise ValueError(f"method must be one of {VOTING}, got {method!r}")
    if len(counts) > 256:   # bound the memory of the [n, C, F, P] product
        return np.concatenate([vote(counts[a:a + 256], votes, method) for a in range(0, len(counts), 256)])
    prod = counts[:, None] * votes[None]                       # [n, C, F, P]
    if method == "patch":
        res = prod.max(axis=2).sum(axis=2)
    elif method == "all":
        res = prod.sum(axis=(2, 3))
    elif method == "spikes_first":
        fstar = counts.argmax(axis=1)                          # [n, P]
        res = np.take_along_axis(prod, fstar[:, None, None, :], axis=2)[:, :, 0].sum(-1)
    else:
        raise ValueError(f"method must be one of {VOTING}, got {method!r}")
    pred = res.argmax(axis=1)
    return np.where(res.sum(axis=1) == 0, -1, pred)


VOTING = ("patch", "all", "spikes_first")


def linear_classifier_accuracy(train_counts, train_labels, test_counts, test_labels, seed: int = 0):
    """scikit-learn ``SGDClassifier`` with default settings on flattened spike counts (thesis
    "method 2"). Returns ``(accuracy, predictions)``."""
    from sklearn.linear_model import SGDClassifier
    Xtr = np.asarray(train_counts).reshape(len(train_counts), -1)
    Xte = np.asarray(test_counts).reshape(len(test_counts), -1)
    clf = SGDClassifier(random_state=seed).fit(Xtr, np.asarray(train_labels))
    pred = clf.predict(Xte)
    return float(np.mean(pred == np.asarray(test_labels))), pred


def count_params(cfg: LCConfig) -> int:
    """The thesis' parameter count: LC ``k^2 n_Y + P F (F-1)``; C ``k^2 + P F (F-1)`` (its
    undercount); FC as LC with one patch."""
    comp = cfg.n_patches * cfg.n_filters * (cfg.n_filters - 1)
    if cfg.arch == "C":
        return cfg.k2 + comp
    return cfg.k2 * cfg.n_y + comp


#: thesis table (N = 5 networks, mean ± std in %): (arch, filters, kernel, comp-trained, m1, s1, m2, s2)
THESIS_TABLE = [
    ("LC", 1000, 12, False, 92.3, 0.7, 95.1, 0.5),
    ("LC", 100, 12, False, 87.5, 0.9, 91.5, 0.6),
    ("LC", 100, 8, False, 82.9, 0.6, 88.1, 0.7),
    ("LC", 25, 12, True, 82.3, 1.0, 88.2, 0.6),
    ("LC", 25, 12, False, 80.1, 1.0, 85.5, 0.8),
    ("LC", 25, 8, False, 73.6, 1.0, 80.3, 0.7),
    ("C", 169, 12, False, 79.2, 1.6, 85.7, 1.4),
    ("C", 81, 12, False, 77.2, 1.7, 83.1, 1.2),
    ("C", 100, 8, False, 77.4, 1.9, 82.1, 1.3),
    ("C", 25, 12, False, 65.8, 0.7, 77.1, 0.6),
    ("C", 25, 8, False, 63.1, 1.2, 75.8, 0.5),
    ("FC", 100, 20, False, 81.4, 0.9, 82.1, 0.8),
]


# --------------------------------------------------------------------------------------------
# the thesis protocol: calibrate, test, vote, linear classifier
# --------------------------------------------------------------------------------------------

def evaluate(cfg: LCConfig, hp: HParams, states: NetState, calib_images, calib_labels, test_images,
             test_labels, key, *, batch: int = 128, linear: bool = True, seed: int = 0) -> dict:
    """Calibrate (votes from class-mean spike counts) and test ``N`` networks (leading axis of
    ``states``), learning off, batched over images. Returns per-network accuracies for every
    voting method, the best of them (the thesis' "method 1"), the linear classifier ("method 2"),
    plus the votes, test counts and predictions."""
    kc, kt = jax.random.split(key)
    cc = spike_counts(cfg, hp, states, calib_images, kc, batch=batch)
    tc = spike_counts(cfg, hp, states, test_images, kt, batch=batch)
    test_labels = np.asarray(test_labels).astype(int)
    out = {m: [] for m in VOTING}
    out.update(linear=[], votes=[], preds={m: [] for m in VOTING}, silent=[])
    for n in range(len(cc)):
        votes = compute_votes(cc[n], calib_labels)
        out["votes"].append(votes)
        for m in VOTING:
            p = vote(tc[n], votes, m)
            out[m].append(float(np.mean(p == test_labels)))
            out["preds"][m].append(p)
        out["silent"].append(float(np.mean(tc[n].sum((1, 2)) == 0)))
        if linear:
            out["linear"].append(linear_classifier_accuracy(cc[n], calib_labels, tc[n], test_labels, seed)[0])
    # the thesis computes spikes_first for LC only; "best" is taken over the methods it had
    methods = VOTING if cfg.arch == "LC" else ("patch", "all")
    out["best"] = [max(out[m][n] for m in methods) for n in range(len(cc))]
    out["test_counts"] = tc
    return out


class ThesisData(NamedTuple):
    """Images and index pools as the thesis splits MNIST (see :func:`thesis_data`)."""
    x_train: Any
    y_train: Any
    x_test: Any
    y_test: Any
    train_pool: Any   # indices of x_train that training images are drawn from
    calib_pool: Any   # indices of x_train that calibration images are drawn from
    dataset: str


def synthetic_digits(n: int, rng: np.random.Generator):
    """MNIST-shaped uint8 digits ``[n, 28, 28]`` for smoke runs: ten fixed stroke templates
    (random walks from a fixed seed) with per-image brightness and pixel dropout from ``rng``."""
    tr = np.random.default_rng(1234)
    temps = np.zeros((10, 28, 28))
    for c in range(10):
        pos = np.array([14, 14])
        for _ in range(40):
            pos = np.clip(pos + tr.integers(-2, 3, 2), 6, 21)
            temps[c, pos[0] - 1:pos[0] + 2, pos[1] - 1:pos[1] + 2] = 1
    lab = rng.integers(0, 10, n)
    img = temps[lab] * rng.uniform(150, 255, (n, 1, 1)) * (rng.random((n, 28, 28)) > 0.1)
    return img.astype(np.uint8), lab.astype(np.uint8)


def thesis_data(synthetic: bool, rng: np.random.Generator, root=None) -> ThesisData:
    """MNIST as the thesis uses it: training images drawn from the first 50,000 training images,
    calibration images from the last 10,000, test images from the test set. ``synthetic`` gives
    2,000 + 500 generated digits (pools 1,500 / 500) for smoke runs, with no data files."""
    if synthetic:
        xtr, ytr = synthetic_digits(2000, rng)
        xte, yte = synthetic_digits(500, rng)
        return ThesisData(xtr, ytr, xte, yte, np.arange(1500), np.arange(1500, 2000),
                          "synthetic MNIST-shaped digits (smoke)")
    from snncore.data.mnist import load_mnist
    xtr, ytr = load_mnist("train", root)
    xte, yte = load_mnist("test", root)
    return ThesisData(xtr, ytr, xte, yte, np.arange(50000), np.arange(50000, 60000), "MNIST (real)")
