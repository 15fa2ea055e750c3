# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   snncore:
#     title: "Performance: each reproduction against its original, measured side by side"
#     part: "Performance"
#     output: performance/index
#     reads: ["benchmarks/records.jsonl"]
#     order: 50
#     profiles:
#       smoke: {dataset: "benchmark records (benchmarks/records.jsonl); tiny peak measurement", time: "15 s", params: {peak_n: 256, peak_mbytes: 8, roofline_neurons: 64, roofline_steps: 50}}
#       quick: {dataset: "benchmark records (benchmarks/records.jsonl); live machine peaks and one roofline timing", time: "40 s", params: {}}
#       paper: {dataset: "benchmark records (benchmarks/records.jsonl); live machine peaks and one roofline timing", time: "40 s", params: {}}
# ---

# %% [markdown]
# # Performance: each reproduction against its original
#
# Every number on this page comes from `benchmarks/records.jsonl`, appended by
# `python -m snncore bench [PART]` (the scripts in `benchmarks/`). Each record was taken by
# `snncore.bench.timeit`: the first call (compilation) is timed separately and excluded, every
# timed call ends with `block_until_ready`, and the record keeps the **median** of the repeats with
# the device, versions, shapes and the commit. The original code's times on the same kind of 2-core
# CPU come from `PEERS.md` (measured once on that machine class); where a baseline is given per
# image or per network, it is scaled to the same amount of work before the ratio is taken.
#
# Caveat, stated once: some of the earlier records were taken while other jobs shared the two cores
# (the DenRAM records carry the load average), so they are upper bounds of our time on an idle
# machine; the tables show the latest record of each benchmark and the spread over all of them.

# %% tags=["parameters"]
profile = "quick"          # smoke | quick | paper
peak_n = 2048              # matrix size for the measured matmul peak
peak_mbytes = 256          # array size (MiB) for the measured memory bandwidth
roofline_neurons = 768     # Network ADS size for the roofline of its time step
roofline_steps = 2000      # time steps timed for the roofline point
roofline_trials = 4        # trials vmapped together in that timing

# %% tags=["hide-input"]
import json
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from snncore import bench, runs

t_start = time.perf_counter()
records = bench.read_records()
print(f"{len(records)} benchmark records; this run on {runs.device_info()}, JAX {jax.__version__}")

# %% [markdown]
# ## What this machine can do
#
# The roofs of the roofline plot, measured now on the machine that executes this page: a float32
# matrix product (arithmetic throughput) and a large element-wise pass over an array (memory
# bandwidth, bytes read + written).

# %% tags=["hide-input"]
peaks = bench.machine_peaks(n=peak_n, mbytes=peak_mbytes, repeats=3, record=False)
# the same pass over a 2 MiB array, which stays in the caches: the roof for cache-resident loops
small = jnp.ones((2 * (1 << 20) // 4,), jnp.float32)
cache_rec = bench.timeit(jax.jit(lambda x: x * 1.0001), small, name="cache_stream", part="machine",
                         repeats=20, record=False)
cache_bw = 2 * small.nbytes / cache_rec["median_s"]
display(pd.DataFrame({"quantity": ["float32 matmul throughput", "memory bandwidth (read + write, large array)",
                                   "cache bandwidth (read + write, 2 MiB array)"],
                      "measured": [f"{peaks['flops_per_s'] / 1e9:.1f} GFLOP/s", f"{peaks['bytes_per_s'] / 1e9:.1f} GB/s",
                                   f"{cache_bw / 1e9:.1f} GB/s"],
                      "device": [peaks["device"]] * 3}).set_index("quantity"))


# %% [markdown]
# ## One table per part
#
# The latest record of each benchmark, with the spread of its medians over all the runs recorded
# (machines like ours are noisy: ±20 % between runs is common). Times are per unit of work (a
# sample, an image per network, a presentation, a trial), ours and the original's for the same
# work; the date and the full record of every run are on the [benchmark records](../benchmarks.md) page.

# %% tags=["hide-input"]
def per_unit(rec):
    """Seconds per unit of work, with the unit named (for the table)."""
    w = rec.get("work") or {}
    for unit in ("samples", "images", "clip_runs", "presentations", "trials"):
        if w.get(unit):
            # LC-SNN counts images per network; the other parts count every network's items already
            n = w[unit] * (w.get("networks", 1) if unit == "images" else 1)
            label = unit.rstrip("s") + (" x network" if unit == "images" and w.get("networks", 1) > 1 else "")
            return rec["median_s"] / n, label
    return rec["median_s"], "call"


def short_device(d):
    """'cpu: Intel(R) Xeon(R) Processor (2 cores)' -> 'Intel Xeon (2 cores)' (keeps the table narrow)."""
    d = d.replace("cpu: ", "").replace("(R)", "").replace(" Processor", "").replace("  ", " ")
    return d.strip()


def fmt_s(s):
    if s is None or not np.isfinite(s):
        return ""
    return f"{s * 1e3:.3g} ms" if s < 1 else f"{s:.3g} s"


rows = []
for r in records:
    if r.get("part") == "machine":
        continue
    rows.append({"part": r["part"], "benchmark": r["name"], "median_s": r["median_s"],
                 "baseline_s": bench.baseline_seconds(r), "baseline": (r.get("baseline") or {}).get("name", ""),
                 "device": r.get("device", ""), "date": (r.get("time_utc") or "")[:10], "rec": r})
df = pd.DataFrame(rows)
tables = {}
if df.empty:
    display(Markdown("_No benchmark records yet: run `python -m snncore bench`._"))
else:
    for part, g in df.groupby("part", sort=True):
        out = []
        for name, gg in g.groupby("benchmark", sort=False):
            last = gg.iloc[-1]
            unit_s, unit = per_unit(last["rec"])
            n_units = last["median_s"] / unit_s
            has_base = bool(pd.notna(last["baseline_s"]) and last["baseline_s"])
            ratio = last["baseline_s"] / last["median_s"] if has_base else np.nan
            out.append({"benchmark": name.replace("_", "_\u200b"),   # lets long identifiers wrap
                        "ours": f"{fmt_s(unit_s)} / {unit}",
                        "original, same work": (f"{fmt_s(last['baseline_s'] / n_units)} / {unit}"
                                                if has_base else "not measured"),
                        "speed-up": (f"{ratio:.1f}x" if ratio < 10 else f"{ratio:.0f}x") if np.isfinite(ratio) else "–",
                        "runs: spread of medians": f"{len(gg)}: {fmt_s(gg.median_s.min())} – {fmt_s(gg.median_s.max())}",
                        "device": short_device(last["device"])})
        tables[part] = pd.DataFrame(out).set_index("benchmark")
        display(Markdown(f"### {part}"))
        display(tables[part])

# %% [markdown]
# **The originals' own libraries, measured on this machine.** Network ADS was written on
# **Rockpool** and the V1 layer-4 model on **ANNarchy**. Both now install in environments of their
# own beside ours (neither is a dependency of snncore), and each benchmark times them in the same
# run as our code: `bench_ebn.py --rockpool PYTHON` times Rockpool 3.1's `LIFJax` layer on the
# work of our evaluation step (the same N × 2N recurrent matrix work, two synapse types, B trials of
# 5,000 steps: `benchmarks/rockpool_side.py`), and `bench_larisch.py --annarchy PYTHON` times the
# layer-4 model re-implemented in ANNarchy 5.0.4 from the paper's notes (`benchmarks/annarchy_side.py`;
# checked equal to ours after one plastic presentation, to 4e-16 in the weights and spike for
# spike). Neither is the authors' exact code: Rockpool's maintained LIF layer stands in for the
# authors' branch, and ANNarchy 5 for the 4.7 release they used. The speed-up column of those rows
# is the same-run ratio. Dense against dense, both sides are JAX or compiled C++ doing the same
# arithmetic, so the ratios are modest (Network ADS: about 1.1–1.3×). Network ADS's evaluation now runs
# event-driven (`ebn._simulate_event`: each step sums the weight rows of the neurons that spiked,
# up to 16 per trial per round, with extra rounds when more fire, so it is exact at any rate; tested
# spike for spike against the dense path). At a trained network's ~12 Hz it is 3.3–4.3× faster
# than our dense path and 3.6–4.6× faster than Rockpool in the same run, on a loaded machine. What
# is left is a fixed cost of about 30 small XLA operations per 1-ms step, plus the dense input projection. Reaching 30× would need a fused native
# kernel for the step. The next table says, from the latest records, whether the 30× target of
# these two parts is met.
# The GPU targets (DenRAM grid, LC-SNN table, EBN robustness study) need a session with a GPU; none
# was lent to the sessions that produced these records.
#
# ## Against the targets of the paper issues

# %% tags=["hide-input"]
targets = [  # (part, benchmark name prefix, target, limit, kind); kind "ratio": speed-up >= limit
    ("denram", "denram_epoch_D2", "one D2 epoch <= 10 s (original 316 s)", 10.0, None),
    ("denram", "denram_epoch_D1", "one D1 epoch <= 30 s (original ~1,120 s)", 30.0, None),
    ("lcsnn", "LC 100f k12: train", "LC 100 filters: training <= 4 ms per image per network (BindsNET 0.20 s)", 4e-3, "train"),
    ("lcsnn", "LC 100f k12: inference", "LC 100 filters: inference < 1 ms per image (BindsNET ~0.1 s)", 1e-3, "infer"),
    ("larisch", "larisch_train_presentation", "V1 layer 4, one network: >= 30x the original's library (ANNarchy) "
     "per plastic presentation, float64 as ANNarchy, same machine and run", 30.0, "ratio"),
    ("larisch", "larisch_train_chunk_vmap_nets", "V1 layer 4, networks trained together (vmap, float32): >= 30x "
     "ANNarchy per plastic presentation, same machine and run", 30.0, "ratio"),
    ("ebn", "ebn_forward_vmap_event", "Network ADS: >= 30x the original's library (Rockpool's JAX LIF layer) on the "
     "same evaluation work, same machine and run (ours: the event-driven evaluation path that ads_evaluate "
     "uses, on an input that makes the network fire at a trained network's ~12 Hz; Rockpool is dense, so its "
     "time does not depend on the rate)", 30.0, "ratio"),
]
trows = []
for part, prefix, what, limit, kind in targets:
    cand = [r for r in records if r.get("part") == part and r["name"].startswith(prefix)
            and "impl dense" not in r["name"]]   # reference-path runs (same-run "before") are not the product
    if kind == "ratio":   # only records that carry a same-run baseline (float64 where the original is)
        cand = [r for r in cand if bench.baseline_seconds(r)
                and (prefix != "larisch_train_presentation" or r.get("dtype") == "float64")]
    if not cand:
        trows.append({"target": what, "best recorded": "no record", "met (latest run)": "–"})
        continue
    if kind == "ratio":
        vals = [bench.baseline_seconds(r) / r["median_s"] for r in cand]
        trows.append({"target": what, "best recorded": f"{max(vals):.1f}x", "latest": f"{vals[-1]:.1f}x",
                      "met (latest run)": "yes" if vals[-1] >= limit else f"no ({vals[-1]:.1f}x of {limit:.0f}x)"})
        continue
    vals = [per_unit(r)[0] if kind else r["median_s"] for r in cand]
    best = min(vals)
    trows.append({"target": what, "best recorded": fmt_s(best), "latest": fmt_s(vals[-1]),
                  "met (latest run)": "yes" if vals[-1] <= limit else f"no ({vals[-1] / limit:.1f}x over)"})
target_table = pd.DataFrame(trows).set_index("target")
target_table

# %% [markdown]
# ## How time grows with the work

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
ax = axes[0]
den = [r for r in records if r.get("part") == "denram"]
if den:
    ev = np.array([r["shapes"].get("events_per_sample", np.nan) for r in den])
    t = np.array([r["median_s"] for r in den])
    cfg = [r["name"].split("_")[-1] for r in den]
    for c, col in (("D2", "C0"), ("D1", "C1")):
        m = np.array([x == c for x in cfg])
        ax.plot(ev[m], t[m], "o", color=col, label=f"{c} ({'256' if c == 'D2' else '700'} inputs), each run")
    ax.set(xlabel="input events per sample", ylabel="epoch time (s)", title="DenRAM: epoch vs input events")
    ax.set_ylim(0, None)
    ax.legend(frameon=False)
ax = axes[1]
lc = [r for r in records if r.get("part") == "lcsnn" and "train" in r["name"]]
if lc:
    for filt, col in ((100, "C0"), (25, "C1")):
        pts = sorted((r["work"]["networks"], per_unit(r)[0] * 1e3) for r in lc if r["name"].startswith(f"LC {filt}f"))
        if pts:
            x, y = zip(*pts)
            ax.plot(x, y, "o", color=col, label=f"{filt} filters, each run")
    ax.axhline(4, color="k", ls="--", lw=1, label="target 4 ms")
    ax.set(xlabel="networks trained together (vmap / map)", ylabel="ms per image per network",
           title="LC-SNN: training cost vs networks", xticks=[1, 2, 3, 4, 5])
    ax.set_yscale("log")
    ax.legend(frameon=False)
ax = axes[2]
eb = [r for r in records if r.get("part") == "ebn" and r.get("work", {}).get("clip_runs")]
if eb:
    x = [r["shapes"]["N"] for r in eb]
    y = [per_unit(r)[0] * 1e3 for r in eb]
    ax.plot(x, y, "o", color="C2", label="one 5-s clip under a mismatch draw")
    ax.set(xlabel="neurons N", ylabel="ms per clip run", title="Network ADS: cost per clip vs size")
    ax.legend(frameon=False)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Roofline of the hottest loop: one Network ADS time step
#
# A Network ADS trial is 5,000 steps of one `lax.scan`; each step multiplies the spike vector by
# the fast and slow recurrent matrices ($N \times N$) and by the read-out. We time the scanned step
# loop for a few trials vmapped together, and count its operations and bytes with XLA's own cost
# analysis of **one** step. A point far below both roofs means the loop is bound by neither
# arithmetic nor memory traffic but by per-step overhead (the sequential time axis).

# %% tags=["hide-input"]
from snncore.models import ebn

p = ebn.ads_init(jax.random.PRNGKey(0), roofline_neurons, 128, use_ebn=True)
state = ebn.ads_state_init(p)
states = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (roofline_trials,) + jnp.shape(x)), state)
i_ext = jax.random.normal(jax.random.PRNGKey(1), (roofline_steps, roofline_trials, roofline_neurons)) * 0.01


def one_step(s, x):
    return ebn.ads_step(p, p.w_slow, s, x)


step_v = jax.vmap(one_step)
c = bench.cost(jax.jit(step_v), states, i_ext[0])


@jax.jit
def loop(states, xs):
    return jax.lax.scan(lambda s, x: step_v(s, x), states, xs)


rec = bench.timeit(loop, states, i_ext, name="ads_step_loop", part="ebn", repeats=3, record=False,
                   work={"steps": roofline_steps, "trials": roofline_trials})
t_step = rec["median_s"] / roofline_steps
ai = c["flops"] / max(c["bytes"], 1.0)
achieved = c["flops"] / t_step
fig, ax = plt.subplots(figsize=(6.5, 4.5))
xs = np.logspace(-2, 3, 200)
ax.loglog(xs, np.minimum(peaks["flops_per_s"], xs * peaks["bytes_per_s"]) / 1e9, "k-", lw=2,
          label="roof: matmul peak / DRAM bandwidth")
ax.loglog(xs, np.minimum(peaks["flops_per_s"], xs * cache_bw) / 1e9, "k--", lw=1,
          label="roof: matmul peak / cache bandwidth")
ax.loglog([ai], [achieved / 1e9], "o", color="C3", ms=9,
          label=f"ADS step, N={roofline_neurons}, {roofline_trials} trials")
ax.set(xlabel="arithmetic intensity (FLOP / byte)", ylabel="GFLOP/s",
       title=f"Roofline on {runs.device_info()}")
ax.legend(frameon=False, loc="lower right")
plt.show()
matrix_bytes = 2 * roofline_neurons ** 2 * 4
cached = matrix_bytes < 8 * (1 << 20)
roof = peaks["flops_per_s"] if cached else min(peaks["flops_per_s"], ai * peaks["bytes_per_s"])
roof_table = pd.DataFrame({"FLOP per step": [f"{c['flops']:.3g}"], "bytes per step": [f"{c['bytes']:.3g}"],
                           "recurrent matrices": [f"{matrix_bytes / 2**20:.1f} MiB ({'cache-resident' if cached else 'from DRAM'})"],
                           "time per step": [fmt_s(t_step)], "achieved": [f"{achieved / 1e9:.2f} GFLOP/s"],
                           "roof that applies": [f"{roof / 1e9:.1f} GFLOP/s ({'matmul peak' if cached else 'DRAM'})"],
                           "fraction of roof": [f"{achieved / roof:.1%}"]})
roof_table

# %% [markdown]
# The fraction of the roof says how far the step loop is from what the machine allows. The two
# recurrent matrices of a 768-neuron network (4.5 MiB) stay in the processor's caches across steps
# and are shared by the vmapped trials, so neither the DRAM roof nor our simple cache-streaming
# measurement bounds the loop (XLA's byte count charges every operand once per operation, while
# the matrix product reuses it from registers): the applicable roof is the arithmetic peak, and the
# table gives the fraction of it that the step loop reaches. On a GPU the same loop
# is limited by the sequential time axis, which is why the paper parts batch seeds, networks and
# mismatch draws with `vmap` into one launch.

# %%
runs.report(dataset="benchmark records (benchmarks/records.jsonl) + live peaks on this machine",
            n_records=len(records), peak_gflops=peaks["flops_per_s"] / 1e9, peak_gbs=peaks["bytes_per_s"] / 1e9,
            ads_step_fraction_of_roof=float(achieved / roof))
print(f"wall time {time.perf_counter() - t_start:.1f} s")
