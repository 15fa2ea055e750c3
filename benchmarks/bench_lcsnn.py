"""Benchmark of LC-SNN (snncore.models.lcsnn): training one image per network, and batched
inference per image.

* training: LC, 100 filters, kernel 12, stride 4 (900 Y neurons), 250 steps of 1 ms per image,
  PostPre STDP, adaptive thresholds, per-image normalisation, one image at a time per network;
  timed for 1 network and for N networks trained together with ``vmap`` (time per network per
  image = median / (N * images)). Also 25 filters.
* inference: learning off, Poisson encoding included, batched over images (128 per call).

``--impl dense`` times the reference formulation (``simulate_image`` updating every weight every
step, ``encode`` drawing every interval), the default ``auto`` the event-driven training path and
the lazy encoder where they apply (training: 100 filters; inference: always); the record's
``work`` names the implementation and the 1-minute load average at the start.

Input: real MNIST images from the data root when present, else synthetic MNIST-shaped digits
(recorded under ``shapes``). Baseline without ``--bindsnet``: BindsNET 0.3.4 (torch, CPU) on
the same kind of 2-core machine (shared/PEERS.md): LocallyConnectedNetwork 100 filters 0.20
s/image training (median 0.19), 0.09-0.14 s/image inference; 25 filters 0.086 s (median 0.074)
training, 0.05 s inference. ``--smoke`` checks the harness on a tiny network without recording.

``--bindsnet PYTHON`` (or ``SNNCORE_BINDSNET_PYTHON``): first time BindsNET's own
``LocallyConnectedNetwork`` on this machine, in this run (``benchmarks/bindsnet_side.py``, run with
that interpreter: BindsNET is not a dependency of snncore; install it in a separate environment,
e.g. ``python3.11 -m venv /tmp/bnv && /tmp/bnv/bin/pip install torch==2.13.0`` (the CPU build on
disk, first, so nothing pulls CUDA torch), then BindsNET's requirements pinned beside it
(``pip install -c <(echo torch==2.13.0) numpy scipy matplotlib tqdm pandas scikit-learn
scikit-image tensorboardX opencv-python gymnasium ale-py``) and ``pip install --no-deps
bindsnet==0.3.4``: its metadata asks for torch>=2.14 and torchvision, which would pull CUDA builds;
its code runs on 2.13.0, and the side script stands in for torchvision, which has no CPU build
here; first measured with bindsnet 0.3.4, torch 2.13.0+cpu, numpy 2.4.6, Python 3.11.7). Its
per-image medians (training on the same images as our single-network training, and inference,
batch 1) then replace the PEERS.md figures as the baselines of the matching records, for each
filter count. The side times torch's default thread count (2 here) and 1 thread
(``--bindsnet-threads``) and the baseline is the faster (on a loaded 2-core machine 1 thread was
several times faster); both medians are kept in the baseline. Our side is timed exactly as
without it.
"""
import argparse
import json
import os
import subprocess
import sys

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
ap.add_argument("--impl", default="auto", choices=("auto", "event", "dense"),
                help="implementation (dense = the reference formulation, see lcsnn.simulate_image)")
ap.add_argument("--bindsnet", default=os.environ.get("SNNCORE_BINDSNET_PYTHON", ""),
                help="a Python interpreter with BindsNET installed (or SNNCORE_BINDSNET_PYTHON): time "
                     "BindsNET's LocallyConnectedNetwork first and use it as the baseline")
ap.add_argument("--bindsnet-images", type=int, default=5,
                help="BindsNET images timed per mode (train, infer), after one warm-up image each")
ap.add_argument("--bindsnet-threads", default="0,1",
                help="torch thread settings the BindsNET side times (0: torch's default); "
                     "the fastest is the baseline")
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


def bindsnet_baselines(F, n_imgs):
    """Run bindsnet_side.py for F filters; return (train baseline, inference baseline)."""
    side = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bindsnet_side.py")
    k = 1 if args.smoke else args.bindsnet_images
    # the first k images of our single-network training order (orders[0] below, for N = 1)
    idx = np.random.default_rng(1).integers(0, n_imgs, (1, n_img))[0][:k]
    cmd = [args.bindsnet, side, "--filters", str(F), "--indices", ",".join(str(int(i)) for i in idx),
           "--infer-images", str(k), "--threads", "0" if args.smoke else args.bindsnet_threads]
    got = subprocess.run(cmd, capture_output=True, text=True)
    if got.returncode != 0:
        sys.exit(f"the BindsNET side failed:\n{got.stderr[-2000:]}")
    bn = json.loads(got.stdout.strip().splitlines()[-1])
    for r in bn["runs"]:
        print(f"BindsNET {bn['bindsnet']} LC {F}f, torch {bn['torch']}, {r['torch_threads']} thread(s): "
              f"train {r['train_median_s']:.3f} s/image ({[round(t, 3) for t in r['train_times_s']]}), "
              f"infer {r['infer_median_s']:.3f} s/image ({[round(t, 3) for t in r['infer_times_s']]})")
    best = next(r for r in bn["runs"] if r["torch_threads"] == bn["best_threads"])
    common = {"torch": bn["torch"], "torch_threads": bn["best_threads"],
              "medians_by_threads": {str(r["torch_threads"]): {"train": r["train_median_s"],
                                                               "infer": r["infer_median_s"]}
                                     for r in bn["runs"]},
              "model": bn["model"], "protocol": bn["protocol"], "torchvision_stub": bn["torchvision_stub"]}
    name = f"BindsNET {bn['bindsnet']} LocallyConnectedNetwork, same machine, same run"
    train = {"name": name, "seconds": bn["train_median_s"], "per": "image per network",
             "times_s": best["train_times_s"], "images": bn["train_images"], **common}
    infer = {"name": name + " (inference, batch 1)", "seconds": bn["infer_median_s"], "per": "image",
             "times_s": best["infer_times_s"], "images": bn["infer_images"], **common}
    return train, infer


for F in filters:
    cfg = L.LCConfig("LC", F, 12, 4)
    hp = L.hparams(0.32 if F >= 100 else 0.46, -50.0 if F >= 100 else -100.0)
    imgs = L.crop_images(X, cfg)
    base_train = {"name": "BindsNET 0.3.4 LocallyConnectedNetwork, same kind of 2-core CPU (PEERS.md)",
                  "seconds": BASE_TRAIN.get(F), "per": "image per network"}
    base_infer = {"name": "BindsNET 0.3.4 LocallyConnectedNetwork inference, same kind of 2-core CPU "
                          "(PEERS.md)", "seconds": BASE_INFER.get(F), "per": "image"}
    if args.bindsnet:
        base_train, base_infer = bindsnet_baselines(F, len(imgs))
    for N in nets:
        st = jax.vmap(lambda k: L.init_state(cfg, hp, k))(jax.random.split(jax.random.PRNGKey(0), N))
        orders = np.random.default_rng(1).integers(0, len(imgs), (N, n_img))
        keys = jax.random.split(jax.random.PRNGKey(2), N)

        mode = "vmap" if N > 1 and args.vmap else "auto"

        def fn():
            return L.train_networks(cfg, hp, st, imgs, orders, keys, chunk=n_img, networks=mode, impl=args.impl)[0]

        rec = timeit(fn, name=f"LC {F}f k12: train {n_img} images x {N} networks ({mode}, impl {args.impl})",
                     part="lcsnn", repeats=args.repeats,
                     work={"images": n_img, "networks": N, "mode": mode, "impl": args.impl,
                           "load_avg_1min": os.getloadavg()[0]},
                     shapes={"n_y": cfg.n_y, "steps": cfg.time, "dataset": dataset},
                     baseline=base_train, record=record)
        per = rec["median_s"] / (n_img * N)
        bt = base_train["seconds"] or np.nan
        print(f"LC {F}f train, {N} network(s), {mode}, impl {args.impl}: {1e3 * per:.1f} ms per image per network "
              f"(BindsNET {bt:.3g} s -> x{bt / per:.0f})")
    st1 = jax.vmap(lambda k: L.init_state(cfg, hp, k))(jax.random.split(jax.random.PRNGKey(0), 1))
    n_inf = 128 if args.smoke else 512

    def inf():
        return L.spike_counts(cfg, hp, st1, imgs[:n_inf], jax.random.PRNGKey(3), batch=128, impl=args.impl)

    rec = timeit(inf, name=f"LC {F}f k12: inference {n_inf} images (batch 128, impl {args.impl})", part="lcsnn",
                 repeats=args.repeats, work={"images": n_inf, "networks": 1, "impl": args.impl,
                                             "load_avg_1min": os.getloadavg()[0]},
                 shapes={"n_y": cfg.n_y, "steps": cfg.time, "batch": 128, "dataset": dataset},
                 baseline=base_infer, record=record)
    per = rec["median_s"] / n_inf
    bi = base_infer["seconds"] or np.nan
    print(f"LC {F}f inference: {1e3 * per:.2f} ms per image (BindsNET {bi:.3g} s -> x{bi / per:.0f})")
