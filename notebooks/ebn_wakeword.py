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
#     title: "Network ADS: wake-word detection (Büchel et al. 2021, Fig. 2)"
#     part: "Network ADS / EBN"
#     output: ebn/wakeword
#     order: 2
#     profiles:
#       smoke: {dataset: "synthetic wake-word clips of the real shapes (no data files)", time: "35 s", params: {synthetic: true, n_neurons_force: 48, n_neurons_res: 48, n_neurons_bptt: 32, bptt_steps: 1, bptt_batch: 4, n_train: 8, n_val: 8, n_test: 8, clip_s: 0.6, teacher_steps: 2, teacher_batch: 4, n_neurons: 48, n_ads_train: 3}}
#       quick: {dataset: "wake-word stand-in from real speech (FSDD + Speech Commands)", time: "3 min on 2 CPU cores", params: {}}
#       paper: {dataset: "wake-word stand-in from real speech (FSDD + Speech Commands)", time: "about 1 h on a GPU", params: {force_epochs: 15, n_neurons_force: 768, n_neurons_res: 768, bptt_steps: 2000, n_train: 1000, n_val: 500, n_test: 1000, teacher_steps: 3000, n_neurons: 768, n_ads_train: 1000, ads_epochs: 5, n_nets: 10, eta: 1.0e-5, resume: true, archive_nets: true, ads_block: 500}}
# ---

# %% [markdown]
# # Network ADS: wake-word detection (Figure 2)
#
# The paper detects the phrase "Hey Snips" in 5-s clips of noisy speech. That corpus is not
# available, so `snncore.data.wakeword` builds a stand-in from the real recordings in the data root:
# the keyword is the spoken digit "seven" (FSDD and Speech Commands), placed at a random onset in
# half of the clips; every clip holds other real words and digits, background noise at 10 dB SNR,
# and is turned into a 16-channel filterbank envelope at 1 kHz. Speakers of the test split are unseen.
# The pipeline is the paper's: a 128-unit tanh teacher trained on the smooth target bump, then
# Network ADS ($N$ LIF neurons) trained online to reproduce the teacher's dynamics, with EBN
# ($g = 1.5$) and without. Accuracy uses the paper's test-time *integral rule* with its boundary
# optimised on the validation split.

# %% tags=["parameters"]
profile = "quick"        # smoke | quick | paper (set by the runner)
seed = 0                 # data seed; network i uses model seed i
synthetic = False        # smoke: generated clips of the same shapes instead of real speech
n_train = 160            # training clips for the teacher (paper: 10 percent of Hey Snips)
n_val = 100              # validation clips (paper: 500)
n_test = 200             # test clips (paper: 1000)
clip_s = 5.0             # clip length in seconds (paper: 5)
n_units = 128            # teacher units (paper: 128)
teacher_steps = 150      # Adam steps of the teacher
teacher_batch = 8        # teacher minibatch (paper: 1)
teacher_lr = 0.003       # teacher learning rate (paper: 0.001)
n_neurons = 256          # spiking neurons (paper: 768)
n_neurons_force = 256    # FORCE baseline neurons (paper: 768)
n_neurons_res = 256      # reservoir neurons (paper: 768)
ridge_lambda = 100.0     # ridge penalty of the reservoir readout (paper: 100)
n_neurons_bptt = 768     # BPTT baseline neurons per layer (paper: 768)
bptt_steps = 0           # BPTT Adam steps; 0 skips the BPTT baseline (too slow for quick)
bptt_batch = 10          # BPTT minibatch (paper: 10)
bptt_lr = 0.0001         # BPTT learning rate (paper: 1e-4)
n_nets = 1               # networks per architecture, model seeds 0..n_nets-1 (paper: 10)
n_ads_train = 40         # training clips per ADS epoch (paper: all training clips)
ads_epochs = 1           # ADS epochs (paper: 5)
eta = 2.0e-6             # online learning rate per step (paper: 1e-5; ran away at quick scale)
g_ebn = 1.5              # EBN gain (paper: 1.5)
input_gain = 50.0        # gain A is input_gain over tau_mem, i.e. 1000 (paper)
k0 = 200.0               # initial error-feedback gain (paper: 10 over tau_mem)
k_floor = 25.0           # floor of the decaying feedback gain (paper: 25)
theta0 = 0.5             # integral rule: per-step threshold (paper: 0.5)
force_epochs = 1         # FORCE baseline epochs over the online clips (paper: up to 15, early stop)
archs = ["ebn", "noebn"]  # which Network ADS variants to train (ebn: g_ebn; noebn: no fast connections)
baselines = ["force", "reservoir", "bptt"]  # which baselines to train (BPTT also needs bptt_steps > 0)
ads_block = 0            # clips between validations (0: once per epoch, the paper); model selection per block
max_rate_hz = 400.0      # online training stops a variant as "ran away" above this mean rate
resume = False           # cache the teacher and checkpoint online training; resume after an interruption
archive_nets = False     # archive each trained ADS variant under results/ebn/ (paper profile)

# %% tags=["hide-input"]
import functools
import hashlib
import json
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from snncore import core, runs
from snncore.checkpoint import atomic_write_bytes, checkpoint_step, load_checkpoint, save_checkpoint
from snncore.data import cache_dir
from snncore.data import wakeword as ww
from snncore.models import ebn
from snncore.progress import tqdm

# invalid choices are rejected before any work starts
ARCHS = {"ebn": ("ADS + EBN", True), "noebn": ("ADS, no EBN", False)}
if not set(archs) <= set(ARCHS) or not archs:
    raise ValueError(f"archs must be a non-empty subset of {sorted(ARCHS)}, got {archs}")
if not set(baselines) <= {"force", "reservoir", "bptt"}:
    raise ValueError(f"baselines must be a subset of ['bptt', 'force', 'reservoir'], got {baselines}")
run_bptt = bptt_steps > 0 and "bptt" in baselines
t_start = time.perf_counter()
TAU_MEM, DT = 0.05, 1e-3
A = input_gain / TAU_MEM
seeds = core.split_seeds(seed)
if synthetic:
    data = ww.synthetic_wakeword(n_train, n_val, n_test, seed=seed, clip_s=clip_s)
    dataset = "synthetic wake-word clips (smoke; no data files)"
else:
    data = ww.make_wakeword(n_train, n_val, n_test, seed=seed, clip_s=clip_s)
    dataset = (f"wake-word stand-in from real speech ({data['meta']['task_version']}: FSDD + Speech "
               f"Commands, keyword 'seven', 10 dB SNR, speaker-disjoint)")
print(dataset)
print({s: (data[s]["features"].shape, float(data[s]["labels"].mean())) for s in ("train", "val", "test")})
print(f"data ready after {time.perf_counter() - t_start:.1f} s")

# %%
ex_i = int(np.flatnonzero(data["test"]["labels"] == 1)[0])
t_s = np.arange(data["test"]["features"].shape[1]) * DT
fig, ax = plt.subplots(1, 2, figsize=(11, 3))
im = ax[0].imshow(data["test"]["features"][ex_i].T, aspect="auto", origin="lower",
                  extent=[0, t_s[-1], 0, 16], cmap="magma")
ax[0].set_xlabel("time (s)")
ax[0].set_ylabel("filterbank channel")
ax[0].set_title(f"test clip {ex_i} (keyword present): 16-channel envelope")
fig.colorbar(im, ax=ax[0], label="envelope (a.u.)")
ax[1].plot(t_s, data["test"]["target"][ex_i], "k")
ax[1].set_xlabel("time (s)")
ax[1].set_ylabel("target y*")
ax[1].set_title("target bump (quarter-sine rise, 0.35 s decay)")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Teacher (128 tanh units)

# %% tags=["hide-input"]
y_tr = data["train"]["target"][..., None]
teacher = ebn.teacher_init(seeds.model, 16, n_units, 1)
t0 = time.perf_counter()
teacher_key = json.dumps(dict(loss="tau floor + tau max + W_rec + diag + bias (ebn.md 1.1)",
                              task=data["meta"]["task_version"], seed=seed, n=[n_train, n_val, n_test],
                              clip_s=clip_s, n_units=n_units, steps=teacher_steps, batch=teacher_batch,
                              lr=teacher_lr, synthetic=synthetic), sort_keys=True)
teacher_ckpt = cache_dir("ebn_networks") / f"teacher_{hashlib.sha256(teacher_key.encode()).hexdigest()[:16]}.npz"
# paper runs may outlive the machine's cache (a CPU run over several sessions, a lent machine): the
# teacher and the online-training checkpoints are mirrored under results/ebn/train_paper/ and a
# fresh cache starts from the mirror. The teacher must be the same one the networks were trained
# against: retraining it on another CPU gives another teacher (float rounding over 3,000 steps).
mirror_dir = (runs.results_dir() / "ebn" / "train_paper") if (archive_nets and resume and not synthetic) else None


def from_mirror(path, newer=lambda m, c: not c.exists()):
    """Copy the mirrored file into the cache when the cache lacks it (or ``newer`` says so)."""
    if mirror_dir is not None and (mirror_dir / path.name).exists() and newer(mirror_dir / path.name, path):
        atomic_write_bytes(path, (mirror_dir / path.name).read_bytes())
        print(f"{path.name}: taken from results/ebn/train_paper/ (mirror of an earlier run)")


def to_mirror(path):
    if mirror_dir is not None:
        atomic_write_bytes(mirror_dir / path.name, Path(path).read_bytes())


from_mirror(teacher_ckpt)
got = load_checkpoint(teacher_ckpt, {"teacher": teacher}) if resume else None
if got is not None and got[2].get("key") == teacher_key:
    teacher, t_hist = got[0]["teacher"], got[2]["hist"]
    print(f"teacher loaded from {teacher_ckpt.name} (trained earlier with the same settings)")
else:
    teacher, t_hist = ebn.train_teacher(seeds.train, teacher, data["train"]["features"], y_tr,
                                        steps=teacher_steps, batch=teacher_batch, lr=teacher_lr,
                                        log_every=max(1, teacher_steps // 6))
    if resume:
        save_checkpoint(teacher_ckpt, {"teacher": teacher}, step=teacher_steps,
                        meta={"key": teacher_key, "hist": [list(h) for h in t_hist]})
if resume and teacher_ckpt.exists() and mirror_dir is not None and not (mirror_dir / teacher_ckpt.name).exists():
    to_mirror(teacher_ckpt)
t_teacher = time.perf_counter() - t0
run_teacher = jax.jit(jax.vmap(lambda u: ebn.teacher_forward(teacher, u)))


CHUNK = 50   # clips per teacher/network call


def teacher_chunks(split, idx=None, chunk=CHUNK):
    """The teacher's (a, A c, y) for the clips ``idx`` of a split, ``chunk`` clips at a time.
    Nothing of size [clips, T, 128] is kept for a whole split: at paper scale the activations and
    inputs of all 2,500 clips would take ~13 GB."""
    f = data[split]["features"]
    idx = np.arange(len(f)) if idx is None else np.asarray(idx)
    for i in range(0, len(idx), chunk):
        aa, cc, yy = run_teacher(jnp.asarray(f[idx[i:i + chunk]]))
        yield np.asarray(aa), A * np.asarray(cc), np.asarray(yy[..., 0])


@functools.lru_cache(maxsize=4)
def teacher_clip(split, i):
    """(a, A c) of one clip (online training and FORCE use one clip at a time)."""
    aa, cc, _ = run_teacher(jnp.asarray(data[split]["features"][i:i + 1]))
    return np.asarray(aa[0]), A * np.asarray(cc[0])


class ClipSeq:
    """A lazy [clips, T, Nc] sequence for ``ebn.train_online_nets`` / ``ebn.force_train``:
    ``len()`` and ``seq[j]`` computed from the teacher on demand (``what``: "a" or "c";
    ``scale`` multiplies the input, 1/A gives FORCE's unamplified input)."""

    def __init__(self, split, idx, what, scale=1.0):
        self.split, self.idx, self.what, self.scale = split, np.asarray(idx), what, scale

    def __len__(self):
        return len(self.idx)

    def __getitem__(self, j):
        a, c = teacher_clip(self.split, int(self.idx[j]))
        return a if self.what == "a" else c * self.scale


ty = {s: np.concatenate([y for _, _, y in teacher_chunks(s)]) for s in ("val", "test")}


def decide(y_val, y_test, filtered=True):
    """Integral rule: boundary B fitted on validation, applied on test."""
    f = ebn.filter_1d if filtered else (lambda y: y)
    sv, st = ebn.integral_score(f(y_val), theta0), ebn.integral_score(f(y_test), theta0)
    B, val_acc = ebn.fit_boundary(sv, data["val"]["labels"])
    pred = (st > B).astype(int)
    return dict(B=B, val_acc=val_acc, pred=pred, acc=float(np.mean(pred == data["test"]["labels"])))


lab_t = data["test"]["labels"]
teacher_dec = decide(ty["val"], ty["test"], filtered=False)
teacher_acc07 = float(np.mean((ty["test"] > 0.7).any(-1) == lab_t))
teacher_mse = float(np.mean((ty["test"] - data["test"]["target"]) ** 2))
print("teacher MSE by step:", [(s, round(m, 4)) for s, m in t_hist], f"({t_teacher:.0f} s)")
print(f"teacher test accuracy: integral rule {teacher_dec['acc']:.3f} (B = {teacher_dec['B']:.2f}), "
      f"any(y > 0.7) {teacher_acc07:.3f}; MSE to target {teacher_mse:.4f}")

# %% [markdown]
# ## Network ADS, with and without EBN, trained online
# Batch 1, $\eta$ per step (paper: $10^{-5}$; see the parameters cell), feedback gain $k$ decaying from 200 by 25 every eighth of
# the training samples to a floor of 25. After each epoch the network with the best
# validation accuracy (any $y_f > 0.7$, the paper's training-time rule) is kept.
#
# **Why `quick` falls short of the paper here.** `quick` trains on 40 clips (200,000 steps); the
# paper on 5 epochs of about 1,000 clips (25 million steps, 125 times more), and its feedback
# schedule spends ~600 clips at each of its eight $k$ levels where `quick` spends five. Measured on
# seed 0 with the earlier task version `wakeword-v1` (N = 256, one network, 100 test clips): the
# untrained EBN network (W_slow = 0) scored 0.68 and the trained one 0.56; 80 clips gave 0.60;
# $\eta$ decayed 5e-6 → 5e-7 gave 0.56 and $\eta = 10^{-6}$ 0.51. Training lowers the dynamics
# MSE per unit from 0.035 to 0.023, still 40 % of the teacher activations' mean square (0.057),
# while the rate climbs from 5 Hz to ~30 Hz (paper: 3 Hz).
#
# **The network size matters, not only the budget** (measured on `wakeword-v2`, a teacher trained
# on 600 clips before its loss had the script's τ-max term (units up to 471 ms), 200 validation
# and 300 test clips, one network each, CPU):
#
# | N | $\eta$ | online clips | rate (Hz) | dynamics MSE per unit (test) |
# |---|---|---|---|---|
# | 256 | untrained | 0 | 5.5 | 0.045 |
# | 256 | $10^{-5}$ (paper) | 200 | 156 (runs away) | 1.52 |
# | 256 | $3.3\cdot10^{-6}$ (paper's $\eta$ × 256/768) | 200 | 31 | 0.087 |
# | 768 | untrained | 0 | 3.2 (paper: 2.4–3.2) | 0.041 |
# | 768 | $10^{-5}$ (paper), $k$ = 200 | 50 | 4.3 | 0.030 |
# | 768 | $10^{-5}$ (paper), $k$ = 200 | 100 | 6.0 | 0.035 |
#
# With N = 256 each neuron must fire about three times faster to carry the same 128-dim
# reconstruction (the decoder weights do not depend on N), and the summed update
# $\eta\,\varepsilon_j \sum_i r_i^2$ a neuron receives grows accordingly, so the paper's rate runs
# away; scaling $\eta$ down only slows the blow-up. At the paper's N = 768 (six times
# overcomplete for 128 dimensions, against two times at 256) the paper's $\eta$ trains stably
# at the paper's rates, and the error falls within 50 clips, but accuracy after 100 clips is
# still at chance. One online clip costs about 1.2 s at N = 768 on this 2-core CPU, so the
# paper's 5,000 clips take close to two hours per network: that run is the `paper` profile,
# archived below as it finishes, and `quick` stays at N = 256 to fit its budget.
#
# Another possible factor: the stand-in's filterbank envelopes are heavy-tailed (99th percentile 0.15,
# maximum 2.1), so with the paper's input gain $A = 1000$ the projected input $A c_t$ is mostly
# 45–240 with rare bursts up to ~19,000, whereas $A$ was tuned on Hey Snips envelopes (inferred).
# With $A = 5000$ the trained network scored 0.70, but with twice the output MSE; we keep the
# paper's $A$. The XOR chapter shows the implementation reaching 100 % when the budget allows it.

# %% tags=["hide-input"]
# epoch e visits n_ads_train clips in its own seeded order (epoch 0's order is also the
# reservoir's training set); online training validates every `block` clips
n_tr = len(data["train"]["features"])
perms = [np.resize(np.random.default_rng(seed + 7 + e).permutation(n_tr), n_ads_train)
         for e in range(max(ads_epochs, force_epochs))]
order = perms[0]
block = ads_block if ads_block > 0 else n_ads_train
if (n_ads_train * ads_epochs) % block:
    raise ValueError(f"ads_block ({block}) must divide n_ads_train x ads_epochs ({n_ads_train * ads_epochs})")
ads_idx = np.concatenate(perms[:ads_epochs])


def epoch_data(e):
    """Training clips of epoch e (FORCE: unamplified input), computed clip by clip."""
    return ClipSeq("train", perms[e], "c", 1.0 / A), ClipSeq("train", perms[e], "a")


def block_data(b):
    """Training clips of validation block b (online ADS)."""
    idx = ads_idx[b * block:(b + 1) * block]
    return ClipSeq("train", idx, "c"), ClipSeq("train", idx, "a")


def evaluate(p, split):
    outs = [ebn.ads_evaluate(p, c, xhat=a, readout=teacher.w_out, batch=CHUNK)
            for a, c, _ in teacher_chunks(split)]
    out = {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}
    y = ty[split]
    y_f = ebn.filter_1d(out["y"][..., 0])
    return dict(y=out["y"][..., 0], y_f=y_f,
                rate_hz=float(out["n_spikes"].sum() / (n_neurons * out["n_spikes"].size * DT)),
                dyn_mse=float(out["err2"].mean() / n_units),
                out_mse_rate=float(np.mean((out["y"][..., 0] - y) ** 2)),
                out_mse_tgt=float(np.mean((out["y"][..., 0] - data[split]["target"]) ** 2)))


def validate(p):
    ev = evaluate(p, "val")
    acc = float(np.mean((ev["y_f"] > 0.7).any(-1) == data["val"]["labels"]))
    return acc, {"val_acc_0.7": acc, "val_rate_hz": ev["rate_hz"], "val_dyn_mse": ev["dyn_mse"],
                 "val_out_mse_rate": ev["out_mse_rate"]}


rows, nets, hists, diverged = [], {}, {}, {}
net_dir = cache_dir("ebn_networks")
for arch_id in archs:
    arch, use_ebn = ARCHS[arch_id]
    p0s = [ebn.ads_init(jax.random.PRNGKey(idx), n_neurons, n_units, g=g_ebn, use_ebn=use_ebn)
           for idx in range(n_nets)]
    untrained = evaluate(p0s[0], "test") if archive_nets else None
    run_key = json.dumps(dict(teacher=teacher_key, arch=arch_id, g=g_ebn, N=n_neurons, nets=n_nets, A=A,
                              eta=eta, k0=k0, k_floor=k_floor, clips=n_ads_train, epochs=ads_epochs,
                              block=block), sort_keys=True)
    ckpt = (net_dir / f"ads_{arch_id}_{hashlib.sha256(run_key.encode()).hexdigest()[:16]}.ckpt.npz"
            if resume else None)
    if ckpt is not None:   # a mirrored checkpoint further along than the cache's is resumed from
        from_mirror(ckpt, newer=lambda m, c: not c.exists() or checkpoint_step(m) > checkpoint_step(c))
    # the wall time of the whole run, over every session that resumed it (kept beside the checkpoint)
    clock = (runs.RunClock(ckpt, mirror=mirror_dir / ckpt.name if mirror_dir is not None else None)
             if ckpt is not None else None)

    def on_ckpt(path):
        to_mirror(path)
        clock.tick()

    t0 = time.perf_counter()
    # all networks of one architecture train together: one vmapped scan per clip
    try:
        trained, arch_hists = ebn.train_online_nets(ebn.stack_params(p0s), block_data,
                                                    epochs=n_ads_train * ads_epochs // block,
                                                    eta=eta, k0=k0, k_floor=k_floor, readout=teacher.w_out,
                                                    validate=validate, progress=tqdm, checkpoint=ckpt,
                                                    checkpoint_key=run_key, checkpoint_every=25,
                                                    max_rate_hz=max_rate_hz,
                                                    on_checkpoint=on_ckpt if ckpt is not None else None)
    except ebn.DivergenceError as err:
        # a run-away is a result, not a crash: record it (with what the checkpoint knows about the
        # run up to its last save) and go on with the other variants and the baselines
        t_tr = clock.tick() if clock else time.perf_counter() - t0
        info = {"arch": arch, "error": str(err), "train_s": t_tr}
        got = load_checkpoint(ckpt, {"ws": ebn.stack_params(p0s).w_slow,
                                     "best_ws": ebn.stack_params(p0s).w_slow}) if ckpt else None
        if got is not None:
            st_, _, meta_ = got
            w_ = np.asarray(st_["ws"])
            info.update(histories=meta_["hists"], clips_at_last_save=int(meta_["epoch"]) * block + int(meta_["sample"]),
                        rates_since_last_block=meta_["spikes"],
                        spectral_radius=[float(np.abs(np.linalg.eigvals(w)).max()) for w in w_])
        diverged[arch] = info
        print(f"{arch}: online training RAN AWAY ({err}); no network of this variant is kept. "
              f"Validation history up to then: {info.get('histories')}")
        if archive_nets and not synthetic:
            runs.save_result("ebn", f"wakeword_{profile}_ads_{arch_id}_N{n_neurons}", dict(
                key=run_key, arch=arch, n_neurons=n_neurons, n_nets=n_nets, eta=eta, k0=k0, k_floor=k_floor,
                n_ads_train=n_ads_train, ads_epochs=ads_epochs, block=block, n_train=n_train, n_val=n_val,
                n_test=n_test, teacher_acc=teacher_dec["acc"], teacher_steps=teacher_steps,
                untrained_test=dict(rate_hz=untrained["rate_hz"], dyn_mse=untrained["dyn_mse"],
                                    out_mse_rate=untrained["out_mse_rate"]),
                rows=[], histories=info.get("histories", []), diverged=info,
                task=data["meta"]["task_version"]), profile=profile, dataset=dataset, wall_time_s=t_tr,
                wall_time_scope=clock.scope if clock else None)
        continue
    t_tr = clock.tick() if clock else time.perf_counter() - t0   # training time of the whole run
    arch_rows = []
    for idx, (p, hist) in enumerate(zip(trained, arch_hists)):
        ev_v, ev_t = evaluate(p, "val"), evaluate(p, "test")
        dec = decide(ev_v["y"], ev_t["y"], filtered=True)
        # diagnostics of a val/test gap: the integral scores of the positive clips on both splits,
        # the paper's training-time rule on test, and a boundary fitted on test itself (not a result)
        sc_v, sc_t = (ebn.integral_score(e["y_f"], theta0) for e in (ev_v, ev_t))
        arch_rows.append({"model": arch, "net": idx, "test acc": dec["acc"], "val acc": dec["val_acc"],
                          "test acc (any y_f > 0.7)": float(np.mean((ev_t["y_f"] > 0.7).any(-1) == lab_t)),
                          "test acc, B fitted on test": ebn.fit_boundary(sc_t, lab_t)[1],
                          "median score of positives, val": float(np.median(sc_v[data["val"]["labels"] == 1])),
                          "median score of positives, test": float(np.median(sc_t[lab_t == 1])),
                          "B": dec["B"], "MSE to target": ev_t["out_mse_tgt"],
                          "MSE to teacher out": ev_t["out_mse_rate"], "dynamics MSE": ev_t["dyn_mse"],
                          "rate (Hz)": ev_t["rate_hz"], "train s (all nets)": t_tr})
        nets[(arch, idx)] = (p, ev_t, dec)
        hists[(arch, idx)] = hist
        tag = f"{data['meta']['task_version']}_ads_{arch_id}_N{n_neurons}_seed{idx}_{profile}"
        if profile != "smoke":
            ebn.save_network(net_dir / f"{tag}.npz", teacher, p, meta=dict(
                task_version=data["meta"]["task_version"], data_seed=seed, model_seed=idx,
                use_ebn=use_ebn, g=g_ebn if use_ebn else 0.0, n_neurons=n_neurons, n_units=n_units,
                input_gain_A=A, eta=eta, k0=k0, k_floor=k_floor, epochs=ads_epochs,
                n_ads_train=n_ads_train, theta0=theta0, boundary_B=dec["B"], profile=profile,
                teacher_boundary_B=teacher_dec["B"], clip_s=clip_s, n_train=n_train, n_val=n_val,
                n_test=n_test))
        print(f"{arch} #{idx}: test acc {dec['acc']:.3f}, rate {ev_t['rate_hz']:.1f} Hz; history {hist}")
    rows += arch_rows
    print(f"{arch}: {n_nets} network(s) trained together in {t_tr:.0f} s"
          + ("" if clock is None or clock.complete else " (this session only: the run resumed an older checkpoint)"))
    if archive_nets and not synthetic:   # one file per variant, written as soon as it is done
        runs.save_result("ebn", f"wakeword_{profile}_ads_{arch_id}_N{n_neurons}", dict(
            key=run_key, arch=arch, n_neurons=n_neurons, n_nets=n_nets, eta=eta, k0=k0, k_floor=k_floor,
            n_ads_train=n_ads_train, ads_epochs=ads_epochs, block=block, n_train=n_train, n_val=n_val,
            n_test=n_test, teacher_acc=teacher_dec["acc"], teacher_steps=teacher_steps,
            untrained_test=dict(rate_hz=untrained["rate_hz"], dyn_mse=untrained["dyn_mse"],
                                out_mse_rate=untrained["out_mse_rate"]),
            rows=arch_rows, histories=arch_hists, task=data["meta"]["task_version"]),
            profile=profile, dataset=dataset, wall_time_s=t_tr, wall_time_scope=clock.scope if clock else None)
print("networks saved under", net_dir if profile != "smoke" else "(not saved in smoke)")

# %% [markdown]
# ## Baseline: spiking FORCE (RLS on the decoder at every step)
# LIF neurons in mV ($\tau_m$ = 10 ms, reset −65, threshold −40, bias −40, 2-ms refractory
# period), static random recurrence ($G = 0.04$, $p = 0.1$), feedback $E z$ ($Q = 10$), the
# unamplified teacher input, and a 128-dim decoder learned by recursive least squares towards the
# teacher activations at every 1-ms step (Nicola & Clopath 2017, as in the paper's baseline).
# Output $y = z\,W_\mathrm{out}^\mathrm{rate}$, not filtered. After each epoch the decoder with
# the best validation accuracy is kept; training stops after two epochs without improvement.
# Outside `smoke` the kept network is saved with the teacher, its integral-rule boundary and
# the split sizes (`<task>_force_N*_seed*_<profile>.npz`), next to the ADS networks, for the
# robustness chapter.

# %% tags=["hide-input"]
y_te = ty["test"]


def force_eval(fp, split):
    """FORCE with a fixed decoder on a whole split, chunk by chunk (unamplified input)."""
    outs = [ebn.force_evaluate(fp, c / A, a, readout=teacher.w_out) for a, c, _ in teacher_chunks(split)]
    return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}


def same_teacher(t):
    return all(np.array_equal(np.asarray(x), np.asarray(y))
               for x, y in zip(jax.tree_util.tree_leaves(t), jax.tree_util.tree_leaves(teacher)))


for idx in range(n_nets if "force" in baselines else 0):
    force_file = net_dir / f"{data['meta']['task_version']}_force_N{n_neurons_force}_seed{idx}_{profile}.npz"
    force_meta = dict(task_version=data["meta"]["task_version"], data_seed=seed, model_seed=idx,
                      force_key=1000 + idx, n_neurons=n_neurons_force, n_units=n_units,
                      input_gain_A=A, epochs=force_epochs, n_ads_train=n_ads_train, theta0=theta0,
                      profile=profile, clip_s=clip_s, n_train=n_train, n_val=n_val, n_test=n_test)
    # with `resume`, a FORCE network saved by an earlier run with the same settings and teacher is
    # reused (one epoch at N = 768 is half an hour on one CPU core)
    got = (ebn.load_force(force_file, 16, n_units, n_neurons_force)
           if resume and profile != "smoke" and force_file.exists() else None)
    if got is not None and same_teacher(got[0]) and all(got[2].get(k) == v for k, v in force_meta.items()):
        best_fp, f_hist, t_tr = got[1], got[2].get("history", []), float(got[2].get("train_s", np.nan))
        print(f"FORCE #{idx}: reused {force_file.name} (saved by an earlier run with the same settings)")
    else:
        fp = ebn.force_init(jax.random.PRNGKey(1000 + idx), n_neurons_force, n_units)
        best_fp, best_acc, stall, t0, f_hist = fp, -1.0, 0, time.perf_counter(), []
        for e in range(force_epochs):
            c_e, a_e = epoch_data(e)
            fp, errs = ebn.force_train(fp, c_e, a_e, readout=teacher.w_out, progress=tqdm)
            ov = force_eval(fp, "val")
            acc = float(np.mean((ov["y"][..., 0] > 0.7).any(-1) == data["val"]["labels"]))
            f_hist.append({"epoch": e + 1, "train_err2": float(np.mean(errs)), "val_acc_0.7": acc})
            if acc >= best_acc:
                best_fp, best_acc, stall = fp, acc, 0
            else:
                stall += 1
                if stall >= 2:
                    break
        t_tr = time.perf_counter() - t0
    ov = force_eval(best_fp, "val")
    ot = force_eval(best_fp, "test")
    dec = decide(ov["y"][..., 0], ot["y"][..., 0], filtered=False)
    rows.append({"model": "FORCE", "net": idx, "test acc": dec["acc"], "val acc": dec["val_acc"],
                 "B": dec["B"], "MSE to target": float(np.mean((ot["y"][..., 0] - data["test"]["target"]) ** 2)),
                 "MSE to teacher out": float(np.mean((ot["y"][..., 0] - y_te) ** 2)),
                 "dynamics MSE": float(ot["err2"].mean() / n_units),
                 "rate (Hz)": float(ot["n_spikes"].sum() / (n_neurons_force * ot["n_spikes"].size * DT)),
                 "train s (all nets)": t_tr})
    nets[("FORCE", idx)] = (best_fp, {"y_f": ot["y"][..., 0]}, dec)
    if profile != "smoke":   # the robustness chapter loads these (with the teacher) by this name
        ebn.save_force(force_file, teacher, best_fp, meta=dict(
            **force_meta, boundary_B=dec["B"], teacher_boundary_B=teacher_dec["B"], history=f_hist,
            train_s=t_tr))
    print(f"FORCE #{idx}: test acc {dec['acc']:.3f}; history {f_hist}")

# %% [markdown]
# ## Baseline: liquid-state reservoir with a ridge readout (simplified)
# 16 input LIF neurons (12 ms) driven by the filterbank, 8 disconnected liquids of LIF neurons with
# 4.1 % connectivity and one inhibitory neuron in five (×−4.73), membrane and synaptic time
# constants spread from 112 ms down to 2 ms, spikes read out through a 256-ms exponential synapse,
# and a ridge regression ($\lambda = 100$) to the task target on every 10th step of the same
# training clips the online networks saw. The paper ran this in NEST at 0.1 ms with its own units; ours is dimensionless at 1 ms
# with weights calibrated by us (see the chapter text).

# %%
for idx in range(n_nets if "reservoir" in baselines else 0):
    t0 = time.perf_counter()
    rp = ebn.reservoir_init(jax.random.PRNGKey(2000 + idx), n_neurons_res, 16)
    res_idx = np.resize(order, n_ads_train)            # the same clips the online networks saw
    H_tr, _ = ebn.reservoir_states(rp, data["train"]["features"][res_idx], sub=10)
    w_r = ebn.ridge_fit(H_tr, data["train"]["target"][res_idx][:, 9::10], lam=ridge_lambda)
    del H_tr
    # the readout is applied inside the scan: the states of a split at every step do not fit in memory
    y_rv, _ = ebn.reservoir_states(rp, data["val"]["features"], readout=w_r)
    y_rt, n_sp = ebn.reservoir_states(rp, data["test"]["features"], readout=w_r)
    t_tr = time.perf_counter() - t0
    dec = decide(y_rv, y_rt, filtered=False)
    rows.append({"model": "reservoir", "net": idx, "test acc": dec["acc"], "val acc": dec["val_acc"],
                 "B": dec["B"], "MSE to target": float(np.mean((y_rt - data["test"]["target"]) ** 2)),
                 "MSE to teacher out": float(np.mean((y_rt - ty["test"]) ** 2)), "dynamics MSE": np.nan,
                 "rate (Hz)": float(n_sp.sum() / (n_neurons_res * n_sp.size * DT)), "train s (all nets)": t_tr})
    nets[("reservoir", idx)] = (rp, {"y_f": y_rt}, dec)
    print(f"reservoir #{idx}: test acc {dec['acc']:.3f} ({t_tr:.0f} s)")

# %% [markdown]
# ## Baseline: two-layer spiking network trained by BPTT (surrogate gradient)
# A feed-forward LIF layer (100 ms) and a recurrent LIF layer (50 ms membrane, 70 ms synapse),
# multi-spike output $\max(0, \lfloor V + 1\rfloor)$ with subtractive reset and surrogate
# derivative $1[V > -0.5]$, a 70-ms readout, initialised from the teacher and trained with Adam
# directly on the task target. Skipped when `bptt_steps = 0` (the `quick` profile: 5,000-step BPTT
# does not fit a 2-core CPU budget; a 40-step trial at N = 128 stayed at chance).

# %%
if run_bptt:
    for idx in range(n_nets):
        t0 = time.perf_counter()
        bp = ebn.bptt_init(jax.random.PRNGKey(3000 + idx), teacher, n_neurons_bptt)
        bp, b_hist = ebn.bptt_train(jax.random.PRNGKey(4000 + idx), bp, data["train"]["features"],
                                    data["train"]["target"], steps=bptt_steps, batch=bptt_batch,
                                    lr=bptt_lr, log_every=max(1, bptt_steps // 10))
        y_bv, _ = ebn.bptt_evaluate(bp, data["val"]["features"])
        y_bt, n_bt = ebn.bptt_evaluate(bp, data["test"]["features"])
        t_tr = time.perf_counter() - t0
        dec = decide(y_bv, y_bt, filtered=False)
        rows.append({"model": "BPTT", "net": idx, "test acc": dec["acc"], "val acc": dec["val_acc"],
                     "B": dec["B"], "MSE to target": float(np.mean((y_bt - data["test"]["target"]) ** 2)),
                     "MSE to teacher out": float(np.mean((y_bt - ty["test"]) ** 2)), "dynamics MSE": np.nan,
                     "rate (Hz)": float(n_bt.sum() / (n_neurons_bptt * n_bt.size * DT)),
                     "train s (all nets)": t_tr})
        nets[("BPTT", idx)] = (bp, {"y_f": y_bt}, dec)
        print(f"BPTT #{idx}: test acc {dec['acc']:.3f}; MSE by step {b_hist}")
else:
    print("BPTT baseline skipped (bptt_steps = 0)")

# %% [markdown]
# ## Results
# Medians over networks (with min–max), beside the numbers the paper's figures were drawn from
# (Hey Snips, medians over 10 networks of 768 neurons). The BPTT baseline runs only when
# `bptt_steps > 0` (not in `quick`).

# %% tags=["hide-input"]
df = pd.DataFrame(rows)
paper = {"teacher": 0.905, "ADS + EBN": 0.856, "ADS, no EBN": 0.904, "FORCE": 0.906,
         "reservoir": 0.89, "BPTT": 0.89}
summary = [{"model": "teacher (128 tanh units)", "test acc (median)": teacher_dec["acc"], "spread": "1 net",
            "MSE to target": teacher_mse, "rate (Hz)": np.nan, "paper acc": paper["teacher"]}]
for arch in ("ADS + EBN", "ADS, no EBN"):
    d = df[df.model == arch] if len(df) else df
    if arch in diverged:
        summary.append({"model": f"{arch} (N = {n_neurons})", "test acc (median)": np.nan,
                        "spread": f"ran away after {diverged[arch].get('clips_at_last_save', '?')}+ clips",
                        "MSE to target": np.nan, "rate (Hz)": np.nan, "paper acc": paper[arch]})
    if not len(d):
        continue
    summary.append({"model": f"{arch} (N = {n_neurons})", "test acc (median)": d["test acc"].median(),
                    "spread": f"{d['test acc'].min():.3f}–{d['test acc'].max():.3f} ({len(d)} nets)",
                    "MSE to target": d["MSE to target"].median(), "rate (Hz)": d["rate (Hz)"].median(),
                    "paper acc": paper[arch]})
d = df[df.model == "FORCE"]
summary.append({"model": f"FORCE (N = {n_neurons_force})", "test acc (median)": d["test acc"].median(),
                "spread": f"{d['test acc'].min():.3f}–{d['test acc'].max():.3f} ({len(d)} nets)",
                "MSE to target": d["MSE to target"].median(), "rate (Hz)": d["rate (Hz)"].median(),
                "paper acc": paper["FORCE"]})
d = df[df.model == "reservoir"]
summary.append({"model": f"reservoir (N = {n_neurons_res}, simplified)", "test acc (median)": d["test acc"].median(),
                "spread": f"{d['test acc'].min():.3f}–{d['test acc'].max():.3f} ({len(d)} nets)",
                "MSE to target": d["MSE to target"].median(), "rate (Hz)": d["rate (Hz)"].median(),
                "paper acc": paper["reservoir"]})
d = df[df.model == "BPTT"]
summary.append({"model": f"BPTT (N = {n_neurons_bptt})", "test acc (median)": d["test acc"].median() if len(d) else np.nan,
                "spread": f"{d['test acc'].min():.3f}–{d['test acc'].max():.3f} ({len(d)} nets)" if len(d) else "not run",
                "MSE to target": d["MSE to target"].median() if len(d) else np.nan,
                "rate (Hz)": d["rate (Hz)"].median() if len(d) else np.nan, "paper acc": paper["BPTT"]})
summary = pd.DataFrame(summary)
print(df.round(4).to_string(index=False))
summary

# %% [markdown]
# ## Figure 2
# Teacher output and the spiking networks' filtered outputs on a positive and a negative test clip,
# with the raster of the EBN network.

# %%
neg_i = int(np.flatnonzero(lab_t == 0)[0])
ads_shown = next((a for a in ("ADS + EBN", "ADS, no EBN") if (a, 0) in nets), None)
if ads_shown is not None:
    p_ebn = nets[(ads_shown, 0)][0]
    sim = ebn.ads_simulate(p_ebn, teacher_clip("test", ex_i)[1], readout=teacher.w_out, record_spikes=True)
else:
    sim = {"spikes": np.zeros((len(t_s), n_neurons), np.uint8)}
    print("no ADS network was kept (see above): the raster panel is empty")
fig, ax = plt.subplots(3, 1, figsize=(11, 8), sharex=True)
for row, i in enumerate((ex_i, neg_i)):
    ax[row].plot(t_s, data["test"]["target"][i], "k--", lw=1, label="target y*")
    ax[row].plot(t_s, ty["test"][i], label="teacher output")
    for arch in [a for a in ("ADS + EBN", "ADS, no EBN", "FORCE", "reservoir") if (a, 0) in nets]:
        ax[row].plot(t_s, nets[(arch, 0)][1]["y_f"][i], lw=0.9,
                     label=f"{arch} ({'filtered' if arch.startswith('ADS') else 'unfiltered'})")
    ax[row].axhline(theta0, color="grey", lw=0.5)
    ax[row].set_ylabel("output")
    ax[row].set_title(f"test clip {i}: keyword {'present' if lab_t[i] else 'absent'}")
ax[0].legend(fontsize=7, ncol=4)
sp = np.asarray(sim["spikes"])
tt, nn = np.nonzero(sp)
ax[2].plot(tt * DT, nn, "|", ms=1.5, color="k")
ax[2].set_ylabel("neuron")
ax[2].set_xlabel("time (s)")
ax[2].set_title(f"{ads_shown} raster on clip {ex_i} ({sp.sum() / (n_neurons * sp.shape[0] * DT):.1f} Hz/neuron)"
                if ads_shown else "no ADS network kept (training ran away)")
fig.suptitle(f"Wake-word stand-in, {profile} profile (N = {n_neurons})")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Archived paper-scale runs of Network ADS
# The `paper` profile archives each trained ADS variant under `results/ebn/` as soon as it is done
# (N = 768, the paper's feedback schedule, validation every block of clips; $\eta$ is in each row:
# the paper's $10^{-5}$ ran away on the stand-in, so the finished runs use $2\cdot10^{-6}$).
# Without a GPU these run on the CPU in the background, one network per variant; the files are
# shown here whatever profile builds this page, with the device they ran on. The learning curve
# is the validation set after each block: reconstruction error of the teacher's 128-dim dynamics
# (per unit), accuracy with the paper's training-time rule (any $y_f > 0.7$) and the mean firing
# rate. As in the paper's scripts, the network kept (and tested) is the block with the best
# validation score, not the last one.

# %% tags=["hide-input"]
arch_files = sorted(runs.results_dir().glob("ebn/wakeword_paper_ads_*.json"))
archived = [json.loads(f.read_text()) for f in arch_files]
arch_rows = []
for a in archived:
    d = a["data"]
    for r in d["rows"]:
        h_ = d["histories"][r["net"]]
        best_ = max(range(len(h_)), key=lambda i: (h_[i]["val_score"], i))   # ties -> later, as in training
        arch_rows.append({"model": f"{r['model']} (N = {d['n_neurons']})", "net": r["net"], "eta": f"{d['eta']:g}",
                          "online clips": h_[-1]["samples_seen"], "kept (clips)": h_[best_]["samples_seen"],
                          "test acc": r["test acc"], "val acc": r["val acc"],
                          "test acc, B fitted on test": r.get("test acc, B fitted on test", np.nan),
                          "dynamics MSE": r["dynamics MSE"],
                          "dynamics MSE untrained": d["untrained_test"]["dyn_mse"],
                          "rate (Hz)": r["rate (Hz)"], "teacher acc": d["teacher_acc"],
                          "test clips": d["n_test"], "device": a["provenance"]["device"],
                          "train h": round(a["wall_time_s"] / 3600, 2)})
for a in archived:
    dv = a["data"].get("diverged")
    if dv:
        print(f"archived {a['data']['arch']} (N = {a['data']['n_neurons']}, eta = {a['data']['eta']:g}, "
              f"{a['provenance']['device']}): RAN AWAY after {dv.get('clips_at_last_save', '?')}+ online clips: "
              f"{dv['error']}; spectral radius of W_slow at the last save {dv.get('spectral_radius')}")
if arch_rows or any(a["data"].get("histories") for a in archived):
    arch_df = pd.DataFrame(arch_rows)
    if len(arch_df):
        display(arch_df.round(4).set_index("model"))  # noqa: F821
    fig, axs = plt.subplots(2, 2, figsize=(11, 7))
    ax = [axs[0, 0], axs[0, 1], axs[1, 0]]
    axs[1, 1].axis("off")
    for a in archived:
        d = a["data"]
        for m, h in enumerate(d["histories"]):
            x = [0] + [e["samples_seen"] for e in h]
            lab = f"{d['arch']} #{m}, eta {d['eta']:g}" + (" (ran away)" if d.get("diverged") else "")
            ax[0].plot(x, [d["untrained_test"]["dyn_mse"]] + [e["val_dyn_mse"] for e in h], "o-", ms=3, label=lab)
            ln = ax[1].plot(x[1:], [e["val_acc_0.7"] for e in h], "o-", ms=3, label=lab)
            if d["rows"]:   # the block whose network was kept and tested
                kb = max(range(len(h)), key=lambda i: (h[i]["val_score"], i))
                ax[1].plot(h[kb]["samples_seen"], h[kb]["val_acc_0.7"], "*", ms=12, color=ln[0].get_color(),
                           label=f"kept (tested) network, {d['arch']} #{m}")
            ax[2].plot(x, [d["untrained_test"]["rate_hz"]] + [e["val_rate_hz"] for e in h], "o-", ms=3, label=lab)
    ax[0].set_ylabel("dynamics MSE per unit (validation)")
    ax[1].set_ylabel("validation accuracy, any y_f > 0.7")
    ax[2].set_ylabel("mean rate, validation (Hz)")
    ax[0].set_yscale("log")
    ax[2].set_yscale("log")
    for x_ in ax:
        x_.set_xlabel("online training clips")
    ax[1].axhline(archived[0]["data"]["teacher_acc"], color="grey", ls="--", lw=1,
                  label="teacher, test (integral rule)")
    axs[1, 1].legend(*ax[1].get_legend_handles_labels(), loc="center", fontsize=10, frameon=False)
    fig.suptitle("Archived paper-scale online training (point 0: untrained, on the test split)")
    fig.tight_layout()
    plt.show()
else:
    print("no archived paper-scale ADS runs yet")

# %% [markdown]
# The baselines of the archived paper-scale run (`results/ebn/wakeword_paper.json`: FORCE, the
# reservoir and BPTT where that run trained them), beside the paper's medians of 10 networks.

# %%
PAPER_BASE = {"FORCE": 0.906, "reservoir": 0.89, "BPTT": 0.89}
base_rows = []
wp_file = runs.results_dir() / "ebn" / "wakeword_paper.json"
if wp_file.exists():
    wp = json.loads(wp_file.read_text())
    wd = wp["data"]
    n_key = {"FORCE": "n_neurons_force", "reservoir": "n_neurons_res", "BPTT": "n_neurons_bptt"}
    for r in wd["rows"]:
        if r["model"] not in PAPER_BASE:
            continue
        # runs before these keys were recorded used the paper profile's N = 768 for both baselines
        n_b = wd.get(n_key[r["model"]], 768 if r["model"] != "BPTT" else None)
        base_rows.append({"model": f"{r['model']} (N = {n_b})", "net": r["net"], "test acc": r["test acc"],
                          "val acc": r["val acc"], "paper (median of 10)": PAPER_BASE[r["model"]],
                          "rate (Hz)": r["rate (Hz)"], "teacher acc": wd["teacher_acc"],
                          "FORCE epochs": wd.get("force_epochs", "") if r["model"] == "FORCE" else "",
                          "device": wp["provenance"]["device"],
                          "train h": round(r["train s (all nets)"] / 3600, 2)})
if base_rows:
    display(pd.DataFrame(base_rows).round(4).set_index("model"))  # noqa: F821
else:
    print("no archived paper-scale baseline run yet")

# %% tags=["hide-input"]
med = {arch: float(df[df.model == arch]["test acc"].median()) if (df.model == arch).any() else float("nan")
       for arch in ("ADS + EBN", "ADS, no EBN", "FORCE", "reservoir")}


def gap(ours, ref):
    d = 100 * (ours - ref)
    return (f"matches (within {abs(d):.0f} pts)" if abs(d) <= 3 else
            (f"below paper by {-d:.0f} pts" if d < 0 else f"above paper by {d:.0f} pts"))


def verdict(ours, ref, arch=None):
    if arch in diverged:
        return f"ran away during online training ({diverged[arch]['error']})"
    if not np.isfinite(ours):
        return f"not run under this {profile} run (archs = {archs}, baselines = {baselines})"
    if profile == "smoke":
        return "smoke run (synthetic data, tiny sizes): not a reproduction"
    d = 100 * (ours - ref)
    why = "" if profile == "paper" else f": {profile} profile (N = {n_neurons}, {n_ads_train * ads_epochs} online clips)"
    why += "; stand-in task, not Hey Snips"
    return (f"matches (within {abs(d):.0f} pts){why}" if abs(d) <= 3 else
            (f"below paper by {-d:.0f} pts{why}" if d < 0 else f"above paper by {d:.0f} pts{why}"))


wall = time.perf_counter() - t_start
result = dict(teacher_acc=teacher_dec["acc"], teacher_acc_07=teacher_acc07, teacher_B=teacher_dec["B"],
              teacher_mse=teacher_mse, rows=rows, meta=data["meta"], n_neurons=n_neurons,
              n_nets=n_nets, histories={f"{a}#{i}": h for (a, i), h in hists.items()},
              n_neurons_force=n_neurons_force, n_neurons_res=n_neurons_res, n_neurons_bptt=n_neurons_bptt,
              force_epochs=force_epochs, bptt_steps=bptt_steps, n_ads_train=n_ads_train, ads_epochs=ads_epochs,
              n_train=n_train, n_val=n_val, n_test=n_test, archs=list(archs))
if profile == "paper" and (set(baselines) & {"force", "reservoir"} or run_bptt):
    # results/ archives full-scale runs only; a run of ADS variants alone (baselines = []) has its
    # archive per variant above and leaves the archived baselines of an earlier run in place
    runs.save_result("ebn", f"wakeword_{profile}", result, profile=profile, dataset=dataset, wall_time_s=wall)
runs.report(dataset=dataset, teacher_acc=teacher_dec["acc"], ads_ebn_acc=med["ADS + EBN"], force_acc=med["FORCE"], reservoir_acc=med["reservoir"],
            ads_noebn_acc=med["ADS, no EBN"], n_test=n_test, scoreboard=[
    {"item": "Fig. 2, wake word, teacher (128 tanh units) test accuracy", "paper": "0.905 (Hey Snips)",
     "ours": f"{teacher_dec['acc']:.3f} on {n_test}", "dataset": dataset,
     "verdict": verdict(teacher_dec["acc"], 0.905)},
    {"item": "Fig. 2, wake word, Network ADS + EBN test accuracy", "paper": "0.856 (N = 768, median of 10)",
     "ours": f"{med['ADS + EBN']:.3f} (N = {n_neurons}, {n_nets} net(s))", "dataset": dataset,
     "verdict": verdict(med["ADS + EBN"], 0.856, "ADS + EBN")},
    {"item": "Fig. 2, wake word, Network ADS without EBN test accuracy", "paper": "0.904 (N = 768, median of 10)",
     "ours": f"{med['ADS, no EBN']:.3f} (N = {n_neurons}, {n_nets} net(s))", "dataset": dataset,
     "verdict": verdict(med["ADS, no EBN"], 0.904, "ADS, no EBN")},
    *[{"item": f"Fig. 2, wake word, {r['model']} test accuracy (archived paper-scale run, net {r['net']})",
       "paper": "0.856 (N = 768, median of 10)" if "no EBN" not in r["model"] else "0.904 (N = 768, median of 10)",
       "ours": f"{r['test acc']:.3f} on {r['test clips']} (eta {r['eta']}; {r['online clips']} online clips, "
               f"best-validation block at {r['kept (clips)']}; {r['device']})",
       "dataset": dataset,
       "verdict": gap(r["test acc"], 0.904 if "no EBN" in r["model"] else 0.856)
       + f"; stand-in task, teacher {r['teacher acc']:.3f} on this stand-in"} for r in arch_rows],
    *[{"item": f"Fig. 2, wake word, {a['data']['arch']} online training at eta = {a['data']['eta']:g} "
               "(archived paper-scale run)",
       "paper": "trains stably on Hey Snips (eta = 1e-5, N = 768)",
       "ours": f"ran away after {a['data']['diverged'].get('clips_at_last_save', '?')}+ clips "
               f"({a['provenance']['device']})", "dataset": dataset,
       "verdict": "not reproduced at the paper's learning rate on the stand-in"}
      for a in archived if a["data"].get("diverged")],
    *[{"item": f"Fig. 2, wake word, {r['model']} baseline test accuracy (archived paper-scale run, net {r['net']})",
       "paper": f"{r['paper (median of 10)']} (N = 768, median of 10)",
       "ours": f"{r['test acc']:.3f} ({r['device']})", "dataset": dataset,
       "verdict": gap(r["test acc"], r["paper (median of 10)"])
       + f"; stand-in task, teacher {r['teacher acc']:.3f} on this stand-in"} for r in base_rows],
    {"item": "Fig. 2, wake word, FORCE baseline test accuracy", "paper": "0.906 (N = 768, median of 10)",
     "ours": f"{med['FORCE']:.3f} (N = {n_neurons_force}, {n_nets} net(s))", "dataset": dataset,
     "verdict": verdict(med["FORCE"], 0.906)},
    {"item": "Fig. 2, wake word, reservoir baseline (simplified) test accuracy", "paper": "0.89 (N = 768, median of 10)",
     "ours": f"{med['reservoir']:.3f} (N = {n_neurons_res}, {n_nets} net(s))", "dataset": dataset,
     "verdict": verdict(med["reservoir"], 0.89)},
    {"item": "Fig. 2, wake word, BPTT baseline test accuracy", "paper": "0.89 (N = 768, median of 10)",
     "ours": (f"{float(df[df.model == 'BPTT']['test acc'].median()):.3f} (N = {n_neurons_bptt})"
              if run_bptt else "not run"), "dataset": dataset,
     "verdict": (verdict(float(df[df.model == "BPTT"]["test acc"].median()), 0.89) if run_bptt
                 else f"not run under {profile} (too slow on CPU)")},
])
print(f"wall time {wall:.1f} s")
