"""Benchmark of the Network ADS robustness study (snncore.models.ebn_robust).

``ebn_robust_mismatch_batch``: one compiled call that draws D mismatched copies of one network
(jitted vmap) and simulates each on the same B five-second clips (5,000 steps, Nc = 128), vmapped
over draws and clips: the unit of work of the mismatch experiment. The record's ``work`` holds
the number of clip-simulations, and the script prints the time extrapolated to the full study of
the issue (10 networks per architecture x 2 ADS architectures; quantisation 5 levels, neuron
death, mismatch 3 levels with 5 x 100 validation + 10 x 500 test clip-runs per network, noise 3
levels, all with 500 validation + 1000 test clips) and to the reduced quick study of the notebook.

Sizes: ``--n`` neurons (768 paper, 256 quick networks), ``--draws`` D, ``--clips`` B.
``--smoke`` uses tiny sizes to check the harness. Records go to benchmarks/records.jsonl.
"""
import argparse

import jax
import jax.numpy as jnp
import numpy as np

from snncore.bench import timeit
from snncore.models import ebn
from snncore.models import ebn_robust as rb

ap = argparse.ArgumentParser()
ap.add_argument("--smoke", action="store_true")
ap.add_argument("--n", type=int, default=256)
ap.add_argument("--draws", type=int, default=3)
ap.add_argument("--clips", type=int, default=20)
ap.add_argument("--steps", type=int, default=5000)
args = ap.parse_args()

N, NC, T = (64, 16, 200) if args.smoke else (args.n, 128, args.steps)
D, B = (2, 2) if args.smoke else (args.draws, args.clips)
rng = np.random.default_rng(0)
c = jnp.asarray(rng.normal(0, 1, (B, T, NC)) * 3.0, jnp.float32)
readout = jnp.asarray(rng.normal(0, 0.1, (NC, 1)), jnp.float32)
p = ebn.ads_init(jax.random.PRNGKey(0), N, NC, g=1.5)
p = p._replace(w_slow=(0.02 * jax.random.normal(jax.random.PRNGKey(1), (N, N)) * (1 - jnp.eye(N))
                       ).astype(jnp.float32))                        # a trained-like dense W_slow
keys = jax.random.split(jax.random.PRNGKey(2), D)
sim_keys = jax.random.split(jax.random.PRNGKey(3), D * B).reshape(D, B, -1)


def batch(p, c, keys, sim_keys):
    ps = rb._mismatch_draws(p, jnp.float32(0.1), jnp.float32(0.8), keys)
    return rb._sim(ps, c, readout, sim_keys, False, 1e-3)


rec = timeit(batch, p, c, keys, sim_keys, name="ebn_robust_mismatch_batch", part="ebn", repeats=3,
             work={"clip_runs": D * B, "steps": D * B * T, "draws": D, "clips": B},
             shapes={"N": N, "Nc": NC, "T": T, "D": D, "B": B}, record=not args.smoke)
per_run = rec["median_s"] / (D * B) * (5000 / T)
full = 2 * 10 * (5 * 1500 + 1500 + 3 * (5 * 100 + 10 * 500) + 3 * 1500 + 1500)
quick = 2 * 1 * (5 * 60 + 60 + 3 * (2 * 20 + 3 * 40) + 3 * 60 + 60)
print(f"{rec['median_s']:.3f} s per batch of {D} draws x {B} clips (N = {N}, T = {T}); "
      f"{per_run * 1e3:.1f} ms per 5-s clip-run")
print(f"extrapolated at this N: full study ({full} clip-runs) {full * per_run / 60:.1f} min; "
      f"quick study ({quick} clip-runs) {quick * per_run / 60:.1f} min (compilation excluded)")
