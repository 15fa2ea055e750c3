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
#     title: "Network ADS: temporal XOR (Büchel et al. 2021, Fig. 1)"
#     part: "Network ADS / EBN"
#     output: ebn/xor
#     order: 1
#     profiles:
#       smoke: {dataset: "temporal XOR (generated; no data files)", time: "30 s", params: {n_teacher_train: 32, teacher_steps: 10, teacher_batch: 8, n_neurons: 96, epochs: 1, samples_per_epoch: 16, n_val: 16, n_test: 16}}
#       quick: {dataset: "temporal XOR (generated)", time: "1.5 min on 2 CPU cores", params: {}}
#       paper: {dataset: "temporal XOR (generated)", time: "15 min on a GPU", params: {teacher_steps: 1500, epochs: 20, samples_per_epoch: 500, n_val: 200, n_test: 200, eta: 1.0e-6, eta_end: 1.0e-6}}
# ---

# %% [markdown]
# # Network ADS: temporal XOR (Figure 1)
#
# A 64-unit continuous-time tanh RNN (the *teacher*) is trained with BPTT to solve a temporal XOR:
# two smoothed pulses of random sign arrive within the first 0.44 s, and 50–300 ms after the second
# the output must go to +1 if the signs differ and −1 otherwise. A spiking network of
# $N = 320$ LIF neurons ("Network ADS") then receives the teacher's projected input $A\,c_t$ and
# learns, online and with a local rule, slow recurrent weights $W_\mathrm{slow}$ so that its decoded
# output $\tilde x_t = W_\mathrm{out}^\top r_t$ reproduces the teacher's 64-dim activations
# $\hat x_t = \tanh(x_t)$. Its task output is the teacher's readout applied to $\tilde x_t$.
# Fast inhibitory EBN connections ($g = 0.5$) are fixed from the decoder. Model code:
# `snncore.models.ebn`; constants and per-step order: see the chapter's text page.

# %% tags=["parameters"]
profile = "quick"          # smoke | quick | paper (set by the runner)
seed = 0                   # data, model and training seeds are derived from it
n_teacher_train = 512      # XOR samples for teacher training
teacher_steps = 160        # Adam steps for the teacher (batch below)
teacher_batch = 32         # teacher minibatch
teacher_lr = 0.003         # Adam learning rate for the teacher
n_units = 64               # teacher units (paper: 64)
n_neurons = 320            # spiking neurons (paper: 320)
g_ebn = 0.5                # EBN gain (paper's XOR code: 0.5)
input_gain = 10.0          # gain A is input_gain over tau_mem (paper: 10 over 50 ms, i.e. 200)
k_feedback = 75.0          # error-feedback gain, constant (paper: 75)
eta = 2.0e-5               # online learning rate per 1-ms step at the first sample (paper: 1e-6, constant, 10,000 samples)
eta_end = 2.0e-6           # rate at the last sample, geometric decay from eta (paper: equal to eta, constant)
epochs = 3                 # training epochs (paper: 20)
samples_per_epoch = 300    # fresh samples per epoch (paper: 500)
n_val = 50                 # validation samples (paper: 200)
n_test = 200               # test samples (paper: 200)

# %%
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from snncore import core, runs
from snncore.models import ebn
from snncore.progress import tqdm

t_start = time.perf_counter()
seeds = core.split_seeds(seed)
data_seed = int(jax.random.randint(seeds.data, (), 0, 2**30))
TAU_MEM, DT = 0.05, 1e-3
A = input_gain / TAU_MEM
print(f"profile {profile}: N = {n_neurons}, eta = {eta}" + (f" -> {eta_end}" if eta_end != eta else "") +
      f", {epochs} x {samples_per_epoch} training samples; "
      f"JAX {jax.__version__} on {runs.device_info()}")

# %% [markdown]
# ## Teacher
# Forward Euler with $\Delta t = 1$ ms, learnable per-unit $\tau \ge 15$ ms, Adam on the MSE to the
# smoothed XOR target (plus the authors' regularisers on $W_\mathrm{rec}$ and $\tau$).

# %%
u_tr, y_tr, _ = ebn.xor_dataset(n_teacher_train, data_seed)
teacher = ebn.teacher_init(seeds.model, 1, n_units, 1)
teacher, t_hist = ebn.train_teacher(seeds.train, teacher, u_tr, y_tr, steps=teacher_steps,
                                    batch=teacher_batch, lr=teacher_lr, reg={"bias": 0.0, "tau_max": 0.0},
                                    log_every=max(1, teacher_steps // 10))
run_teacher = jax.jit(jax.vmap(lambda u: ebn.teacher_forward(teacher, u)))


def make_split(n, s):
    u, tgt, lab = ebn.xor_dataset(n, s)
    a, c, y = run_teacher(jnp.asarray(u))
    return dict(u=u, tgt=tgt, lab=lab, c=A * np.asarray(c), a=np.asarray(a), y=np.asarray(y[..., 0]))


val = make_split(n_val, data_seed + 1)
test = make_split(n_test, data_seed + 2)
teacher_pred = ebn.xor_decision(ebn.filter_1d(test["y"]))
teacher_acc = float(np.mean(teacher_pred == test["lab"]))
print("teacher MSE by step:", [(s, round(m, 4)) for s, m in t_hist])
print(f"teacher test accuracy (XOR rule on the filtered output): {teacher_acc:.3f}")

# %% [markdown]
# ## Spiking network and online training
# After every 1-ms step: $e = \hat x_t - \tilde x_t$, $\varepsilon = W_\mathrm{in}^\top e$,
# the next step receives the feedback current $k\varepsilon$, and
# $W_\mathrm{slow} \mathrel{+}= \eta\, r_t \varepsilon^\top$ (diagonal of the update zeroed).
# Each epoch draws fresh samples; after each epoch the network with the lowest validation
# reconstruction error (no feedback, no learning) is kept, the error measured as the authors'
# script does: $\sum_k \mathrm{var}(\hat x_k - \tilde x_k) / \sum_k \mathrm{var}(\hat x_k)$ per sample, averaged
# (`val_err`; `val_recon` is the mean squared error over the mean squared target).
#
# **Learning rate: `quick` differs from the paper.** The paper trains with a constant
# $\eta = 10^{-6}$ on $20 \times 500 = 10{,}000$ samples; `quick` has room for 900 samples. The
# implementation itself is not the limit: the per-step order is checked against a plain-numpy
# reference in `tests/test_ebn.py`, and the teacher is ~100 % correct. With a constant $\eta$ the
# budget is the limit. Measured on seed 0 while choosing these settings, $\eta = 10^{-5}$ on 500 samples
# stops at 79 % (every error is "no decision", the output stays inside ±0.5), $2\times10^{-5}$
# gives 54 % on the same 500 and $3\times10^{-5}$ runs away (> 400 Hz), $5\times10^{-6}$ on 600 samples gives
# 76 %, and even 2,000 samples at $10^{-5}$ only reach 94 %, with validation accuracy swinging
# between 74 and 94 % from epoch to epoch, because the online rule's weight noise grows with
# $\eta$. `quick` therefore decays $\eta$ geometrically from $2\times10^{-5}$ (first sample) to
# $2\times10^{-6}$ (last sample); on the same seed that gave 96.5 % with 600 samples and 100 % with
# 900 (a second data and network seed: 94 % and 97 %). The `paper` profile keeps the constant
# $\eta = 10^{-6}$ (`eta_end = eta`).

# %% tags=["hide-input"]
params0 = ebn.ads_init(jax.random.fold_in(seeds.model, 1), n_neurons, n_units, g=g_ebn)
a_energy = float(np.mean(np.sum(val["a"] ** 2, -1)))


def evaluate(p, split, script_err=False):
    out = ebn.ads_evaluate(p, split["c"], xhat=split["a"], readout=teacher.w_out, record_xt=script_err)
    y_f = ebn.filter_1d(out["y"][..., 0])
    pred = ebn.xor_decision(y_f)
    ev = dict(acc=float(np.mean(pred == split["lab"])),
              acc_vs_teacher=float(np.mean(pred == ebn.xor_decision(ebn.filter_1d(split["y"])))),
              recon=float(out["err2"].mean() / np.mean(np.sum(split["a"] ** 2, -1))),
              rate_hz=float(out["n_spikes"].sum(-1).mean() / (n_neurons * split["c"].shape[1] * DT)),
              out=out, y_f=y_f, pred=pred)
    if script_err:   # the authors' selection metric: sum_k var(x^_k - x~_k) / sum_k var(x^_k), per sample
        d = split["a"] - out["xt"]
        ev["script_err"] = float(np.mean(d.var(1, ddof=1).sum(-1) / split["a"].var(1, ddof=1).sum(-1)))
    return ev


def validate(p):
    ev = evaluate(p, val, script_err=True)
    return -ev["script_err"], {"val_err": ev["script_err"], "val_recon": ev["recon"], "val_acc": ev["acc"],
                               "val_rate_hz": ev["rate_hz"]}


def epoch_data(e):
    d = make_split(samples_per_epoch, data_seed + 100 + e)
    return d["c"], d["a"]


before = evaluate(params0, test)
t_train = time.perf_counter()
params, hist = ebn.train_online(params0, epoch_data, epochs=epochs, eta=eta, k0=k_feedback,
                                readout=teacher.w_out, validate=validate, progress=tqdm,
                                eta_end=None if eta_end == eta else eta_end)
t_train = time.perf_counter() - t_train
after = evaluate(params, test)
h_df = pd.DataFrame(hist)
print(h_df.round({c: 4 for c in h_df.columns if c != "eta_last"}).to_string(index=False))
print(f"training: {t_train:.1f} s for {epochs * samples_per_epoch} samples")
print(f"test accuracy before training {before['acc']:.3f}, after {after['acc']:.3f} "
      f"(agreement with the teacher {after['acc_vs_teacher']:.3f}); "
      f"reconstruction error {before['recon']:.3f} -> {after['recon']:.3f}; rate {after['rate_hz']:.1f} Hz")

# %% [markdown]
# ## Figure 1
# (a) inputs and targets; (b) teacher (rate) output and the spiking network's filtered output;
# (c) spike raster of the trained network; (d) reconstruction of the teacher dynamics: a few of the
# 64 teacher activations $\hat x_t$ and their decoded spiking versions $\tilde x_t$.

# %% tags=["hide-input"]
show = [int(np.flatnonzero(test["lab"] == 1)[0]), int(np.flatnonzero(test["lab"] == 0)[0])]
ex = ebn.ads_simulate(params, test["c"][show[0]], xhat=test["a"][show[0]], readout=teacher.w_out,
                      record_spikes=True, record_xt=True)
t_ms = np.arange(test["u"].shape[1])
fig, ax = plt.subplots(4, 2, figsize=(11, 9), sharex=True)
for col, i in enumerate(show):
    ax[0, col].plot(t_ms, test["u"][i, :, 0], label="input u")
    ax[0, col].plot(t_ms, test["tgt"][i, :, 0], "k--", label="target")
    ax[0, col].set_title(f"test sample {i}: XOR {'true' if test['lab'][i] else 'false'}")
    ax[1, col].plot(t_ms, test["y"][i], label="teacher (rate) output")
    ax[1, col].plot(t_ms, after["y_f"][i], label="spiking output (filtered)")
    ax[1, col].plot(t_ms, test["tgt"][i, :, 0], "k--", lw=0.8, label="target")
    ax[1, col].axhline(0.5, color="grey", lw=0.5)
    ax[1, col].axhline(-0.5, color="grey", lw=0.5)
ax[0, 0].legend(fontsize=7)
ax[1, 0].legend(fontsize=7)
ax[0, 0].set_ylabel("amplitude")
ax[1, 0].set_ylabel("output")
sp = np.asarray(ex["spikes"])
tt, nn = np.nonzero(sp)
ax[2, 0].plot(tt, nn, "|", ms=2, color="k")
ax[2, 0].set_ylabel("neuron")
ax[2, 0].set_title(f"raster, sample {show[0]} ({sp.sum() / (n_neurons * sp.shape[0] * DT):.1f} Hz/neuron)")
ax[2, 1].plot(t_ms, sp.sum(1) / (n_neurons * DT), lw=0.6)
ax[2, 1].set_ylabel("population rate (Hz)")
ax[2, 1].set_title("population rate, same sample")
xt = np.asarray(ex["xt"])
for col, dims in enumerate([(0, 1, 2), (3, 4, 5)]):
    for j, d in enumerate(dims):
        ax[3, col].plot(t_ms, test["a"][show[0], :, d], color=f"C{j}", lw=1.2,
                        label=f"teacher $\\hat x_{{{d}}}$")
        ax[3, col].plot(t_ms, xt[:, d], color=f"C{j}", lw=0.8, ls=":", label=f"spiking $\\tilde x_{{{d}}}$")
    ax[3, col].set_xlabel("time (ms)")
    ax[3, col].legend(fontsize=6, ncol=3)
ax[3, 0].set_ylabel("activation")
ax[3, 0].set_title("reconstruction of the teacher dynamics")
fig.suptitle(f"Temporal XOR, N = {n_neurons} ({profile} profile): spiking test accuracy {after['acc']:.1%}")
fig.tight_layout()
plt.show()

# %%
table = pd.DataFrame([
    {"model": "teacher (64 tanh units)", "test accuracy": teacher_acc, "paper": "(not reported)"},
    {"model": f"Network ADS + EBN, N = {n_neurons}, untrained", "test accuracy": before["acc"], "paper": "–"},
    {"model": f"Network ADS + EBN, N = {n_neurons}, trained", "test accuracy": after["acc"],
     "paper": "1.00 (200 samples, N = 320)"},
])
table

# %%
gap = 100 * (1.0 - after["acc"])
if profile == "smoke":
    verdict = "smoke run (tiny sizes): not a reproduction"
elif gap <= 2:
    verdict = f"matches (within {gap:.1f} pts)"
else:
    verdict = (f"below paper by {gap:.0f} pts" +
               (f": {profile} profile ({epochs * samples_per_epoch} training samples, eta {eta:g} -> {eta_end:g})"
                if profile != "paper" else ""))
wall = time.perf_counter() - t_start
result = dict(teacher_acc=teacher_acc, acc_before=before["acc"], acc=after["acc"],
              acc_vs_teacher=after["acc_vs_teacher"], recon_before=before["recon"],
              recon=after["recon"], rate_hz=after["rate_hz"], history=hist, n_test=n_test,
              n_neurons=n_neurons, eta=eta, eta_end=eta_end, epochs=epochs, samples_per_epoch=samples_per_epoch,
              train_s=t_train, seed=seed)
if profile == "paper":  # results/ archives full-scale runs only
    runs.save_result("ebn", f"xor_{profile}", result, profile=profile,
                     dataset="temporal XOR (generated)", wall_time_s=wall)
runs.report(dataset="temporal XOR (generated, ebn.md §2.1)" + (" — smoke sizes" if profile == "smoke" else ""),
            xor_test_acc=after["acc"], teacher_acc=teacher_acc, n_test=n_test,
            scoreboard=[{"item": "Fig. 1, temporal XOR, Network ADS + EBN (N = 320) test accuracy",
                         "paper": "100 % on 200 samples",
                         "ours": f"{after['acc']:.1%} on {n_test} (N = {n_neurons}, {profile})",
                         "dataset": "temporal XOR (generated)", "verdict": verdict}])
print(f"wall time {wall:.1f} s")
