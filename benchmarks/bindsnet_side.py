"""BindsNET side of the LC-SNN speed comparison (run with a Python that has BindsNET installed;
BindsNET is not a dependency of snncore: ``bench_lcsnn.py --bindsnet PYTHON`` calls this script,
which must not import snncore).

Times BindsNET's own ``bindsnet.models.LocallyConnectedNetwork`` (the network of Saunders et al.
2019 and of the thesis's comparison) on the work of ``bench_lcsnn.py``: MNIST cropped to 20 x 20
(rows/cols 4..23), kernel 12, stride 4 (3 x 3 patches), F filters (100 -> 900 Y neurons),
250 steps of 1 ms, batch 1, BindsNET's ``poisson`` encoder with rate = pixel / 255 * 127.5 Hz
(the thesis's intensity), a spike monitor on Y (as BindsNET's and the thesis's scripts use to
count spikes), ``reset_state_variables()`` after every image. Thesis constants where the model
takes them: norm = mean weight per synapse (0.32 for 100 filters, 0.46 for 25; BindsNET scales it
by k^2), inh = 50 (100 filters) or 100 (25 filters); the neuron model is BindsNET's own
(DiehlAndCookNodes), not the thesis's modified AdaptiveLIF, which does not change the work per
step (the same dense 400 x n_Y and n_Y x n_Y products and the PostPre update).

* training: learning on (PostPre STDP, adaptive thresholds, per-image normalisation at the end of
  ``run``); one warm-up image untimed, then ``--images`` images each timed on its own
  (Poisson encoding + 250-step run + reset).
* inference: ``network.train(False)`` (no STDP, thresholds frozen), the same per-image loop over
  ``--infer-images`` images after one untimed warm-up image.

Images: real MNIST training images read here with numpy from the IDX gzip files under
``$SNNCORE_DATA/mnist`` (or ``--data``); the training images are the indices given by
``--indices`` (``bench_lcsnn.py`` passes the same ones its own single-network training uses), else
``numpy.random.default_rng(1).integers(0, 5000, n)``; inference uses the first images of the
training file, as ``bench_lcsnn.py``'s inference does.

Threads: ``--threads`` lists the ``torch.set_num_threads`` settings to time, each on a freshly
built network with the same seeds (default ``0,1``: torch's default, which is the core count, 2 on
the project's machines, like JAX on our side, and then 1 thread). On a loaded 2-core machine the
2-thread run can be many times slower than 1 thread (torch's intra-op threads wait for a core for
every one of the thousands of small ops per image), so both are reported and the headline
``train_median_s``/``infer_median_s`` are those of the setting with the fastest training
(``best_threads``): the baseline is BindsNET at its best here, which can only shrink our ratio.

torchvision: BindsNET 0.3.4's package ``__init__`` imports torchvision (its dataset wrappers,
``transforms`` in a preprocessing class and ``make_grid`` in a plotting helper), and there is no
CPU build of torchvision for this machine. When ``import torchvision`` fails, this script puts a
minimal stand-in into ``sys.modules`` (only in this process) before importing BindsNET: its
``datasets`` attributes are empty placeholder classes and ``transforms``/``utils`` raise if used.
None of those are used here (we read MNIST ourselves), so the network code timed is BindsNET's
unchanged. The JSON says whether the stand-in was used.

Prints one JSON object: versions, per-image medians (train, infer) of the best thread setting and,
under ``runs``, every setting's per-image times and Y spike counts (a sanity check that the
network is active), the images used.
"""
import argparse
import gzip
import json
import os
import platform
import statistics
import sys
import time
import types

import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--filters", type=int, default=100)
ap.add_argument("--images", type=int, default=10, help="timed training images (after 1 warm-up image)")
ap.add_argument("--infer-images", type=int, default=10, help="timed inference images (after 1 warm-up)")
ap.add_argument("--indices", default="", help="comma-separated training-image indices (overrides --images)")
ap.add_argument("--threads", default="0,1",
                help="comma-separated torch.set_num_threads settings to time in turn (0: torch's default)")
ap.add_argument("--data", default=os.environ.get("SNNCORE_DATA", "/work/shared/data"))
ap.add_argument("--seed", type=int, default=0)
a = ap.parse_args()


def _stub_torchvision():
    """A stand-in torchvision for BindsNET's import-time references (see the module docstring)."""
    tv = types.ModuleType("torchvision")
    tv.__version__ = "stub (not installed)"
    ds = types.ModuleType("torchvision.datasets")

    def _placeholder(name):
        if name.startswith("__"):
            raise AttributeError(name)

        def _init(self, *args, **kwargs):
            raise RuntimeError(f"torchvision.datasets.{name} is a stub in bindsnet_side.py")
        return type(name, (), {"__init__": _init, "__doc__": None})

    ds.__getattr__ = _placeholder
    tr = types.ModuleType("torchvision.transforms")
    ut = types.ModuleType("torchvision.utils")

    def _unavailable(*args, **kwargs):
        raise RuntimeError("torchvision is a stub in bindsnet_side.py")

    def _transform(name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _unavailable

    tr.__getattr__ = _transform
    ut.make_grid = _unavailable
    tv.datasets, tv.transforms, tv.utils = ds, tr, ut
    sys.modules.update({"torchvision": tv, "torchvision.datasets": ds, "torchvision.transforms": tr,
                        "torchvision.utils": ut})


try:
    import torchvision  # noqa: F401
    stubbed = False
except ImportError:
    _stub_torchvision()
    stubbed = True

import torch  # noqa: E402
import bindsnet  # noqa: E402,F401
from bindsnet.encoding import poisson  # noqa: E402
from bindsnet.models import LocallyConnectedNetwork  # noqa: E402
from bindsnet.network.monitors import Monitor  # noqa: E402

try:
    from importlib.metadata import version as _version
    bn_version = _version("bindsnet")
except Exception:
    bn_version = getattr(bindsnet, "__version__", "unknown")


def read_idx_images(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        raw = f.read()
    magic, n, rows, cols = np.frombuffer(raw[:16], ">u4")
    if magic != 0x803:
        raise ValueError(f"{path}: not an IDX3 ubyte file (magic {magic:#x})")
    return np.frombuffer(raw[16:], np.uint8).reshape(n, rows, cols)


mnist_dir = os.path.join(a.data, "mnist")
name = "train-images-idx3-ubyte"
path = os.path.join(mnist_dir, name)
X = read_idx_images(path if os.path.exists(path) else path + ".gz")
X = X[:, 4:24, 4:24]                     # CenterCrop(20)
if a.indices:
    train_idx = [int(i) for i in a.indices.split(",")]
else:
    train_idx = [int(i) for i in np.random.default_rng(1).integers(0, 5000, a.images)]
warm_idx = 5000                          # one image outside the timed ones
infer_idx = list(range(a.infer_images))

F, K, S, T, INTENSITY = a.filters, 12, 4, 250, 127.5
mean_w, inh = (0.32, 50.0) if F >= 100 else (0.46, 100.0)


def build():
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)                # BindsNET's LocalConnection draws its weights with numpy
    net = LocallyConnectedNetwork(n_inpt=400, input_shape=[20, 20], kernel_size=K, stride=S, n_filters=F,
                                  inh=inh, dt=1.0, nu=(1e-4, 1e-2), theta_plus=0.05, wmin=0.0, wmax=1.0,
                                  norm=mean_w)
    mon = Monitor(net.layers["Y"], ["s"], time=T)
    net.add_monitor(mon, name="Y")
    return net, mon


def present(net, mon, i):
    datum = torch.from_numpy(X[i].astype(np.float32) / 255.0 * INTENSITY).flatten()
    spikes = poisson(datum=datum, time=T, dt=1.0)          # [T, 400]
    net.run(inputs={"X": spikes}, time=T)
    count = int(mon.get("s").sum())
    net.reset_state_variables()
    return count


def timed(net, mon, indices):
    times, counts = [], []
    for i in indices:
        t0 = time.perf_counter()
        counts.append(present(net, mon, i))
        times.append(time.perf_counter() - t0)
    return times, counts


default_threads = torch.get_num_threads()
runs = []
for th in [int(x) for x in str(a.threads).split(",")]:
    torch.set_num_threads(th or default_threads)
    t0 = time.perf_counter()
    net, mon = build()                    # the same weights and Poisson draws for every setting
    build_s = time.perf_counter() - t0
    net.train(True)
    present(net, mon, warm_idx)
    train_s, train_counts = timed(net, mon, train_idx)
    net.train(False)
    present(net, mon, warm_idx + 1)
    infer_s, infer_counts = timed(net, mon, infer_idx)
    runs.append({"torch_threads": torch.get_num_threads(), "default": th == 0, "build_s": build_s,
                 "train_median_s": statistics.median(train_s), "train_mean_s": statistics.fmean(train_s),
                 "train_times_s": train_s,
                 "infer_median_s": statistics.median(infer_s), "infer_mean_s": statistics.fmean(infer_s),
                 "infer_times_s": infer_s,
                 "train_y_spikes_per_image": train_counts, "infer_y_spikes_per_image": infer_counts})
best = min(runs, key=lambda r: r["train_median_s"])

print(json.dumps({
    "bindsnet": bn_version, "torch": torch.__version__, "numpy": np.__version__,
    "python": platform.python_version(),
    "torchvision_stub": stubbed, "torch_default_threads": default_threads,
    "model": f"bindsnet.models.LocallyConnectedNetwork({F} filters, kernel {K}, stride {S}, inh {inh}, "
             f"norm {mean_w} per synapse)",
    "protocol": f"batch 1, {T} steps of 1 ms, poisson encoder at pixel/255*{INTENSITY} Hz, Y spike monitor, "
                "reset after each image; train = learning on, infer = network.train(False)",
    "n_y": net.layers["Y"].n, "train_images": train_idx, "infer_images": infer_idx,
    "warmup_images": [warm_idx, warm_idx + 1],
    "dataset": f"MNIST train ({os.path.basename(path)}), cropped 20x20",
    "runs": runs, "best_threads": best["torch_threads"],
    "train_median_s": best["train_median_s"], "infer_median_s": best["infer_median_s"],
}))
