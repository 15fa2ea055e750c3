"""Tests of snncore.models.lcsnn against hand-computed discrete updates and independent
references written with plain numpy loops."""
import os

os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.expanduser("~/.cache/snncore/jax"))
import numpy as np
import pytest
import jax
import jax.numpy as jnp
from scipy.stats import poisson

from snncore.models import lcsnn as L

D = np.exp(-1 / 20)  # membrane / trace decay per 1 ms step


def _const_input_raster(T, K, pixel=0):
    r = np.zeros((T, K), np.float32)
    r[:, pixel] = 1.0
    return jnp.asarray(r)


def _one_neuron(arch="LC", refrac=None, w_in=5.0, T=30, adapt=False):
    # one neuron with one patch (kernel = crop) fed by one pixel spiking at every step
    cfg = L.LCConfig(arch, 1, 4, 1, crop=4, time=T, refrac=refrac)
    hp = L.hparams(0.5, 0.0)
    w = np.zeros((1, 1, 16), np.float32) if arch != "C" else np.zeros((1, 16), np.float32)
    w[..., 0] = w_in
    st = L.NetState(jnp.asarray(w), jnp.zeros((1, 1)), None)
    rec = L.simulate_image(cfg, hp, st, _const_input_raster(T, 16), adapt=adapt, record=True)[2]
    out = [int(t) for t in np.nonzero(np.asarray(rec)[:, 0, 0])[0]]
    return out


def test_single_neuron_spike_timing_by_hand():
    # u = v - rest; step 0 gets no input (one-step delay), then u_n = D u_{n-1} + 5:
    # u1 = 5, u2 = 5 + 5 D = 9.756, u3 = 14.28 >= 13 (= -52 - -65): spike at step 3, reset to 0.
    # LC (refrac 2): input ignored at steps 4, 5, integrates again from step 6 -> 3, 8, 13, ...
    assert 5 + 5 * D < 13 <= 5 + 5 * D + 5 * D * D
    assert _one_neuron("LC") == [3, 8, 13, 18, 23, 28]
    # C / FC default refractory period is 5 steps: ignored 4..8, integrates from 9 -> 3, 11, 19, 27
    assert _one_neuron("C") == [3, 11, 19, 27]
    assert _one_neuron("LC", refrac=5) == [3, 11, 19, 27]


def test_threshold_adaptation_only_in_training():
    # with adaptation theta grows by 0.05 mV per spike; an input just above threshold stops firing
    w_in = 13.0  # u jumps to 13 in one step: spikes at threshold exactly (v >= thresh)
    silent = _one_neuron("LC", w_in=w_in, T=12, adapt=False)
    assert silent == [1, 4, 7, 10]
    # in training mode, after the first spike theta = 0.05 > 0: 13 < 13.05 needs two steps of input
    adapting = _one_neuron("LC", w_in=w_in, T=12, adapt=True)
    assert adapting[0] == 1 and adapting[1] == 5


def _reference_stdp(w0, raster, refrac, T, nu_pre=1e-4, nu_post=1e-2, theta_plus=0.05):
    """Plain-numpy reference of one neuron (F = 1, P = 1) with PostPre STDP, step by step."""
    w = np.clip(w0.astype(np.float64), 0, 1)
    K = len(w)
    v, rc, theta = -65.0, 0, 0.0
    xx, ypost = np.zeros(K), 0.0
    sx_prev, sy_prev = np.zeros(K), 0.0
    th_decay = np.exp(-1e-6)
    spikes = []
    for t in range(T):
        i_in = float(sx_prev @ w)
        v = -65 + D * (v + 65)
        theta *= th_decay
        if rc == 0:
            v += i_in
        rc = max(rc - 1, 0)
        s = 1.0 if v >= -52 + theta else 0.0
        if s:
            rc, v = refrac, -65.0
            spikes.append(t)
        theta += theta_plus * s
        sx = raster[t]
        xx = np.where(sx > 0, 1.0, xx * D)
        ypost = 1.0 if s else ypost * D
        w = np.clip(w + nu_post * xx * s - nu_pre * sx * ypost, 0, 1)
        sx_prev, sy_prev = sx, s
    return w, spikes, theta


@pytest.mark.parametrize("skip", [True, False])
def test_stdp_traces_and_clamp_match_reference(skip):
    rng = np.random.default_rng(0)
    T, K = 120, 16
    raster = (rng.random((T, K)) < 0.3).astype(np.float32)
    w0 = rng.uniform(0, 1.2, K).astype(np.float32)   # some > 1: clamped at the first training step
    w0[3] = 5e-5                                       # depressed below 0: clamp at 0
    cfg = L.LCConfig("LC", 1, 4, 1, crop=4, time=T)
    hp = L.hparams(0.5, 0.0)
    st = L.NetState(jnp.asarray(w0[None, None]), jnp.zeros((1, 1)), None)
    st2, cnt = L.simulate_image(cfg, hp, st, jnp.asarray(raster), learn_xy=True, skip_silent=skip)
    w_ref, spikes, theta = _reference_stdp(w0, raster, 2, T)
    assert len(spikes) == int(cnt[0, 0]) > 3
    np.testing.assert_allclose(np.asarray(st2.w[0, 0]), w_ref, atol=2e-6)
    np.testing.assert_allclose(float(st2.theta[0, 0]), theta, rtol=1e-5)
    assert np.asarray(st2.w).min() >= 0 and np.asarray(st2.w).max() <= 1


def test_traces_are_set_to_one_not_incremented():
    # two X spikes in consecutive steps: the trace is 1 (set), not 1 + D (additive)
    T, K = 3, 16
    raster = np.zeros((T, K), np.float32)
    raster[0, 0] = raster[1, 0] = 1
    cfg = L.LCConfig("LC", 1, 4, 1, crop=4, time=T)
    hp = L.hparams(0.5, 0.0)
    # a neuron driven to spike at step 2 by pixel 1 (weight 20 mV, spike at step 1 -> input at 2)
    raster[1, 1] = 1
    w0 = np.zeros((1, 1, K), np.float32)
    w0[0, 0, 0], w0[0, 0, 1] = 0.5, 1.0
    st = L.NetState(jnp.asarray(w0), jnp.zeros((1, 1)), None)
    hp = hp._replace(theta_plus=jnp.float32(0.0))
    # scale: input 0.5 + 1.0 mV is far below threshold -> no post spike; depression needs a post
    # trace, potentiation a post spike: weights must not move at all
    st2, cnt = L.simulate_image(cfg, hp, st, jnp.asarray(raster), learn_xy=True)
    assert float(cnt.sum()) == 0
    np.testing.assert_array_equal(np.asarray(st2.w), w0)
    # the reference with a post spike: potentiation of pixel 0 = nu_post * x_pre with x_pre = 1 at
    # step 1 (set) and D at step 2
    w_ref, _, _ = _reference_stdp(np.array([0.5, 0.0]), np.array([[1, 0], [1, 0], [0, 0]], float), 2, 3)
    assert np.all(w_ref == np.array([0.5, 0.0]))


def test_patch_index_receptive_fields():
    cfg = L.LCConfig("LC", 3, 12, 4)
    idx = L.patch_index(cfg)
    assert cfg.conv_size == 3 and idx.shape == (9, 144)
    # patch (i, j) = (1, 2), kernel offset (ki, kj) = (3, 5): row 4 + 3, col 8 + 5
    assert idx[1 * 3 + 2, 3 * 12 + 5] == (4 + 3) * 20 + (8 + 5)
    assert idx[0, 0] == 0 and idx[8, 143] == 399
    assert L.LCConfig("LC", 3, 8, 4).conv_size == 4
    assert L.LCConfig("FC", 5, 3).kernel == 20 and L.LCConfig("FC", 5, 3).n_patches == 1
    # the LC current from the gather equals an explicit loop over receptive fields
    rng = np.random.default_rng(1)
    hp = L.hparams(0.3, -10.0)
    st = L.init_state(cfg, hp, jax.random.PRNGKey(0))
    w = np.asarray(st.w)
    x = (rng.random(400) < 0.3).astype(np.float32)
    got = np.asarray(L._current(cfg, st.w, jnp.asarray(x)[idx]))
    img = x.reshape(20, 20)
    ref = np.zeros((3, 9))
    for f in range(3):
        for i in range(3):
            for j in range(3):
                win = img[4 * i:4 * i + 12, 4 * j:4 * j + 12].reshape(-1)
                ref[f, i * 3 + j] = win @ w[f, i * 3 + j]
    np.testing.assert_allclose(got, ref, rtol=1e-5)
    # C: shared kernels = strided correlation
    cfgc = L.LCConfig("C", 2, 8, 4)
    stc = L.init_state(cfgc, hp, jax.random.PRNGKey(1))
    gotc = np.asarray(L._current(cfgc, stc.w, jnp.asarray(x)[L.patch_index(cfgc)]))
    conv = jax.lax.conv_general_dilated(jnp.asarray(img)[None, None], stc.w.reshape(2, 1, 8, 8), (4, 4), "VALID")
    np.testing.assert_allclose(gotc, np.asarray(conv)[0].reshape(2, 16), rtol=1e-5)


def test_competition_mask_and_fixed_equals_dense():
    cfg = L.LCConfig("LC", 4, 12, 4, comp_learning=True)
    m = L.competition_mask(cfg)
    n = np.arange(cfg.n_y)
    f, p = n // 9, n % 9
    assert m.shape == (36, 36)
    for a in range(36):
        for b in range(36):
            assert m[a, b] == float(p[a] == p[b] and f[a] != f[b])
    assert np.all(m.sum(1) == 3)
    # block-form fixed competition == dense matrix c_w * mask
    hp = L.hparams(0.4, -30.0)
    st = L.init_state(cfg, hp, jax.random.PRNGKey(0))
    st = st._replace(wyy=jnp.asarray(-30.0 * m))
    raster = L.encode(cfg, jnp.full((400,), 200, jnp.uint8), jax.random.PRNGKey(2))
    c_fixed = L.simulate_image(cfg, hp, st, raster, yy="fixed")[1]
    c_dense = L.simulate_image(cfg, hp, st, raster, yy="dense")[1]
    np.testing.assert_array_equal(np.asarray(c_fixed), np.asarray(c_dense))
    assert float(c_fixed.sum()) > 0


def test_encoder_rate_and_isi_distribution():
    cfg = L.LCConfig("LC", 1, 12, 4)
    n = 4000
    px = jnp.asarray(np.r_[np.full(n, 255), np.full(n, 128), np.full(n, 0), np.full(n, 1)].astype(np.uint8))
    r = np.asarray(L.encode(cfg, px, jax.random.PRNGKey(0)))
    assert r.shape == (250, 4 * n) and set(np.unique(r)) <= {0.0, 1.0}
    assert r[:, 2 * n:].sum() == 0          # 0 Hz never spikes; 0.5 Hz: mean ISI 2000 steps
    for j, v in ((0, 255), (1, 128)):
        blk = r[:, j * n:(j + 1) * n]
        lam = 1000 / (v / 255 * 127.5)
        # first spike time index = max(ISI, 1) - 1, ISI ~ Poisson(lam): compare the pmf
        first = blk.argmax(0) + 1
        assert blk[:, :].any(0).all()
        for k in range(int(lam) - 3, int(lam) + 4):
            p = poisson.pmf(k, lam)
            emp = np.mean(first == k)
            assert abs(emp - p) < 4 * np.sqrt(p * (1 - p) / n) + 1e-3, (v, k, emp, p)
        # mean rate close to the nominal rate (renewal process: ~250/lam - 1/2 spikes)
        assert abs(blk.sum(0).mean() - (250 / lam - 0.5)) < 0.4
    # at most one spike per step by construction; ISIs are >= 1 step
    assert r.max() == 1.0


def test_encoder_equals_numpy_inverse_cdf():
    # the same uniforms inverted with numpy's searchsorted on the tabulated CDF (a second
    # implementation of the exact inversion): spike for spike identical rasters
    cfg = L.LCConfig("LC", 1, 12, 4)
    rng = np.random.default_rng(5)
    px = rng.integers(0, 256, 400).astype(np.uint8)
    px[:40] = 0
    px[40:60] = 255
    key = jax.random.PRNGKey(11)
    got = np.asarray(L.encode(cfg, jnp.asarray(px), key))
    cdf, _, n_isi = L.poisson_table(cfg)
    u = np.asarray(jax.random.uniform(key, (400, n_isi), jnp.float32))
    want = np.zeros((251, 400), np.float32)
    for i, v in enumerate(px):
        isi = np.maximum(np.searchsorted(cdf[v], u[i], side="left"), 1)
        t = np.cumsum(isi)
        want[t[t <= 250], i] = 1
    np.testing.assert_array_equal(got, want[1:])
    assert got[:, 40:60].sum() > 20 * 20 and got[:, :40].sum() == 0


def test_normalisation_sums():
    hp = L.hparams(0.32, -50.0)
    for arch, k in (("LC", 12), ("C", 8), ("FC", 20)):
        cfg = L.LCConfig(arch, 5, k, 4)
        st = L.init_state(cfg, hp, jax.random.PRNGKey(0))
        w = L.normalise(cfg, hp, st.w)
        np.testing.assert_allclose(np.asarray(w.sum(-1)), 0.32 * cfg.k2, rtol=1e-5)
    # after training steps, every column is normalised again
    cfg = L.LCConfig("LC", 5, 12, 4)
    st = jax.tree_util.tree_map(lambda x: x[None], L.init_state(cfg, hp, jax.random.PRNGKey(0)))
    imgs = L.crop_images(np.random.default_rng(0).integers(0, 256, (4, 28, 28), dtype=np.uint8), cfg)
    st2, tot = L.train_networks(cfg, hp, st, imgs, np.array([[0, 1, 2, 3]]), jax.random.split(jax.random.PRNGKey(1), 1))
    np.testing.assert_allclose(np.asarray(st2.w.sum(-1)), 0.32 * 144, rtol=1e-4)
    assert float(st2.theta.max()) > 0      # thresholds adapted during training
    assert not np.allclose(np.asarray(st2.w), np.asarray(st.w))


def test_voting_formulas():
    # 2 filters x 2 patches, 3 classes
    votes = np.zeros((3, 2, 2))
    votes[0] = [[1, 0], [0, 0]]
    votes[1] = [[0, 0], [3, 0]]
    votes[2] = [[0, 2], [0, 2]]
    counts = np.array([[[2, 1], [1, 1]]], float)     # f0: (2, 1), f1: (1, 1)
    # patch: class0 = max(2,0) + max(0,0) = 2; class1 = max(0,3) + 0 = 3; class2 = 0 + max(2, 2) = 2
    assert L.vote(counts, votes, "patch")[0] == 1
    # all: class0 = 2, class1 = 3, class2 = 1*2 + 1*2 = 4
    assert L.vote(counts, votes, "all")[0] == 2
    # spikes_first: patch0 winner f0 (2 > 1) -> class0 2; patch1 tie -> f0: class2 2 -> tie 0/2 -> 0
    assert L.vote(counts, votes, "spikes_first")[0] == 0
    assert L.vote(np.zeros((1, 2, 2)), votes, "patch")[0] == -1
    v = L.compute_votes(np.array([[[1.0]], [[3.0]], [[5.0]]]), np.array([0, 0, 1]), 3)
    np.testing.assert_allclose(v[:, 0, 0], [2.0, 5.0, 0.0])


def test_bad_input_rejected():
    with pytest.raises(ValueError, match="kernel"):
        L.LCConfig("LC", 10, 24, 4)
    with pytest.raises(ValueError, match="stride"):
        L.LCConfig("LC", 10, 12, 0)
    with pytest.raises(ValueError, match="arch"):
        L.LCConfig("XX")
    with pytest.raises(ValueError, match="mean_weight"):
        L.hparams(0.0, -50.0)
    with pytest.raises(ValueError, match="c_w"):
        L.hparams(0.3, 5.0)
    with pytest.raises(ValueError, match=r"\[N, 28, 28\]"):
        L.crop_images(np.zeros((3, 20, 20), np.uint8), L.LCConfig())
    with pytest.raises(ValueError, match="uint8"):
        L.crop_images(np.zeros((3, 28, 28), np.float32), L.LCConfig())


def test_chunked_training_with_padding_equals_one_launch_and_grid_axis():
    cfg = L.LCConfig("LC", 2, 12, 4)
    hp = L.hparams(np.array([0.3, 0.5]), np.array([-20.0, -60.0]))   # a 2-point grid
    assert hp.nu_pre.shape == (2,)
    st = jax.vmap(lambda h, k: L.init_state(cfg, h, k))(hp, jax.random.split(jax.random.PRNGKey(0), 2))
    imgs = L.crop_images(np.random.default_rng(0).integers(0, 256, (6, 28, 28), dtype=np.uint8), cfg)
    orders = np.array([[0, 1, 2, 3, 4], [5, 4, 3, 2, 1]])
    keys = jax.random.split(jax.random.PRNGKey(1), 2)
    b, tb = L.train_networks(cfg, hp, st, imgs, orders, keys, chunk=2, networks="map")  # 2 + 2 + 1 (padded)
    v, tv = L.train_networks(cfg, hp, st, imgs, orders, keys, chunk=2, networks="vmap")
    assert tb.shape == (2, 5)
    np.testing.assert_allclose(np.asarray(b.w), np.asarray(v.w), atol=1e-5)   # map == vmap
    np.testing.assert_array_equal(tb, tv)
    for g, mw in enumerate([0.3, 0.5]):
        np.testing.assert_allclose(np.asarray(b.w[g].sum(-1)), mw * 144, rtol=1e-4)
    # padding entries (valid = False) leave the state exactly as it was
    h0 = L.HParams(*[x[0] for x in hp])
    s0 = jax.tree_util.tree_map(lambda x: x[0], st)
    same, _ = L.train(cfg, h0, s0, jnp.asarray(imgs), jnp.array([0, 1]), keys[0], valid=jnp.array([False, False]))
    np.testing.assert_array_equal(np.asarray(same.w), np.asarray(s0.w))
    # one valid image + one padding entry == that image followed by a blank image (no spikes:
    # weights untouched, thresholds decay by exp(-250e-6))
    blank = np.concatenate([imgs, np.zeros((1, 400), np.uint8)])
    p1, _ = L.train(cfg, h0, s0, jnp.asarray(blank), jnp.array([0, 6]), keys[0], valid=jnp.array([True, False]))
    p2, _ = L.train(cfg, h0, s0, jnp.asarray(blank), jnp.array([0, 6]), keys[0])
    np.testing.assert_allclose(np.asarray(p1.w), np.asarray(p2.w), atol=1e-6)
    np.testing.assert_allclose(np.asarray(p1.theta), np.asarray(p2.theta), rtol=1e-3)
    assert float(p1.theta.max()) > 0


def test_thesis_data_split(shared_data):
    syn = L.thesis_data(True, np.random.default_rng(0))
    assert syn.x_train.shape == (2000, 28, 28) and syn.x_train.dtype == np.uint8
    assert len(np.intersect1d(syn.train_pool, syn.calib_pool)) == 0
    real = L.thesis_data(False, np.random.default_rng(0), root=shared_data)
    assert real.x_train.shape == (60000, 28, 28) and real.x_test.shape == (10000, 28, 28)
    assert real.train_pool[-1] == 49999 and real.calib_pool[0] == 50000 and real.calib_pool[-1] == 59999
    assert real.dataset == "MNIST (real)"


def _train_both(arch, F, n_img, seed=0):
    # train() without its encoder (rasters drawn once): the same images, one at a time, with
    # normalisation after each, for both implementations
    cfg = L.LCConfig(arch, F, 12 if arch != "FC" else 20, 4)
    hp = L.hparams(0.4, -40.0)
    imgs, _ = L.synthetic_digits(n_img + 2, np.random.default_rng(seed))
    imgs = jnp.asarray(L.crop_images(imgs, cfg))
    rasters = jax.jit(jax.vmap(lambda p, k: L.encode(cfg, p, k)))(imgs[:n_img], jax.random.split(jax.random.PRNGKey(7), n_img))
    st = L.init_state(cfg, hp, jax.random.PRNGKey(seed))
    out = {}
    for impl in ("dense", "event"):
        def body(s, r, impl=impl):
            new, cnt = L.simulate_image(cfg, hp, s, r, learn_xy=True, impl=impl)
            return L.NetState(L.normalise(cfg, hp, new.w), new.theta, None), cnt.sum()
        out[impl] = jax.jit(lambda s, rs: jax.lax.scan(body, s, rs))(st, rasters)
    return cfg, hp, imgs, out


@pytest.mark.parametrize("arch,F", [("LC", 30), ("FC", 12), ("C", 6)])
def test_event_training_equals_dense(arch, F):
    # several images chained (weights, thresholds and normalisation carried over): the same spikes
    # every image and the same weights; then inference with the trained networks
    cfg, hp, imgs, out = _train_both(arch, F, 4)
    (sd, td), (se, te) = out["dense"], out["event"]
    np.testing.assert_array_equal(np.asarray(td), np.asarray(te))
    assert float(np.sum(td)) > 50            # the networks spiked (the learning rule ran)
    np.testing.assert_allclose(np.asarray(se.w), np.asarray(sd.w), atol=1e-6)
    np.testing.assert_allclose(np.asarray(se.theta), np.asarray(sd.theta), atol=1e-6)
    batch = jax.tree_util.tree_map(lambda x: x[None], (sd, se))
    cd = L.spike_counts(cfg, hp, batch[0], np.asarray(imgs), jax.random.PRNGKey(3), batch=4)
    ce = L.spike_counts(cfg, hp, batch[1], np.asarray(imgs), jax.random.PRNGKey(3), batch=4)
    np.testing.assert_array_equal(cd, ce)
    assert cd.sum() > 0


def test_event_training_per_step_and_overflow_fallback():
    # one image from the same state, spike raster recorded by the dense path; the event path
    # alone (no fallback) with enough slots gives the same counts; with too few slots it reports
    # overflow, and simulate_image then returns the dense result
    cfg = L.LCConfig("LC", 30, 12, 4)
    hp = L.hparams(0.4, -40.0)
    st = L.init_state(cfg, hp, jax.random.PRNGKey(1))
    px = jnp.asarray(L.crop_images(L.synthetic_digits(1, np.random.default_rng(3))[0], cfg)[0])
    raster = L.encode(cfg, px, jax.random.PRNGKey(4))
    sd, cd = L.simulate_image(cfg, hp, st, raster, learn_xy=True, impl="dense")
    se, ce, over = L._simulate_train_event(cfg, hp, st, raster, adapt=True, yy="fixed", slots=cfg.n_y)
    assert not bool(over) and float(cd.sum()) > 5
    np.testing.assert_array_equal(np.asarray(cd), np.asarray(ce))
    np.testing.assert_allclose(np.asarray(se.w), np.asarray(sd.w), atol=1e-6)
    n_spiking = int((np.asarray(cd) > 0).sum())
    assert n_spiking >= 4
    # the second tier of rows (updated only once more than `tier` neurons have spiked)
    st2, ct, over = L._simulate_train_event(cfg, hp, st, raster, adapt=True, yy="fixed", slots=cfg.n_y,
                                            tier=n_spiking // 2)
    assert not bool(over)
    np.testing.assert_array_equal(np.asarray(ct), np.asarray(cd))
    np.testing.assert_allclose(np.asarray(st2.w), np.asarray(sd.w), atol=1e-6)
    _, _, over = L._simulate_train_event(cfg, hp, st, raster, adapt=True, yy="fixed", slots=n_spiking - 1)
    assert bool(over)
    old = L.EVENT_SLOTS
    try:
        L.EVENT_SLOTS = n_spiking - 1
        sf, cf = L.simulate_image(cfg, hp, st, raster, learn_xy=True, impl="event")
    finally:
        L.EVENT_SLOTS = old
    np.testing.assert_array_equal(np.asarray(cf), np.asarray(cd))
    np.testing.assert_array_equal(np.asarray(sf.w), np.asarray(sd.w))
    with pytest.raises(ValueError, match="impl"):
        L.simulate_image(cfg, hp, st, raster, learn_xy=True, impl="sparse")


def test_lazy_encoder_equals_encode():
    # the lazy encoder draws only the intervals that can matter, at the same positions of the same
    # random stream: spike for spike the rasters of encode, for a batch and for one image; a
    # budget too small for the batch falls back to encode (same result again)
    cfg = L.LCConfig("LC", 1, 12, 4)
    rng = np.random.default_rng(2)
    px = rng.integers(0, 256, (6, 400)).astype(np.uint8)
    px[:, :100] = 0
    px[0, 100:200] = 255
    px[1, :] = 0
    px[2, 300:] = 1
    keys = jax.random.split(jax.random.PRNGKey(9), 6)
    want = np.asarray(jax.jit(jax.vmap(lambda p, k: L.encode(cfg, p, k)))(jnp.asarray(px), keys))
    assert want[0].sum() > 100 * 20 and want[1].sum() == 0
    lazy = jax.jit(L._encode_lazy, static_argnums=(0, 3))
    many = jax.jit(L.encode_many, static_argnums=(0, 3))
    budget = L.lazy_budget(cfg, px)
    assert budget < 6 * 400 * L.poisson_table(cfg)[2]           # fewer draws than encode
    got, ok = lazy(cfg, jnp.asarray(px), keys, budget)
    assert bool(ok)
    np.testing.assert_array_equal(np.asarray(got), want)
    _, ok = lazy(cfg, jnp.asarray(px), keys, 1024)
    assert not bool(ok)
    np.testing.assert_array_equal(np.asarray(many(cfg, jnp.asarray(px), keys, 1024)), want)
    one = jax.jit(lambda p, k: jax.lax.map(lambda a: L.encode_one(cfg, a[0], a[1]), (p, k)))
    np.testing.assert_array_equal(np.asarray(one(jnp.asarray(px), keys)), want)
    # a pixel whose drawn intervals end before the last step is detected (fallback), here forced
    # by far too few intervals for a bright pixel
    nreq = L._nreq_np(float(cfg.intensity), int(cfg.time))
    assert nreq[0] == 0 and nreq[255] < L.poisson_table(cfg)[2] and np.all(np.diff(nreq[1:]) >= 0)
    old = nreq.copy()
    try:
        nreq[255] = 3
        _, ok = lazy(cfg, jnp.asarray(px[:1]), keys[:1], 8192)
        assert not bool(ok)
    finally:
        nreq[:] = old


def test_train_and_counts_lazy_encoder_equal_dense():
    # train_networks (event path + lazy encoder) and spike_counts (lazy encoder) against "dense"
    cfg = L.LCConfig("LC", 4, 12, 4)
    hp = L.hparams(0.4, -40.0)
    imgs = L.crop_images(L.synthetic_digits(8, np.random.default_rng(1))[0], cfg)
    st = jax.vmap(lambda k: L.init_state(cfg, hp, k))(jax.random.split(jax.random.PRNGKey(0), 2))
    orders = np.array([[0, 1, 2], [3, 4, 5]])
    keys = jax.random.split(jax.random.PRNGKey(2), 2)
    a, ta = L.train_networks(cfg, hp, st, imgs, orders, keys, impl="dense")
    b, tb = L.train_networks(cfg, hp, st, imgs, orders, keys, impl="event")
    np.testing.assert_array_equal(ta, tb)
    assert ta.sum() > 0
    np.testing.assert_allclose(np.asarray(a.w), np.asarray(b.w), atol=1e-6)
    ca = L.spike_counts(cfg, hp, a, imgs, jax.random.PRNGKey(3), batch=4, impl="dense")
    cb = L.spike_counts(cfg, hp, a, imgs, jax.random.PRNGKey(3), batch=4)
    np.testing.assert_array_equal(ca, cb)
    assert ca.sum() > 0


@pytest.mark.parametrize("arch,F,refrac", [("LC", 30, None), ("LC", 12, 0), ("LC", 12, 1), ("C", 6, None),
                                           ("FC", 8, None)])
def test_batched_inference_scan_equals_per_image_dense(arch, F, refrac):
    # spike_counts' one-scan batch path (_counts_batch: time-major uint8 rasters, current by one
    # batched matmul per step, previous spikes read off the refractory counters) against
    # vmap(simulate_image) ("dense"): the same spike counts for the same keys, with thresholds
    # that differ per neuron and two networks; refrac 0 (spikes carried) and 1 included
    cfg = L.LCConfig(arch, F, 12 if arch != "FC" else 20, 4, refrac=refrac)
    hp = L.hparams(0.4, -40.0)
    imgs = L.crop_images(L.synthetic_digits(10, np.random.default_rng(5))[0], cfg)
    st = jax.vmap(lambda k: L.init_state(cfg, hp, k))(jax.random.split(jax.random.PRNGKey(0), 2))
    st = st._replace(theta=st.theta + 3 * jax.random.uniform(jax.random.PRNGKey(5), st.theta.shape))
    want = L.spike_counts(cfg, hp, st, imgs, jax.random.PRNGKey(3), batch=4, impl="dense")
    got = L.spike_counts(cfg, hp, st, imgs, jax.random.PRNGKey(3), batch=4)
    np.testing.assert_array_equal(got, want)
    assert want.sum() > 100 and (want[0] != want[1]).any()
    # the time-major uint8 rasters are the float ones transposed
    px = jnp.asarray(imgs[:4])
    keys = jax.random.split(jax.random.PRNGKey(1), 4)
    b = L.lazy_budget(cfg, imgs[:4])
    a = np.asarray(L.encode_many(cfg, px, keys, b))
    t = np.asarray(L.encode_many(cfg, px, keys, b, time_major=True))
    assert t.dtype == np.uint8
    np.testing.assert_array_equal(t.transpose(1, 0, 2).astype(np.float32), a)
    if arch == "LC" and refrac is None:
        # the lazy encoder drawing too few intervals is detected and the chunk rerun with encode
        nreq = L._nreq_np(float(cfg.intensity), int(cfg.time))
        old = nreq.copy()
        try:
            nreq[1:] = 1
            forced = L.spike_counts(cfg, hp, st, imgs, jax.random.PRNGKey(3), batch=4)
        finally:
            nreq[:] = old
        np.testing.assert_array_equal(forced, want)
