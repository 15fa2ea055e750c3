"""Robustness of Network ADS (Büchel et al. 2021, part 2): perturbations, gain refits, evaluation.

Every perturbation is a **pure function on** :class:`snncore.models.ebn.ADSParams` returning new
parameters (the trained network is never modified); random ones take a PRNG key and are vmapped
over draws (:func:`mismatch_draws`), so that one ``jit`` call simulates many mismatched copies of a
network on a batch of clips (:func:`simulate`). What each perturbation touches follows the
authors' evaluation scripts as summarised in ``shared/papers/ebn.md`` §2.3–2.6:

* ``"quantise"`` (bits 2–6): per matrix ``q = (max M - min M) / (2^bits - 1)``,
  ``M_q = q round(M / q)`` on ``W_in``, ``W_out`` and ``W_slow`` **but not** ``W_fast`` (the
  original script meant to, but a typo left it full precision). EBN networks then have ``W_slow``
  and ``W_fast`` scaled by 0.7 (2, 3, 4 bits) or 0.8 (5 bits); 6 bits: no scaling (none is listed).
* ``"death"`` (fraction, paper 0.4): the *first* ``floor(fraction N)`` neuron indices have V
  multiplied by 0 at every step of the whole trial (they never spike).
* ``"mismatch"`` (sigma 0.05, 0.1, 0.2; 0.3 for baselines): frozen Gaussian noise, std
  proportional to the nominal value. Per neuron ``tau_slow``, ``tau_mem`` and ``V_th`` <-
  ``|N(mean, sigma mean)|`` (``V_th``'s std is sigma times the threshold-reset gap, 1 here);
  ``W_in``, ``W_out``, ``W_slow`` elementwise ``W (1 + sigma xi)``. ``W_fast``, ``tau_fast``,
  ``tau_out``, ``V_rest``, ``V_reset`` are untouched. Then the "safe scaling" of ``W_fast`` and
  ``W_slow`` by 0.9 / 0.8 / 0.5 / 0.2 for sigma = 5 / 10 / 20 / 30 %.
* ``"noise"`` (level 0.01, 0.05, 0.1 of the threshold-reset gap per step): Gaussian noise on the
  input current with ``sigma_I = level tau_mem / dt`` (so that V moves by ``level`` per step; not
  sqrt(dt)-scaled); EBN networks additionally have ``W_slow``, ``W_fast`` scaled by 0.8 (0.05) and
  0.6 (0.1).

The FORCE baseline has :func:`quantise_force` and :func:`mismatch_force` (same rules, on
:class:`snncore.models.ebn.ForceParams`); membrane noise for FORCE needs a noise term in its
simulator, which it does not have yet.

The reservoir baseline (:func:`snncore.models.ebn.reservoir_init`, ridge readout ``[N + 1]``) has
:func:`quantise_reservoir` (input-layer, recurrent and readout matrices), :func:`mismatch_reservoir`
(per-neuron ``tau_mem``, ``tau_syn``, threshold; recurrent and readout weights; input layer
unchanged) and :func:`membrane_noise_reservoir` (per-step noise on V), simulated by
:func:`simulate_reservoir` (draws x clips in one jit call, readout inside the scan).

Output gains (scalar, multiplying the unfiltered output ``y = x~ W_out_rate``) are refitted on
validation data: :func:`fit_gain_mse` (minimise the MSE to a reference output over a grid; the
argmin of a 1-D quadratic over a grid is the grid point nearest the least-squares gain, which is
how it is computed) and :func:`fit_gain_accuracy` (maximise the validation accuracy of the
integral rule over a grid). :data:`GAIN_PROTOCOL` says which is used where, as in the notes.
"""
from __future__ import annotations

import functools
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from snncore.parallel import shard_leading
from snncore.core import run
from snncore.models import ebn

__all__ = ["PERTURBATIONS", "GAIN_PROTOCOL", "check_perturbation", "quantise_matrix", "quantise",
           "silence", "mismatch", "mismatch_draws", "membrane_noise", "perturb", "n_silenced",
           "simulate", "integral_score_fast", "decide", "fit_gain_mse", "fit_gain_accuracy",
           "summarise", "SAFE_SCALE_MISMATCH", "EBN_SCALE_QUANT", "EBN_SCALE_NOISE",
           "quantise_force", "mismatch_force", "quantise_reservoir", "mismatch_reservoir",
           "mismatch_reservoir_draws", "membrane_noise_reservoir", "simulate_reservoir"]

DT = ebn.DT

# ---------------------------------------------------------------------------------------------
# the perturbations and their valid levels
# ---------------------------------------------------------------------------------------------

PERTURBATIONS = {
    "quantise": {"levels": (2, 3, 4, 5, 6), "unit": "bits per weight matrix"},
    "death": {"levels": (0.4,), "range": (0.0, 1.0), "unit": "fraction of neurons silenced"},
    "mismatch": {"levels": (0.05, 0.1, 0.2, 0.3), "unit": "relative std (0.3: baselines in the paper)"},
    "noise": {"levels": (0.01, 0.05, 0.1), "unit": "per-step std on V, fraction of threshold-reset gap"},
}
EBN_SCALE_QUANT = {2: 0.7, 3: 0.7, 4: 0.7, 5: 0.8, 6: 1.0}
SAFE_SCALE_MISMATCH = {0.05: 0.9, 0.1: 0.8, 0.2: 0.5, 0.3: 0.2}
EBN_SCALE_NOISE = {0.01: 1.0, 0.05: 0.8, 0.1: 0.6}

# how the notes say the scalar output gain is re-fitted for each experiment
GAIN_PROTOCOL = {
    "quantise": dict(criterion="accuracy", grid=(0.5, 5.5, 150), val_draws=1,
                     note="one gain per bit level, maximising validation accuracy (true labels)"),
    "death": dict(criterion="mse_to_unperturbed", grid=(0.5, 5.5, 100), val_draws=1,
                  note="minimising MSE to the unperturbed network's output on validation clips"),
    "mismatch": dict(criterion="mse_to_unperturbed", grid=(1.0, 5.5, 100), val_draws=5,
                     note="one gain per (network, sigma) from 5 draws x validation clips; the notes "
                          "do not name the criterion: MSE to the unperturbed output is used"),
    "noise": dict(criterion="mse_to_unperturbed", grid=(0.5, 5.5, 100), val_draws=1,
                  note="gain fitted on validation clips; criterion and grid not given in the notes: "
                       "MSE to the unperturbed output, grid of the neuron-death experiment"),
}


def _choices() -> str:
    parts = []
    for name, spec in PERTURBATIONS.items():
        lv = ", ".join(str(x) for x in spec["levels"])
        rng = f" (any value in the open interval {spec['range']})" if "range" in spec else ""
        parts.append(f"{name!r}: {lv}{rng} [{spec['unit']}]")
    return "; ".join(parts)


def check_perturbation(name: str, level) -> Any:
    """Validate ``(name, level)`` before any work; return the level in canonical form.

    Raises ``ValueError`` listing every valid perturbation and level otherwise."""
    if name not in PERTURBATIONS:
        raise ValueError(f"unknown perturbation {name!r}; valid choices: {_choices()}")
    spec = PERTURBATIONS[name]
    try:
        x = float(level)
    except (TypeError, ValueError):
        raise ValueError(f"level {level!r} for {name!r} is not a number; valid: {_choices()}") from None
    if "range" in spec:
        lo, hi = spec["range"]
        if not lo < x < hi:
            raise ValueError(f"level {level!r} out of range for {name!r}; valid: {_choices()}")
        return x
    for v in spec["levels"]:
        if abs(x - v) < 1e-9:
            return v
    raise ValueError(f"level {level!r} not allowed for {name!r}; valid: {_choices()}")


# ---------------------------------------------------------------------------------------------
# pure perturbation functions
# ---------------------------------------------------------------------------------------------

def quantise_matrix(M, bits: int):
    """The paper's quantiser: ``q = (max M - min M) / (2^bits - 1)``, ``M_q = q round(M / q)``.

    The grid is symmetric around 0 and contains 0 (so up to ``2^bits + 1`` distinct values can
    occur). A constant matrix (q = 0) is returned unchanged."""
    M = jnp.asarray(M)
    q = (jnp.max(M) - jnp.min(M)) / (2 ** int(bits) - 1)
    safe = jnp.where(q > 0, q, 1.0)
    return jnp.where(q > 0, safe * jnp.round(M / safe), M)


def quantise(p: ebn.ADSParams, bits: int, *, use_ebn: bool) -> ebn.ADSParams:
    """Quantise ``W_in``, ``W_out``, ``W_slow`` (not ``W_fast``: the original's typo), then for EBN
    networks scale ``W_slow`` and ``W_fast`` by 0.7 (2-4 bits) / 0.8 (5 bits) / 1 (6 bits)."""
    bits = check_perturbation("quantise", bits)
    s = EBN_SCALE_QUANT[bits] if use_ebn else 1.0
    return p._replace(w_in=quantise_matrix(p.w_in, bits), w_out=quantise_matrix(p.w_out, bits),
                      w_slow=s * quantise_matrix(p.w_slow, bits), w_fast=s * p.w_fast)


def n_silenced(n_neurons: int, fraction: float) -> int:
    """Number of silenced neurons: the first ``floor(fraction N)`` indices (0..306 for 768)."""
    return int(np.floor(fraction * n_neurons + 1e-9))


def silence(p: ebn.ADSParams, fraction: float = 0.4) -> ebn.ADSParams:
    """Silence the first ``floor(fraction N)`` neurons for the whole trial (V multiplied by 0 at
    every step, as the paper's ``t in (0, 5 s)`` window; our window is open on both sides of any
    trial so it does not depend on the clip length)."""
    fraction = check_perturbation("death", fraction)
    N = p.v0.shape[-1]
    mask = (jnp.arange(N) < n_silenced(N, fraction)).astype(p.v0.dtype)
    return p._replace(silence=mask, t_silence=jnp.asarray([-1.0, 1e9], jnp.float32))


def _mismatch_core(p, sigma, scale, key):
    k = jax.random.split(key, 6)

    def rel_abs(kk, x):        # |N(x, sigma x)| per neuron
        return jnp.abs(x + sigma * jnp.abs(x) * jax.random.normal(kk, x.shape, x.dtype))

    def mult(kk, W):
        return W * (1.0 + sigma * jax.random.normal(kk, W.shape, W.dtype))

    gap = p.v_th - p.v_reset
    v_th = jnp.abs(p.v_th + sigma * jnp.abs(gap) * jax.random.normal(k[2], p.v_th.shape, p.v_th.dtype))
    return p._replace(tau_slow=rel_abs(k[0], p.tau_slow), tau_mem=rel_abs(k[1], p.tau_mem), v_th=v_th,
                      w_in=mult(k[3], p.w_in), w_out=mult(k[4], p.w_out),
                      w_slow=scale * mult(k[5], p.w_slow), w_fast=scale * p.w_fast)


_mismatch_draws = jax.jit(jax.vmap(_mismatch_core, in_axes=(None, None, None, 0)))


def mismatch(p: ebn.ADSParams, sigma: float, key, *, safe_scale: bool = True) -> ebn.ADSParams:
    """One frozen mismatch draw (see the module docstring). ``key`` is a PRNG key."""
    sigma = check_perturbation("mismatch", sigma)
    scale = SAFE_SCALE_MISMATCH[sigma] if safe_scale else 1.0
    return _mismatch_core(p, jnp.float32(sigma), jnp.float32(scale), key)


def mismatch_draws(p: ebn.ADSParams, sigma: float, keys, *, safe_scale: bool = True) -> ebn.ADSParams:
    """``len(keys)`` independent draws of :func:`mismatch`, stacked along a leading axis (one
    jitted vmap; the level is a traced argument, so all levels share one compilation)."""
    sigma = check_perturbation("mismatch", sigma)
    scale = SAFE_SCALE_MISMATCH[sigma] if safe_scale else 1.0
    return _mismatch_draws(p, jnp.float32(sigma), jnp.float32(scale), jnp.asarray(keys))


def membrane_noise(p: ebn.ADSParams, level: float, *, use_ebn: bool, dt: float = DT) -> ebn.ADSParams:
    """Per-step current noise ``sigma_I = level tau_mem / dt`` (V moves by ``level`` of the
    threshold-reset gap per step); EBN nets get ``W_slow``, ``W_fast`` scaled 0.8 / 0.6 at 0.05 / 0.1."""
    level = check_perturbation("noise", level)
    tau_mem = float(np.mean(np.asarray(p.tau_mem)))
    s = EBN_SCALE_NOISE[level] if use_ebn else 1.0
    return p._replace(noise_std=jnp.float32(level * tau_mem / dt), w_slow=s * p.w_slow,
                      w_fast=s * p.w_fast)


def perturb(p: ebn.ADSParams, name: str, level, *, use_ebn: bool, key=None) -> ebn.ADSParams:
    """Dispatch by name (validated first). ``mismatch`` needs ``key``."""
    level = check_perturbation(name, level)
    if name == "quantise":
        return quantise(p, level, use_ebn=use_ebn)
    if name == "death":
        return silence(p, level)
    if name == "mismatch":
        if key is None:
            raise ValueError("perturb('mismatch', ...) needs a PRNG key")
        return mismatch(p, level, key)
    return membrane_noise(p, level, use_ebn=use_ebn)


# ---------------------------------------------------------------------------------------------
# simulation: draws x clips in one jit call
# ---------------------------------------------------------------------------------------------

class _Carry(NamedTuple):
    s: Any
    counts: Any


@functools.partial(jax.jit, static_argnames=("noisy", "dt"))
def _sim(ps, c, readout, keys, noisy, dt):
    """``ps`` stacked [D], ``c`` [B, T, Nc], ``keys`` [D, B, 2] -> y [D, B, T], counts [D, B, N]."""
    def one(p, cc, key):
        i_in = cc @ p.w_in

        def step(pp, carry, i_t):
            s, (spk, xt) = ebn.ads_step(pp, pp.w_slow, carry.s, i_t, dt=dt, noisy=noisy)
            return _Carry(s, carry.counts + spk), (xt @ readout)[0]

        s0 = ebn.ads_state_init(p, key)
        carry, y = run(step, p, _Carry(s0, jnp.zeros_like(p.v0)), i_in)
        return y, carry.counts

    per_draw = jax.vmap(one, in_axes=(None, 0, 0))
    return jax.vmap(per_draw, in_axes=(0, None, 0))(ps, c, keys)


@functools.partial(jax.jit, static_argnames=("noisy", "dt", "K"))
def _sim_event(ps, c, readout, keys, noisy, dt, K=ebn.EVENT_K):
    """Event-driven :func:`_sim` (same arguments and outputs): all draws and clips in one
    :func:`snncore.models.ebn._simulate_event` scan."""
    i_in = jnp.einsum("btc,dcn->tbdn", c, ps.w_in)                 # [T, B, D, N], time-major
    _, y, counts = ebn._simulate_event(ps, i_in, jnp.swapaxes(keys, 0, 1), readout, dt, noisy, K,
                                       "y", True)
    return jnp.transpose(y[..., 0], (2, 1, 0)), jnp.swapaxes(counts, 0, 1)


def simulate(ps: ebn.ADSParams, c_tilde, readout, *, key=None, chunk: int = 50, dt: float = DT,
             event: Optional[bool] = None):
    """Simulate every network of ``ps`` (parameters stacked along a leading *draws* axis, or a
    single network) on every clip of ``c_tilde [B, T, Nc]`` with fixed weights.

    Clips are processed in chunks of ``chunk`` (the last one padded, so one compilation serves all);
    the draws axis is vmapped. Returns numpy ``y [D, B, T]`` (task output ``x~ readout``, unfiltered)
    and ``counts [D, B, N]`` (spikes per neuron per clip). ``event`` (default: when ``tau_out`` is
    uniform per network) uses the event-driven path (:func:`snncore.models.ebn._simulate_event`),
    ``False`` the dense reference."""
    single = np.ndim(ps.v0) == 1
    if single:
        ps = jax.tree_util.tree_map(lambda x: jnp.asarray(x)[None], ps)
    ps = shard_leading(ps, require_divisible=False)  # draws over local accelerators (no-op on one)
    c_tilde = np.asarray(c_tilde, np.float32)
    nc = ps.w_in.shape[1]
    if c_tilde.ndim != 3 or c_tilde.shape[2] != nc:
        raise ValueError(f"simulate: c_tilde must be [B, T, {nc}], got {c_tilde.shape}")
    readout = jnp.asarray(readout, jnp.float32)
    if readout.shape != (nc, 1):
        raise ValueError(f"simulate: readout must be [{nc}, 1], got {readout.shape}")
    D = int(ps.v0.shape[0])
    noisy = bool(np.any(np.asarray(ps.noise_std) != 0))
    key = jax.random.PRNGKey(0) if key is None else key
    sim = _sim
    if event is None:
        event = ebn.event_ok(ps)
    elif event and not ebn.event_ok(ps):
        raise ValueError("simulate(event=True) needs tau_out uniform across neurons")
    if event:
        sim = _sim_event
    return _over_clip_chunks(lambda cc, keys: sim(ps, cc, readout, keys, noisy, dt),
                             c_tilde, D, chunk, key)


def _over_clip_chunks(run, x, n_draws: int, chunk: int, key):
    """Call ``run(x_chunk [chunk, ...], keys [D, chunk, 2]) -> (a [D, chunk, ...], b [D, chunk])``
    over ``x [B, ...]`` in chunks of ``chunk`` clips (the last one zero-padded so every call has
    one shape and compiles once), with keys folded from ``key`` and the chunk's offset; returns
    both outputs concatenated along the clip axis, padding dropped."""
    B = x.shape[0]
    chunk = max(1, min(chunk, B))
    outs_a, outs_b = [], []
    for i in range(0, B, chunk):
        xx = x[i:i + chunk]
        n = xx.shape[0]
        if n < chunk:
            xx = np.concatenate([xx, np.zeros((chunk - n,) + xx.shape[1:], xx.dtype)])
        keys = jax.random.split(jax.random.fold_in(key, i), n_draws * chunk).reshape(n_draws, chunk, -1)
        a, b = run(jnp.asarray(xx), keys)
        outs_a.append(np.asarray(a)[:, :n])
        outs_b.append(np.asarray(b)[:, :n])
    return np.concatenate(outs_a, 1), np.concatenate(outs_b, 1)


# ---------------------------------------------------------------------------------------------
# decisions and gain refits
# ---------------------------------------------------------------------------------------------

def integral_score_fast(y_f, theta0: float = 0.5):
    """Vectorised :func:`snncore.models.ebn.integral_score` (same result): runs of consecutive
    samples ``>= theta0`` are summed; score = largest run sum. ``y_f [..., T]``."""
    y_f = np.asarray(y_f, np.float64)
    z = np.where(y_f >= theta0, y_f, 0.0)
    cs = np.cumsum(z, axis=-1)
    # value of the cumulative sum at the last non-supra sample (where each run restarts)
    base = np.where(z > 0, 0.0, cs)
    base = np.maximum.accumulate(np.where(z > 0, -np.inf, base), axis=-1)
    base = np.where(np.isfinite(base), base, 0.0)
    return np.max(cs - base, axis=-1)


def decide(y, boundary: float, theta0: float = 0.5, gain: float = 1.0, filtered: bool = True):
    """Test-time decision of the paper: filter (0.95; ADS only, FORCE outputs are not filtered),
    integral rule, ``score > B``."""
    y_f = gain * (ebn.filter_1d(y) if filtered else np.asarray(y, np.float64))
    return (integral_score_fast(y_f, theta0) > boundary).astype(int)


def _grid(spec):
    return np.linspace(*spec)


def fit_gain_mse(y, y_ref, grid: Optional[np.ndarray] = None):
    """Gain ``g`` minimising ``mean((g y - y_ref)^2)`` (unfiltered outputs, as in the paper).

    Least squares: ``g* = <y, y_ref> / <y, y>``. On a grid, the argmin of this 1-D quadratic is the
    grid point nearest ``g*`` (returned). ``y`` all zero -> the grid's largest value (or 1)."""
    y = np.asarray(y, np.float64).ravel()
    y_ref = np.asarray(y_ref, np.float64).ravel()
    if y.shape != y_ref.shape:
        raise ValueError(f"fit_gain_mse: shapes differ {y.shape} vs {y_ref.shape}")
    yy = float(y @ y)
    if yy == 0.0:
        return float(grid[-1]) if grid is not None else 1.0
    g = float(y @ y_ref) / yy
    if grid is None:
        return g
    grid = np.asarray(grid, np.float64)
    return float(grid[np.argmin(np.abs(grid - g))])


def fit_gain_accuracy(y, labels, grid, boundary: float, theta0: float = 0.5, filtered: bool = True):
    """Gain on ``grid`` maximising the accuracy of :func:`decide` on validation outputs ``y [B, T]``
    (ties -> the first, i.e. smallest, gain). Returns ``(gain, accuracy)``."""
    y_f = ebn.filter_1d(np.asarray(y, np.float64)) if filtered else np.asarray(y, np.float64)
    labels = np.asarray(labels).astype(int)
    accs = [float(np.mean((integral_score_fast(g * y_f, theta0) > boundary).astype(int) == labels))
            for g in grid]
    i = int(np.argmax(accs))
    return float(grid[i]), accs[i]


def summarise(values) -> dict:
    """Median and interquartile range of ``values``."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"median": np.nan, "q25": np.nan, "q75": np.nan, "n": 0}
    q25, med, q75 = np.percentile(v, [25, 50, 75])
    return {"median": float(med), "q25": float(q25), "q75": float(q75), "n": int(v.size)}


# ---------------------------------------------------------------------------------------------
# FORCE baseline (ebn.md §2.3, §2.5): the same perturbations on ebn.ForceParams
# ---------------------------------------------------------------------------------------------

def quantise_force(fp, bits: int):
    """The paper's quantiser on all four FORCE matrices: ``w_in``, the recurrence ``omega``, the
    decoder ``phi`` and the feedback ``E`` (no post-hoc scaling)."""
    bits = check_perturbation("quantise", bits)
    return fp._replace(w_in=quantise_matrix(fp.w_in, bits), omega=quantise_matrix(fp.omega, bits),
                       phi=quantise_matrix(fp.phi, bits), E=quantise_matrix(fp.E, bits))


def _mismatch_force_core(fp, sigma, key):
    N = fp.omega.shape[0]
    k = jax.random.split(key, 7)

    def per_neuron_abs(kk, x):       # scalar nominal -> per-neuron |N(x, sigma x)|
        return jnp.abs(x + sigma * jnp.abs(x) * jax.random.normal(kk, (N,), jnp.float32))

    def mult(kk, W):
        return W * (1.0 + sigma * jax.random.normal(kk, W.shape, W.dtype))

    # V_th ~ N(V_th, sigma |(V_th - V_reset) / V_th| |V_th|) = N(-40 mV, sigma 25 mV)
    gap = jnp.abs(fp.v_peak - fp.v_reset)
    v_peak = fp.v_peak + sigma * gap * jax.random.normal(k[2], (N,), jnp.float32)
    return fp._replace(tau_m=per_neuron_abs(k[0], fp.tau_m), tau_s=per_neuron_abs(k[1], fp.tau_s),
                       v_peak=v_peak, w_in=mult(k[3], fp.w_in), omega=mult(k[4], fp.omega),
                       phi=mult(k[5], fp.phi), E=mult(k[6], fp.E))


def mismatch_force(fp, sigma: float, key):
    """One frozen mismatch draw of a FORCE network (ebn.md §2.5): per-neuron ``tau_m``, ``tau_s``
    relative (``|N(mu, sigma mu)|``), threshold ``N(V_th, sigma * 25 mV)`` (sigma of the
    threshold-reset gap), ``w_in``, ``omega``, decoder ``phi`` and ``E`` multiplicative
    ``(1 + sigma xi)``. The time constants and threshold become per-neuron arrays ``[N]``, which
    :func:`snncore.models.ebn.force_evaluate` broadcasts."""
    sigma = check_perturbation("mismatch", sigma)
    return _mismatch_force_core(fp, jnp.float32(sigma), key)


# ---------------------------------------------------------------------------------------------
# reservoir baseline (ebn.md §2.3, §2.5, §2.6, §2.7): the same perturbations on
# ebn.ReservoirParams plus its ridge readout ``w_readout [N + 1]`` (weights, then the bias)
# ---------------------------------------------------------------------------------------------

TAU_FLOOR_RES = 1e-3   # mismatched reservoir time constants below this are raised to it (1 ms)


def quantise_reservoir(rp, w_readout, bits: int):
    """The paper's quantiser (per matrix, :func:`quantise_matrix`) on the reservoir's input-layer
    matrix ``w_in``, its recurrent matrix ``w_rec`` and the readout weights ``w_readout[:-1]``.
    The readout bias ``w_readout[-1]`` (one scalar; the notes name matrices only) stays at full
    precision. Returns ``(rp_q, w_readout_q)``."""
    bits = check_perturbation("quantise", bits)
    return _quantise_reservoir_core(rp, jnp.asarray(w_readout, jnp.float32), jnp.float32(2 ** bits - 1))


def _quantise_steps(M, n_steps):
    """:func:`quantise_matrix` with the number of steps ``2^bits - 1`` traced (one compilation)."""
    q = (jnp.max(M) - jnp.min(M)) / n_steps
    safe = jnp.where(q > 0, q, 1.0)
    return jnp.where(q > 0, safe * jnp.round(M / safe), M)


@jax.jit
def _quantise_reservoir_core(rp, w, n_steps):
    wq = jnp.concatenate([_quantise_steps(w[:-1], n_steps), w[-1:]])
    return rp._replace(w_in=_quantise_steps(rp.w_in, n_steps), w_rec=_quantise_steps(rp.w_rec, n_steps)), wq


def _mismatch_reservoir_core(rp, w_readout, sigma, key):
    N = rp.w_rec.shape[0]
    k = jax.random.split(key, 5)

    def per_neuron_abs(kk, x):       # |N(x, sigma x)| per neuron, floored at 1 ms
        x = jnp.broadcast_to(jnp.asarray(x, jnp.float32), (N,))
        return jnp.maximum(jnp.abs(x + sigma * jnp.abs(x) * jax.random.normal(kk, (N,), jnp.float32)),
                           TAU_FLOOR_RES)

    def mult(kk, W):
        return W * (1.0 + sigma * jax.random.normal(kk, W.shape, W.dtype))

    w = jnp.asarray(w_readout, jnp.float32)
    v_th = jnp.broadcast_to(jnp.asarray(rp.v_th, jnp.float32), (N,))
    gap = jnp.abs(v_th - 0.0)                                   # reset is 0
    v_th = jnp.abs(v_th + sigma * gap * jax.random.normal(k[2], (N,), jnp.float32))
    # sigma = 0 must return the nominal time constants exactly (no floor applied then)
    tau_m = jnp.where(sigma > 0, per_neuron_abs(k[0], rp.tau_mem), jnp.broadcast_to(rp.tau_mem, (N,)))
    tau_s = jnp.where(sigma > 0, per_neuron_abs(k[1], rp.tau_syn), jnp.broadcast_to(rp.tau_syn, (N,)))
    return (rp._replace(tau_mem=tau_m, tau_syn=tau_s, v_th=v_th, w_rec=mult(k[3], rp.w_rec)),
            jnp.concatenate([mult(k[4], w[:-1]), w[-1:]]))


_mismatch_reservoir_draws = jax.jit(jax.vmap(_mismatch_reservoir_core, in_axes=(None, None, None, 0)))


def mismatch_reservoir(rp, w_readout, sigma: float, key):
    """One frozen mismatch draw of the reservoir (ebn.md §2.5): per reservoir neuron ``tau_mem``
    and ``tau_syn`` <- ``|N(mu, sigma mu)|`` (independent draws; the notes replace 0 by 1 ms, our
    1-ms Euler simulator needs tau >= dt anyway, so every value below 1 ms is raised to 1 ms),
    threshold ``|N(V_th, sigma (V_th - V_reset))|`` (the "fair" threshold, sigma of the gap),
    recurrent weights and readout weights multiplicative ``(1 + sigma xi)``. The input layer
    (input neurons, ``w_in``, ``tau_in``) and the readout bias are unchanged.
    Returns ``(rp_m, w_readout_m)``; ``sigma = 0`` returns the nominal values."""
    sigma = float(sigma)
    if sigma != 0.0:
        sigma = check_perturbation("mismatch", sigma)
    return _mismatch_reservoir_core(rp, w_readout, jnp.float32(sigma), key)


def mismatch_reservoir_draws(rp, w_readout, sigma: float, keys):
    """``len(keys)`` draws of :func:`mismatch_reservoir` stacked along a leading axis (one jitted
    vmap; the level is traced, so every level shares one compilation)."""
    sigma = float(sigma)
    if sigma != 0.0:
        sigma = check_perturbation("mismatch", sigma)
    return _mismatch_reservoir_draws(rp, w_readout, jnp.float32(sigma), jnp.asarray(keys))


def membrane_noise_reservoir(rp, level: float):
    """Per-step Gaussian noise on every reservoir V with std ``level`` times the threshold-reset
    gap (1 here): the analogue of the ADS/FORCE noise (V moves by ``level`` per step, not
    sqrt(dt)-scaled). The input neurons are not noisy. ``level = 0`` returns the nominal network."""
    level = float(level)
    if level != 0.0:
        level = check_perturbation("noise", level)
    gap = float(np.mean(np.abs(np.asarray(rp.v_th) - 0.0)))
    return rp._replace(noise_std=jnp.float32(level * gap))


@functools.partial(jax.jit, static_argnames=("noisy",))
def _sim_reservoir(rps, ws, u, keys, noisy):
    """``rps``/``ws`` stacked [D], ``u`` [B, T, n_in], ``keys`` [D, B, 2] -> y [D, B, T], spikes [D, B]."""
    def one(rp, w, uu, key):
        y, ns = ebn._reservoir_run(rp, uu, readout=w, key=key, noisy=noisy)
        return y, ns.sum()

    per_draw = jax.vmap(one, in_axes=(None, None, 0, 0))
    return jax.vmap(per_draw, in_axes=(0, 0, None, 0))(rps, ws, u, keys)


def simulate_reservoir(rps, w_readouts, u, *, key=None, chunk: int = 20):
    """Run every reservoir of ``rps`` (stacked along a leading *draws* axis with ``w_readouts
    [D, N + 1]``, or a single one with ``[N + 1]``) on every clip of ``u [B, T, n_in]`` (filterbank
    features) and read it out with the ridge weights inside the scan (no ``[B, T, N]`` states are
    kept). Clips go in padded chunks of ``chunk``. Returns numpy ``y [D, B, T]`` (ridge output,
    unfiltered) and ``spikes [D, B]`` (reservoir spikes per clip, all neurons)."""
    if np.ndim(rps.w_rec) == 2:   # a single network: every leaf (scalars included) gets the draws axis
        rps = jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float32)[None], rps)
        w_readouts = jnp.asarray(w_readouts)[None]
    D = int(rps.w_rec.shape[0])
    w_readouts = jnp.asarray(w_readouts, jnp.float32)
    N, n_in = rps.w_rec.shape[-1], rps.w_in.shape[-2]
    u = np.asarray(u, np.float32)
    if u.ndim != 3 or u.shape[2] != n_in:
        raise ValueError(f"simulate_reservoir: u must be [B, T, {n_in}], got {u.shape}")
    if w_readouts.shape != (D, N + 1):
        raise ValueError(f"simulate_reservoir: readout must be [{N + 1}] per draw, got {w_readouts.shape}")
    noisy = bool(np.any(np.asarray(rps.noise_std) != 0))
    key = jax.random.PRNGKey(0) if key is None else key
    return _over_clip_chunks(lambda uu, keys: _sim_reservoir(rps, w_readouts, uu, keys, noisy),
                             u, D, chunk, key)
