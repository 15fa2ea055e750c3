"""Benchmarks of the Larisch et al. (2023) V1 layer-4 model (snncore.models.larisch).

* ``larisch_train_presentation``: one plastic 350-ms presentation (350 steps of the full step with
  Clopath and iSTDP updates), one network, float32; and the same in float64 (ANNarchy's precision).
* ``larisch_train_chunk_vmap_nets``: a chunk of presentations for several independent networks at
  once (vmap over networks: the route to "all variants in one launch").
* ``larisch_features``: batched static inference, B samples x 4 patches x V feedback variants in
  one call (raster building included); per-sample time = median / B.

``--annarchy PYTHON`` (or env ``SNNCORE_ANNARCHY_PYTHON``): first run the original's library on the
same machine: ``benchmarks/annarchy_side.py`` (run with that interpreter; ANNarchy is not a
dependency of snncore: install it in a separate environment, e.g. ``python3.11 -m venv /tmp/annv
&& /tmp/annv/bin/pip install ANNarchy cmake``; the interpreter's bin/ is put first on PATH so its
cmake is found) re-implements the same network in ANNarchy's model language from the notes and
times plastic presentations on exactly the raster and initial weights used here (one clean C++
build per thread count, compile time reported apart). Its weights and spike counts after the first
presentation are compared with ours in float64 (printed, and stored in the baseline). Then
``larisch_train_presentation`` (both dtypes) and ``larisch_train_chunk_vmap_nets`` are recorded
with ANNarchy's single-thread seconds per presentation as the baseline (``"per": "presentation"``,
multiplied by the record's presentations; its 2-thread time is stored beside it). The original
code pins ANNarchy 4.7.1.4; the side was written for and run with ANNarchy 5.0.4.1 (the version
recorded in the baseline's name). The original's README says training 400,000 presentations "can
take several days".

``--smoke`` uses tiny sizes and records nothing (it runs the ANNarchy side only when
``--annarchy`` is given on the command line, with one presentation and one thread). Records go to
benchmarks/records.jsonl (or ``SNNCORE_BENCH_RECORDS``).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np

from snncore.bench import timeit
from snncore.models import larisch as L

ap = argparse.ArgumentParser()
ap.add_argument("--smoke", action="store_true")
ap.add_argument("--batch", type=int, default=32)
ap.add_argument("--nets", type=int, default=4)
ap.add_argument("--chunk", type=int, default=20)
ap.add_argument("--no-f64", action="store_true")
ap.add_argument("--repeats", type=int, default=5, help="timed calls of larisch_train_presentation")
ap.add_argument("--annarchy", default=None,
                help="a Python interpreter with ANNarchy installed (default: env SNNCORE_ANNARCHY_PYTHON; "
                     "not used by --smoke unless given here)")
ap.add_argument("--annarchy-presentations", type=int, default=20, help="presentations per timed block")
ap.add_argument("--annarchy-repeats", type=int, default=3, help="timed blocks (median)")
ap.add_argument("--annarchy-threads", default="1,2", help="OpenMP thread counts, one build each")
ap.add_argument("--only-presentation", action="store_true",
                help="time only larisch_train_presentation (skip the vmap and feature benchmarks)")
args = ap.parse_args()
if args.annarchy is None and not args.smoke:
    args.annarchy = os.environ.get("SNNCORE_ANNARCHY_PYTHON", "")
REC = not args.smoke   # smoke checks the harness only; it appends no records

B = 4 if args.smoke else args.batch
NETS = 2 if args.smoke else args.nets
K = 2 if args.smoke else args.chunk
rng = np.random.default_rng(0)
EV = np.dtype([("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "<i8")])


def fake_sample(m=4100):
    ev = np.zeros(m, EV)
    ev["x"], ev["y"] = rng.integers(0, 34, m), rng.integers(0, 34, m)
    ev["t"], ev["p"] = np.sort(rng.integers(0, 306_000, m)), rng.integers(0, 2, m)
    return ev


p = L.default_params()
samples = [fake_sample() for _ in range(max(B, K))]
(x, y, ms, pol, valid), _ = L.pad_events(samples[:1], 8192)
raster = L.patch_raster(jnp.asarray(x[0]), jnp.asarray(y[0]), jnp.asarray(ms[0]), jnp.asarray(pol[0]),
                        jnp.asarray(valid[0]), 10, 10, t_min=1)
present = jax.jit(lambda p, ps, r: L.present(p, ps, r))


def annarchy_baseline(python):
    """Run annarchy_side.py on our raster and float64 initial weights; check it against our model."""
    side = os.path.join(os.path.dirname(os.path.abspath(__file__)), "annarchy_side.py")
    jax.config.update("jax_enable_x64", True)
    ps64 = L.init_plastic(jax.random.PRNGKey(0), jnp.float64)
    with tempfile.TemporaryDirectory() as tmp:
        inputs, dump = os.path.join(tmp, "inputs.npz"), os.path.join(tmp, "after_first.npz")
        np.savez(inputs, raster=np.asarray(raster, np.float64),
                 **{k: np.asarray(getattr(ps64.w, k), np.float64) for k in L.Weights._fields})
        k, r, th = ((1, 1, "1") if args.smoke else
                    (args.annarchy_presentations, args.annarchy_repeats, args.annarchy_threads))
        bindir = os.path.dirname(os.path.abspath(python))
        env = {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}
        cmd = [python, side, "--inputs", inputs, "--dump", dump, "--presentations", str(k),
               "--repeats", str(r), "--threads", th, "--build-dir", os.path.join(tmp, "build")]
        print("ANNarchy side:", " ".join(cmd), flush=True)
        got = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp)
        if got.returncode != 0:
            sys.exit(f"the ANNarchy side failed:\n{got.stdout[-2000:]}\n{got.stderr[-4000:]}")
        an = json.loads(got.stdout.strip().splitlines()[-1])
        theirs = np.load(dump)
        # the same first presentation with our model in float64
        ps1, out = present(p, ps64, raster.astype(jnp.float64))
        dw = max(float(np.abs(np.asarray(getattr(ps1.w, name)) - theirs[name]).max())
                 for name in L.Weights._fields)
        ours_sp = (int(np.asarray(out[0]).sum()), int(np.asarray(out[1]).sum()))
    jax.config.update("jax_enable_x64", False)
    check = {"max_abs_weight_diff_after_first": dw, "v1_spikes_first": [ours_sp[0], int(theirs["v1_spikes"])],
             "inh_spikes_first": [ours_sp[1], int(theirs["inh_spikes"])]}
    res = {x["threads"]: x for x in an["results"]}
    for t, x in sorted(res.items()):
        print(f"ANNarchy {an['annarchy']} ({t} thread{'s' if t > 1 else ''}): compile {x['compile_s']:.1f} s, "
              f"{1e3 * x['per_presentation_s']:.1f} ms per presentation (simulate() alone "
              f"{1e3 * x['simulate_only_s']:.1f} ms), spikes per presentation V1 "
              f"{x['spikes_per_presentation']['v1']:.0f} / Inh {x['spikes_per_presentation']['inh']:.0f} "
              f"({x['rate_hz']['v1']:.1f} / {x['rate_hz']['inh']:.1f} Hz)", flush=True)
    print(f"check against ours after the first presentation (float64): max |dw| = {dw:.2e}, "
          f"V1 spikes ours/ANNarchy {check['v1_spikes_first']}, Inh {check['inh_spikes_first']}", flush=True)
    one = res.get(1) or res[min(res)]
    base = {"name": f"ANNarchy {an['annarchy']} re-implementation of the original model, same machine, same run",
            "seconds": one["per_presentation_s"], "per": "presentation", "threads": one["threads"],
            "simulate_only_s": one["simulate_only_s"], "block_times_s": one["block_times_s"],
            "compile_s": one["compile_s"], "spikes_per_presentation": one["spikes_per_presentation"],
            "presentations_per_block": an["presentations"], "precision": an["precision"],
            "compiler": an["compiler"], "flags": an["flags"], "python": an["python"], "input": an["input"],
            "check": check}
    for t, x in res.items():
        if t != one["threads"]:
            base[f"seconds_{t}_threads"] = x["per_presentation_s"]
            base[f"compile_s_{t}_threads"] = x["compile_s"]
    return base


baseline = annarchy_baseline(args.annarchy) if args.annarchy else None
for dt in ([jnp.float32] if args.no_f64 else [jnp.float32, jnp.float64]):
    name = jnp.dtype(dt).name
    if dt == jnp.float64:
        jax.config.update("jax_enable_x64", True)
    ps = L.init_plastic(jax.random.PRNGKey(0), dt)
    rec = timeit(present, p, ps, raster.astype(dt), name="larisch_train_presentation", part="larisch",
                 record=REC, repeats=2 if args.smoke else args.repeats,
                 work={"presentations": 1, "steps": L.T_STEPS, "load_avg_1min": os.getloadavg()[0]},
                 baseline=baseline,
                 shapes={"N_in": L.N_IN, "N_exc": L.N_EXC, "N_inh": L.N_INH, "T": L.T_STEPS}, dtype=name)
    msg = f"ours {name}: {1e3 * rec['median_s']:.2f} ms per presentation"
    if baseline:
        msg += f"; ANNarchy / ours = {baseline['seconds'] / rec['median_s']:.1f}x"
    print(msg, flush=True)
jax.config.update("jax_enable_x64", False)
if args.only_presentation:
    sys.exit(0)

# several networks trained in one launch: vmap over networks of a chunk of K presentations
ev, _ = L.pad_events(samples[:K], 8192)
ev = tuple(jnp.asarray(a) for a in ev)
r0 = jnp.asarray(rng.integers(5, 17, K), jnp.int32)
c0 = jnp.asarray(rng.integers(5, 17, K), jnp.int32)
fl = jnp.asarray(rng.random((K, 3)) < 0.5)
nets = jax.vmap(lambda k: L.init_plastic(k))(jax.random.split(jax.random.PRNGKey(1), NETS))
chunk_nets = jax.jit(jax.vmap(lambda ps: L._train_chunk_impl(p, ps, ev, r0, c0, fl)))
rec = timeit(chunk_nets, nets, name="larisch_train_chunk_vmap_nets", part="larisch", record=REC, repeats=3,
             work={"presentations": K * NETS, "networks": NETS, "steps": K * NETS * L.T_STEPS,
                   "load_avg_1min": os.getloadavg()[0]},
             shapes={"chunk": K, "nets": NETS, "T": L.T_STEPS}, baseline=baseline)
if baseline:   # ANNarchy's seconds per presentation x the K * NETS presentations of this call
    print(f"ours vmap {NETS} nets x {K}: {1e3 * rec['median_s'] / (K * NETS):.2f} ms per presentation "
          f"(raster building included); ANNarchy / ours = {baseline['seconds'] * K * NETS / rec['median_s']:.1f}x",
          flush=True)

# batched features: B samples x 4 patches x V variants per call
w = L.init_weights(jax.random.PRNGKey(2))
w = w._replace(inh_v1=jnp.full((L.N_EXC, L.N_INH), 0.05))
ks = jnp.asarray([0.0, 1.0, 3.0])
evb, _ = L.pad_events(samples[:B], 8192)
evb = tuple(jnp.asarray(a) for a in evb)
for fast in (False, True):
    timeit(L._features_jit, p, w, evb, ks, fast=fast,
           name="larisch_features" + ("_hoisted" if fast else ""), part="larisch", record=REC, repeats=3,
           work={"samples": B, "patches": 4 * B, "variants": 3, "patch_presentations": 12 * B},
           shapes={"B": B, "patches": 4, "variants": 3, "L": 8192, "T": L.T_STEPS})
