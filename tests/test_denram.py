"""Tests of the DenRAM model (snncore.models.denram) against the notes in shared/papers/denram.md."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snncore.models import denram as dm

SMALL = dm.DenRAMConfig(n_in=5, tau_mem=15e-3)


def _batch(x, labels=None, bs=None, bucket=64):
    x = np.asarray(x, np.uint8)
    labels = np.zeros(len(x), np.int32) if labels is None else labels
    ev = dm.events_from_rasters(x, labels)
    return dm.make_batch(ev, np.arange(len(x)), bs or len(x), bucket=bucket)


# ---------------------------------------------------------------- delays and init

@pytest.mark.parametrize("cfg", [dm.D1, dm.D2], ids=["D1", "D2"])
def test_delay_statistics(cfg):
    _, net, _ = dm.init_network(42, cfg)
    d = np.asarray(net.delays)
    assert d.shape == (20, cfg.n_in, 16) and d.dtype == np.int32
    s = dm.delay_stats(d, cfg)
    # notes: mean R C = 500 ms = 100 steps (seed-42 log of the original: 99.15), median ~92,
    # ~2.66 % above 1 s clipped to 200, essentially none at 0
    assert 98.0 < s["mean_steps"] < 101.0, s
    assert 91 <= s["median_steps"] <= 93, s
    assert 0.022 < s["frac_clipped"] < 0.032, s
    assert s["frac_zero"] == 0.0 and s["max"] == 200
    # the clip is explicit: effective delays never exceed max_delay - 1 (the original FIFO)
    assert int(np.max(dm.effective_delays(d, cfg))) == cfg.max_delay - 1


def test_init_scale_and_bias():
    p, _, _ = dm.init_network(42, dm.D2)
    assert p.w.shape == (20, 256, 16) and p.b.shape == (20,)
    assert float(p.w.min()) >= 0.0
    expect = 0.3 / math.sqrt(256) * math.sqrt(2 / math.pi)   # mean of |N(0,1)| * scale
    assert abs(float(jnp.abs(p.w).mean()) / expect - 1) < 0.02
    assert float(p.b.min()) < 0 < float(p.b.max())          # signed bias
    assert 20 * 256 * 16 + 20 == p.w.size + p.b.size == 81940


def test_other_delay_modes():
    z = dm.draw_delays(jax.random.PRNGKey(0), SMALL._replace(delay_mode="zero"))
    assert int(jnp.abs(z).max()) == 0
    u = np.asarray(dm.draw_delays(jax.random.PRNGKey(0), dm.D2._replace(delay_mode="uniform")))
    assert u.min() == 0 and u.max() == 200 and abs(u.mean() - 100) < 2
    with pytest.raises(ValueError, match="delay_mode"):
        dm.draw_delays(jax.random.PRNGKey(0), SMALL._replace(delay_mode="bogus"))


# ---------------------------------------------------------------- delays act exactly

@pytest.mark.parametrize("d", [0, 1, 37, 150, 199])
@pytest.mark.parametrize("form", ["direct", "events"])
def test_spike_arrives_exactly_d_steps_later(d, form):
    cfg = SMALL
    w = jnp.zeros((20, cfg.n_in, 16)).at[3, 2, 5].set(1.5)
    p = dm.Params(w=w, b=jnp.zeros(20))
    delays = jnp.full((20, cfg.n_in, 16), 7, jnp.int32).at[3, 2, 5].set(d)
    net = dm.Network(delays=delays)
    x = np.zeros((1, cfg.t_data, cfg.n_in), np.uint8)
    t0 = 12
    x[0, t0, 2] = 1
    if form == "direct":
        cur = dm.currents_direct(p, net, x, cfg)
    else:
        cur = dm.currents_events(p, net, _batch(x), cfg)
    cur = np.asarray(cur)                             # [T, B, J]
    assert cur.shape == (cfg.n_steps, 1, 20)
    nz = np.argwhere(cur != 0)
    assert nz.tolist() == [[t0 + d, 0, 3]], nz
    assert cur[t0 + d, 0, 3] == pytest.approx(1.5)


def test_delay_at_clip_acts_as_fifo_end():
    # a drawn delay of 200 (= max_delay) reads the last FIFO slot: it acts with 199 steps
    cfg = SMALL
    p = dm.Params(w=jnp.zeros((20, cfg.n_in, 16)).at[0, 0, 0].set(1.0), b=jnp.zeros(20))
    net = dm.Network(delays=jnp.zeros((20, cfg.n_in, 16), jnp.int32).at[0, 0, 0].set(200))
    x = np.zeros((1, cfg.t_data, cfg.n_in), np.uint8)
    x[0, 149, 0] = 1
    for cur in (dm.currents_direct(p, net, x, cfg), dm.currents_events(p, net, _batch(x), cfg)):
        assert np.argwhere(np.asarray(cur) != 0).tolist() == [[149 + 199, 0, 0]]


def test_bias_only_during_data_steps():
    cfg = SMALL
    p = dm.Params(w=jnp.zeros((20, cfg.n_in, 16)), b=jnp.arange(20.0))
    net = dm.Network(delays=jnp.zeros((20, cfg.n_in, 16), jnp.int32))
    cur = np.asarray(dm.currents_events(p, net, _batch(np.zeros((2, 150, cfg.n_in))), cfg))
    assert np.all(cur[:150] == np.arange(20.0)) and np.all(cur[150:] == 0)


def test_membrane_relu_leak_max():
    a = 0.5
    cur = jnp.asarray([1.0, 1.0, -5.0, 0.5, 0.0])[:, None, None]
    # V: 1, 1.5, max(0, 0.75-5)=0, 0.5, 0.25 -> max 1.5 (no (1-alpha) input scaling)
    assert float(dm.membrane_max(cur, a)[0, 0]) == pytest.approx(1.5)
    cur = jnp.asarray([-1.0, 1.0])[:, None, None]       # clamped at 0, so V_1 = 1 not 0.5
    assert float(dm.membrane_max(cur, a)[0, 0]) == pytest.approx(1.0)


# ---------------------------------------------------------------- fast == direct

def test_event_formulation_equals_direct():
    # short sequences keep the dense reference cheap; delays are drawn up to 100 steps and many
    # hit the clip, which is exercised too
    cfg = dm.DenRAMConfig(n_in=6, tau_mem=20e-3, t_data=60, max_delay=100)
    p, net, _ = dm.init(jax.random.PRNGKey(3), cfg)
    p = p._replace(w=p.w * jnp.sign(jax.random.normal(jax.random.PRNGKey(4), p.w.shape)))
    rng = np.random.default_rng(0)
    x = (rng.random((3, cfg.t_data, cfg.n_in)) < 0.05).astype(np.uint8)
    ev = _batch(x, bs=4)            # one padded sample and padded events
    xd = np.concatenate([x, np.zeros((1,) + x.shape[1:], np.uint8)])
    c_dir = np.asarray(dm.currents_direct(p, net, xd, cfg))
    c_ev = np.asarray(dm.currents_events(p, net, ev, cfg))
    np.testing.assert_allclose(c_ev, c_dir, atol=1e-5)
    assert np.abs(c_dir).max() > 0.1

    labels = jnp.asarray([1, 2, 3, 0])
    def l_dir(p):
        lg = dm.logits_direct(p, net, xd, cfg)
        return jnp.sum(jax.nn.log_softmax(lg)[jnp.arange(4), labels])
    def l_ev(p):
        lg = dm.logits_events(p, net, ev, cfg)
        return jnp.sum(jax.nn.log_softmax(lg)[jnp.arange(4), labels])
    g_dir, g_ev = jax.grad(l_dir)(p), jax.grad(l_ev)(p)
    np.testing.assert_allclose(g_ev.w, g_dir.w, atol=1e-5)
    np.testing.assert_allclose(g_ev.b, g_dir.b, atol=1e-5)


# ---------------------------------------------------------------- gradients reach every weight that sees input

def test_readout_gradient_nonzero_exactly_where_input_arrives_before_the_max():
    cfg = dm.DenRAMConfig(n_in=8, tau_mem=20e-3, t_data=80, max_delay=120)
    p, net, _ = dm.init(jax.random.PRNGKey(5), cfg)
    p = p._replace(b=jnp.abs(p.b) + 0.01)            # positive: V stays > 0, no ReLU clamping
    rng = np.random.default_rng(1)
    x = (rng.random((2, cfg.t_data, cfg.n_in)) < 0.1).astype(np.uint8)
    x[:, :, -1] = 0                                  # a silent channel (like D2's zero padding)
    ev = _batch(x)
    cur = dm.currents_events(p, net, ev, cfg)
    logits, vjp = jax.vjp(lambda q: dm.logits_events(q, net, ev, cfg), p)
    (g,) = vjp(jnp.ones_like(logits))
    # the time of each output's maximum, per sample
    v = np.zeros((2, 20)); tmax = np.zeros((2, 20), int); best = np.full((2, 20), -1.0)
    for t, c in enumerate(np.asarray(cur)):
        v = np.maximum(0, cfg.alpha * v + c)
        upd = v > best
        best[upd], tmax[upd] = v[upd], t
    d = np.asarray(dm.effective_delays(net.delays, cfg))
    sees = np.zeros(d.shape, bool)
    for b in range(2):
        for t, i in zip(*np.nonzero(x[b])):
            sees[:, i, :] |= (t + d[:, i, :]) <= tmax[b][:, None]
    gw = np.asarray(g.w)
    assert sees.sum() > 0.5 * sees.size
    assert np.all(gw[sees] > 0), "a weight whose input arrives before the max got no gradient"
    assert np.all(gw[~sees] == 0), "a weight whose input never reaches the max got a gradient"
    assert np.all(gw[:, -1, :] == 0)


# ---------------------------------------------------------------- weight noise

def test_noise_scale_and_straight_through():
    p, _, _ = dm.init_network(0, dm.D2)
    wmax = max(float(jnp.abs(p.w).max()), float(jnp.abs(p.b).max()))
    for s in (0.05, 0.2):
        q = dm.noisy_params(p, jax.random.PRNGKey(1), s)
        dw = np.asarray(q.w - p.w).ravel()
        assert abs(dw.std() / (s * wmax) - 1) < 0.01 and abs(dw.mean()) < 0.01 * s * wmax
        # a fresh key gives a fresh realisation
        q2 = dm.noisy_params(p, jax.random.PRNGKey(2), s)
        assert not np.allclose(q.w, q2.w)
    q0 = dm.noisy_params(p, jax.random.PRNGKey(1), 0.0)
    assert np.array_equal(q0.w, p.w) and np.array_equal(q0.b, p.b)
    c = jax.random.normal(jax.random.PRNGKey(9), p.w.shape)
    g = jax.grad(lambda w: jnp.sum(dm.noisy_params(p._replace(w=w), jax.random.PRNGKey(1), 0.2).w * c))(p.w)
    np.testing.assert_allclose(g, c)   # identity: noise and max|W| carry no gradient


# ---------------------------------------------------------------- optimiser

def test_denram_adam_matches_hand_computed_steps():
    opt = dm.denram_adam()
    w0 = np.array([0.5, -1.0, 2.0], np.float32)
    g1 = np.array([0.1, -0.2, 0.3], np.float32)
    g2 = np.array([-0.05, 0.4, 0.0], np.float32)
    st = opt.init(jnp.asarray(w0))
    u1, st = opt.update(jnp.asarray(g1), st, epoch=0)
    u2, st = opt.update(jnp.asarray(g2), st, epoch=40)
    # by hand: moments every step, bias correction and lr from the EPOCH index
    m1 = 0.1 * g1; v1 = 0.001 * g1 ** 2
    h1 = -2e-4 * (m1 / (1 - 0.9)) / (np.sqrt(v1 / (1 - 0.999)) + 1e-8)
    m2 = 0.9 * m1 + 0.1 * g2; v2 = 0.999 * v1 + 0.001 * g2 ** 2
    h2 = -4e-5 * (m2 / (1 - 0.9 ** 41)) / (np.sqrt(v2 / (1 - 0.999 ** 41)) + 1e-8)
    np.testing.assert_allclose(u1, h1, rtol=1e-5)
    np.testing.assert_allclose(u2, h2, rtol=1e-4, atol=1e-12)
    # differs from textbook optax.adam at step 2 (which would use count 2, lr 2e-4)
    assert not np.allclose(u2, h2 * 5)


def test_lr_schedule_boundaries():
    got = [float(dm.lr_at_epoch(e)) for e in (0, 33, 34, 66, 67, 99)]
    np.testing.assert_allclose(got, [2e-4, 2e-4, 4e-5, 4e-5, 1e-5, 1e-5], rtol=1e-6)


def test_early_stopping_rule():
    es = dm.EarlyStopping(patience=3)
    assert es.update(0.50, 0)            # from 1e-5: accepted
    assert not es.update(0.504, 1)       # +0.8 % relative: not enough, counts
    assert es.best == 0.50 and es.count == 1
    assert es.update(0.506, 2)           # +1.2 %: accepted, counter reset
    assert es.count == 0 and es.best_epoch == 2
    for e in (3, 4, 5):
        assert not es.update(0.40, e)
    assert es.stop


# ---------------------------------------------------------------- data

def test_binning_digitize_semantics_and_truncation():
    step = 1.4 / 279
    times = np.array([0.0, 0.004, step + 1e-6, 148.5 * step, 149 * step + 1e-6, 1.2])
    units = np.array([0, 1, 2, 3, 4, 5])
    r = dm.bin_sample(times, units)
    assert r.shape == (150, 700) and r.dtype == np.uint8
    assert r[:, 0].argmax() == 1 and r[:, 1].argmax() == 1 and r[:, 2].argmax() == 2
    assert r[149, 3] == 1
    assert r[:, 4].sum() == 0 and r[:, 5].sum() == 0          # beyond the first 150 bins
    assert r[0].sum() == 0                                     # bin 0 is always empty
    r2 = dm.bin_sample(np.array([0.1, 0.1001, 0.1002]), np.array([7, 7, 7]))
    assert r2.sum() == 1                                       # binary
    with pytest.raises(ValueError, match="finite"):
        dm.bin_sample(np.array([np.nan]), np.array([0]))
    with pytest.raises(ValueError, match=">= 0"):
        dm.bin_sample(np.array([-0.1]), np.array([0]))


def test_channel_reduction_every_third():
    r = np.zeros((150, 700), np.uint8)
    r[5, 3] = 1; r[6, 1] = 1; r[7, 699] = 1
    red = dm.reduce_channels(r, 256)
    assert red.shape == (150, 256)
    assert red[5, 1] == 1 and red[7, 233] == 1 and red.sum() == 2     # channel 1 is discarded
    assert red[:, 234:].sum() == 0
    assert np.array_equal(dm.reduce_channels(r, 700), r)


def test_train_checks_shapes_and_resumes(tmp_path):
    cfg = dm.DenRAMConfig(n_in=6, tau_mem=15e-3, max_delay=20, t_data=30)
    rng = np.random.default_rng(0)
    n = 48
    labels = rng.integers(0, 2, n)
    x = (rng.random((n, 30, 6)) < 0.05).astype(np.uint8)
    x[labels == 1, :10, :3] = 1                    # class 1: early burst on channels 0-2
    data = dm.events_from_rasters(x, labels)
    tr, va, te = data.subset(np.arange(32)), data.subset(np.arange(32, 40)), data.subset(np.arange(40, 48))
    wrong = dm.events_from_rasters(x, labels, n_in=4)
    with pytest.raises(ValueError, match="channels"):
        dm.train(cfg, wrong, va, te, batch_size=8, epochs=1)
    full = dm.train(cfg, tr, va, te, seed=1, noise_std=0.1, epochs=3, batch_size=8)
    ck = tmp_path / "ck.npz"
    dm.train(cfg, tr, va, te, seed=1, noise_std=0.1, epochs=2, batch_size=8, checkpoint=str(ck))
    resumed = dm.train(cfg, tr, va, te, seed=1, noise_std=0.1, epochs=3, batch_size=8, checkpoint=str(ck))
    assert resumed["epochs_run"] == 3
    np.testing.assert_allclose(resumed["final_params"].w, full["final_params"].w, rtol=1e-6)
    assert full["history"]["train_loss"][-1] < full["history"]["train_loss"][0]


def test_events_from_shd_counts_empty_samples_and_rejects_bad_times():
    from snncore.data.shd import SHD
    good = SHD([np.array([0.01, 0.02]), np.zeros(0)], [np.array([3, 699]), np.zeros(0, np.int32)],
               [1, 2], 700, "test")
    ev = dm.events_from_shd(good, 256)
    assert dm.events_from_shd.n_empty == 1 and len(ev) == 2
    assert ev.raster(0).sum() == 2 and ev.raster(0)[:, [1, 233]].sum() == 2 and ev.raster(1).sum() == 0
    bad = SHD([np.array([-0.01])], [np.array([3])], [0], 700, "test")
    with pytest.raises(ValueError, match=">= 0"):
        dm.events_from_shd(bad, 700)


def test_train_grid_equals_separate_runs():
    cfg = dm.DenRAMConfig(n_in=6, tau_mem=15e-3, max_delay=20, t_data=30)
    rng = np.random.default_rng(2)
    n = 48
    labels = rng.integers(0, 2, n)
    x = (rng.random((n, 30, 6)) < 0.05).astype(np.uint8)
    x[labels == 1, :10, :3] = 1
    data = dm.events_from_rasters(x, labels)
    tr, va, te = data.subset(np.arange(32)), data.subset(np.arange(32, 40)), data.subset(np.arange(40, 48))
    grid = dm.train_grid(cfg, tr, va, te, seeds=[3, 3], noise_stds=[0.0, 0.2], epochs=3, patience=1,
                         batch_size=8)
    for g, s in zip(grid, (0.0, 0.2)):
        one = dm.train(cfg, tr, va, te, seed=3, noise_std=s, epochs=3, patience=1, batch_size=8)
        np.testing.assert_allclose(g["params"].w, one["params"].w, rtol=1e-5, atol=1e-7)
        assert g["epochs_run"] == one["epochs_run"] and g["best_epoch"] == one["best_epoch"]
        np.testing.assert_allclose(g["history"]["val_acc"], one["history"]["val_acc"])
        assert g["test_acc"] == pytest.approx(one["test_acc"])


def test_run_archive_reuses_a_finished_run_and_rejects_a_mismatched_key(tmp_path):
    key = dm.run_key("D2", "lognormal", 0.05, 42, 2160, 540, 300, 100, 25, "SHD stand-in: FSDD")
    assert dm.load_run(tmp_path, key) is None and dm.load_run_files(tmp_path / "none") == []
    row = {"config": "D2", "delay_mode": "lognormal", "noise": 0.05, "seed": 42, "test_acc": 0.8,
           "best_val_acc": 0.81, "best_epoch": np.int64(3), "epochs_run": 29, "stopped_early": True,
           "wall_s": 1.5, "history": {"val_acc": [np.float32(0.5), 0.81]}}
    path = dm.save_run(tmp_path, key, row)
    assert path.parent == tmp_path and "D2_lognormal_n0.050_s42_tr2160" in path.name
    got = dm.load_run(tmp_path, key)                      # a finished run is found and reused
    assert got["key"] == key and got["row"]["test_acc"] == 0.8 and got["row"]["n_test"] == 300
    assert got["row"]["best_epoch"] == 3 and "device" in got["provenance"] and "commit" in got["provenance"]
    # any field of the key differing means a different run: not reused
    for field, other in (("epochs", 50), ("n_train", 1024), ("seed", 50), ("noise", 0.1),
                         ("delay_mode", "zero"), ("dataset", "SHD (real, Cramer et al. 2020; 20 classes)")):
        assert dm.load_run(tmp_path, {**key, field: other}) is None, field
    # a file under the right name whose own key differs (edited, or written by other code) is rejected
    other = {**key, "patience": 10}
    dm.run_file(tmp_path, other).write_text(path.read_text())
    assert dm.load_run(tmp_path, other) is None
    assert len(dm.load_run_files(tmp_path)) == 2
    dm.run_file(tmp_path, other).write_text("{trunc")
    with pytest.raises(ValueError, match="not valid JSON"):
        dm.load_run(tmp_path, other)
    with pytest.raises(ValueError, match="lacks"):
        dm.save_run(tmp_path, {"config": "D2"}, row)
