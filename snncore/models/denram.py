"""DenRAM (D'Agostino, Moro, Torchet et al., Nat. Commun. 15:3446, 2024): random dendritic delays.

The network of the paper's SHD experiment (Fig. 4d), as specified in ``shared/papers/denram.md``:

* one feed-forward layer, ``n_out = 20`` non-spiking output units, ``n_in`` input channels
  (D1: 700, tau_mem 20 ms; D2: 256, tau_mem 15 ms), ``n_branch = 16`` dendritic branches per
  (output, input channel), each with its own weight ``w[j, i, k]`` and its own *fixed* integer delay
  ``delays[j, i, k]`` (delays are per output unit, not shared);
* the delays are the RRAM high-resistance state times a 1 pF capacitor: ``R ~ lognormal`` with mean
  ``r_mu = 500 GOhm`` and log-sigma ``r_std = 0.4``; ``d = round(R C / dt)`` with ``dt = 5 ms``,
  clipped to ``[0, max_delay = 200]`` steps (mean 100 steps = 0.5 s, ~2.7 % clipped);
* a bias (one extra input that is 1 during the 150 data steps, 0 in the 200-step tail), delay 0;
* synaptic current ``I_t[j] = sum_{i,k} w~[j,i,k] x_{t - d[j,i,k]}[i] + b~[j] [t < 150]``;
* membrane ``V_t = max(0, alpha V_{t-1} + I_t)`` with ``alpha = exp(-dt / tau_mem)``, no ``(1-alpha)``
  input scaling; logits ``= max_t V_t`` over ``T = 150 + 200`` steps; softmax cross-entropy;
* weight noise on every forward pass (train, validation, test): ``w~ = w + N(0,1) * max|W| * noise_std``
  (``max|W|`` over all weights and the bias, one draw per batch), straight-through gradient;
* the original optimiser: Adam whose step index is the *epoch* (learning-rate schedule and bias
  correction both), as the optax transformation :func:`denram_adam`;
* early stopping on validation accuracy with a 1 % relative-improvement rule and patience 25.

Delay semantics. The original keeps a FIFO of length ``Dmax = max(delays)`` (200) and a delay equal
to ``Dmax`` reads one past its end, which XLA clamps to ``Dmax - 1``. We make that explicit:
:func:`effective_delays` clips to ``max_delay - 1`` (so the ~2.7 % clipped synapses act with 199
steps, as in the original run).

Fast formulation. Before the ReLU the network is linear in its binary, sparse input, so each input
event ``(b, t, i)`` adds ``w[j, i, k]`` to ``I[b, t + d[j,i,k], j]`` for its 320 synapses: an
event-driven scatter (:func:`currents_events`) whose work is ``events x 320`` instead of the dense
``T x 20 x n_in x 16`` gather of the original (:func:`currents_direct`, kept as the reference and
tested equal).
"""
from __future__ import annotations

import functools
import math
from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from snncore.parallel import shard_leading
from snncore.core import check_finite, run, split_seeds

__all__ = [
    "DenRAMConfig", "D1", "D2", "Params", "Network", "EventBatch", "Events",
    "draw_delays", "effective_delays", "init", "init_network", "noisy_params", "currents_direct",
    "currents_events", "membrane_max", "logits_direct", "logits_events", "loss_and_accuracy",
    "DenRAMAdamState", "denram_adam", "lr_at_epoch", "EarlyStopping",
    "BIN_EDGES", "bin_sample", "reduce_channels", "events_from_shd", "events_from_rasters",
    "split_train_val", "batch_capacity", "make_batch", "iterate_batches", "train", "train_grid", "evaluate",
    "delay_stats", "run_key", "run_file", "save_run", "load_run", "load_run_files",
]

# --------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------


class DenRAMConfig(NamedTuple):
    """Hyper-parameters (defaults: the paper's D2). Times in seconds."""
    n_in: int = 256
    tau_mem: float = 15e-3
    n_out: int = 20
    n_branch: int = 16
    dt: float = 5e-3
    t_data: int = 150          # data steps (bins) per sample after truncation
    max_delay: int = 200       # delays clipped to [0, max_delay]; also the zero tail length
    r_mu: float = 500e9        # mean HRS resistance (Ohm)
    r_std: float = 0.4         # sigma of ln R
    c: float = 1e-12           # capacitor (F)
    w_scale: float = 0.3       # init scale / sqrt(n_in)
    delay_mode: str = "lognormal"   # "lognormal" (paper), "uniform" in [0, max_delay], "zero"

    @property
    def alpha(self) -> float:
        return math.exp(-self.dt / self.tau_mem)

    @property
    def n_steps(self) -> int:
        return self.t_data + self.max_delay

    def validate(self) -> "DenRAMConfig":
        for name in ("n_in", "n_out", "n_branch", "t_data"):
            v = getattr(self, name)
            if not (isinstance(v, (int, np.integer)) and v >= 1):
                raise ValueError(f"DenRAMConfig.{name} must be a positive integer, got {v!r}")
        if not (isinstance(self.max_delay, (int, np.integer)) and self.max_delay >= 1):
            raise ValueError(f"DenRAMConfig.max_delay must be an integer >= 1, got {self.max_delay!r}")
        for name in ("tau_mem", "dt", "r_mu", "c", "w_scale"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"DenRAMConfig.{name} must be positive and finite, got {v!r}")
        if not (np.isfinite(self.r_std) and self.r_std >= 0):
            raise ValueError(f"DenRAMConfig.r_std must be >= 0, got {self.r_std!r}")
        if self.delay_mode not in ("lognormal", "uniform", "zero"):
            raise ValueError(f"delay_mode must be 'lognormal', 'uniform' or 'zero', got {self.delay_mode!r}")
        return self


D1 = DenRAMConfig(n_in=700, tau_mem=20e-3)
D2 = DenRAMConfig(n_in=256, tau_mem=15e-3)


class Params(NamedTuple):
    """Trainable weights: ``w[j, i, k]`` (output, input channel, branch) and bias ``b[j]``."""
    w: Any
    b: Any


class Network(NamedTuple):
    """Fixed (untrained) part: integer delays ``[n_out, n_in, n_branch]`` in steps, as drawn
    (clipped to ``[0, max_delay]``)."""
    delays: Any


# --------------------------------------------------------------------------------------------
# delays, init, noise
# --------------------------------------------------------------------------------------------


def draw_delays(key, cfg: DenRAMConfig) -> jnp.ndarray:
    """Integer delays ``[n_out, n_in, n_branch]`` (steps of ``dt``), clipped to ``[0, max_delay]``.

    lognormal: ``R = exp(mu_n + r_std z)`` with ``mu_n = ln(r_mu) - r_std^2 / 2`` (so E[R] = r_mu),
    ``d = round(R c / dt)``. uniform: integers in ``[0, max_delay]``. zero: all 0.
    """
    cfg.validate()
    shape = (cfg.n_out, cfg.n_in, cfg.n_branch)
    if cfg.delay_mode == "zero":
        return jnp.zeros(shape, jnp.int32)
    if cfg.delay_mode == "uniform":
        return jax.random.randint(key, shape, 0, cfg.max_delay + 1, dtype=jnp.int32)
    mu_n = math.log(cfg.r_mu) - 0.5 * cfg.r_std ** 2
    z = jax.random.normal(key, shape, jnp.float32)
    r = jnp.exp(mu_n + cfg.r_std * z)
    d = jnp.round(r * cfg.c / cfg.dt)
    return jnp.clip(d, 0, cfg.max_delay).astype(jnp.int32)


def effective_delays(delays, cfg: DenRAMConfig):
    """The delays the original FIFO actually applies: ``min(d, max_delay - 1)`` (a delay equal to
    the FIFO length reads its last slot). Made explicit here instead of relying on XLA clamping."""
    return jnp.clip(jnp.asarray(delays), 0, max(cfg.max_delay - 1, 0))


def init(key, cfg: DenRAMConfig):
    """Parameters, fixed delays and the remaining key (which drives the per-batch noise).

    Key plumbing as in the original: split off weights, then delays, then bias.
    ``w = |N(0,1)| * w_scale / sqrt(n_in)`` (positive init, unconstrained afterwards);
    ``b = N(0,1) * w_scale / sqrt(n_in)`` (signed).
    """
    cfg.validate()
    key, kw = jax.random.split(key)
    key, kd = jax.random.split(key)
    key, kb = jax.random.split(key)
    scale = cfg.w_scale / math.sqrt(cfg.n_in)
    w = jnp.abs(jax.random.normal(kw, (cfg.n_out, cfg.n_in, cfg.n_branch), jnp.float32)) * scale
    b = jax.random.normal(kb, (cfg.n_out,), jnp.float32) * scale
    return Params(w=w, b=b), Network(delays=draw_delays(kd, cfg)), key


def init_network(seed: int, cfg: DenRAMConfig):
    """``init`` from an integer seed; the model key is ``PRNGKey(seed)`` like the original."""
    return init(split_seeds(seed, model=int(seed)).model, cfg)


def noisy_params(params: Params, key, noise_std) -> Params:
    """``w~ = w + N(0,1) max|W| noise_std`` on every nonzero entry (W = weights and bias), one
    realisation per call; straight-through: the added term is a constant for the gradient."""
    wmax = jnp.maximum(jnp.max(jnp.abs(params.w)), jnp.max(jnp.abs(params.b)))
    kw, kb = jax.random.split(key)
    nw = jax.random.normal(kw, params.w.shape, params.w.dtype) * wmax * noise_std
    nb = jax.random.normal(kb, params.b.shape, params.b.dtype) * wmax * noise_std
    nw = jnp.where(params.w != 0, nw, 0.0)
    nb = jnp.where(params.b != 0, nb, 0.0)
    return Params(w=params.w + jax.lax.stop_gradient(nw), b=params.b + jax.lax.stop_gradient(nb))


# --------------------------------------------------------------------------------------------
# forward: the direct (reference) and the event-driven (fast) formulation
# --------------------------------------------------------------------------------------------


def _bias_current(b, cfg: DenRAMConfig, batch: int):
    on = (jnp.arange(cfg.n_steps) < cfg.t_data).astype(b.dtype)  # bias input: 1 on data steps
    return jnp.broadcast_to(on[:, None, None] * b[None, None, :], (cfg.n_steps, batch, cfg.n_out))


def currents_direct(params: Params, net: Network, x, cfg: DenRAMConfig):
    """Reference formulation (as the original): for every step ``t`` and synapse ``(j, i, k)``
    gather ``x[t - d[j,i,k], i]`` from the zero-padded input and sum with the weights.

    ``x``: binary input ``[B, t_data, n_in]``. Returns currents ``[T, B, n_out]`` (time-major),
    ``T = t_data + max_delay``. Memory ``B T n_out n_in n_branch``: for tests and small inputs.
    """
    x = jnp.asarray(x, params.w.dtype)
    B = x.shape[0]
    T = cfg.n_steps
    xpad = jnp.concatenate([x, jnp.zeros((B, cfg.max_delay, cfg.n_in), x.dtype)], axis=1)
    d = effective_delays(net.delays, cfg)
    tt = jnp.arange(T)[:, None, None, None] - d[None]                    # [T, J, I, K]
    ch = jnp.arange(cfg.n_in)[None, None, :, None]
    vals = jnp.where(tt[None] >= 0, xpad[:, jnp.clip(tt, 0, T - 1), ch], 0.0)  # [B, T, J, I, K]
    cur = jnp.einsum("btjik,jik->tbj", vals, params.w)
    return cur + _bias_current(params.b, cfg, B)


class EventBatch(NamedTuple):
    """A batch of binary input as a padded event list: sample ``b``, step ``t``, channel ``i``
    (int32 ``[capacity]``), ``valid`` marks real events; ``labels`` int32 ``[B]`` and ``mask``
    (bool ``[B]``, False for padding samples)."""
    b: Any
    t: Any
    i: Any
    valid: Any
    labels: Any
    mask: Any


EVENT_CHUNK = 2048   # events per scan step of the scatter (keeps the [chunk, 320] index block in cache)


def _chunks(x, chunk):
    return x.reshape(-1, chunk, *x.shape[1:])


@jax.custom_vjp
def _scatter_events(wt, base, bt, i, valid, size):
    """``out[base[i_e, s] + bt_e] += wt[i_e, s]`` over events ``e`` (valid ones) and synapses
    ``s``; ``size`` (a zeros array) fixes the output length. Chunked over events with a scan;
    the backward pass (custom) gathers the cotangent at the same indices and sums it per channel,
    so no ``[events, 320]`` array is ever stored."""
    return _scatter_fwd(wt, base, bt, i, valid, size)[0]


def _scatter_fwd(wt, base, bt, i, valid, size):
    n = size.shape[0]

    def body(acc, c):
        bt_c, i_c, v_c = c
        idx = jnp.where(v_c[:, None], base[i_c] + bt_c[:, None], n)
        return acc.at[idx.ravel()].add(wt[i_c].ravel(), mode="drop"), None

    out, _ = jax.lax.scan(body, jnp.zeros(n, wt.dtype), (bt, i, valid))
    return out, (base, bt, i, valid, size)


def _scatter_bwd(res, g):
    base, bt, i, valid, size = res
    n = size.shape[0]
    gpad = jnp.concatenate([g, jnp.zeros((1,), g.dtype)])

    def body(acc, c):
        bt_c, i_c, v_c = c
        idx = jnp.where(v_c[:, None], base[i_c] + bt_c[:, None], n)
        return acc.at[i_c].add(gpad[idx]), None

    gw, _ = jax.lax.scan(body, jnp.zeros(base.shape, g.dtype), (bt, i, valid))
    return gw, None, None, None, None, None


_scatter_events.defvjp(_scatter_fwd, _scatter_bwd)


def currents_events(params: Params, net: Network, ev: EventBatch, cfg: DenRAMConfig):
    """Event-driven formulation: every input event ``(b, t, i)`` scatters its 320 weights
    ``w[:, i, :]`` to ``I[b, t + d[:, i, :], :]``. Returns currents ``[T, B, n_out]``.
    Work and memory grow with the number of events, not with ``T x n_in``."""
    B = ev.labels.shape[0]
    T, J = cfg.n_steps, cfg.n_out
    d = effective_delays(net.delays, cfg)
    # flat target offset of synapse (j, i, k) for an event at (b=0, t=0): j * B*T + d
    base = (jnp.arange(J, dtype=jnp.int32)[:, None, None] * (B * T) + d)      # [J, I, K]
    base = base.transpose(1, 0, 2).reshape(cfg.n_in, J * cfg.n_branch)       # [I, J*K]
    wt = params.w.transpose(1, 0, 2).reshape(cfg.n_in, J * cfg.n_branch)     # [I, J*K]
    cap = ev.i.shape[0]
    chunk = min(EVENT_CHUNK, max(cap, 1))
    pad = (-cap) % chunk
    bt = jnp.pad((ev.b * T + ev.t).astype(jnp.int32), (0, pad))
    ii = jnp.pad(ev.i.astype(jnp.int32), (0, pad))
    vv = jnp.pad(ev.valid, (0, pad))
    cur = _scatter_events(wt, base, _chunks(bt, chunk), _chunks(ii, chunk), _chunks(vv, chunk),
                          jnp.zeros((J * B * T,), jnp.int8))
    cur = cur.reshape(J, B, T).transpose(2, 1, 0)
    return cur + _bias_current(params.b, cfg, B)


class _MemState(NamedTuple):
    v: Any
    vmax: Any


def membrane_max(currents, alpha):
    """``V_t = max(0, alpha V_{t-1} + I_t)``, ``V_{-1} = 0``; returns ``max_t V_t`` ``[B, n_out]``.
    ``currents`` is time-major ``[T, B, n_out]`` and is scanned with :func:`snncore.core.run`."""
    def step(a, s, i_t):
        v = jnp.maximum(0.0, a * s.v + i_t)
        return _MemState(v=v, vmax=jnp.maximum(s.vmax, v)), None

    z = jnp.zeros(currents.shape[1:], currents.dtype)
    final, _ = run(step, jnp.asarray(alpha, currents.dtype), _MemState(z, z), currents)
    return final.vmax


def logits_direct(params, net, x, cfg):
    return membrane_max(currents_direct(params, net, x, cfg), cfg.alpha)


def logits_events(params, net, ev, cfg):
    return membrane_max(currents_events(params, net, ev, cfg), cfg.alpha)


def loss_and_accuracy(params: Params, net: Network, ev: EventBatch, key, noise_std,
                      cfg: DenRAMConfig):
    """Mean softmax cross-entropy over the real samples of the batch, and (number correct,
    number of samples), with one weight-noise realisation for the batch."""
    p = noisy_params(params, key, noise_std)
    logits = logits_events(p, net, ev, cfg)
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, ev.labels)
    m = ev.mask.astype(logits.dtype)
    n = jnp.maximum(m.sum(), 1.0)
    correct = jnp.sum((jnp.argmax(logits, -1) == ev.labels) * m)
    return jnp.sum(ce * m) / n, (correct, m.sum())


# --------------------------------------------------------------------------------------------
# the original optimiser: Adam indexed by epoch
# --------------------------------------------------------------------------------------------

class DenRAMAdamState(NamedTuple):
    mu: Any
    nu: Any


def lr_at_epoch(epoch, lr: float = 2e-4, boundaries: Sequence[int] = (33, 66),
                factors: Sequence[float] = (1.0, 0.2, 0.05)):
    """Piecewise-constant schedule as ``jax.example_libraries.optimizers.piecewise_constant``:
    value index = number of boundaries strictly below ``epoch``. Default: 2e-4 for epochs <= 33,
    4e-5 for 34..66, 1e-5 from 67."""
    vals = jnp.asarray([lr * f for f in factors], jnp.float32)
    return vals[jnp.sum(jnp.asarray(epoch) > jnp.asarray(boundaries))]


def denram_adam(lr: float = 2e-4, boundaries: Sequence[int] = (33, 66),
                factors: Sequence[float] = (1.0, 0.2, 0.05), b1: float = 0.9, b2: float = 0.999,
                eps: float = 1e-8) -> optax.GradientTransformationExtraArgs:
    """The original code's Adam as an optax transformation. ``update(grads, state, params=None,
    *, epoch)`` needs the 0-based **epoch** index ``e``, which the original passes as the step:
    moments are updated every batch, but the bias correction ``1 - b^(e+1)`` and the learning rate
    (:func:`lr_at_epoch`) use ``e``::

        m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
        update = -lr(e) (m / (1 - b1^(e+1))) / (sqrt(v / (1 - b2^(e+1))) + eps)
    """
    if len(factors) != len(boundaries) + 1:
        raise ValueError("need one more factor than boundaries")

    def init_fn(params):
        z = jax.tree_util.tree_map(jnp.zeros_like, params)
        return DenRAMAdamState(mu=z, nu=jax.tree_util.tree_map(jnp.zeros_like, params))

    def update_fn(grads, state, params=None, *, epoch, **extra):
        del params, extra
        mu = jax.tree_util.tree_map(lambda m, g: (1 - b1) * g + b1 * m, state.mu, grads)
        nu = jax.tree_util.tree_map(lambda v, g: (1 - b2) * jnp.square(g) + b2 * v, state.nu, grads)
        e = jnp.asarray(epoch, jnp.float32)
        c1 = 1 - jnp.float32(b1) ** (e + 1)
        c2 = 1 - jnp.float32(b2) ** (e + 1)
        lr_e = lr_at_epoch(epoch, lr, boundaries, factors)
        upd = jax.tree_util.tree_map(lambda m, v: -lr_e * (m / c1) / (jnp.sqrt(v / c2) + eps), mu, nu)
        return upd, DenRAMAdamState(mu=mu, nu=nu)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


# --------------------------------------------------------------------------------------------
# early stopping
# --------------------------------------------------------------------------------------------

class EarlyStopping:
    """Validation-accuracy early stopping of the original: a new best needs
    ``acc > best`` and ``(acc - best) / best >= min_rel`` (1 %); anything else adds one to the
    patience counter (best unchanged); stop when the counter reaches ``patience`` (25)."""

    def __init__(self, patience: int = 25, min_rel: float = 0.01, best: float = 1e-5):
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        self.patience, self.min_rel = int(patience), float(min_rel)
        self.best, self.count, self.best_epoch = float(best), 0, -1

    def update(self, acc: float, epoch: int) -> bool:
        """Return True when ``acc`` is accepted as the new best."""
        if acc > self.best and (acc - self.best) / self.best >= self.min_rel:
            self.best, self.count, self.best_epoch = float(acc), 0, int(epoch)
            return True
        self.count += 1
        return False

    @property
    def stop(self) -> bool:
        return self.count >= self.patience

    def state(self) -> dict:
        return {"best": self.best, "count": self.count, "best_epoch": self.best_epoch}

    def load(self, d: dict) -> None:
        self.best, self.count, self.best_epoch = float(d["best"]), int(d["count"]), int(d["best_epoch"])


# --------------------------------------------------------------------------------------------
# data: the DenRAM binning, channel reduction, event lists, batches
# --------------------------------------------------------------------------------------------

#: 280 edges over 1.4 s (spacing 1.4/279 s = 5.018 ms), as ``numpy.linspace(0, 1.4, 280)``.
BIN_EDGES = np.linspace(0.0, 1.4, 280)


def bin_sample(times, units, n_channels: int = 700, t_data: int = 150) -> np.ndarray:
    """Binary raster ``[t_data, n_channels]`` (uint8) with the original's ``numpy.digitize``
    semantics: a spike at ``t`` goes to bin ``#edges <= t`` (so bin 0 is always empty), repeated
    spikes collapse to 1, and only the first ``t_data`` bins are kept (t < 0.7477 s for 150).
    Uses :func:`snncore.data.shd.bin_events` for the counting."""
    from snncore.data.shd import bin_events

    times = np.asarray(times, np.float64)
    units = np.asarray(units)
    if times.shape != units.shape:
        raise ValueError(f"times and units differ in shape: {times.shape} vs {units.shape}")
    if times.size and (not np.all(np.isfinite(times)) or times.min() < 0):
        raise ValueError("spike times must be finite and >= 0 (seconds)")
    counts = bin_events(times, units, BIN_EDGES, n_channels=n_channels)   # [279, C], bin k = [e_k, e_k+1)
    out = np.zeros((t_data, n_channels), np.uint8)
    n = min(t_data - 1, counts.shape[0])
    out[1:1 + n] = counts[:n] > 0                                          # digitize index = k + 1
    return out


def reduce_channels(raster: np.ndarray, n_in: int) -> np.ndarray:
    """700 -> ``n_in`` channels as the original: keep every ``ceil(700 / n_in)``-th channel
    (0, 3, ..., 699 -> 234 for 256), in order, then zero-pad to ``n_in``. Identity for 700."""
    c = raster.shape[-1]
    if n_in < 1 or n_in > c:
        raise ValueError(f"n_in must be in [1, {c}], got {n_in}")
    step = math.ceil(c / n_in)
    kept = raster[..., ::step]
    pad = n_in - kept.shape[-1]
    if pad < 0:
        kept = kept[..., :n_in]
        pad = 0
    return np.concatenate([kept, np.zeros(kept.shape[:-1] + (pad,), kept.dtype)], axis=-1)


class Events(NamedTuple):
    """A binned dataset as a flat event list: for sample ``n``, events ``offsets[n]:offsets[n+1]``
    of ``t`` (step) and ``i`` (channel); ``labels[n]``; ``n_in`` channels."""
    t: np.ndarray
    i: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray
    n_in: int

    def __len__(self):
        return len(self.labels)

    def subset(self, idx) -> "Events":
        idx = np.asarray(idx, np.int64)
        lo, hi = self.offsets[idx], self.offsets[idx + 1]
        sel = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)]) if len(idx) else np.zeros(0, np.int64)
        off = np.concatenate([[0], np.cumsum(hi - lo)])
        return Events(self.t[sel], self.i[sel], off, self.labels[idx], self.n_in)

    def raster(self, n: int, t_data: int = 150) -> np.ndarray:
        r = np.zeros((t_data, self.n_in), np.uint8)
        s = slice(self.offsets[n], self.offsets[n + 1])
        r[self.t[s], self.i[s]] = 1
        return r


def events_from_rasters(rasters, labels, n_in: Optional[int] = None) -> Events:
    """Binary rasters ``[N, t_data, C]`` -> :class:`Events` (with channel reduction to ``n_in``)."""
    rasters = np.asarray(rasters)
    if rasters.ndim != 3:
        raise ValueError(f"rasters must be [N, T, C], got shape {rasters.shape}")
    if n_in is not None and n_in != rasters.shape[-1]:
        rasters = reduce_channels(rasters, n_in)
    n, t, i = np.nonzero(rasters)
    counts = np.bincount(n, minlength=rasters.shape[0])
    off = np.concatenate([[0], np.cumsum(counts)])
    return Events(t.astype(np.int32), i.astype(np.int32), off, np.asarray(labels, np.int32),
                  rasters.shape[-1])


def events_from_shd(shd, n_in: int, t_data: int = 150, limit: Optional[int] = None) -> Events:
    """Bin an SHD-like object (``.times``, ``.units``, ``.labels``, ``.n_channels``) the DenRAM
    way and reduce to ``n_in`` channels. Samples left empty after binning are kept (they are
    valid inputs: the network then sees only its bias) and counted in ``events_from_shd.n_empty``."""
    n = len(shd.labels) if limit is None else min(limit, len(shd.labels))
    ts, is_, counts = [], [], []
    empty = 0
    for k in range(n):
        r = reduce_channels(bin_sample(shd.times[k], shd.units[k], shd.n_channels, t_data), n_in)
        t, i = np.nonzero(r)
        ts.append(t.astype(np.int32)); is_.append(i.astype(np.int32)); counts.append(len(t))
        empty += len(t) == 0
    events_from_shd.n_empty = empty
    off = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    cat = (lambda a: np.concatenate(a) if a else np.zeros(0, np.int32))
    return Events(cat(ts), cat(is_), off, np.asarray(shd.labels[:n], np.int32), n_in)


def split_train_val(n: int, key, frac: float = 0.8):
    """Seeded random 80/20 split of ``range(n)``: (train indices, validation indices), with
    ``int(frac * n)`` training samples as the original's ``random_split``."""
    perm = np.asarray(jax.random.permutation(key, n))
    k = int(frac * n)
    return perm[:k], perm[k:]


def batch_capacity(data: Events, batch_size: int, bucket: int = 4096) -> int:
    """An event capacity that a random batch of ``batch_size`` samples exceeds only rarely
    (mean + 5 standard deviations of the batch total), rounded up to ``bucket``: one array shape
    per dataset, so one compilation."""
    n = np.diff(data.offsets).astype(np.float64)
    if n.size == 0:
        return bucket
    need = batch_size * n.mean() + 5.0 * math.sqrt(batch_size) * n.std()
    return int(math.ceil(need / bucket)) * bucket


def make_batch(data: Events, idx, batch_size: int, bucket: int = 8192,
               capacity: Optional[int] = None) -> EventBatch:
    """Gather samples ``idx`` (at most ``batch_size``; missing ones are masked padding) into an
    :class:`EventBatch` of ``capacity`` events (if given and large enough), else rounded up to a
    multiple of ``bucket`` (few shapes, few compilations)."""
    idx = np.asarray(idx, np.int64)
    if len(idx) > batch_size:
        raise ValueError(f"{len(idx)} samples do not fit a batch of {batch_size}")
    lo, hi = data.offsets[idx], data.offsets[idx + 1]
    n_ev = hi - lo
    total = int(n_ev.sum())
    cap = max(bucket, int(math.ceil(total / bucket)) * bucket)
    if capacity is not None and capacity >= total:
        cap = int(capacity)
    sel = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)]) if total else np.zeros(0, np.int64)
    b = np.zeros(cap, np.int32); t = np.zeros(cap, np.int32); i = np.zeros(cap, np.int32)
    valid = np.zeros(cap, bool)
    b[:total] = np.repeat(np.arange(len(idx), dtype=np.int32), n_ev)
    t[:total] = data.t[sel]; i[:total] = data.i[sel]; valid[:total] = True
    labels = np.zeros(batch_size, np.int32); labels[:len(idx)] = data.labels[idx]
    mask = np.zeros(batch_size, bool); mask[:len(idx)] = True
    return EventBatch(b, t, i, valid, labels, mask)


def iterate_batches(data: Events, batch_size: int, key=None, drop_last: bool = True,
                    capacity: Optional[int] = None):
    """Batches over ``data`` (shuffled with ``key`` if given). ``drop_last`` as the original
    (all three loaders); ``drop_last=False`` pads the last batch with masked samples. The event
    capacity defaults to :func:`batch_capacity` of ``data``."""
    n = len(data)
    order = np.asarray(jax.random.permutation(key, n)) if key is not None else np.arange(n)
    stop = (n // batch_size) * batch_size if drop_last else n
    cap = batch_capacity(data, batch_size) if capacity is None else capacity
    for s in range(0, stop, batch_size):
        yield make_batch(data, order[s:s + batch_size], batch_size, capacity=cap)


def delay_stats(delays, cfg: DenRAMConfig) -> dict:
    d = np.asarray(delays)
    return {"mean_steps": float(d.mean()), "mean_ms": float(d.mean() * cfg.dt * 1e3),
            "median_steps": float(np.median(d)), "frac_clipped": float(np.mean(d >= cfg.max_delay)),
            "frac_zero": float(np.mean(d == 0)), "min": int(d.min()), "max": int(d.max())}


# --------------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=16)
def _make_fns(cfg: DenRAMConfig, lr: float):
    """Jitted train / eval steps for one configuration (cached: the delays are an argument, so
    every seed, noise level and delay mode of a configuration shares one compilation per shape)."""
    opt = denram_adam(lr=lr)

    def loss_fn(params, net, ev, key, noise_std):
        return loss_and_accuracy(params, net, ev, key, noise_std, cfg)

    @jax.jit
    def train_step(params, opt_state, net, ev, key, noise_std, epoch):
        (loss, (correct, n)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            params, net, ev, key, noise_std)
        upd, opt_state = opt.update(grads, opt_state, params, epoch=epoch)
        return optax.apply_updates(params, upd), opt_state, loss, correct, n

    @jax.jit
    def eval_step(params, net, ev, key, noise_std):
        loss, (correct, n) = loss_fn(params, net, ev, key, noise_std)
        return loss * n, correct, n

    return opt, train_step, eval_step


def evaluate(params, net, eval_step, data: Events, key, noise_std, batch_size=64, drop_last=True,
             shuffle_key=None, capacity=None):
    """Mean loss and accuracy over ``data`` with one noise key split per batch (the chain starts
    at ``key``); returns ``(loss, acc, key)``. Accuracy = correct / samples evaluated."""
    tot_l = tot_c = tot_n = 0.0
    for ev in iterate_batches(data, batch_size, shuffle_key, drop_last, capacity):
        key, sub = jax.random.split(key)
        l, c, n = eval_step(params, net, ev, sub, noise_std)
        tot_l += float(l); tot_c += float(c); tot_n += float(n)
    if tot_n == 0:
        raise ValueError(f"no complete batch of {batch_size} in {len(data)} samples")
    return tot_l / tot_n, tot_c / tot_n, key


def train(cfg: DenRAMConfig, train_data: Events, val_data: Events, test_data: Events, *,
          seed: int = 42, noise_std: float = 0.0, epochs: int = 100, patience: int = 25,
          batch_size: int = 64, lr: float = 2e-4, checkpoint: Optional[str] = None,
          test_drop_last: bool = True, log: Optional[Callable[[str], None]] = None,
          params_net=None) -> dict:
    """Train one DenRAM network the original way and return its history and result.

    Per epoch: shuffled training batches (drop_last) with one noise draw per batch from the key
    chain that continues from the init key; a validation pass (reshuffled, drop_last, noise from the
    same chain); if :class:`EarlyStopping` accepts the validation accuracy, keep the weights and
    evaluate the test set with the noise key reset to ``PRNGKey(0)``. Stops after ``patience``
    epochs without an accepted improvement or after ``epochs``. The reported test accuracy is that
    of the best epoch. With ``checkpoint`` (a path), the state is saved atomically after every
    epoch and a run resumes from it.
    """
    cfg.validate()
    for name, d in (("train", train_data), ("val", val_data), ("test", test_data)):
        if d.n_in != cfg.n_in:
            raise ValueError(f"{name} data has {d.n_in} channels, the model expects {cfg.n_in}")
        if len(d) < batch_size and (name != "test" or test_drop_last):
            raise ValueError(f"{name} data has {len(d)} samples, fewer than one batch of {batch_size}")
        if len(d.labels) and (d.labels.min() < 0 or d.labels.max() >= cfg.n_out):
            raise ValueError(f"{name} labels must be in [0, {cfg.n_out})")
    if not (np.isfinite(noise_std) and noise_std >= 0):
        raise ValueError(f"noise_std must be >= 0, got {noise_std}")
    from snncore.checkpoint import load_checkpoint, save_checkpoint

    seeds = split_seeds(seed, model=int(seed))
    params, net, key = params_net if params_net is not None else init(seeds.model, cfg)
    opt, train_step, eval_step = _make_fns(cfg, float(lr))
    opt_state = opt.init(params)
    es = EarlyStopping(patience=patience)
    best_params = params
    hist = {k: [] for k in ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_acc",
                            "epoch_s")}
    best_test = float("nan")
    start = 0
    noise_std = jnp.float32(noise_std)
    if checkpoint:
        like = {"params": params, "opt": opt_state, "best": best_params, "key": key}
        got = load_checkpoint(checkpoint, like)
        if got is not None:
            st, step, meta = got
            params, opt_state, best_params, key = st["params"], st["opt"], st["best"], st["key"]
            es.load(meta["es"]); hist = meta["hist"]; best_test = meta["best_test"]; start = step
    import time
    # one event capacity for validation and test batches: one compilation of eval_step
    cap_eval = max(batch_capacity(val_data, batch_size), batch_capacity(test_data, batch_size))
    for epoch in range(start, epochs):
        if es.stop:
            break
        t0 = time.perf_counter()
        tl = tc = tn = 0.0
        shuffle = jax.random.fold_in(seeds.train, 2 * epoch)
        for ev in iterate_batches(train_data, batch_size, shuffle, drop_last=True):
            key, sub = jax.random.split(key)
            params, opt_state, l, c, n = train_step(params, opt_state, net, ev, sub, noise_std, epoch)
            tl += float(l) * float(n); tc += float(c); tn += float(n)
        check_finite({"params": params, "loss": tl}, epoch, "DenRAM training state")
        vl, va, key = evaluate(params, net, eval_step, val_data, key, noise_std, batch_size, True,
                               jax.random.fold_in(seeds.train, 2 * epoch + 1), cap_eval)
        improved = es.update(va, epoch)
        ta = float("nan")
        if improved:
            best_params = params
            _, ta, _ = evaluate(params, net, eval_step, test_data, jax.random.PRNGKey(0), noise_std,
                                batch_size, test_drop_last, capacity=cap_eval)
            best_test = ta
        for k, v in (("epoch", epoch), ("train_loss", tl / tn), ("train_acc", tc / tn),
                     ("val_loss", vl), ("val_acc", va), ("test_acc", ta),
                     ("epoch_s", time.perf_counter() - t0)):
            hist[k].append(float(v))
        if log:
            log(f"epoch {epoch}: train loss {tl / tn:.4f} acc {tc / tn:.4f} | val {va:.4f}"
                + (f" | test {ta:.4f} (new best)" if improved else f" | patience {es.count}"))
        if checkpoint:
            save_checkpoint(checkpoint, {"params": params, "opt": opt_state, "best": best_params,
                                         "key": key}, epoch + 1,
                            meta={"es": es.state(), "hist": hist, "best_test": best_test})
    return {"params": best_params, "final_params": params, "net": net, "history": hist,
            "best_epoch": es.best_epoch, "best_val_acc": es.best, "test_acc": best_test,
            "stopped_early": es.stop, "epochs_run": len(hist["epoch"])}


# --------------------------------------------------------------------------------------------
# several runs of one configuration in one launch (vmap over seeds and noise levels)
# --------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=16)
def _make_grid_fns(cfg: DenRAMConfig, lr: float):
    opt, train_step, eval_step = _make_fns(cfg, lr)
    v_train = jax.jit(jax.vmap(train_step.__wrapped__ if hasattr(train_step, "__wrapped__") else train_step,
                               in_axes=(0, 0, 0, None, 0, 0, None)))
    v_eval = jax.jit(jax.vmap(eval_step.__wrapped__ if hasattr(eval_step, "__wrapped__") else eval_step,
                              in_axes=(0, 0, None, 0, 0)))
    return opt, v_train, v_eval


def train_grid(cfg: DenRAMConfig, train_data: Events, val_data: Events, test_data: Events, *,
               seeds: Sequence[int], noise_stds: Sequence[float], epochs: int = 100,
               patience: int = 25, batch_size: int = 64, lr: float = 2e-4,
               test_drop_last: bool = True, log: Optional[Callable[[str], None]] = None) -> list:
    """Train ``len(seeds)`` networks of one configuration together (``seeds[r]``, noise
    ``noise_stds[r]``), vmapped: one launch per batch for all runs, which is how a GPU is kept busy.

    Each run has its own init, delays, noise chain and early stopping (a stopped run's weights are
    frozen while the others go on); all runs see the **same** batches in the same order (the data
    split and shuffling of ``seeds[0]``) -- the one difference from separate :func:`train` calls,
    which is exact when all seeds are equal. Returns one result dict per run, as :func:`train`.
    """
    cfg.validate()
    if len(seeds) != len(noise_stds) or not len(seeds):
        raise ValueError("give one noise level per seed (and at least one run)")
    for name, d in (("train", train_data), ("val", val_data), ("test", test_data)):
        if d.n_in != cfg.n_in:
            raise ValueError(f"{name} data has {d.n_in} channels, the model expects {cfg.n_in}")
    R = len(seeds)
    inits = [init(split_seeds(s, model=int(s)).model, cfg) for s in seeds]
    stack = lambda xs: jax.tree_util.tree_map(lambda *a: jnp.stack(a), *xs)
    params = stack([p for p, _, _ in inits])
    net = stack([n for _, n, _ in inits])
    keys = jnp.stack([k for _, _, k in inits])
    noise = jnp.asarray(noise_stds, jnp.float32)
    opt, v_train, v_eval = _make_grid_fns(cfg, float(lr))
    opt_state = jax.vmap(opt.init)(params)
    # runs over all local accelerators (no-op on one device; replicated if R does not divide)
    params, net, keys, noise, opt_state = shard_leading((params, net, keys, noise, opt_state),
                                                        require_divisible=False)
    data_seeds = split_seeds(seeds[0], model=int(seeds[0]))
    stops = [EarlyStopping(patience=patience) for _ in range(R)]
    best = [jax.tree_util.tree_map(lambda x, r=r: x[r], params) for r in range(R)]
    best_test = [float("nan")] * R
    hist = [{k: [] for k in ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_acc")}
            for _ in range(R)]
    cap_eval = max(batch_capacity(val_data, batch_size), batch_capacity(test_data, batch_size))
    split = jax.vmap(jax.random.split)

    def run_eval(params, data, keys, shuffle, drop_last):
        tl = np.zeros(R); tc = np.zeros(R); tn = np.zeros(R)
        for ev in iterate_batches(data, batch_size, shuffle, drop_last, cap_eval):
            ks = split(keys)
            keys, sub = ks[:, 0], ks[:, 1]
            l, c, n = v_eval(params, net, ev, sub, noise)
            tl += np.asarray(l); tc += np.asarray(c); tn += np.asarray(n)
        return tl / tn, tc / tn, keys

    for epoch in range(epochs):
        active = np.array([not s.stop for s in stops])
        if not active.any():
            break
        act = jnp.asarray(active)
        tl = np.zeros(R); tc = np.zeros(R); tn = np.zeros(R)
        for ev in iterate_batches(train_data, batch_size, jax.random.fold_in(data_seeds.train, 2 * epoch)):
            ks = split(keys)
            keys, sub = ks[:, 0], ks[:, 1]
            new_p, new_o, l, c, n = v_train(params, opt_state, net, ev, sub, noise, epoch)
            keep = lambda a, b: jnp.where(act.reshape((R,) + (1,) * (a.ndim - 1)), a, b)
            params = jax.tree_util.tree_map(keep, new_p, params)
            opt_state = jax.tree_util.tree_map(keep, new_o, opt_state)
            tl += np.asarray(l) * np.asarray(n); tc += np.asarray(c); tn += np.asarray(n)
        check_finite(params, epoch, "DenRAM grid training state")
        vl, va, keys = run_eval(params, val_data, keys,
                                jax.random.fold_in(data_seeds.train, 2 * epoch + 1), True)
        improved = [bool(active[r]) and stops[r].update(float(va[r]), epoch) for r in range(R)]
        ta = np.full(R, np.nan)
        if any(improved):
            test_keys = jnp.stack([jax.random.PRNGKey(0)] * R)
            _, ta_all, _ = run_eval(params, test_data, test_keys, None, test_drop_last)
            for r in range(R):
                if improved[r]:
                    best[r] = jax.tree_util.tree_map(lambda x, r=r: x[r], params)
                    best_test[r] = ta[r] = float(ta_all[r])
        for r in range(R):
            if active[r]:
                for k, v in (("epoch", epoch), ("train_loss", tl[r] / tn[r]), ("train_acc", tc[r] / tn[r]),
                             ("val_loss", vl[r]), ("val_acc", va[r]), ("test_acc", ta[r])):
                    hist[r][k].append(float(v))
        if log:
            log(f"epoch {epoch}: val " + " ".join(f"{v:.3f}" for v in va) + f" | active {int(active.sum())}/{R}")
    return [{"params": best[r], "history": hist[r], "best_epoch": stops[r].best_epoch,
             "best_val_acc": stops[r].best, "test_acc": best_test[r], "stopped_early": stops[r].stop,
             "epochs_run": len(hist[r]["epoch"]), "seed": int(seeds[r]), "noise_std": float(noise_stds[r])}
            for r in range(R)]


# --------------------------------------------------------------------------------------------
# run-level archive of a long grid (resume across sessions: one small JSON file per finished run)
# --------------------------------------------------------------------------------------------

RUN_KEY_FIELDS = ("config", "delay_mode", "noise", "seed", "n_train", "n_val", "n_test", "epochs",
                  "patience", "dataset")


def run_key(config: str, delay_mode: str, noise: float, seed: int, n_train: int, n_val: int,
            n_test: int, epochs: int, patience: int, dataset: str) -> dict:
    """What identifies one training run of the Fig. 4d grid: a finished run is reused only when
    all of these match (same configuration, delays, noise, seed, data sizes, epoch budget,
    patience and dataset)."""
    return {"config": str(config), "delay_mode": str(delay_mode), "noise": round(float(noise), 6),
            "seed": int(seed), "n_train": int(n_train), "n_val": int(n_val), "n_test": int(n_test),
            "epochs": int(epochs), "patience": int(patience), "dataset": str(dataset)}


def run_file(folder, key: dict):
    """``<folder>/<name>.json`` for ``key``: the name spells the key (the dataset as a short hash)."""
    import hashlib
    from pathlib import Path

    ds = hashlib.sha1(key["dataset"].encode()).hexdigest()[:8]
    name = (f"{key['config']}_{key['delay_mode']}_n{key['noise']:.3f}_s{key['seed']}_tr{key['n_train']}"
            f"_va{key['n_val']}_te{key['n_test']}_e{key['epochs']}_p{key['patience']}_d{ds}.json")
    return Path(folder) / name


def save_run(folder, key: dict, row: dict):
    """Write one finished run atomically to :func:`run_file`: ``{"key", "row", "provenance"}``;
    ``row`` gets the key's fields (sizes, epochs, patience, dataset) added. Returns the path."""
    import json

    from snncore.checkpoint import atomic_write_text
    from snncore.runs import _jsonable, provenance

    if set(RUN_KEY_FIELDS) - set(key):
        raise ValueError(f"run key lacks {sorted(set(RUN_KEY_FIELDS) - set(key))}")
    row = {**row, **key}
    payload = {"key": key, "row": row, "provenance": provenance()}
    path = run_file(folder, key)
    atomic_write_text(path, json.dumps(json.loads(json.dumps(payload, default=_jsonable)), indent=1))
    return path


def load_run(folder, key: dict):
    """The archived payload of the run ``key`` (see :func:`save_run`), or ``None`` when there is no
    file for it or the file's own key differs (a mismatched or edited file is never reused)."""
    import json

    path = run_file(folder, key)
    if not path.exists():
        return None
    try:
        payload = json.loads(path.read_text())
    except ValueError as e:
        raise ValueError(f"run file {path} is not valid JSON ({e}); delete it to rerun that run") from e
    if payload.get("key") != json.loads(json.dumps(key)):
        return None
    return payload


def load_run_files(folder) -> list:
    """All archived run payloads in ``folder`` (sorted by file name); ``[]`` if there is none."""
    import json
    from pathlib import Path

    folder = Path(folder)
    if not folder.is_dir():
        return []
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
