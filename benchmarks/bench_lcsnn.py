"""Benchmark of LC-SNN (snncore.models.lcsnn): training one image per network, and batched
inference per image.

* training: LC, 100 filters, kernel 12, stride 4 (900 Y neurons), 250 steps of 1 ms per image,
  PostPre STDP, adaptive thresholds, per-image normalisation, one image at a time per network;
  timed for 1 network and for N networks trained together with ``vmap`` (time per network per
  image = median / (N * images)). Also 25 filters.
* inference: learning off, Poisson encoding included, batched over images (128 per call).

Input: real MNIST images from the data root when present, else synthetic MNIST-shaped digits
(recorded under ``shapes``). Baseline: BindsNET 0.3.4 (torch, CPU) on the same kind of 2-core
machine (shared/PEERS.md): LocallyConnectedNetwork 100 filters 0.20 s/image training (median
0.19), 0.09-0.14 s/image inference; 25 filters 0.086 s (median 0.074) training, 0.05 s
inference. ``--smoke`` checks the harness on a tiny network without recording.
"""
import argparse

import jax
import numpy as np

from snncore.bench import timeit
from snncore.models import lcsnn as L

ap = argparse.ArgumentParser()
ap.add_argument("--smoke", action="store_true")
ap.add_argument("--repeats", type=int, default=3)
ap.add_argument("--images", type=int, default=20, help="training images per timed call")
ap.add_argument("--networks", default="1,4", help="network counts for the vmapped training")
ap.add_argument("--filters", default="100,25")
ap.add_argument("--vmap", action="store_true", help="vmap the networks even on a CPU (default there: map)")
args = ap.parse_args()

BASE_TRAIN = {100: 0.20, 25: 0.086}
BASE_INFER = {100: 0.115, 25: 0.05}   # middle of the 0.09-0.14 s range for 100 filters

try:
    from snncore.data.mnist import load_mnist
    if args.smoke:
        raise RuntimeError("smoke")
    X, _ = load_mnist("train")
    X = X[:5000]
    dataset = "MNIST (real)"
except Exception:
    rs = np.random.default_rng(0)
    X = (rs.random((500, 28, 28)) < 0.2).astype(np.uint8) * 255
    dataset = "synthetic MNIST-shaped (smoke or no data root)"

filters = [4] if args.smoke else [int(f) for f in args.filters.split(",")]
nets = [1] if args.smoke else [int(n) for n in args.networks.split(",")]
n_img = 2 if args.smoke else args.images
record = not args.smoke
for F in filters:
    cfg = L.LCConfig("LC", F, 12, 4)
    hp = L.hparams(0.32 if F >= 100 else 0.46, -50.0 if F >= 100 else -100.0)
    imgs = L.crop_images(X, cfg)
    for N in nets:
        st = jax.vmap(lambda k: L.init_state(cfg, hp, k))(jax.random.split(jax.random.PRNGKey(0), N))
        orders = np.random.default_rng(1).integers(0, len(imgs), (N, n_img))
        keys = jax.random.split(jax.random.PRNGKey(2), N)

        mode = "vmap" if N > 1 and args.vmap else "auto"

        def fn():
            return L.train_networks(cfg, hp, st, imgs, orders, keys, chunk=n_img, networks=mode)[0]

        rec = timeit(fn, name=f"LC {F}f k12: train {n_img} images x {N} networks ({mode})", part="lcsnn",
                     repeats=args.repeats, work={"images": n_img, "networks": N, "mode": mode},
                     shapes={"n_y": cfg.n_y, "steps": cfg.time, "dataset": dataset},
                     baseline={"name": "BindsNET 0.3.4 LocallyConnectedNetwork, same kind of 2-core CPU (PEERS.md)",
                               "seconds": BASE_TRAIN.get(F), "per": "image per network"},
                     record=record)
        per = rec["median_s"] / (n_img * N)
        print(f"LC {F}f train, {N} network(s), {mode}: {1e3 * per:.1f} ms per image per network "
              f"(BindsNET {BASE_TRAIN.get(F)} s -> x{BASE_TRAIN.get(F, np.nan) / per:.0f})")
    st1 = jax.vmap(lambda k: L.init_state(cfg, hp, k))(jax.random.split(jax.random.PRNGKey(0), 1))
    n_inf = 128 if args.smoke else 512

    def inf():
        return L.spike_counts(cfg, hp, st1, imgs[:n_inf], jax.random.PRNGKey(3), batch=128)

    rec = timeit(inf, name=f"LC {F}f k12: inference {n_inf} images (batch 128)", part="lcsnn",
                 repeats=args.repeats, work={"images": n_inf, "networks": 1},
                 shapes={"n_y": cfg.n_y, "steps": cfg.time, "batch": 128, "dataset": dataset},
                 baseline={"name": "BindsNET 0.3.4 LocallyConnectedNetwork inference, same kind of 2-core CPU "
                                   "(PEERS.md)", "seconds": BASE_INFER.get(F), "per": "image"},
                 record=record)
    per = rec["median_s"] / n_inf
    print(f"LC {F}f inference: {1e3 * per:.2f} ms per image (BindsNET {BASE_INFER.get(F)} s -> "
          f"x{BASE_INFER.get(F, np.nan) / per:.0f})")
