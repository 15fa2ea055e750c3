"""Neuron and synapse steps, surrogate spikes, the time driver, seeds and the NaN guard.

Conventions used across snncore
-------------------------------
* Every step is a pure function ``step(params, state, x) -> (state, out)`` on ``NamedTuple``
  pytrees, so it can be scanned over time and ``vmap``-ed over seeds or settings.
* Time constants and ``dt`` are in the same unit (seconds unless a docstring says otherwise);
  decays are computed from them as ``exp(-dt / tau)`` (exact integration of the linear ODE over
  one step with the input held constant).
* **Time axis**: the driver :func:`run` scans over the *leading* axis of its inputs, so inputs are
  ``[T, ...]`` (time-major). Batch-major data ``[B, T, ...]`` must be transposed first; pass
  ``expected_steps`` to have the driver assert the length (this catches the silent T == B bug).
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "LIFParams", "LIFState", "lif_params", "lif_init", "lif_step",
    "LIParams", "LIState", "li_params", "li_init", "li_step",
    "heaviside", "spike_fn", "fast_sigmoid", "SURROGATES",
    "run", "Seeds", "split_seeds", "NonFiniteError", "check_finite",
]


# --------------------------------------------------------------------------------------------
# surrogate-gradient spike function
# --------------------------------------------------------------------------------------------

def heaviside(x):
    """Spike non-linearity with no gradient: ``1.0`` where ``x > 0`` else ``0.0``."""
    return (x > 0).astype(jnp.result_type(x, jnp.float32))


def _fast_sigmoid_grad(x, slope):
    # d/dx of the fast sigmoid x / (1 + slope |x|) scaled to peak 1: 1 / (1 + slope |x|)^2
    return 1.0 / (1.0 + slope * jnp.abs(x)) ** 2


def _triangle_grad(x, slope):
    return jnp.maximum(0.0, 1.0 - slope * jnp.abs(x))


def _arctan_grad(x, slope):
    # derivative of (1/pi) arctan(pi slope x / 2) + 1/2, scaled so the peak is slope/2
    return (slope / 2.0) / (1.0 + (jnp.pi * slope * x / 2.0) ** 2)


SURROGATES = {"fast_sigmoid": _fast_sigmoid_grad, "triangle": _triangle_grad, "arctan": _arctan_grad}


def spike_fn(surrogate: str = "fast_sigmoid", slope: float = 25.0) -> Callable:
    """Return a Heaviside spike function whose backward pass uses a surrogate derivative.

    Forward: ``H(x) = 1 if x > 0 else 0`` where ``x = v - v_th``.
    Backward (``surrogate``):

    * ``fast_sigmoid``: ``dH/dx ≈ 1 / (1 + slope |x|)^2`` (Zenke & Ganguli 2018, SuperSpike);
    * ``triangle``: ``max(0, 1 - slope |x|)``;
    * ``arctan``: ``(slope/2) / (1 + (pi slope x / 2)^2)``.
    """
    if surrogate not in SURROGATES:
        raise ValueError(f"unknown surrogate {surrogate!r}; valid: {sorted(SURROGATES)}")
    if not np.isfinite(slope) or slope <= 0:
        raise ValueError(f"surrogate slope must be a positive finite number, got {slope!r}")
    grad = SURROGATES[surrogate]

    @jax.custom_vjp
    def f(x):
        return heaviside(x)

    def fwd(x):
        return heaviside(x), x

    def bwd(x, g):
        return (g * grad(x, slope).astype(g.dtype),)

    f.defvjp(fwd, bwd)
    f.__doc__ = f"Heaviside with {surrogate} surrogate gradient (slope={slope})."
    return f


fast_sigmoid = spike_fn("fast_sigmoid", 25.0)


# --------------------------------------------------------------------------------------------
# leaky integrate-and-fire neuron with a current-based exponential synapse
# --------------------------------------------------------------------------------------------

class LIFParams(NamedTuple):
    """Parameters of :func:`lif_step` (all scalars or arrays broadcastable to the state).

    ``alpha = exp(-dt/tau_mem)``, ``beta = exp(-dt/tau_syn)`` are precomputed by :func:`lif_params`.
    """
    alpha: Any
    beta: Any
    v_th: Any
    v_reset: Any
    dt: Any


class LIFState(NamedTuple):
    v: Any  # membrane potential
    i: Any  # synaptic current


def _check_time(dt, **taus):
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be positive and finite, got {dt!r}")
    for name, tau in taus.items():
        t = np.asarray(tau)
        if not (np.all(np.isfinite(t)) and np.all(t > 0)):
            raise ValueError(f"{name} must be positive and finite, got {tau!r}")


def lif_params(tau_mem: float, tau_syn: float, dt: float, v_th: float = 1.0,
               v_reset: float = 0.0) -> LIFParams:
    """Build :class:`LIFParams` from time constants (same unit as ``dt``)."""
    _check_time(dt, tau_mem=tau_mem, tau_syn=tau_syn)
    return LIFParams(alpha=jnp.exp(-dt / jnp.asarray(tau_mem, jnp.float32)),
                     beta=jnp.exp(-dt / jnp.asarray(tau_syn, jnp.float32)),
                     v_th=jnp.asarray(v_th, jnp.float32), v_reset=jnp.asarray(v_reset, jnp.float32),
                     dt=float(dt))


def lif_init(shape, dtype=jnp.float32) -> LIFState:
    return LIFState(v=jnp.zeros(shape, dtype), i=jnp.zeros(shape, dtype))


def lif_step(p: LIFParams, s: LIFState, x, spike: Callable = fast_sigmoid):
    """One Euler-exact step of a current-based LIF neuron.

    ODEs (between spikes)::

        tau_syn di/dt = -i + tau_syn * x(t)       (x: input charge per step, delta pulses)
        tau_mem dv/dt = -v + i

    Discrete update, in this order::

        i[t+1] = beta  * i[t] + x[t]
        v[t+1] = alpha * v[t] + (1 - alpha) * i[t+1]
        z[t+1] = H(v[t+1] - v_th)
        v[t+1] <- v[t+1] - z[t+1] (v[t+1] - v_reset)     (reset to v_reset, no refractory)

    With a constant input current ``I`` held in ``i`` (``beta = 0``, ``x = I``) the membrane
    relaxes to ``I`` with time constant ``tau_mem``; the closed-form rate is
    ``1 / (dt * ceil(-tau_mem/dt ... ))`` -- see ``tests/test_core.py::test_lif_fi_curve``.
    Returns ``(state, z)``.
    """
    i = p.beta * s.i + x
    v = p.alpha * s.v + (1.0 - p.alpha) * i
    z = spike(v - p.v_th)
    v = v - jax.lax.stop_gradient(z) * (v - p.v_reset)
    return LIFState(v=v, i=i), z


# --------------------------------------------------------------------------------------------
# leaky integrator (non-spiking readout)
# --------------------------------------------------------------------------------------------

class LIParams(NamedTuple):
    alpha: Any  # exp(-dt / tau)
    dt: Any


class LIState(NamedTuple):
    v: Any


def li_params(tau: float, dt: float) -> LIParams:
    _check_time(dt, tau=tau)
    return LIParams(alpha=jnp.exp(-dt / jnp.asarray(tau, jnp.float32)), dt=float(dt))


def li_init(shape, dtype=jnp.float32) -> LIState:
    return LIState(v=jnp.zeros(shape, dtype))


def li_step(p: LIParams, s: LIState, x):
    """Leaky integrator ``tau dv/dt = -v + x``: ``v[t+1] = alpha v[t] + (1 - alpha) x[t]``.

    A constant input ``x`` gives ``v[n] = x (1 - alpha**n)`` exactly. Returns ``(state, v)``.
    """
    v = p.alpha * s.v + (1.0 - p.alpha) * x
    return LIState(v=v), v


# --------------------------------------------------------------------------------------------
# the time driver
# --------------------------------------------------------------------------------------------

def run(step: Callable, params, state, xs, *, expected_steps: Optional[int] = None,
        unroll: int = 1):
    """Run ``step(params, state, x_t) -> (state, y_t)`` over time with one ``lax.scan``.

    ``xs`` is a pytree whose leaves are **time-major**: axis 0 is time, length ``T``. Every leaf
    must share that length. When ``expected_steps`` is given, ``T`` is asserted to equal it, which
    catches data passed batch-major by mistake. Returns ``(final_state, ys)`` with ``ys`` stacked
    along a new leading time axis.
    """
    leaves = jax.tree_util.tree_leaves(xs)
    if not leaves:
        raise ValueError("run(): xs has no arrays; pass time-major inputs of shape [T, ...]")
    lengths = {int(np.shape(leaf)[0]) if np.ndim(leaf) else -1 for leaf in leaves}
    if -1 in lengths:
        raise ValueError("run(): every input needs a leading time axis; got a scalar leaf")
    if len(lengths) != 1:
        raise ValueError(f"run(): inputs disagree on the time axis (axis 0) length: {sorted(lengths)}")
    (T,) = lengths
    if expected_steps is not None and T != expected_steps:
        shapes = [tuple(np.shape(leaf)) for leaf in leaves]
        raise ValueError(
            f"run(): expected {expected_steps} time steps on axis 0 but got {T} (input shapes "
            f"{shapes}). Inputs must be time-major [T, ...]; transpose batch-major data first.")

    def body(carry, x):
        return step(params, carry, x)

    return jax.lax.scan(body, state, xs, unroll=unroll)


# --------------------------------------------------------------------------------------------
# seeds: one per concern
# --------------------------------------------------------------------------------------------

class Seeds(NamedTuple):
    """Independent PRNG keys for data (sampling, splits, encoding), model (init, delays, noise
    draws) and training (shuffling, dropout, stochastic rounding)."""
    data: Any
    model: Any
    train: Any


def split_seeds(seed: int | None = None, *, data: int | None = None, model: int | None = None,
                train: int | None = None) -> Seeds:
    """Build :class:`Seeds`.

    Either give one ``seed`` from which the three keys are derived by folding in a fixed tag per
    concern (so changing the training seed never changes the data), or give the three integers
    explicitly. An explicit per-concern integer overrides the derived one.
    """
    if seed is None and None in (data, model, train):
        raise ValueError("split_seeds(): give `seed`, or all of `data`, `model` and `train`")
    keys = {}
    for tag, (name, explicit) in enumerate((("data", data), ("model", model), ("train", train))):
        if explicit is not None:
            keys[name] = jax.random.PRNGKey(int(explicit))
        else:
            keys[name] = jax.random.fold_in(jax.random.PRNGKey(int(seed)), tag + 1)
    return Seeds(**keys)


# --------------------------------------------------------------------------------------------
# the NaN guard
# --------------------------------------------------------------------------------------------

class NonFiniteError(FloatingPointError):
    """Raised when a training quantity stops being finite; names the step and the leaves."""


def check_finite(tree, step: int, what: str = "training state") -> None:
    """Raise :class:`NonFiniteError` naming ``step`` and the offending leaves if any leaf of
    ``tree`` holds NaN or inf. Call it on the host after each step (or every few steps) with the
    loss and parameters; it costs one device-to-host transfer of a boolean per leaf."""
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    finite = [bool(jnp.all(jnp.isfinite(jnp.asarray(leaf)))) for _, leaf in flat]
    if all(finite):
        return
    bad = [jax.tree_util.keystr(path) or "<root>" for (path, _), ok in zip(flat, finite) if not ok]
    raise NonFiniteError(
        f"non-finite values (NaN or inf) in the {what} at step {step}: {', '.join(bad)}. "
        "Training stopped; the last checkpoint (if any) still holds the state before this step.")
