"""Benchmark of DenRAM (snncore.models.denram): one training epoch as the original defines it.

One epoch = 101 training batches (forward + backward + the epoch-indexed Adam step) and 25
validation batches (forward), batch 64, with weight noise drawn every batch, for D1 (700 inputs,
tau 20 ms) and D2 (256 inputs, tau 15 ms), 20 outputs x 16 delayed branches, T = 350 steps.

Input: the SHD stand-in (FSDD through snncore's cochlea encoder) when it can be built from the
data root, else synthetic SHD-shaped spikes; samples are drawn with replacement to fill the
epoch's 8,064 samples (the cost of the event-driven formulation scales with the number of input
events, recorded under ``shapes``). Batches are assembled beforehand (the original's DataLoader
time is not part of ours).

Baseline: the original JAX code on the same kind of 2-core CPU (shared/PEERS.md): 316 s per epoch
for D2, about 1,120 s for D1 (7 s / 21 s on an A6000 GPU). Records go to benchmarks/records.jsonl.
``--smoke`` runs 2 + 1 batches to check the harness, without recording.
"""
import argparse
import os

import jax
import jax.numpy as jnp
import numpy as np

from snncore.bench import timeit
from snncore.models import denram as dm

ap = argparse.ArgumentParser()
ap.add_argument("--smoke", action="store_true")
ap.add_argument("--repeats", type=int, default=3)
ap.add_argument("--configs", default="D2,D1")
args = ap.parse_args()

N_TRAIN, N_VAL, B = (2, 1, 64) if args.smoke else (101, 25, 64)
BASELINE = {"D2": {"name": "original DenRAM JAX code, same kind of 2-core CPU (PEERS.md)", "seconds": 316.0,
                   "gpu_a6000_seconds": 7.0},
            "D1": {"name": "original DenRAM JAX code, same kind of 2-core CPU (PEERS.md, extrapolated)",
                   "seconds": 1120.0, "gpu_a6000_seconds": 21.0}}

try:
    from snncore.data import cochlea
    if args.smoke:
        raise RuntimeError("smoke")
    src, _, dataset = cochlea.shd_or_standin()
except Exception:  # no data root: synthetic spikes of SHD's shape
    from snncore.data import cochlea
    src, dataset = cochlea.synthetic_shd(256, 0), "synthetic SHD-shaped spikes"

for name in args.configs.split(","):
    cfg = {"D1": dm.D1, "D2": dm.D2}[name]
    ev = dm.events_from_shd(src, cfg.n_in)
    rng = np.random.default_rng(0)
    pick = rng.integers(0, len(ev), (N_TRAIN + N_VAL) * B)
    cap = dm.batch_capacity(ev, B)
    batches = [dm.make_batch(ev, pick[k * B:(k + 1) * B], B, capacity=cap) for k in range(N_TRAIN + N_VAL)]
    batches = [jax.tree_util.tree_map(jnp.asarray, b) for b in batches]
    params, net, key = dm.init_network(42, cfg)
    opt, train_step, eval_step = dm._make_fns(cfg, 2e-4)
    opt_state = opt.init(params)
    noise = jnp.float32(0.1)

    def epoch(params, opt_state, key):
        for b in batches[:N_TRAIN]:
            key, sub = jax.random.split(key)
            params, opt_state, loss, c, n = train_step(params, opt_state, net, b, sub, noise, 0)
        correct = 0.0
        for b in batches[N_TRAIN:]:
            key, sub = jax.random.split(key)
            correct = correct + eval_step(params, net, b, sub, noise)[1]
        return params, correct

    ev_per_sample = float(np.mean(np.diff(ev.offsets)[pick]))
    rec = timeit(epoch, params, opt_state, key, name=f"denram_epoch_{name}", part="denram",
                 repeats=1 if args.smoke else args.repeats, record=not args.smoke,
                 work={"train_batches": N_TRAIN, "val_batches": N_VAL, "batch": B,
                       "samples": (N_TRAIN + N_VAL) * B},
                 shapes={"n_in": cfg.n_in, "n_out": 20, "n_branch": 16, "T": cfg.n_steps,
                         "events_per_sample": round(ev_per_sample, 1), "event_capacity": cap,
                         "data": dataset,
                         "host_load_1min_before": round(os.getloadavg()[0], 2)},
                 baseline=BASELINE[name])
    if args.smoke:
        print(f"{name} (smoke, 2+1 batches): {rec['median_s']:.2f} s")
        continue
    print(f"{name}: {rec['median_s']:.2f} s per epoch (times {['%.2f' % t for t in rec['times_s']]}, "
          f"compile+first {rec['compile_s']:.1f} s), {ev_per_sample:.0f} events/sample; original "
          f"{BASELINE[name]['seconds']:.0f} s here -> {BASELINE[name]['seconds'] / rec['median_s']:.0f}x")
