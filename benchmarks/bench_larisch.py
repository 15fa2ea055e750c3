"""Benchmarks of the Larisch et al. (2023) V1 layer-4 model (snncore.models.larisch).

* ``larisch_train_presentation``: one plastic 350-ms presentation (350 steps of the full step with
  Clopath and iSTDP updates), one network, float32; and the same in float64 (ANNarchy's precision).
* ``larisch_train_chunk_vmap_nets``: a chunk of presentations for several independent networks at
  once (vmap over networks: the route to "all variants in one launch").
* ``larisch_features``: batched static inference, B samples x 4 patches x V feedback variants in
  one call (raster building included); per-sample time = median / B.

The original (ANNarchy 4.7, C++ code generation) could not be installed offline here, so no
same-machine baseline is recorded; its README says training 400,000 presentations "can take
several days". ``--smoke`` uses tiny sizes and records nothing. Records go to benchmarks/records.jsonl.
"""
import argparse

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
args = ap.parse_args()
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
for dt in ([jnp.float32] if args.no_f64 else [jnp.float32, jnp.float64]):
    name = jnp.dtype(dt).name
    if dt == jnp.float64:
        jax.config.update("jax_enable_x64", True)
    ps = L.init_plastic(jax.random.PRNGKey(0), dt)
    timeit(present, p, ps, raster.astype(dt), name="larisch_train_presentation", part="larisch",
           record=REC, repeats=5, work={"presentations": 1, "steps": L.T_STEPS},
           shapes={"N_in": L.N_IN, "N_exc": L.N_EXC, "N_inh": L.N_INH, "T": L.T_STEPS}, dtype=name)
jax.config.update("jax_enable_x64", False)

# several networks trained in one launch: vmap over networks of a chunk of K presentations
ev, _ = L.pad_events(samples[:K], 8192)
ev = tuple(jnp.asarray(a) for a in ev)
r0 = jnp.asarray(rng.integers(5, 17, K), jnp.int32)
c0 = jnp.asarray(rng.integers(5, 17, K), jnp.int32)
fl = jnp.asarray(rng.random((K, 3)) < 0.5)
nets = jax.vmap(lambda k: L.init_plastic(k))(jax.random.split(jax.random.PRNGKey(1), NETS))
chunk_nets = jax.jit(jax.vmap(lambda ps: L._train_chunk_impl(p, ps, ev, r0, c0, fl)))
timeit(chunk_nets, nets, name="larisch_train_chunk_vmap_nets", part="larisch", record=REC, repeats=3,
       work={"presentations": K * NETS, "networks": NETS, "steps": K * NETS * L.T_STEPS},
       shapes={"chunk": K, "nets": NETS, "T": L.T_STEPS})

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
