"""ANNarchy side of the V1 layer-4 speed comparison (Larisch, Berger & Hamker 2023).

Run with a Python that has ANNarchy installed (ANNarchy is not a dependency of snncore and this
script does not import snncore; ``bench_larisch.py --annarchy PYTHON`` calls it). The pip-installed
cmake must come first on PATH, e.g. ``PATH=/tmp/annv/bin:$PATH /tmp/annv/bin/python
benchmarks/annarchy_side.py``.

The network is re-implemented in ANNarchy's own model language from the notes
(shared/papers/larisch.md, sections 1.1-1.6), with the same sizes as ``snncore.models.larisch``:

* Input: 288 = 12x12x2 ``SpikeSourceArray`` replaying a binary event raster [350 ms, 288]
  (``spike_times`` are set before every presentation, as the original training loop does).
* LGN (12, 12, 2): relay neuron, ``dg_exc/dt = EL/1000`` (min EL), spike ``g_exc > VTrest``.
* V1 (144) and Inh (36): AdEx with the Clopath-2010 extensions and the 3-state spike shape,
  explicit Euler, dt = 1 ms, concurrent ODEs (ANNarchy's own semantics), float64 (its default).
* Input->LGN one-to-one, w = 30, static.  LGN->V1 and LGN->Inh: Clopath voltage rule set A
  (w in [0, 5]); V1->Inh: Clopath set B (w in [0, 1]); Inh->V1 ("back") and Inh->Inh without
  self-connections ("lat"): symmetric iSTDP with offset, w clipped to [0, 1] every step.
* Per presentation: set the input, ``simulate(350)``, ON/OFF normalisation of LGN->V1 and
  LGN->Inh when the presentation index is a multiple of 400, then
  ``reset(populations=True, projections=False, monitors=False)`` (vmean restarts every sample).

Input: ``--inputs FILE.npz`` (raster [350, 288] and the five initial weight matrices, post x pre,
INLat dense with a zero diagonal) makes this side run on exactly the raster and weights the JAX
side uses; without it, a synthetic raster is drawn (4,100 uniform events on the 34x34 sensor over
306 ms, the 12x12 patch at row/col 10, ms-bin 0 dropped: the recipe of bench_larisch.py) and the
weights are drawn as in the original (uniform ranges of the notes). ``--dump FILE.npz`` writes the
weights and spike counts after the first presentation (for an equivalence check).

Timing: compile once per thread count (a clean build, reported as ``compile_s``), one untimed
warm-up presentation (index 0, which also normalises), then ``repeats`` blocks of ``presentations``
presentations (indices 1..K, no normalisation: it is due once in 400) timed with wall-clock;
``per_presentation_s`` is the median block time / K. ``simulate_only_s`` is the part spent in
``simulate()`` alone. Spike counts per presentation come from an extra monitored block after the
timed ones. Prints one JSON line.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--presentations", type=int, default=20)
ap.add_argument("--repeats", type=int, default=3)
ap.add_argument("--threads", default="1,2", help="comma-separated OpenMP thread counts (one build each)")
ap.add_argument("--inputs", default="", help="npz with raster and initial weights (else synthetic)")
ap.add_argument("--dump", default="", help="npz to write weights/spikes after the first presentation")
ap.add_argument("--build-dir", default=os.path.join(tempfile.gettempdir(), "annarchy_larisch"))
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--reuse-build", action="store_true",
                help="do not force a clean build (development only: compile_s is then not a compile time)")
a = ap.parse_args()

import ANNarchy as ann  # noqa: E402

try:
    from importlib.metadata import version as _pkg_version
    ANN_VERSION = _pkg_version("ANNarchy")
except Exception:  # noqa: BLE001
    ANN_VERSION = ann.__version__

N_IN, N_EXC, N_INH, T = 288, 144, 36, 350      # the sizes of snncore.models.larisch

# --------------------------------------------------------------------------------------------
# models (constants: notes §1.2-1.5)
# --------------------------------------------------------------------------------------------
LGN = ann.Neuron(
    parameters=dict(EL=-70.4, VTrest=-50.4, taux=15.0),
    equations=[
        ann.Variable("dg_exc/dt = EL/1000.0", init=-70.6, min=-70.4),
        ann.Variable("dxtrace/dt = -xtrace/taux", init=0.0),
        ann.Variable("Spike = 0.0", init=0.0),
    ],
    spike="g_exc > VTrest",
    reset=["g_exc = EL", "Spike = 1.0", "xtrace += 1.0/taux"],
    name="LGN relay",
)

ADEX = ann.Neuron(
    parameters=dict(C=281.0, gL=30.0, EL=-70.6, DeltaT=2.0, a=4.0, b=0.0805, tauw=144.0,
                    Isp=400.0, tauz=40.0, VTrest=-50.4, VTMax=-30.4, tauVT=50.0, taux=15.0,
                    tauLTD=10.0, tauLTP=7.0, taumean=750.0, tau_gExc=1.0, tau_gInh=10.0),
    equations=[
        ann.Variable("noise = Normal(0.0, 1.0)", init=0.0),   # declared but unused, as in the original
        # one system of ODEs, all derivatives from the old values (explicit Euler, dt = 1)
        ann.Variable("dvm/dt = if state >= 2.0: 3.462 "
                     "else: if state == 1.0: -(vm + 51.75) + 1.0/C*(Isp - (wad + b)) + g_Exc - g_Inh "
                     "else: 1.0/C*(-gL*(vm - EL) + gL*DeltaT*exp((vm - VT)/DeltaT) - wad + z) + g_Exc - g_Inh",
                     init=-70.6),
        ann.Variable("dvmean/dt = (pos(vm - EL)**2 - vmean)/taumean", init=0.0),
        ann.Variable("dumeanLTD/dt = (vm - umeanLTD)/tauLTD", init=-70.0),
        ann.Variable("dumeanLTP/dt = (vm - umeanLTP)/tauLTP", init=-70.0),
        ann.Variable("dxtrace/dt = -xtrace/taux", init=0.0),
        ann.Variable("dwad/dt = if state >= 2.0: 0.0 "
                     "else: if state == 1.0: b/tauw else: (a*(vm - EL) - wad)/tauw", init=0.0),
        ann.Variable("dz/dt = if state == 1.0: -z + Isp - 10.0 else: -z/tauz", init=0.0),
        ann.Variable("dVT/dt = if state == 1.0: (VTMax - VT) - 0.4 else: (VTrest - VT)/tauVT", init=-50.4),
        ann.Variable("dg_Exc/dt = -g_Exc/tau_gExc", init=0.0),
        ann.Variable("dg_Inh/dt = -g_Inh/tau_gInh", init=0.0),
        # assignments after the ODEs, on the new values
        ann.Variable("state = if state > 0.0: state - 1.0 else: 0.0", init=0.0),
        ann.Variable("Spike = 0.0", init=0.0),
    ],
    spike="(vm > VT) and (state == 0.0)",
    reset=["vm = 29.0", "state = 2.0", "VT = VTMax", "Spike = 1.0", "xtrace += 1.0/taux"],
    name="AdEx-Clopath",
)


def clopath(a_ltd, a_ltp, wmax):
    """Clopath et al. (2010) voltage rule, evaluated every step (notes §1.5)."""
    return ann.Synapse(
        parameters=dict(thetaLTD=-70.6, thetaLTP=-45.3, aLTD=a_ltd, aLTP=a_ltp, wMax=wmax, urefsquare=9.0),
        equations=[
            "ltdTerm = if w > 0.0: "
            "aLTD*(post.vmean/urefsquare)*pre.Spike*pos(post.umeanLTD - thetaLTD) else: 0.0",
            "ltpTerm = if w < wMax: "
            "aLTP*pos(post.vm - thetaLTP)*pre.xtrace*pos(post.umeanLTP - thetaLTD) else: 0.0",
            "deltaW = -ltdTerm + ltpTerm",
            ann.Variable("dw/dt = deltaW", min=0.0, max=wmax),
        ],
        pre_spike="g_target += w",
        name=f"Clopath (A_LTD={a_ltd}, A_LTP={a_ltp}, wMax={wmax})",
    )


def istdp(tau, eta, alpha):
    """Symmetric iSTDP with an offset (Vogels-like), w clipped to [0, 1] every step (notes §1.5)."""
    return ann.Synapse(
        parameters=dict(tau=tau, eta=eta, alpha=alpha, hMin=0.0, hMax=1.0),
        equations=[
            ann.Variable("dtracePre/dt = -tracePre/tau", init=0.0),
            ann.Variable("dtracePost/dt = -tracePost/tau", init=0.0),
            "w = clip(w, hMin, hMax)",
        ],
        pre_spike=["g_target += w", "w += eta*(tracePost - alpha)", "tracePre += 1.0"],
        post_spike=["w += eta*tracePre", "tracePost += 1.0"],
        name=f"iSTDP (tau={tau}, alpha={alpha})",
    )


CLOPATH_A = clopath(3.5e-7, 4.5e-7, 5.0)
CLOPATH_B = clopath(3.5e-7, 3.5e-7, 1.0)
ISTDP_BACK = istdp(175.0, 7e-6, 12.0)
ISTDP_LAT = istdp(100.0, 7e-6, 10.0)


# --------------------------------------------------------------------------------------------
# input and initial weights
# --------------------------------------------------------------------------------------------
def synthetic_raster(rng):
    m = 4100
    x, y = rng.integers(0, 34, m), rng.integers(0, 34, m)
    t, p = np.sort(rng.integers(0, 306_000, m)), rng.integers(0, 2, m)
    r = np.zeros((T, N_IN))
    r0 = c0 = 10
    for xi, yi, ti, pi in zip(x, y, t // 1000, p):          # later event's polarity wins a voxel
        row, col = yi - r0, xi - c0
        if 0 <= row < 12 and 0 <= col < 12 and 1 <= ti < T:
            base = 2 * (12 * row + col)
            r[ti, base:base + 2] = 0.0
            r[ti, base + (0 if pi == 1 else 1)] = 1.0
    return r


def synthetic_weights(rng):
    u = rng.uniform
    return {"lgn_v1": u(0.015, 2.0, (N_EXC, N_IN)), "lgn_inh": u(0.0175, 1.5, (N_INH, N_IN)),
            "v1_inh": u(0.0175, 0.25, (N_INH, N_EXC)), "inh_v1": np.zeros((N_EXC, N_INH)),
            "inh_inh": np.zeros((N_INH, N_INH))}


rng = np.random.default_rng(a.seed)
if a.inputs:
    d = np.load(a.inputs)
    raster = np.asarray(d["raster"], np.float64)
    W0 = {k: np.asarray(d[k], np.float64) for k in ("lgn_v1", "lgn_inh", "v1_inh", "inh_v1", "inh_inh")}
    input_kind = "raster and initial weights from " + os.path.basename(a.inputs)
else:
    raster = synthetic_raster(rng)
    W0 = synthetic_weights(rng)
    input_kind = "synthetic raster (4100 uniform events, 12x12 patch at row/col 10) and weights"
assert raster.shape == (T, N_IN), raster.shape
spike_times = [[float(t) for t in np.flatnonzero(raster[:, i] > 0)] for i in range(N_IN)]


def dense_rows(w, drop_diag=False):
    if not drop_diag:
        return [list(map(float, row)) for row in w]
    n = w.shape[0]
    return [list(map(float, w[i, np.arange(n) != i])) for i in range(n)]


# --------------------------------------------------------------------------------------------
# network
# --------------------------------------------------------------------------------------------
def build(threads):
    net = ann.Network(dt=1.0, seed=a.seed)
    net.config(num_threads=threads)
    inp = net.create(ann.SpikeSourceArray(spike_times=[[] for _ in range(N_IN)], name="Input"))
    lgn = net.create(geometry=(12, 12, 2), neuron=LGN, name="LGN")
    v1 = net.create(geometry=N_EXC, neuron=ADEX, name="V1")
    inh = net.create(geometry=N_INH, neuron=ADEX, name="Inh")
    projs = {}
    p = net.connect(inp, lgn, target="exc", name="inp_lgn")
    p.one_to_one(weights=30.0)
    projs["lgn_v1"] = net.connect(lgn, v1, target="Exc", synapse=CLOPATH_A, name="lgn_v1")
    projs["lgn_inh"] = net.connect(lgn, inh, target="Exc", synapse=CLOPATH_A, name="lgn_inh")
    projs["v1_inh"] = net.connect(v1, inh, target="Exc", synapse=CLOPATH_B, name="v1_inh")
    projs["inh_v1"] = net.connect(inh, v1, target="Inh", synapse=ISTDP_BACK, name="inh_v1")
    projs["inh_inh"] = net.connect(inh, inh, target="Inh", synapse=ISTDP_LAT, name="inh_inh")
    for k in ("lgn_v1", "lgn_inh", "v1_inh", "inh_v1"):
        projs[k].all_to_all(weights=0.0, force_multiple_weights=True)
    projs["inh_inh"].all_to_all(weights=0.0, allow_self_connections=False, force_multiple_weights=True)
    mons = [net.monitor(v1, "spike", start=False), net.monitor(inh, "spike", start=False)]
    t0 = time.perf_counter()
    net.compile(directory=os.path.join(a.build_dir, f"t{threads}"), clean=not a.reuse_build, silent=True)
    compile_s = time.perf_counter() - t0
    for k, pr in projs.items():
        pr.w = dense_rows(W0[k], drop_diag=(k == "inh_inh"))
    return net, inp, projs, mons, compile_s


def normalise(projs):
    """ON half (ch 0, even ranks) of every LGN->V1 / LGN->Inh row rescaled to the OFF half's L2 norm."""
    for k in ("lgn_v1", "lgn_inh"):
        w = np.asarray(projs[k].w, np.float64)
        on, off = w[:, 0::2], w[:, 1::2]
        n_on = np.linalg.norm(on, axis=1, keepdims=True)
        n_off = np.linalg.norm(off, axis=1, keepdims=True)
        w[:, 0::2] = on * np.where(n_on > 0, n_off / np.where(n_on > 0, n_on, 1.0), 1.0)
        projs[k].w = w


def present(net, inp, projs, i, sim_time):
    inp.spike_times = spike_times
    inp.reset()   # the setter does not recompute the next spike of each neuron: reset() does (and sets its _t = 0)
    t0 = time.perf_counter()
    net.simulate(T)
    sim_time[0] += time.perf_counter() - t0
    if i % 400 == 0:
        normalise(projs)
    net.reset(populations=True, projections=False, monitors=False)


def dense_w(pr):
    """post x pre dense matrix (missing synapses, i.e. the Inh->Inh diagonal, as 0)."""
    return np.asarray(pr.connectivity_matrix(fill=0.0), np.float64)


results = []
dump_done = False
K, R = a.presentations, a.repeats
for threads in [int(s) for s in a.threads.split(",") if s.strip()]:
    net, inp, projs, (mv1, minh), compile_s = build(threads)
    sim = [0.0]
    # presentation 0: untimed warm-up (normalises); spike counts for the equivalence check
    mv1.start(), minh.start()
    present(net, inp, projs, 0, sim)
    first = {"v1": int(sum(len(s) for s in mv1.get("spike").values())),
             "inh": int(sum(len(s) for s in minh.get("spike").values()))}
    mv1.pause(), minh.pause()
    if a.dump and not dump_done:
        np.savez(a.dump, v1_spikes=first["v1"], inh_spikes=first["inh"],
                 **{k: dense_w(projs[k]) for k in projs})
        dump_done = True
    i = 1
    blocks, sims = [], []
    for _ in range(R):
        sim = [0.0]
        t0 = time.perf_counter()
        for _ in range(K):
            present(net, inp, projs, i, sim)
            i += 1
        blocks.append(time.perf_counter() - t0)
        sims.append(sim[0])
    # spike counts of one more monitored block (not timed)
    mv1.resume(), minh.resume()
    for _ in range(K):
        present(net, inp, projs, i, [0.0])
        i += 1
    n_v1 = sum(len(s) for s in mv1.get("spike").values())
    n_inh = sum(len(s) for s in minh.get("spike").values())
    w_lgn_v1 = dense_w(projs["lgn_v1"])
    w_inh_v1 = dense_w(projs["inh_v1"])
    t0 = time.perf_counter()
    normalise(projs)
    norm_s = time.perf_counter() - t0
    results.append({
        "threads": threads, "compile_s": compile_s,
        "per_presentation_s": statistics.median(blocks) / K,
        "simulate_only_s": statistics.median(sims) / K,
        "block_times_s": blocks, "normalise_s": norm_s,
        "first_presentation_spikes": first,
        "spikes_per_presentation": {"v1": n_v1 / K, "inh": n_inh / K},
        "rate_hz": {"v1": n_v1 / K / N_EXC / (T / 1000), "inh": n_inh / K / N_INH / (T / 1000)},
        "w_after": {"lgn_v1_mean": float(w_lgn_v1.mean()), "inh_v1_mean": float(w_inh_v1.mean()),
                    "finite": bool(np.isfinite(w_lgn_v1).all() and np.isfinite(w_inh_v1).all())},
        "presentations_done": i,
    })

try:
    cxx = subprocess.run(["g++", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
except Exception:  # noqa: BLE001
    cxx = "unknown"
cfg_path = os.path.expanduser("~/.config/ANNarchy/annarchy.json")
flags = json.load(open(cfg_path))["openmp"]["flags"] if os.path.exists(cfg_path) else "-march=native -O3 (default)"
print(json.dumps({
    "annarchy": ANN_VERSION, "python": platform.python_version(), "compiler": cxx, "flags": flags,
    "numpy": np.__version__, "precision": "float64 (ANNarchy default)", "platform": platform.platform(),
    "sizes": {"N_in": N_IN, "N_lgn": N_IN, "N_exc": N_EXC, "N_inh": N_INH, "T": T, "dt_ms": 1.0},
    "input": input_kind + "; SpikeSourceArray, same raster every presentation",
    "input_events": int(raster.sum()),
    "presentations": K, "repeats": R, "results": results,
}))
sys.stdout.flush()
