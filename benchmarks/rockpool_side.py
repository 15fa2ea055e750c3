"""Rockpool side of the Network ADS comparison (run with a Python that has Rockpool installed;
Rockpool is not a dependency of snncore: `bench_ebn.py --rockpool PYTHON` calls this script).

Times Rockpool's own JAX LIF layer on the work of one Network ADS evaluation step: B trials of T
steps, N LIF neurons with two synaptic currents each (fast, tau 1 ms, and slow, tau 70 ms, as the
EBN's fast and slow connections), an Nc-dimensional input projected onto both, and a recurrent
matrix N x 2N (= the two N x N matrices W_fast and W_slow of Network ADS). Membrane tau 50 ms,
dt 1 ms, float32. Prints one JSON object: versions, compile time, all timed calls and the median.
"""
import argparse
import json
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--N", type=int, default=768)
ap.add_argument("--Nc", type=int, default=128)
ap.add_argument("--T", type=int, default=5000)
ap.add_argument("--B", type=int, default=8)
ap.add_argument("--repeats", type=int, default=3)
a = ap.parse_args()

import rockpool  # noqa: E402
from rockpool.nn.combinators import Sequential  # noqa: E402
from rockpool.nn.modules import LIFJax, LinearJax  # noqa: E402

rng = np.random.default_rng(0)
N, Nc, T, B = a.N, a.Nc, a.T, a.B
net = Sequential(
    LinearJax((Nc, 2 * N), weight=jnp.asarray(rng.normal(0, 0.0015, (Nc, 2 * N)), jnp.float32), has_bias=False),
    LIFJax((2 * N, N), has_rec=True, dt=1e-3,
           tau_mem=jnp.full((N,), 0.05, jnp.float32),
           tau_syn=jnp.tile(jnp.asarray([[1e-3, 7e-2]], jnp.float32), (N, 1)),
           w_rec=-jnp.asarray(np.abs(rng.normal(0, 0.2 / np.sqrt(N), (N, 2 * N))), jnp.float32),  # inhibitory, as EBN
           max_spikes_per_dt=1.0, rng_key=jax.random.PRNGKey(0)),
)
x = jnp.asarray(rng.normal(0, 1, (B, T, Nc)) * 3.0, jnp.float32)


@jax.jit
def run(net, x):
    out, _, _ = net(x)
    return out


t0 = time.perf_counter()
jax.block_until_ready(run(net, x))
compile_s = time.perf_counter() - t0
times = []
for _ in range(a.repeats):
    t0 = time.perf_counter()
    jax.block_until_ready(run(net, x))
    times.append(time.perf_counter() - t0)
out = np.asarray(run(net, x))
print(json.dumps({"rockpool": rockpool.__version__, "jax": jax.__version__, "python": platform.python_version(),
                  "module": "Sequential(LinearJax, LIFJax(has_rec=True, 2 synapses))",
                  "shapes": {"N": N, "Nc": Nc, "T": T, "B": B}, "compile_s": compile_s, "times_s": times,
                  "median_s": float(np.median(times)), "spikes_per_step_per_trial": float(out.sum() / (B * T)), "finite": bool(np.isfinite(out).all())}))
