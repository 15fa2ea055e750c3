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
#     title: "LC-SNN: learned competition weights and the mean-weight × competition grid"
#     part: "LC-SNN (Saunders et al. 2019, thesis reproduction)"
#     output: lcsnn/competition
#     order: 2
#     profiles:
#       smoke: {dataset: "synthetic MNIST-shaped digits (no data files)", time: "35 s", params: {synthetic: true, n_filters: 4, n_networks: 1, n_train: 5, n_calib: 40, n_test: 40, grid_filters: [], grid_train: 5, grid_eval: 40}}
#       quick: {dataset: "MNIST (real): 25 filters, 2 networks per mode, few images; a 2 x 2 grid", time: "2 min on 2 CPU cores", params: {}}
#       paper: {dataset: "MNIST (real): N = 5, 4,000 images, 10,000 calibration / test; full grids for 100 and 25 filters", time: "hours on a CPU; GPU", params: {n_networks: 5, n_train: 4000, n_calib: 10000, n_test: 10000, grid_filters: [100, 25], grid_mean_weight: [0.2, 0.26, 0.32, 0.38, 0.46, 0.52], grid_c_w: [-20.0, -40.0, -60.0, -80.0, -100.0, -120.0], grid_train: 5000, grid_eval: 5000}}
# ---

# %% [markdown]
# # LC-SNN: learning the competition weights
#
# In the thesis the neurons that share a receptive field inhibit each other with a fixed weight
# `c_w`. Its second goal was to *learn* these competition weights with an anti-Hebbian PostPre
# rule on the Y→Y connections (notes §6). Two procedures:
#
# * **basic**: input and competition weights learn together from the start (competition
#   initialised uniformly in `[c_w, 0]` on the same-location pairs). The thesis' best 25-filter
#   network gained about 2 points over fixed competition (row 4 vs row 5 of its table: 82.3 vs
#   80.1 % voting, 88.2 vs 85.5 % linear).
# * **two stages**: (a) the whole Y→Y matrix is filled with `c_w` (a quirk of the thesis code:
#   cross-location pairs too) and only the input weights learn; (b) the input weights are frozen,
#   Y→Y is reset to 0 and learns alone on the same images, re-masked after every image. The thesis
#   reports this as *worse* (best 76.2 %).
#
# As in the thesis code, the Y→Y rule touches every entry of the dense matrix during an image and
# the same-location mask is re-applied only after the image.

# %% tags=["parameters"]
profile = "quick"            # smoke | quick | paper (set by the runner)
seed = 0                     # data sampling / init / Poisson trains derive from it
n_filters = 25               # filters of the LC network (kernel 12, stride 4)
mean_weight = 0.46           # thesis' best 25-filter setting
c_w = -100.0                 # competition weight (fixed mode, and the initial range of learned modes)
n_networks = 2               # networks per mode (thesis: 5)
n_train = 200                # training images per network (thesis: 4,000)
n_calib = 500                # calibration images, with replacement from train[50000:]
n_test = 1000                # test images (without replacement; 10000 means all)
grid_filters = [25]          # filter counts of the mean_weight x c_w grid (paper: 100 and 25)
grid_mean_weight = [0.3, 0.46]
grid_c_w = [-50.0, -100.0]
grid_train = 150             # training images per grid network
grid_eval = 300              # calibration and test images per grid network
batch = 128                  # images per batched inference call
synthetic = False            # synthetic MNIST-shaped digits instead of the data root

# %%
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from snncore import core, runs
from snncore.data import cache_dir
from snncore.models import lcsnn as L

jax.config.update("jax_compilation_cache_dir", str(cache_dir() / "jax-cache"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
t_start = time.perf_counter()
seeds = core.split_seeds(seed)
rng = np.random.default_rng(seed)
print(f"JAX {jax.__version__} on {runs.device_info()}; profile {profile}")
if min(n_networks, n_calib, n_test, grid_eval) < 1 or min(n_train, grid_train) < 0:
    raise ValueError("n_networks, n_calib, n_test, grid_eval must be >= 1; n_train, grid_train >= 0")

# %%
Xtr, ytr, Xte, yte, train_pool, calib_pool, dataset = L.thesis_data(synthetic, rng)
cfg_fixed = L.LCConfig("LC", n_filters, 12, 4)
cfg_comp = L.LCConfig("LC", n_filters, 12, 4, comp_learning=True)
Ctr, Cte = L.crop_images(Xtr, cfg_fixed), L.crop_images(Xte, cfg_fixed)
calib_idx = rng.choice(calib_pool, n_calib, replace=True)
test_idx = np.arange(len(Xte)) if n_test >= len(Xte) else rng.choice(len(Xte), n_test, replace=False)
orders = np.stack([rng.choice(train_pool, n_train, replace=True) for _ in range(n_networks)])
print(dataset, f"{n_networks} networks x {n_train} images; {n_calib} calibration, {len(test_idx)} test images")

# %% [markdown]
# ## Fixed, basic and two-stage training

# %% tags=["hide-input"]
hp_fixed = L.hparams(mean_weight, c_w)
hp_basic = L.hparams(mean_weight, c_w, a_pos=-0.056, a_neg=-1.63, tau_pos=17.7, tau_neg=16.5)
hp_two = L.hparams(mean_weight, c_w, a_pos=-0.15, a_neg=-1.5, tau_pos=12.0, tau_neg=15.0)
kinit = jax.random.split(seeds.model, n_networks)
kenc = jax.random.split(seeds.train, n_networks)
modes, timing = {}, {}

t0 = time.perf_counter()
st = jax.vmap(lambda k: L.init_state(cfg_fixed, hp_fixed, k))(kinit)
st, _ = L.train_networks(cfg_fixed, hp_fixed, st, Ctr, orders, kenc)
modes["fixed c_w"] = (cfg_fixed, hp_fixed, st)
timing["fixed c_w"] = time.perf_counter() - t0

t0 = time.perf_counter()
st = jax.vmap(lambda k: L.init_state(cfg_comp, hp_basic, k))(kinit)
st, _ = L.train_networks(cfg_comp, hp_basic, st, Ctr, orders, kenc)   # XY and YY learn together
modes["basic (learned)"] = (cfg_comp, hp_basic, st)
timing["basic (learned)"] = time.perf_counter() - t0

t0 = time.perf_counter()
st = jax.vmap(lambda k: L.init_state(cfg_comp, hp_two, k))(kinit)
st = st._replace(wyy=jnp.full_like(st.wyy, c_w))                        # (a) whole matrix = c_w
st, _ = L.train_networks(cfg_comp, hp_two, st, Ctr, orders, kenc, learn_xy=True, learn_yy=False, yy="dense")
st = st._replace(wyy=jnp.zeros_like(st.wyy))                            # (b) YY from 0, XY frozen
st, _ = L.train_networks(cfg_comp, hp_two, st, Ctr, orders, jax.vmap(lambda k: jax.random.fold_in(k, 7))(kenc),
                         learn_xy=False, learn_yy=True, yy="dense")
modes["two stages (learned)"] = (cfg_comp, hp_two, st)
timing["two stages (learned)"] = time.perf_counter() - t0

evals = {}
for name, (cfg, hp, st) in modes.items():
    core.check_finite((st.w, st.wyy), n_train, f"{name} weights")
    evals[name] = L.evaluate(cfg, hp, st, Ctr[calib_idx], ytr[calib_idx], Cte[test_idx], yte[test_idx],
                             jax.random.fold_in(seeds.data, len(evals)), batch=batch)


def pm(a):
    a = 100 * np.asarray(a)
    return f"{a.mean():.1f} ± {a.std(ddof=1) if len(a) > 1 else 0:.1f}"


THESIS = {"fixed c_w": ("80.1 ± 1.0", "85.5 ± 0.8"), "basic (learned)": ("82.3 ± 1.0", "88.2 ± 0.6"),
          "two stages (learned)": ("76.2 (best single network)", "—")}
comp_table = pd.DataFrame([{"competition": name, "ours voting (best)": pm(ev["best"]), "ours linear": pm(ev["linear"]),
                            "thesis voting": THESIS[name][0], "thesis linear": THESIS[name][1],
                            "train time (s)": round(timing[name], 1)} for name, ev in evals.items()])
comp_table

# %%
d_basic = 100 * (np.mean(evals["basic (learned)"]["best"]) - np.mean(evals["fixed c_w"]["best"]))
d_two = 100 * (np.mean(evals["two stages (learned)"]["best"]) - np.mean(evals["fixed c_w"]["best"]))
print(f"basic minus fixed: {d_basic:+.1f} points (thesis +2.2); two stages minus fixed: {d_two:+.1f} points "
      f"(thesis: worse). {n_networks} networks x {n_train} images, {len(test_idx)} test images.")

# %% [markdown]
# ## Distribution of the learned competition weights
# Entries of the Y→Y matrix on the same-location pairs (the only ones kept), all networks.

# %%
mask = L.competition_mask(cfg_comp) > 0
fig, ax = plt.subplots(figsize=(7, 3.5))
for name in ("basic (learned)", "two stages (learned)"):
    w = np.asarray(modes[name][2].wyy)[:, mask].ravel()
    ax.hist(w, bins=60, alpha=0.6, label=f"{name}: mean {w.mean():.1f}, min {w.min():.1f}")
ax.axvline(c_w, color="k", ls="--", label=f"fixed c_w = {c_w:g}")
ax.set_xlabel("competition weight (mV per spike)"); ax.set_ylabel("number of neuron pairs")
ax.set_title(f"learned Y→Y weights, {n_filters} filters, {n_train} training images"); ax.legend(fontsize=7)
plt.show()

# %% [markdown]
# ## Grid over mean weight × competition weight
# All networks of a grid train together in one launch (`vmap` over the hyper-parameters).

# %% tags=["hide-input"]
grid_rows = []
for F in grid_filters:
    cfg = L.LCConfig("LC", F, 12, 4)
    mw, cw = np.meshgrid(grid_mean_weight, grid_c_w, indexing="ij")
    hp = L.hparams(mw.ravel(), cw.ravel())
    G = mw.size
    t0 = time.perf_counter()
    st = jax.vmap(lambda h, k: L.init_state(cfg, h, k))(hp, jax.random.split(jax.random.fold_in(seeds.model, F), G))
    go = np.stack([rng.choice(train_pool, grid_train, replace=True) for _ in range(G)])
    st, _ = L.train_networks(cfg, hp, st, Ctr, go, jax.random.split(jax.random.fold_in(seeds.train, F), G))
    ci = rng.choice(calib_pool, grid_eval, replace=True)
    ti = rng.choice(len(Xte), min(grid_eval, len(Xte)), replace=False)
    ev = L.evaluate(cfg, hp, st, Ctr[ci], ytr[ci], Cte[ti], yte[ti], jax.random.fold_in(seeds.data, F), batch=batch)
    for g in range(G):
        grid_rows.append(dict(filters=F, mean_weight=float(mw.ravel()[g]), c_w=float(cw.ravel()[g]),
                              voting=100 * ev["best"][g], linear=100 * ev["linear"][g]))
    print(f"{F} filters: {G} networks in {time.perf_counter() - t0:.0f} s")
grid = pd.DataFrame(grid_rows, columns=["filters", "mean_weight", "c_w", "voting", "linear"])
if not grid_filters:
    print("grid skipped (grid_filters is empty)")
fig, axes = plt.subplots(1, max(1, len(grid_filters)), figsize=(4.5 * max(1, len(grid_filters)), 3.5), squeeze=False)
for ax, F in zip(axes[0], grid_filters):
    sub = grid[grid.filters == F].pivot(index="mean_weight", columns="c_w", values="voting")
    im = ax.imshow(sub.values, cmap="viridis", origin="lower", aspect="auto")
    ax.set_xticks(range(sub.shape[1]), [f"{c:g}" for c in sub.columns])
    ax.set_yticks(range(sub.shape[0]), [f"{m:g}" for m in sub.index])
    for (i, j), v in np.ndenumerate(sub.values):
        ax.text(j, i, f"{v:.0f}", ha="center", va="center", color="w", fontsize=8)
    ax.set_xlabel("competition weight c_w (mV)"); ax.set_ylabel("mean weight")
    ax.set_title(f"LC {F} filters: best voting accuracy (%)\n{grid_train} train / {grid_eval} test images")
    fig.colorbar(im, ax=ax, label="accuracy (%)")
if grid_filters:
    plt.show()
else:
    plt.close(fig)
grid

# %% [markdown]
# The thesis' grids (older README, 10,000 iterations): 100 filters best around c_w −40…−60 with
# mean weight 0.24–0.34 (86.9 % at 0.26 / −50); 25 filters at c_w −100 rise from 64.7 % (0.20) to
# about 77 % (0.46–0.51).

# %%
wall = time.perf_counter() - t_start
scale = f"{n_networks} net(s) x {n_train} images, {len(test_idx)} test images, {profile}"
score = [{"item": "Thesis §competition: basic learned competition minus fixed, 25 filters (voting)",
          "paper": "+2.2 pts (82.3 vs 80.1 %)", "ours": f"{d_basic:+.1f} pts", "dataset": dataset,
          "verdict": (f"same sign, gain within 2 pts of the thesis ({scale})" if d_basic > 0 and abs(d_basic - 2.2) <= 2
                      else f"differs from the thesis' +2.2 pts ({scale})")},
         {"item": "Thesis §competition: two-stage minus fixed, 25 filters (voting)",
          "paper": "worse than fixed (best 76.2 %)", "ours": f"{d_two:+.1f} pts", "dataset": dataset,
          "verdict": ("agrees: worse than fixed" if d_two < 0 else "disagrees: not worse than fixed") + f" ({scale})"}]
if profile == "paper":
    runs.save_result("lcsnn", "competition_paper", {"modes": comp_table.to_dict("records"),
                     "grid": grid.to_dict("records")}, profile=profile, dataset=dataset, wall_time_s=wall)
runs.report(dataset=dataset, n_networks=n_networks, n_train=n_train, n_test=len(test_idx),
            basic_minus_fixed_pts=d_basic, two_stage_minus_fixed_pts=d_two, wall_time_s=wall, scoreboard=score)
print(f"wall time {wall:.0f} s")
