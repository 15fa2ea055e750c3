"""Benchmarks of Network ADS (snncore.models.ebn).

* ``ebn_forward_vmap``: one 5-s wake-word trial (5,000 steps, N = 768, Nc = 128) evaluated with fixed
  weights, vmapped over B trials (the dense reference evaluation, ``vmap`` of ``ebn._simulate``).
  Its white input of std 3 leaves this random network silent (0 spikes); the dense cost does not
  depend on the rate.
* ``ebn_forward_vmap_event``: the same work through the event-driven path that ``ads_evaluate``
  uses (``ebn._simulate_event``), on a *rate-matched* input: smooth Gaussian (20-ms correlation,
  std 800, ~ the A c_t magnitudes of the wake-word clips) that drives this network at ~12 Hz per
  neuron (~9 spikes per step per trial), the rate of the trained quick wake-word network on test
  clips (12.9 Hz at N = 256). The event path's cost grows with the rate, so the silent input
  would flatter it; ``ebn_forward_vmap_ratematched`` is the dense path on that same input.
* ``ebn_train_trial``: one online-training trial (5,000 per-step updates of the 768x768 W_slow).
* ``ebn_train_trial_vmap_nets``: the same trial for several networks at once (vmap over networks,
  the route to the issue's "all seeds together" target).

``--smoke`` uses tiny sizes to check the harness. Records go to benchmarks/records.jsonl.

``--rockpool PYTHON``: first time Rockpool's own JAX LIF layer on the same work
(``benchmarks/rockpool_side.py``, run with that interpreter: Rockpool is not a dependency of
snncore; install it in a separate environment, e.g. ``python3.11 -m venv /tmp/rpv &&
/tmp/rpv/bin/pip install rockpool==3.1.0 jax==<our pin> jaxlib==<our pin>``), then record our
evaluation step with Rockpool's time as the baseline measured in the same run.
"""
import argparse
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np

from snncore.bench import timeit
from snncore.models import ebn

ap = argparse.ArgumentParser()
ap.add_argument("--smoke", action="store_true")
ap.add_argument("--batch", type=int, default=8)
ap.add_argument("--nets", type=int, default=2)
ap.add_argument("--forward-only", action="store_true", help="time the evaluation forward only (no training records)")
ap.add_argument("--rockpool", default=os.environ.get("SNNCORE_ROCKPOOL_PYTHON", ""),
                help="a Python interpreter with Rockpool installed (or SNNCORE_ROCKPOOL_PYTHON)")
args = ap.parse_args()

N, NC, T = (64, 16, 200) if args.smoke else (768, 128, 5000)
B, NETS = (2, 2) if args.smoke else (args.batch, args.nets)
rng = np.random.default_rng(0)
c = jnp.asarray(rng.normal(0, 1, (B, T, NC)) * 3.0, jnp.float32)      # ~ A c_t magnitudes
xhat = jnp.asarray(np.tanh(rng.normal(0, 0.5, (B, T, NC))), jnp.float32)
readout = jnp.asarray(rng.normal(0, 0.1, (NC, 1)), jnp.float32)
p = ebn.ads_init(jax.random.PRNGKey(0), N, NC, g=1.5)
shapes = {"N": N, "Nc": NC, "T": T}


@jax.jit
def forward(p, c, xhat):
    f = jax.vmap(lambda cc, xh: ebn._simulate(p, cc, xh, readout, jax.random.PRNGKey(0), 1e-3,
                                              False, False, False))
    return f(c, xhat)


baseline = None
if args.rockpool:
    side = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rockpool_side.py")
    got = subprocess.run([args.rockpool, side, "--N", str(N), "--Nc", str(NC), "--T", str(T), "--B", str(B)],
                         capture_output=True, text=True, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    if got.returncode != 0:
        sys.exit(f"the Rockpool side failed:\n{got.stderr[-2000:]}")
    rp = json.loads(got.stdout.strip().splitlines()[-1])
    print(f"Rockpool {rp['rockpool']}: median {rp['median_s']:.3f} s ({rp['times_s']}), "
          f"{rp['spikes_per_step_per_trial']:.1f} spikes per step per trial")
    baseline = {"name": f"Rockpool {rp['rockpool']} LIFJax (recurrent, 2 synapse types: the same N x 2N "
                        f"matrix work per step), same machine, same run", "seconds": rp["median_s"],
                "times_s": rp["times_s"], "compile_s": rp["compile_s"]}

def smooth_input(seed, scale, tau=20.0):
    """Gaussian input with exponential autocorrelation (tau in steps), std ``scale``, [B, T, NC]."""
    g = np.random.default_rng(seed)
    x = g.normal(0, 1, (B, T, NC)).astype(np.float32)
    a, acc = np.float32(np.exp(-1 / tau)), np.zeros((B, NC), np.float32)
    out = np.empty_like(x)
    for t in range(T):
        acc = a * acc + np.float32(np.sqrt(1 - a * a)) * x[:, t]
        out[:, t] = acc
    return jnp.asarray(scale * out)


keys = jax.random.split(jax.random.PRNGKey(0), B)


@jax.jit
def forward_event(p, c, xhat):
    return ebn._evaluate_event(p, c, xhat, readout, keys, 1e-3, False, False, ebn.EVENT_K)


def rate(out):
    """Spike statistics of a forward output, with the machine's 1-min load average at the time
    (the 2-core machine is shared; timings taken under load are slower)."""
    n = np.asarray(out["n_spikes"])
    return {"spikes_per_step_per_trial": float(n.mean()), "rate_hz": float(n.mean() / N / 1e-3),
            "max_spikes_in_a_step": int(n.max()), "load_avg_1min": os.getloadavg()[0]}


c_rate = smooth_input(1, 800.0)
dense_rec = timeit(forward, p, c, xhat, name="ebn_forward_vmap", part="ebn", repeats=3,
                   work={"trials": B, "steps": B * T, **rate(forward(p, c, xhat))}, shapes={**shapes, "B": B},
                   baseline=baseline)
r_rate = rate(forward_event(p, c_rate, xhat))
dense_rate = timeit(forward, p, c_rate, xhat, name="ebn_forward_vmap_ratematched", part="ebn", repeats=3,
                    work={"trials": B, "steps": B * T, **r_rate}, shapes={**shapes, "B": B, "input": "smooth std 800"},
                    baseline=baseline)
event_rec = timeit(forward_event, p, c_rate, xhat, name="ebn_forward_vmap_event", part="ebn", repeats=3,
                   work={"trials": B, "steps": B * T, **r_rate},
                   shapes={**shapes, "B": B, "K": ebn.EVENT_K, "input": "smooth std 800"},
                   baseline=None if baseline is None else {**baseline, "ours_dense_same_input_s": dense_rate["median_s"]})
silent = timeit(forward_event, p, c, xhat, name="ebn_forward_vmap_event_silent", part="ebn", repeats=3,
                record=False)
# agreement on this input (spike counts step by step; read-out to rounding)
od, oe = forward(p, c_rate, xhat), forward_event(p, c_rate, xhat)
same = bool(np.array_equal(np.asarray(od["n_spikes"]), np.asarray(oe["n_spikes"])))
dy = float(np.abs(np.asarray(od["y"]) - np.asarray(oe["y"])).max())
print(f"forward, B = {B} trials x {T} steps, N = {N}:")
print(f"  dense, silent input ({dense_rec['work']['spikes_per_step_per_trial']:.2f} spikes/step/trial): "
      f"{dense_rec['median_s']:.3f} s")
print(f"  dense, rate-matched input ({r_rate['spikes_per_step_per_trial']:.2f} spikes/step/trial, "
      f"{r_rate['rate_hz']:.1f} Hz, max {r_rate['max_spikes_in_a_step']} in a step): {dense_rate['median_s']:.3f} s")
print(f"  event-driven (K = {ebn.EVENT_K}), same rate-matched input: {event_rec['median_s']:.3f} s "
      f"({dense_rate['median_s'] / event_rec['median_s']:.1f}x the dense path; spike counts identical: {same}, "
      f"max |y diff| {dy:.1e})")
print(f"  event-driven on the silent input (not recorded; the floor: input projection + loop): {silent['median_s']:.3f} s")
if baseline is not None:
    print(f"  Rockpool: {baseline['seconds']:.3f} s -> dense {baseline['seconds'] / dense_rec['median_s']:.1f}x, "
          f"event-driven {baseline['seconds'] / event_rec['median_s']:.1f}x faster than Rockpool")

if args.forward_only:
    sys.exit(0)


def train(p, w, c, xhat):
    return ebn._train_trial(p, w, c, xhat, jnp.float32(200.0), jnp.float32(1e-5), readout, 1e-3, False)


def train_stepwise(p, w, c, xhat):
    return ebn._train_trial_stepwise(p, w, c, xhat, jnp.float32(200.0), jnp.float32(1e-5), readout, 1e-3, False)


# the per-step weight update (the direct form of the rule, ebn._train_trial_stepwise) beside the
# blocked form we train with; both are ours, so neither is recorded as the "original" baseline
stepwise = timeit(jax.jit(train_stepwise), p, p.w_slow, c[0], xhat[0], name="ebn_train_trial_stepwise",
                  part="ebn", repeats=3, work={"trials": 1, "steps": T}, shapes=shapes)
train_j = jax.jit(train)
blocked = timeit(train_j, p, p.w_slow, c[0], xhat[0], name="ebn_train_trial", part="ebn", repeats=3,
                 work={"trials": 1, "steps": T}, shapes={**shapes, "block": ebn.TRAIN_BLOCK})
print(f"online training trial: blocked {blocked['median_s']:.3f} s, stepwise {stepwise['median_s']:.3f} s "
      f"({stepwise['median_s'] / blocked['median_s']:.1f}x)")

ps = jax.vmap(lambda k: ebn.ads_init(k, N, NC, g=1.5))(jax.random.split(jax.random.PRNGKey(1), NETS))
train_nets = jax.jit(jax.vmap(train, in_axes=(0, 0, None, None)))
timeit(train_nets, ps, ps.w_slow, c[0], xhat[0], name="ebn_train_trial_vmap_nets", part="ebn",
       repeats=3, work={"trials": NETS, "steps": NETS * T, "networks": NETS},
       shapes={**shapes, "nets": NETS})
