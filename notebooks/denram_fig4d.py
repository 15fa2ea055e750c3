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
#     title: "DenRAM Fig. 4d: accuracy under weight noise, D1 and D2"
#     part: "DenRAM"
#     output: denram/fig4d
#     order: 2
#     profiles:
#       smoke: {dataset: "synthetic SHD-shaped spikes (no data files)", time: "35 s", params: {synthetic: true, epochs: 1, n_train: 128, n_val: 64, noise_levels: [0.0, 0.2], ablation: false}}
#       quick: {dataset: "real SHD if in the data root, else the FSDD stand-in; reduced grid", time: "3-5 min on 2 CPU cores", params: {}}
#       paper: {dataset: "real SHD if in the data root, else the FSDD stand-in; full grid", time: "about 4-7 h on one CPU core with -p vmap_runs false (32 runs of up to 100 epochs; D2 3-6 s and D1 ~2.3x that per epoch; resumable run by run); minutes on a GPU", params: {seeds: [42, 50, 9], noise_levels: [0.0, 0.05, 0.1, 0.15, 0.2], epochs: 100, n_train: 0, n_val: 0, vmap_runs: true}}
# ---

# %% [markdown]
# # DenRAM Fig. 4d: test accuracy under weight noise, D1 and D2
#
# D'Agostino et al. (2024), Fig. 4d: a single feed-forward layer of 20 leaky, ReLU-clamped
# integrators reading SHD through 16 dendritic branches per input channel, each with a random delay
# from the RRAM model (model and tests: `snncore.models.denram`), trained with weight noise of
# 0–20 % of max|W| injected on every forward pass and tested with the same noise. D1 reads all 700
# channels (τ = 20 ms), D2 every third channel padded to 256 (τ = 15 ms). Three seeds (42, 50, 9),
# up to 100 epochs with the original's early stopping (validation accuracy, ≥ 1 % relative gain,
# patience 25) and its epoch-indexed Adam.
#
# **What this comparison can and cannot show.** Unless the real SHD files are in the data root,
# we train and test on the FSDD stand-in (see the previous page): 10 spoken digits of 6 speakers
# instead of 20 classes of 12 speakers, 2,700 training recordings instead of 8,156, and a much
# simpler cochlea model. Absolute accuracies are therefore **not comparable** with the paper's.
# What can be compared is the *shape* of the result: whether D1 beats D2, and how fast accuracy
# falls as the noise grows. We keep the 20-output model of the paper unchanged (outputs 10–19 are
# never the target on FSDD and are simply trained down), so that the network, its parameter count
# and the noise scale (max|W|) are those of the paper.
#
# The `quick` profile (the one rendered in the book unless stated otherwise below) runs a
# **reduced grid** to fit a few minutes on 2 CPU cores: one seed (42) instead of three, noise 0, 10
# and 20 % instead of five levels, 1,024 of the 2,160 training samples and 256 of the 540
# validation samples, and 4 epochs instead of up to 100 (see the parameters cell); its numbers are
# those of a partly trained network, with no error bars. The `paper` profile runs the published
# grid (32 runs with the ablation); its archived result is plotted beside the live run, and while
# the grid is incomplete the finished runs are plotted, labelled "archived paper profile, k of 32
# runs" with the device they ran on.

# %% tags=["parameters"]
profile = "quick"                  # smoke | quick | paper (set by the runner)
seeds = [42]                       # network seeds (paper: 42, 50, 9)
configs = ["D1", "D2"]             # D1: 700 inputs, tau 20 ms; D2: 256 inputs, tau 15 ms
noise_levels = [0.0, 0.1, 0.2]     # weight-noise std as a fraction of max|W| (paper: 0 .. 0.2 by 0.05)
epochs = 4                         # maximum epochs (paper: 100)
patience = 25                      # early-stopping patience (epochs)
n_train = 1024                     # training samples used; 0 means all of the 80 % split
n_val = 256                        # validation samples used; 0 means all of the 20 % split
batch_size = 64                    # as the original
ablation = True                    # also train D2 at 0 noise with uniform and with zero delays
vmap_runs = False                  # train the noise levels of one config and seed together (vmap; for GPUs)
synthetic = False                  # smoke: generated SHD-shaped spikes instead of the data root

# %%
import time

import jax
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display
from tqdm.auto import tqdm

from snncore import core, runs
from snncore.checkpoint import atomic_write_text  # noqa: F401  (checkpoints use it)
from snncore.data import cache_dir, cochlea
from snncore.models import denram as dm

t_start = time.perf_counter()
CFGS = {"D1": dm.D1, "D2": dm.D2}
bad = [c for c in configs if c not in CFGS]
if bad or not configs:
    raise ValueError(f"configs must be a non-empty subset of {list(CFGS)}, got {configs}")
if not noise_levels or any(not (0 <= s < 1) for s in noise_levels):
    raise ValueError(f"noise levels must be fractions in [0, 1), got {noise_levels}")
if epochs < 1 or patience < 1 or batch_size < 1 or n_train < 0 or n_val < 0 or not seeds:
    raise ValueError("epochs, patience, batch_size must be >= 1; n_train, n_val >= 0; seeds non-empty")
print(f"JAX {jax.__version__} on {runs.device_info()}")

# %% [markdown]
# ## Data: binned the DenRAM way, split 80/20

# %%
if synthetic:
    train_shd, test_shd = cochlea.synthetic_shd(400, 0), cochlea.synthetic_shd(64, 1)
    dataset = "synthetic SHD-shaped spikes (smoke)"
else:
    train_shd, test_shd, dataset = cochlea.shd_or_standin(
        progress=lambda it: tqdm(it, mininterval=5, desc="encoding FSDD"))
print(dataset, "|", train_shd, "|", test_shd)

data = {}
for name in configs:
    cfg = CFGS[name]
    full = dm.events_from_shd(train_shd, cfg.n_in)
    test = dm.events_from_shd(test_shd, cfg.n_in)
    # one 80/20 split per data seed (the original: torch's random_split seeded with the net seed)
    split = {}
    for s in seeds:
        tr, va = dm.split_train_val(len(full), core.split_seeds(s).data)
        tr = tr[:n_train] if n_train else tr
        va = va[:n_val] if n_val else va
        split[s] = (full.subset(tr), full.subset(va))
    data[name] = (split, test)
    tr0, va0 = split[seeds[0]]
    print(f"{name}: {len(tr0)} train / {len(va0)} val / {len(test)} test samples, "
          f"{np.diff(full.offsets).mean():.0f} input events per sample on average")

# %% [markdown]
# ## Training the grid
#
# Each run follows the original loop: shuffled batches of 64 (incomplete batches dropped for
# training and validation), one noise draw per batch, a validation pass per epoch, and a test pass
# (all test samples, noise key reset to a fixed value) whenever validation accuracy improves by
# ≥ 1 % relative. The reported accuracy is the test accuracy at the best validation epoch.
# Long (`paper`) runs checkpoint every epoch and resume after an interruption, unless `vmap_runs`
# is set (the `paper` profile's default, meant for a GPU): then the noise levels of one
# configuration and seed train together in one vmapped launch (`train_grid`; the same seed means the
# same data order, so this is identical to separate runs, as a unit test checks), without checkpoints.
# On a CPU the paper profile is run with `-p vmap_runs false`, one run at a time, D2 (the cheaper
# configuration) first, then the D2 ablation, then D1. Each finished run is archived at once in its
# own file, so the grid can be completed over several sessions, and a partial grid is already
# plotted (and labelled with its number of runs) below.

# %% tags=["hide-input"]
# The paper profile on real or stand-in data is resumable run by run across sessions: every finished
# run is written at once to its own small JSON file under results/denram/fig4d_paper_runs/ (its
# name spells the run's key: config, delays, noise, seed, data sizes, epochs, patience, dataset),
# and a run whose file exists with the same key is loaded instead of trained again. Other
# profiles never read or write these files (they only plot them, below).
resumable = profile == "paper" and not synthetic
RUN_DIR = runs.results_dir() / "denram" / "fig4d_paper_runs"
RUN_SHOWN = (RUN_DIR.relative_to(runs.repo_root()) if RUN_DIR.is_relative_to(runs.repo_root())
             else RUN_DIR)   # $SNNCORE_RESULTS may point elsewhere
progress_log = None
if resumable:
    progress_log = cache_dir("denram_ckpt") / "fig4d_paper_progress.log"
    print(f"run files: {RUN_DIR}; per-epoch progress: {progress_log}")


def log_progress(msg):
    if progress_log is not None:
        with open(progress_log, "a") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}\n")


def key_of(name, noise, seed, delay_mode="lognormal"):
    (tr, va), te = data[name][0][seed], data[name][1]
    return dm.run_key(name, delay_mode, noise, seed, len(tr), len(va), len(te), epochs, patience, dataset)


def full_wall(row):
    """A run resumed from its checkpoint in a later session recorded only that session's time in
    `wall_s` (run files written before this was fixed); its per-epoch times hold the whole run."""
    return {**row, "wall_s": max(float(row["wall_s"]), float(np.sum(row.get("history", {}).get("epoch_s", []))))}


def reuse(name, noise, seed, delay_mode="lognormal"):
    """The archived row of this run (paper profile only), or None."""
    if not resumable:
        return None
    got = dm.load_run(RUN_DIR, key_of(name, noise, seed, delay_mode))
    if got is None:
        return None
    return {**full_wall(got["row"]), "device": got["provenance"]["device"], "commit": got["provenance"]["commit"],
            "reused": True}


def archive(row):
    if resumable:
        row = {**row, "device": runs.device_info(), "commit": runs.git_commit()}
        dm.save_run(RUN_DIR, key_of(row["config"], row["noise"], row["seed"], row["delay_mode"]), row)
        key = key_of(row["config"], row["noise"], row["seed"], row["delay_mode"])
        log_progress(f"saved {row['config']} {row['delay_mode']} noise {row['noise']:.2f} seed {row['seed']}: "
                     f"test {row['test_acc']:.4f}, {row['epochs_run']} epochs, {row['wall_s']:.0f} s")
        row = {**row, **key}
    return row


def run_one(name, noise, seed, delay_mode="lognormal"):
    cfg = CFGS[name]._replace(delay_mode=delay_mode)
    (tr, va), te = data[name][0][seed], data[name][1]
    ck = log = None
    if resumable:
        ck = str(cache_dir("denram_ckpt") / f"{name}_{delay_mode}_n{noise:.2f}_s{seed}_{len(tr)}_{len(te)}_{epochs}.npz")
        log = lambda m: log_progress(f"{name} {delay_mode} noise {noise:.2f} seed {seed}: {m}")
    t0 = time.perf_counter()
    r = dm.train(cfg, tr, va, te, seed=seed, noise_std=float(noise), epochs=epochs, patience=patience,
                 batch_size=batch_size, checkpoint=ck, test_drop_last=False, log=log)
    return archive({"config": name, "noise": float(noise), "seed": int(seed), "delay_mode": delay_mode,
                    "test_acc": r["test_acc"], "best_val_acc": r["best_val_acc"], "best_epoch": r["best_epoch"],
                    "epochs_run": r["epochs_run"], "stopped_early": r["stopped_early"],
                    # a run resumed from its checkpoint: count the epochs of the earlier session too
                    "wall_s": max(time.perf_counter() - t0, float(np.sum(r["history"].get("epoch_s", [])))),
                    "history": r["history"]})


def run_noise_levels(name, seed, levels):
    """The given noise levels of one configuration and seed in one vmapped launch (snncore's train_grid).
    Same seed, so the same data order: identical to separate runs (tested), without checkpoints."""
    (tr, va), te = data[name][0][seed], data[name][1]
    t0 = time.perf_counter()
    out = dm.train_grid(CFGS[name], tr, va, te, seeds=[seed] * len(levels), noise_stds=levels,
                        epochs=epochs, patience=patience, batch_size=batch_size, test_drop_last=False)
    wall = (time.perf_counter() - t0) / len(out)
    return [archive({"config": name, "noise": float(r["noise_std"]), "seed": int(seed), "delay_mode": "lognormal",
                     "test_acc": r["test_acc"], "best_val_acc": r["best_val_acc"], "best_epoch": r["best_epoch"],
                     "epochs_run": r["epochs_run"], "stopped_early": r["stopped_early"], "wall_s": wall,
                     "history": {**r["history"], "epoch_s": [wall / max(r["epochs_run"], 1)] * r["epochs_run"]}})
            for r in out]


def report_run(r):
    print(f"{r['config']} {r['delay_mode']:9s} noise {r['noise']:.2f} seed {r['seed']}: test {r['test_acc']:.4f} "
          f"(best epoch {r['best_epoch']}, {r['epochs_run']} epochs, {r['wall_s']:.0f} s"
          + (", reused from its run file)" if r.get("reused") else ")"))


# D2 (cheaper) first, then its ablation, then D1: a partial paper run has whole configurations
order = sorted(configs, key=lambda c: ["D2", "D1"].index(c))
jobs = [(c, s_, sd) for c in order for sd in seeds for s_ in noise_levels]
if ablation and "D2" in configs:
    k = order.index("D2") + 1
    jobs[k * len(seeds) * len(noise_levels):k * len(seeds) * len(noise_levels)] = \
        [("D2", 0.0, seeds[0], m) for m in ("uniform", "zero")]
done = {job: reuse(*job) for job in jobs}
rows, n_reused = [], sum(r is not None for r in done.values())
if resumable:
    print(f"reused {n_reused} of {len(jobs)} runs from {RUN_SHOWN}; "
          f"{len(jobs) - n_reused} to train")
    log_progress(f"start: {n_reused} of {len(jobs)} runs reused")
    for j in jobs:
        if done[j] is not None:
            report_run(done[j])
pending = [j for j in jobs if done[j] is None]
if vmap_runs:  # the noise levels of one config and seed together; ablation runs one by one
    groups = {}
    for j in pending:
        if len(j) == 3:
            groups.setdefault(j[0::2], []).append(j[1])
    for (c, sd), levels in tqdm(groups.items(), mininterval=5, desc="config x seed"):
        for r in run_noise_levels(c, sd, levels):
            done[(c, r["noise"], sd)] = r
            report_run(r)
    pending = [j for j in pending if len(j) == 4]
for job in tqdm(pending, mininterval=5, desc="runs"):
    done[job] = run_one(*job)
    report_run(done[job])
rows = [done[j] for j in jobs]
res = pd.DataFrame([{k: v for k, v in r.items() if k != "history"} for r in rows])
main = res[res.delay_mode == "lognormal"]

# %% [markdown]
# ## Fig. 4d: our accuracy beside the published one

# %% tags=["hide-input"]
# Published per-seed test accuracies (DenRAM repository, reproduction/expected_results_fig4d.csv;
# real SHD, 2,240 test samples), seeds 42, 50, 9
PAPER = {
    ("D2", 0.00): [0.8629, 0.8616, 0.8754], ("D2", 0.05): [0.8616, 0.8625, 0.8562],
    ("D2", 0.10): [0.8246, 0.8232, 0.8138], ("D2", 0.15): [0.7768, 0.7719, 0.7714],
    ("D2", 0.20): [0.7098, 0.7272, 0.7192],
    ("D1", 0.00): [0.9027, 0.8960, 0.9045], ("D1", 0.05): [0.8848, 0.9000, 0.9071],
    ("D1", 0.10): [0.8665, 0.8732, 0.8763], ("D1", 0.15): [0.8286, 0.8223, 0.8420],
    ("D1", 0.20): [0.7888, 0.7714, 0.7924],
}
# The archived paper profile: its final result when the grid is complete, otherwise whatever run files
# exist (a partial grid, labelled as such). Not shown in the paper profile itself (it *is* the live run).
N_PAPER_RUNS = 3 * len(PAPER) + 2   # D1/D2 x 5 noise levels x 3 seeds + 2 ablation runs


def short_device(d):
    return "CPU" if d.startswith("cpu") else d.split(":", 1)[-1].strip()


arch, arch_label = pd.DataFrame(), None
if not synthetic and profile != "paper":
    final = runs.load_result("denram", "fig4d_paper")
    if final is not None:
        arch = pd.DataFrame([{"device": final["provenance"]["device"], **r} for r in final["data"]["runs"]])
        arch["dataset"], arch_src = final["dataset"], "results/denram/fig4d_paper.json"
    else:
        arch = pd.DataFrame([{**full_wall(f["row"]), "device": f["provenance"]["device"]}
                             for f in dm.load_run_files(RUN_DIR)])
        arch_src = f"{len(arch)} run files in {RUN_SHOWN}"
        if len(arch):  # files of several settings (epochs, sizes, data): plot the largest set
            setting = ["dataset", "epochs", "patience", "n_train", "n_val"]
            top = arch.groupby(setting).size().idxmax()
            arch = arch[(arch[setting] == pd.Series(top, index=setting)).all(axis=1)]
if len(arch):
    n_arch = len(arch)
    devs = ", ".join(sorted({short_device(d) for d in arch.device}))
    arch_dataset = arch.dataset.iloc[0]
    arch_label = (f"archived paper profile, {n_arch} of {N_PAPER_RUNS} runs, {devs}"
                  + ("" if arch_dataset == dataset else f", on {arch_dataset}"))
    print(f"archived paper profile ({arch_src}): {n_arch} of {N_PAPER_RUNS} runs"
          f"{' (partial grid)' if n_arch < N_PAPER_RUNS else ''}; device: {'; '.join(sorted(set(arch.device)))}; "
          f"dataset: {arch_dataset}; up to {int(arch.epochs.iloc[0])} epochs, {int(arch.n_train.iloc[0])} training samples")
    arch_main = arch[arch.delay_mode == "lognormal"]
elif not synthetic:
    print("no archived paper-profile runs" + (" shown in the paper profile itself" if profile == "paper" else " yet"))
colors = {"D1": "green", "D2": "olive"}
labels = {"D1": "D1: 700 in, 16 delays", "D2": "D2: 256 in, 16 delays"}

fig, ax = plt.subplots(figsize=(7.5, 4.6))
for name in configs:
    p = np.array([[s * 100, np.mean(v) * 100, np.std(v, ddof=1) * 100]
                  for (c, s), v in sorted(PAPER.items()) if c == name])
    ax.errorbar(p[:, 0], p[:, 1], p[:, 2], color=colors[name], ls="--", marker="s", alpha=0.5,
                capsize=3, label=f"{labels[name]} — paper (real SHD)")
    g = main[main.config == name].groupby("noise").test_acc
    m, sd = g.mean() * 100, g.std(ddof=1).fillna(0) * 100
    ax.errorbar(m.index * 100, m.values, sd.values, color=colors[name], marker="o", capsize=3,
                label=f"{labels[name]} — ours, {profile} ({len(seeds)} seed{'s' * (len(seeds) > 1)})")
    if len(arch) and (arch_main.config == name).any():
        a = arch_main[arch_main.config == name].groupby("noise").test_acc
        ax.errorbar(a.mean().index * 100, a.mean().values * 100, a.std(ddof=1).fillna(0).values * 100,
                    color=colors[name], marker="^", ls=":", capsize=3,
                    label=f"{labels[name]} — ours, {arch_label}")
ax.set(xlabel="weight noise (% of max|W|)", ylabel="test accuracy (%)", ylim=(20, 102),
       title=f"Fig. 4d — ours on: {dataset}", xticks=[0, 5, 10, 15, 20])
ax.title.set_fontsize(8)
ax.legend(fontsize=7, loc="lower left")
ax.grid(alpha=0.3)
plt.show()

# %%
def pct(vals):
    """'mean (a / b / c)' in % for a few seeds, or one value; '' when there is none."""
    vals = [v for v in vals if np.isfinite(v)]
    if not vals:
        return ""
    if len(vals) == 1:
        return f"{100 * vals[0]:.1f}"
    return f"{100 * np.mean(vals):.1f} ({' / '.join(f'{100 * v:.1f}' for v in vals)})"


table = []
for name in configs:
    for s in sorted({*noise_levels, 0.0, 0.05, 0.1, 0.15, 0.2}):
        pv = PAPER.get((name, round(s, 2)))
        ours = main[(main.config == name) & (np.isclose(main.noise, s))].set_index("seed").test_acc
        row = {"config": name, "noise %": round(100 * s),
               "paper: mean (seeds 42 / 50 / 9)": pct(pv or []),
               f"ours, this run ({profile}; seeds {', '.join(map(str, seeds))})": pct([ours.get(sd, np.nan) for sd in seeds])}
        if len(arch):
            av = arch_main[(arch_main.config == name) & np.isclose(arch_main.noise, s)].set_index("seed").test_acc
            row["ours, archived paper profile: mean (seeds 42 / 50 / 9)"] = pct([av.get(sd, np.nan) for sd in (42, 50, 9)])
        table.append(row)
table = pd.DataFrame(table).set_index(["config", "noise %"])
print(f"test accuracy (%). paper: real SHD (2,240 test samples); ours: {dataset}"
      + (f"; archived: {arch_label}" if len(arch) else ""))
table

# %% [markdown]
# ## Training curves

# %%
fig, axes = plt.subplots(1, len(configs), figsize=(6 * len(configs), 3.6), squeeze=False)
for ax, name in zip(axes[0], configs):
    for r in rows:
        if r["config"] != name or r["delay_mode"] != "lognormal":
            continue
        h = r["history"]
        l, = ax.plot(h["epoch"], np.array(h["val_acc"]) * 100, marker=".",
                     label=f"noise {100 * r['noise']:.0f} %, seed {r['seed']} (val)")
        ax.plot(h["epoch"], np.array(h["train_acc"]) * 100, ls=":", color=l.get_color())
    ax.set(xlabel="epoch", ylabel="accuracy (%)", title=f"{labels[name]}: validation (solid), training (dotted)")
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## What the random delays contribute (not in the paper)
#
# The same D2 network at 0 % noise with its lognormal RRAM delays replaced by uniform integer delays
# in [0, 200] steps (an option in the original code), or removed (all delays 0, so the 16 branches
# of a channel collapse to one weight and the network becomes a leaky integrator of the present
# input only).

# %%
if ablation and "D2" in configs:
    ab = res[(res.config == "D2") & np.isclose(res.noise, 0.0) & (res.seed == seeds[0])]
    ab = ab.set_index("delay_mode")[["test_acc", "best_val_acc", "best_epoch", "epochs_run"]]
    display(ab.round(4))
else:
    print("ablation not run in this profile")
if len(arch) and (arch.delay_mode != "lognormal").any():
    ab = arch[(arch.config == "D2") & np.isclose(arch.noise, 0.0) & (arch.seed == 42)]
    print(f"archived ({arch_label}), D2 at 0 % noise, seed 42:")
    display(ab.set_index("delay_mode")[["test_acc", "best_val_acc", "best_epoch", "epochs_run"]].round(4))

# %% [markdown]
# ## Summary

# %% tags=["hide-input"]
def mean_acc(c, s):
    v = main[(main.config == c) & np.isclose(main.noise, s)].test_acc
    return float(v.mean()) if len(v) else float("nan")


lo, hi = min(noise_levels), max(noise_levels)
stand_in = not dataset.startswith("SHD (real")
why = ("synthetic data, " if synthetic else "stand-in data (FSDD, 10 classes), " if stand_in else "") + f"{profile} profile"
board = []
for c in configs:
    for s in (lo, hi):
        if (c, round(s, 2)) not in PAPER:
            continue
        ours, paper = 100 * mean_acc(c, s), 100 * np.mean(PAPER[(c, round(s, 2))])
        diff = ours - paper
        if synthetic:
            verdict = "not run on real or stand-in data (smoke)"
        elif stand_in:
            verdict = f"not comparable ({why}): ours {diff:+.1f} pts vs paper"
        else:
            verdict = (f"matches (within 2 pts)" if abs(diff) <= 2 else
                       f"{'below' if diff < 0 else 'above'} paper by {abs(diff):.1f} pts ({why})")
        board.append({"item": f"Fig. 4d, {c}, {100 * s:.0f} % noise", "paper": f"{paper:.1f} %",
                      "ours": f"{ours:.1f} %", "dataset": dataset, "verdict": verdict})
if {"D1", "D2"} <= set(configs):
    d1_above = [mean_acc("D1", s) > mean_acc("D2", s) for s in noise_levels]
    drop = {c: 100 * (mean_acc(c, lo) - mean_acc(c, hi)) for c in ("D1", "D2")}
    pdrop = {c: 100 * (np.mean(PAPER[(c, round(lo, 2))]) - np.mean(PAPER[(c, round(hi, 2))]))
             for c in ("D1", "D2") if (c, round(lo, 2)) in PAPER and (c, round(hi, 2)) in PAPER}
    board.append({"item": "Fig. 4d, D1 above D2 at every noise level", "paper": "yes",
                  "ours": f"{sum(d1_above)} of {len(d1_above)} levels", "dataset": dataset,
                  "verdict": ("same ordering" if all(d1_above) else "ordering differs") + f" ({why})"})
    if pdrop:
        board.append({"item": f"Fig. 4d, accuracy drop {100 * lo:.0f} → {100 * hi:.0f} % noise",
                      "paper": f"D1 {pdrop['D1']:.1f} pts, D2 {pdrop['D2']:.1f} pts",
                      "ours": f"D1 {drop['D1']:.1f} pts, D2 {drop['D2']:.1f} pts", "dataset": dataset,
                      "verdict": (("both degrade with noise, as in the paper" if min(drop.values()) > 2
                                   else "D2 degrades, D1 barely (under 2 pts)" if drop["D2"] > 2 >= drop["D1"]
                                   else "D1 degrades, D2 barely (under 2 pts)" if drop["D1"] > 2 >= drop["D2"]
                                   else "no clear degradation (under 2 pts)") + f" ({why})")})
# archived paper-profile runs (finished or in progress) join the scoreboard, labelled as such
if len(arch) and not synthetic:
    for c in ("D2", "D1"):
        for s in (0.0, 0.2):
            av = arch_main[(arch_main.config == c) & np.isclose(arch_main.noise, s)].test_acc
            if not len(av) or (c, s) not in PAPER:
                continue
            paper = 100 * np.mean(PAPER[(c, s)])
            ours = 100 * av.mean()
            spread = f" ± {100 * av.std(ddof=1):.1f}" if len(av) > 1 else ""
            src = "stand-in data (FSDD, 10 classes)" if not str(arch.dataset.iloc[0]).startswith("SHD (real") else "real SHD"
            board.append({"item": f"Fig. 4d, {c}, {100 * s:.0f} % noise — {arch_label} ({len(av)} of 3 seeds, "
                                  f"up to {int(arch_main.epochs_run.max())} epochs)",
                          "paper": f"{paper:.1f} %", "ours": f"{ours:.1f}{spread} %", "dataset": str(arch.dataset.iloc[0]),
                          "verdict": (f"not comparable ({src}): ours {ours - paper:+.1f} pts vs paper"
                                      if src != "real SHD" else
                                      "matches (within 2 pts)" if abs(ours - paper) <= 2 else
                                      f"{'below' if ours < paper else 'above'} paper by {abs(ours - paper):.1f} pts")})
bdf = pd.DataFrame(board).set_index("item")
if "dataset" in bdf and bdf["dataset"].nunique() == 1:   # said once, not on every row
    print(f"dataset of every row: {bdf['dataset'].iloc[0]}")
    bdf = bdf.drop(columns="dataset")
with pd.option_context("display.max_colwidth", None):
    display(bdf)

wall = time.perf_counter() - t_start
if profile == "paper" and not synthetic:  # results/ archives full-scale runs only
    runs.save_result("denram", f"fig4d_{profile}",
                     {"runs": [{k: v for k, v in r.items() if k != "reused"} for r in rows],
                      "run_wall_s_total": float(sum(r["wall_s"] for r in rows)), "runs_reused": n_reused,
                      "params": {"seeds": seeds, "configs": configs, "noise_levels": noise_levels,
                                 "epochs": epochs, "patience": patience, "n_train": n_train,
                                 "n_val": n_val}},
                     profile=profile, dataset=dataset, wall_time_s=wall)
runs.report(dataset=dataset, runs=len(rows), epochs_max=epochs, scoreboard=board,
            mean_epoch_s={c: float(np.mean([np.mean(r["history"]["epoch_s"]) for r in rows if r["config"] == c]))
                          for c in configs})
print(f"done in {wall:.0f} s")
