"""Single-cell and pipeline checks of the Larisch et al. (2023) V1 layer-4 model (notes §6)."""
import numpy as np
import jax
import jax.numpy as jnp
import pytest

from snncore.models import larisch as L

P = L.default_params()
EV_DTYPE = np.dtype([("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "<i8")])


def _events(rows):
    return np.array([tuple(r) for r in rows], dtype=EV_DTYPE)


def _single_cell_trace(kick_at=5, kick=40.0, n=120):
    """One AdEx-Clopath cell, a one-step excitatory pulse of `kick` mV/ms at step `kick_at`."""
    s = L._neuron_init(P, (1,), jnp.float32)
    out = []
    for t in range(n):
        if t == kick_at:
            s = s._replace(g_exc=s.g_exc + kick)
        s = L._neuron_update(P, s)
        out.append({k: float(getattr(s, k)[0]) for k in ("vm", "VT", "z", "spike", "st", "wad")})
    return out


def test_spike_waveform_and_threshold():
    tr = _single_cell_trace()
    # at rest before the kick: vm stays near EL (the exp term adds ~1e-5 mV/ms), no spike
    assert tr[4]["vm"] == pytest.approx(-70.6, abs=1e-3) and tr[4]["spike"] == 0
    k = 5
    assert tr[k]["spike"] == 1 and tr[k]["vm"] == pytest.approx(29.0)
    assert tr[k]["VT"] == pytest.approx(-30.4)                       # VT jumps to VTmax
    assert tr[k + 1]["vm"] == pytest.approx(32.462, abs=1e-4)       # plateau step 2
    wad = tr[k + 1]["wad"]
    expect_reset = -51.75 + (400.0 - (wad + 0.0805)) / 281.0       # state-1 "reset" formula
    assert tr[k + 2]["vm"] == pytest.approx(expect_reset, abs=1e-4)
    assert tr[k + 2]["vm"] == pytest.approx(-50.33, abs=0.05)
    assert tr[k + 2]["z"] == pytest.approx(390.0, abs=1e-3)          # after-depolarising current
    assert tr[k + 2]["VT"] == pytest.approx(-30.8, abs=1e-4)
    assert sum(r["spike"] for r in tr[k + 1:k + 3]) == 0             # refractory plateau
    # threshold relaxes to VTrest with tau 50 ms: VT - VTrest = 19.6 * 0.98^m after step k+2
    for m in (1, 10, 40):
        assert tr[k + 2 + m]["VT"] == pytest.approx(-50.4 + 19.6 * 0.98 ** m, abs=2e-3)


def test_no_spike_below_threshold_kick():
    tr = _single_cell_trace(kick=5.0)
    assert sum(r["spike"] for r in tr) == 0
    assert max(r["vm"] for r in tr) == pytest.approx(-70.6 + 5.0, abs=1e-3)


def test_no_ltd_while_vmean_at_rest():
    w = jnp.full((L.N_EXC, L.N_IN), 0.01)
    post = L._neuron_init(P, (L.N_EXC,), jnp.float32)
    post = post._replace(u_ltd=jnp.full((L.N_EXC,), -60.0))       # uLTD well above theta-
    pre_spike = jnp.ones(L.N_IN)
    pre_x = jnp.zeros(L.N_IN)
    w2 = L._clopath(P, w, post, pre_spike, pre_x, P.a_ltd_A, P.a_ltp_A, P.wmax_A)
    np.testing.assert_array_equal(np.asarray(w2), np.asarray(w))     # vmean = 0 -> no LTD
    # the same with vmean = u_ref^2 depresses by exactly A_LTD * 1 * (uLTD - theta-)
    w3 = L._clopath(P, w, post._replace(vmean=jnp.full((L.N_EXC,), 9.0)), pre_spike, pre_x,
                    P.a_ltd_A, P.a_ltp_A, P.wmax_A)
    np.testing.assert_allclose(np.asarray(w - w3), 3.5e-7 * 10.6, rtol=1e-3)


def test_on_off_norms_after_normalisation():
    w = jax.random.uniform(jax.random.PRNGKey(1), (L.N_EXC, L.N_IN), minval=0.0, maxval=2.0)
    w = w.at[:, 0::2].multiply(3.0)
    n = L.normalize_on_off(w)
    on = np.linalg.norm(np.asarray(n)[:, 0::2], axis=1)
    off = np.linalg.norm(np.asarray(n)[:, 1::2], axis=1)
    np.testing.assert_allclose(on, off, rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(n)[:, 1::2], np.asarray(w)[:, 1::2])  # OFF untouched


def test_normalisation_only_every_400_presentations():
    ps = L.init_plastic(jax.random.PRNGKey(0))
    ps = ps._replace(w=ps.w._replace(lgn_v1=ps.w.lgn_v1.at[:, 0::2].multiply(2.0)))
    zero = jnp.zeros((L.T_STEPS, L.N_IN))
    ps1, _ = L.present(P, ps, zero)             # i = 0 -> normalised
    w = np.asarray(ps1.w.lgn_v1)
    np.testing.assert_allclose(np.linalg.norm(w[:, 0::2], axis=1), np.linalg.norm(w[:, 1::2], axis=1), rtol=1e-5)
    ps_b = ps._replace(i=jnp.asarray(1, jnp.int32))
    ps2, _ = L.present(P, ps_b, zero)           # i = 1 -> not normalised; no input -> no change
    np.testing.assert_array_equal(np.asarray(ps2.w.lgn_v1), np.asarray(ps.w.lgn_v1))
    assert int(ps2.i) == 2


def test_lgn_relay_latency_and_v1_arrival():
    ps = L.init_plastic(jax.random.PRNGKey(0))
    net = L.init_net(P)
    x = np.zeros((12, L.N_IN), np.float32)
    x[3, 7] = 1.0
    x[3, 8] = 1.0
    x[6, 7] = 1.0
    lgn_spikes, v1_ge = [], []
    c = (net, ps)
    for t in range(12):
        c, out = L.step(P, c, jnp.asarray(x[t]), plastic=False)
        lgn_spikes.append(np.asarray(c[0].lgn.spike))
        v1_ge.append(float(out[2]))
    lgn_spikes = np.array(lgn_spikes)
    np.testing.assert_array_equal(lgn_spikes[4], x[3])   # one spike per input event, 1 ms later
    np.testing.assert_array_equal(lgn_spikes[7], x[6])
    assert lgn_spikes.sum() == 3
    # LGN spike at step 4 reaches V1 g_Exc at step 5 (input -> V1 = 2 ms), as a one-step pulse
    expect = float(jnp.mean(ps.w.lgn_v1[:, 7] + ps.w.lgn_v1[:, 8]))
    assert v1_ge[5] == pytest.approx(expect, rel=1e-5)
    assert v1_ge[4] == 0.0


def test_patch_raster_channels_flips_and_collisions():
    ev = _events([(5, 5, 1500, 1),      # ON at patch (0,0) ms 1
                  (6, 5, 2500, 0),      # OFF at (0,1) ms 2
                  (7, 5, 3100, 1), (7, 5, 3900, 0),   # same voxel: the later (OFF) wins
                  (5, 5, 500, 1),       # ms 0: kept at test time, dropped in training
                  (6, 6, 360_000, 1),   # beyond the 350-ms window: dropped
                  (40, 5, 1000, 1)])    # outside the sensor: invalid
    (x, y, ms, p, v), dropped = L.pad_events([ev])
    assert dropped[0] == 1
    r = np.asarray(L.patch_raster(x[0], y[0], ms[0], p[0], v[0], 5, 5))
    assert r.sum() == 4
    assert r[1, 0] == 1 and r[2, 3] == 1 and r[3, 4 + 1] == 1 and r[3, 4] == 0 and r[0, 0] == 1
    r1 = np.asarray(L.patch_raster(x[0], y[0], ms[0], p[0], v[0], 5, 5, t_min=1))
    assert r1.sum() == 3 and r1[0].sum() == 0
    rl = np.asarray(L.patch_raster(x[0], y[0], ms[0], p[0], v[0], 5, 5, flip_lr=True))
    assert rl[1, 2 * 11] == 1                      # (0,0) -> (0,11), ON
    rt = np.asarray(L.patch_raster(x[0], y[0], ms[0], p[0], v[0], 5, 5, transpose=True))
    assert rt[2, 2 * 12 + 1] == 1                  # OFF at (0,1) -> (1,0)


def _toy_events(n, seed=0, lo=300, hi=600):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        m = int(rng.integers(lo, hi))
        out.append(_events(np.stack([rng.integers(4, 30, m), rng.integers(4, 30, m),
                                     np.sort(rng.integers(0, 300_000, m)), rng.integers(0, 2, m)], 1)))
    return out


def test_training_resumes_from_checkpoint(tmp_path):
    ev = _toy_events(5)
    cfg = L.TrainConfig(n_presentations=6, chunk=2, checkpoint_every=2, seed=3)
    full, hist = L.train(P, ev, cfg)
    assert len(hist["n_v1"]) == 6 and int(full.i) == 6
    ck = tmp_path / "ck.npz"
    part, _ = L.train(P, ev, cfg, checkpoint=ck, stop_after=4)    # "interrupted" after 4
    assert int(part.i) == 4 and ck.exists()
    resumed, h2 = L.train(P, ev, cfg, checkpoint=ck)
    assert len(h2["n_v1"]) == 2
    for a, b in zip(jax.tree_util.tree_leaves(full), jax.tree_util.tree_leaves(resumed)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
    assert not np.allclose(np.asarray(full.w.lgn_v1), np.asarray(L.init_plastic(jax.random.PRNGKey(3)).w.lgn_v1))
    with pytest.raises(ValueError):
        L.train(P, ev, cfg._replace(seed=4), checkpoint=ck)


def test_checkpoint_mirror_resumes_on_a_machine_without_the_cache(tmp_path):
    """on_checkpoint sees every save; a copy of the last one, put where a fresh machine's cache
    expects it, resumes to the same weights as an uninterrupted run."""
    ev = _toy_events(5)
    cfg = L.TrainConfig(n_presentations=6, chunk=2, checkpoint_every=2, seed=3)
    full, _ = L.train(P, ev, cfg)
    seen, mirror = [], tmp_path / "results" / "ck.npz"

    def copy(path, done):
        seen.append(done)
        mirror.parent.mkdir(parents=True, exist_ok=True)
        mirror.write_bytes(path.read_bytes())

    L.train(P, ev, cfg, checkpoint=tmp_path / "cache1" / "ck.npz", stop_after=4, on_checkpoint=copy)
    assert seen == [2, 4]
    fresh = tmp_path / "cache2" / "ck.npz"          # the next machine: empty cache, mirror restored
    fresh.parent.mkdir()
    fresh.write_bytes(mirror.read_bytes())
    resumed, h2 = L.train(P, ev, cfg, checkpoint=fresh, on_checkpoint=copy)
    assert len(h2["n_v1"]) == 2 and seen == [2, 4, 6]
    for a, b in zip(jax.tree_util.tree_leaves(full), jax.tree_util.tree_leaves(resumed)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)


def test_features_batched_equal_single_and_empty_is_zero():
    ps = L.init_plastic(jax.random.PRNGKey(0))
    ev = _toy_events(3, seed=1, lo=12000, hi=15000) + [_toy_events(1)[0][:0]]
    f4, info = L.extract_features(P, ps.w, ev, batch=4)
    f1, _ = L.extract_features(P, ps.w, ev[:1], batch=1)
    assert f4.shape == (4, 576) and f4.dtype == np.int32
    np.testing.assert_array_equal(f4[0], f1[0])
    assert f4[:3].sum() > 0 and f4[3].sum() == 0
    # variants in one call (shared rasters) equal separate calls; feedback lowers the counts
    w = ps.w._replace(inh_v1=jnp.full((L.N_EXC, L.N_INH), 0.5))
    fv, iv = L.extract_features(P, w, ev, batch=4, fb_scales=(0.0, 2.0))
    assert fv.shape == (2, 4, 576) and iv["g_inh"].shape == (2, 4)
    f_strong, _ = L.extract_features(P._replace(fb_scale=2.0), w, ev, batch=2)
    np.testing.assert_array_equal(fv[1], f_strong)
    assert fv[1].sum() < fv[0].sum() and iv["g_inh"][0].max() == 0.0
    # the hoisted feed-forward path gives the same counts
    np.testing.assert_array_equal(L.extract_features(P._replace(fb_scale=2.0), w, ev, batch=4, fast=True)[0],
                                  f_strong)


def test_eval_rasters_match_patch_rasters():
    ev, _ = L.pad_events(_toy_events(2, seed=2, lo=3000, hi=4000))
    ev = tuple(jnp.asarray(a) for a in ev)
    a = np.asarray(L._eval_rasters(ev))
    b = np.asarray(L._eval_rasters_by_patch(ev))
    assert a.shape == (2, 4, L.T_STEPS, L.N_IN) and a.sum() > 1000
    np.testing.assert_array_equal(a, b)


def test_bad_params_raise():
    with pytest.raises(ValueError):
        L.default_params(tau_w=0.0)
    with pytest.raises(ValueError):
        L.default_params(nonsense=1.0)
