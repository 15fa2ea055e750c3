"""Checks of the Network ADS / EBN model (snncore.models.ebn) against hand computations."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snncore.models import ebn

jax.config.update("jax_enable_x64", False)


def _np_ads_trial(p, w_slow, c_tilde, xhat, k, eta, dt=1e-3, train=True):
    """The per-step order of ebn.md §1.2 written out in plain numpy, float64."""
    P = {f: np.asarray(getattr(p, f), np.float64) for f in p._fields}
    N = P["v0"].shape[0]
    v, i_slow, i_fast, i_kdte, r = P["v0"].copy(), np.zeros(N), np.zeros(N), np.zeros(N), np.zeros(N)
    w = np.asarray(w_slow, np.float64).copy()
    spikes, xts = [], []
    for t in range(c_tilde.shape[0]):
        I = i_slow + i_fast + i_kdte + c_tilde[t] @ P["w_in"] + P["bias"]
        if t > 0:
            v = v + dt / P["tau_mem"] * (P["v_rest"] - v + I)
        s = (v >= P["v_th"]).astype(float)
        i_slow = i_slow * np.exp(-dt / P["tau_slow"]) + (w.T @ s) / P["tau_slow"]
        i_fast = i_fast * np.exp(-dt / P["tau_fast"]) + (P["w_fast"] @ s) / P["tau_fast"]
        r = r * np.exp(-dt / P["tau_out"]) + s / P["tau_out"]
        xt = P["w_out"].T @ r
        v = np.where(s > 0, P["v_reset"], v)
        if train:
            e = xhat[t] - xt
            eps = P["w_in"].T @ e
            i_kdte = k * eps
            dW = eta * np.outer(r, eps)
            np.fill_diagonal(dW, 0.0)
            w = w + dW
        spikes.append(s)
        xts.append(xt)
    return w, np.array(spikes), np.array(xts)


@pytest.fixture(scope="module")
def small():
    p = ebn.ads_init(jax.random.PRNGKey(3), 6, 2, g=0.5)
    rng = np.random.default_rng(0)
    w0 = rng.normal(0, 0.02, (6, 6))
    np.fill_diagonal(w0, 0)
    T = 40
    t = np.arange(T) * 1e-3
    x = np.stack([np.sin(2 * np.pi * 5 * t), np.cos(2 * np.pi * 3 * t)], 1) * 0.6
    c = x / 0.05 * 1.5                         # strong enough to make neurons fire within 40 steps
    return p, jnp.asarray(w0, jnp.float32), c.astype(np.float32), x.astype(np.float32)


def test_init_closed_form():
    key = jax.random.PRNGKey(11)
    N, Nc, g = 7, 3, 1.5
    p = ebn.ads_init(key, N, Nc, g=g)
    kd, kv = jax.random.split(key)
    D = np.asarray(jax.random.normal(kd, (Nc, N), jnp.float32), np.float64) / Nc
    lam, mu, nu = 20.0, 5e-4, 1e-4
    T = (nu * lam + mu * lam ** 2 + np.abs(D).sum(0) ** 2) / 2
    Dt = 0.5 * D / T
    np.testing.assert_allclose(p.w_in, 0.05 * Dt, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(p.w_out, 0.05 * Dt.T, rtol=1e-5, atol=1e-8)
    om = D.T @ D
    np.fill_diagonal(om, 0)
    np.testing.assert_allclose(p.w_fast, -g * om / T[:, None], rtol=1e-4, atol=1e-8)
    assert np.all(np.diag(np.asarray(p.w_fast)) == 0)
    assert np.all(np.asarray(p.w_slow) == 0)
    assert np.all((np.asarray(p.v0) >= 0) & (np.asarray(p.v0) < 1))
    assert np.all(np.asarray(ebn.ads_init(key, N, Nc, use_ebn=False).w_fast) == 0)


def test_train_trial_matches_hand_numpy(small):
    p, w0, c, x = small
    k, eta = 75.0, 1e-3
    w_ref, s_ref, xt_ref = _np_ads_trial(p, w0, c, x, k, eta)
    w, out = ebn.ads_train_trial(p, w0, c, x, k=k, eta=eta, record_spikes=True)
    assert s_ref.sum() > 5, "the pinned trajectory must contain spikes to test anything"
    np.testing.assert_array_equal(np.asarray(out["spikes"]), s_ref.astype(np.uint8))
    np.testing.assert_allclose(np.asarray(w), w_ref, rtol=1e-4, atol=1e-7)
    assert not np.allclose(w_ref, np.asarray(w0))
    np.testing.assert_allclose(np.asarray(out["err2"]), ((x - xt_ref) ** 2).sum(1), rtol=1e-4, atol=1e-6)


def test_simulate_matches_hand_numpy_without_learning(small):
    p, w0, c, x = small
    p = p._replace(w_slow=w0)
    _, s_ref, xt_ref = _np_ads_trial(p, w0, c, x, 0.0, 0.0, train=False)
    out = ebn.ads_simulate(p, c, record_spikes=True, record_xt=True)
    np.testing.assert_array_equal(np.asarray(out["spikes"]), s_ref.astype(np.uint8))
    np.testing.assert_allclose(np.asarray(out["xt"]), xt_ref, rtol=1e-4, atol=1e-6)
    # step 0 is frozen (t_ref test with t_last = 0): V cannot move, so no neuron (V0 < 1) spikes
    assert s_ref[0].sum() == 0
    # the vmapped evaluation gives the same trial
    ev = ebn.ads_evaluate(p, np.stack([c, c]), xhat=np.stack([x, x]))
    np.testing.assert_allclose(ev["n_spikes"][1], s_ref.sum(1))


def test_teacher_step_and_gradient():
    p = ebn.teacher_init(jax.random.PRNGKey(0), 2, 5, 1)
    assert np.all(np.diag(np.asarray(p.w_rec)) == 0)
    rho = np.max(np.abs(np.linalg.eigvals(np.asarray(p.w_rec, np.float64))))
    assert abs(rho - 0.95) < 1e-4
    p = p._replace(b=jnp.full(5, 0.1))
    u = np.random.default_rng(1).normal(size=(3, 2)).astype(np.float32)
    a, c, y = ebn.teacher_forward(p, u)
    P = {f: np.asarray(getattr(p, f), np.float64) for f in p._fields}
    x = np.zeros(5)
    for t in range(3):
        ct = u[t] @ P["w_in"]
        np.testing.assert_allclose(a[t], np.tanh(x), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(c[t], ct, rtol=1e-5)
        np.testing.assert_allclose(y[t], np.tanh(x) @ P["w_out"], rtol=1e-4, atol=1e-6)
        x = x + 1e-3 / P["tau"] * (-x + ct + P["b"] + np.tanh(x) @ P["w_rec"])
    U = np.random.default_rng(2).normal(size=(2, 50, 2)).astype(np.float32)
    Y = np.ones((2, 50, 1), np.float32)
    g = jax.grad(lambda q: ebn.teacher_loss(q, U, Y)[0])(p)
    for name, leaf in g._asdict().items():
        assert np.all(np.isfinite(leaf)), name
    assert float(jnp.abs(g.w_out).sum()) > 0 and float(jnp.abs(g.w_in).sum()) > 0
    assert float(jnp.abs(g.tau).sum()) > 0


def test_teacher_loss_regularisers_closed_form():
    """Every term of the Hey Snips script's loss (ebn.md §1.1), by hand."""
    p = ebn.teacher_init(jax.random.PRNGKey(3), 2, 4, 1)
    p = p._replace(tau=jnp.asarray([0.010, 0.016, 0.050, 0.215], jnp.float32), b=jnp.full(4, 0.02))
    U = np.random.default_rng(4).normal(size=(2, 30, 2)).astype(np.float32)
    Y = np.random.default_rng(5).normal(size=(2, 30, 1)).astype(np.float32)
    loss, mse = ebn.teacher_loss(p, U, Y)
    P = {f: np.asarray(getattr(p, f), np.float64) for f in p._fields}
    tau = P["tau"]
    want = (float(mse) + 1e6 * np.mean(np.where(tau < 0.015, np.exp(-(tau - 0.015)), 0.0))
            + 1.0 * np.max(np.maximum(tau - 0.015, 0.0) ** 2)             # 0.2^2 = 0.04
            + np.mean(P["w_rec"] ** 2) + np.mean(np.abs(np.diag(P["w_rec"]))) + 1000 * np.mean(P["b"] ** 2))
    assert float(loss) == pytest.approx(want, rel=1e-5)
    on, _ = ebn.teacher_loss(p, U, Y, reg={"tau": 0.0})          # small totals: float32 resolves 0.04
    off, _ = ebn.teacher_loss(p, U, Y, reg={"tau": 0.0, "tau_max": 0.0})
    assert float(on) - float(off) == pytest.approx(0.2 ** 2, rel=1e-4)
    with pytest.raises(ValueError, match="unknown regulariser"):
        ebn.teacher_loss(p, U, Y, reg={"tau_min": 1.0})


def test_ebn_autoencoder_tracks_slow_target():
    # With the code's constants (L1 thresholds, input gain A = 200) the feed-forward path alone
    # decodes a slow 64-dim target only coarsely; the error-feedback loop k W_in^T (x^ - x~) of the
    # autoencoder makes the decoded output x~ = W_out^T r track it, better for larger k.
    N, Nc, T = 320, 64, 800
    t = np.arange(T) * 1e-3
    rng = np.random.default_rng(0)
    fr, ph = rng.uniform(0.5, 2, Nc), rng.uniform(0, 6.28, Nc)
    x = (0.5 * np.sin(2 * np.pi * fr * t[:, None] + ph)).astype(np.float32)
    p = ebn.ads_init(jax.random.PRNGKey(5), N, Nc, g=0.5)
    errs = []
    for k in (0.0, 75.0, 300.0):
        _, out = ebn.ads_train_trial(p, p.w_slow, 200.0 * x, x, k=k, eta=0.0)
        errs.append(float(np.asarray(out["err2"])[200:].mean() / np.mean(np.sum(x[200:] ** 2, 1))))
    silent = ebn.ads_train_trial(p, p.w_slow, 0.0 * x, x, k=0.0, eta=0.0)[1]
    assert float(np.asarray(silent["n_spikes"]).sum()) == 0          # no input, no spikes, error 1
    assert errs[0] < 0.9 and errs[2] < errs[1] < errs[0] and errs[2] < 0.5, errs


def test_online_rule_reduces_error():
    # tiny problem at the code's scale (Nc = 64 as for XOR): the input is A x, the target x; the
    # online rule alone (no change to anything but W_slow) must lower the closed-loop-free error
    N, Nc, T = 160, 64, 500
    t = np.arange(T) * 1e-3
    rng = np.random.default_rng(1)
    fr, ph = rng.uniform(0.5, 2, Nc), rng.uniform(0, 6.28, Nc)
    x = (0.5 * np.sin(2 * np.pi * fr * t[:, None] + ph)).astype(np.float32)
    p = ebn.ads_init(jax.random.PRNGKey(8), N, Nc, g=0.5)
    before = float(ebn.ads_simulate(p, 200 * x, xhat=x)["err2"].mean())
    w = p.w_slow
    for i in range(12):
        w, _ = ebn.ads_train_trial(p, w, 200 * x, x, k=75.0, eta=4e-5, sample=i)
    after = float(ebn.ads_simulate(p._replace(w_slow=w), 200 * x, xhat=x)["err2"].mean())
    assert np.all(np.diag(np.asarray(w)) == 0) and float(jnp.abs(w).sum()) > 0
    assert after < 0.8 * before, (before, after)


def test_divergence_is_reported_with_sample_and_step(small):
    p, w0, c, x = small
    with pytest.raises(ebn.DivergenceError, match=r"sample 17"):
        w = w0
        for _ in range(3):
            w, _ = ebn.ads_train_trial(p, w, c * 50, x * 1e3, k=1e4, eta=1e3, sample=17,
                                       max_rate_hz=100.0)


def test_bad_inputs_rejected(small):
    p, w0, c, x = small
    with pytest.raises(ValueError, match="time-major"):
        ebn.ads_simulate(p, c[None])
    with pytest.raises(ValueError, match="shape"):
        ebn.ads_train_trial(p, w0, c, x[:5], k=1.0, eta=1.0)
    with pytest.raises(ValueError, match="unknown settings"):
        ebn.ads_init(jax.random.PRNGKey(0), 4, 2, tau_memory=0.1)
    with pytest.raises(ValueError):
        ebn.teacher_forward(ebn.teacher_init(jax.random.PRNGKey(0), 2, 3), np.zeros((5, 3)))


def test_decision_rules_by_hand():
    y = np.array([1.0, 0.0, 0.0])
    np.testing.assert_allclose(ebn.filter_1d(y), [0.05, 0.0475, 0.045125])
    yf = np.array([[0.2, 0.6, 0.7, 0.1, 0.9, 0.0],
                   [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                   [0.5, 0.5, 0.5, 0.4, 0.0, 0.0]])
    np.testing.assert_allclose(ebn.integral_score(yf, 0.5), [1.3, 0.0, 1.5])
    b, acc = ebn.fit_boundary([1.3, 0.0, 1.5], [0, 0, 1])
    assert acc == 1.0 and 1.3 <= b < 1.5
    assert list(ebn.xor_decision(np.array([[0.6, -0.7], [-0.6, 0.1], [0.2, -0.3]]))) == [1, 0, -1]


def test_xor_generator():
    u, tgt, lab = ebn.xor_dataset(40, 0)
    assert u.shape == (40, 1000, 1) and tgt.shape == (40, 1000, 1)
    assert set(np.unique(lab)) == {0, 1}
    for i in range(40):
        assert np.isclose(np.abs(tgt[i]).max(), 1.0)
        # the target sign is the XOR of the pulse signs: two pulse lobes in the input
        uu = u[i, :, 0]
        lobes = np.sign(uu[np.abs(uu) > 0.5])
        first, last = lobes[0], lobes[-1]
        assert lab[i] == int(first != last)
        assert np.all(np.abs(u[i, 700:]) < 1e-6)   # the input window is over by 0.667 s


def test_vmapped_networks_match_single_training():
    N, Nc, T = 40, 64, 120
    rng = np.random.default_rng(3)
    c = (200 * 0.5 * np.sin(np.linspace(0, 6, T))[:, None] * rng.normal(size=Nc)).astype(np.float32)
    x = np.tanh(0.5 * np.cos(np.linspace(0, 4, T))[:, None] * rng.normal(size=Nc)).astype(np.float32)
    data = lambda e: (np.stack([c, 0.5 * c]), np.stack([x, x]))  # noqa: E731
    ps = [ebn.ads_init(jax.random.PRNGKey(i), N, Nc, g=0.5) for i in (0, 1)]
    many, _ = ebn.train_online_nets(ebn.stack_params(ps), data, epochs=2, eta=1e-4, k0=200.0, k_floor=25.0)
    for p, m in zip(ps, many):
        # the same schedule, one network, one un-vmapped trial at a time
        w, i = p.w_slow, 0
        for e in range(2):
            cc, xx = data(e)
            for j in range(2):
                w, _ = ebn.ads_train_trial(p, w, cc[j], xx[j], k=ebn.k_schedule(i, 4, 200.0, 25.0), eta=1e-4)
                i += 1
        assert float(jnp.abs(w).sum()) > 0
        np.testing.assert_allclose(np.asarray(m.w_slow), np.asarray(w), rtol=1e-4, atol=1e-7)


def test_online_training_resumes_from_checkpoint_exactly(tmp_path):
    N, Nc, T = 30, 16, 80
    rng = np.random.default_rng(5)
    cs = (150 * rng.normal(size=(3, 5, T, Nc)).cumsum(2) / 10).astype(np.float32)
    xs = np.tanh(rng.normal(size=(3, 5, T, Nc)).cumsum(2) / 10).astype(np.float32)
    data = lambda e: (cs[e], xs[e])  # noqa: E731
    p = ebn.stack_params([ebn.ads_init(jax.random.PRNGKey(i), N, Nc, g=0.5) for i in (0, 1)])
    calls = []

    def validate(q):
        calls.append(1)
        return -float(jnp.abs(q.w_slow).sum()), {"n": float(jnp.abs(q.w_slow).sum())}

    kw = dict(epochs=3, eta=1e-4, k0=100.0, k_floor=25.0, validate=validate)
    ref, ref_h = ebn.train_online_nets(p, data, **kw)

    class Stop(Exception):
        pass

    seen = []

    def data_stop(e):                     # interrupt during epoch 1 (after its 2nd checkpoint)
        if e == 1 and seen.count(1) == 0:
            seen.append(1)
            c, x = data(e)

            class Boom:                   # an array-like that fails at sample 4
                def __len__(self):
                    return len(c)

                def __getitem__(self, j):
                    if j == 4:
                        raise Stop()
                    return c[j]
            return Boom(), x
        return data(e)

    ck = tmp_path / "ads.ckpt.npz"
    mirror = tmp_path / "results" / "ads.ckpt.npz"
    saves = []

    def copy(path):                       # on_checkpoint: mirror every save (what the paper run does)
        saves.append(path)
        mirror.parent.mkdir(exist_ok=True)
        mirror.write_bytes(path.read_bytes())

    with pytest.raises(Stop):
        ebn.train_online_nets(p, data_stop, checkpoint=ck, checkpoint_every=2, checkpoint_key="k1",
                              on_checkpoint=copy, **kw)
    assert ck.exists() and saves and all(s_ == ck for s_ in saves)
    assert mirror.read_bytes() == ck.read_bytes()
    fresh = tmp_path / "fresh" / "ads.ckpt.npz"  # another machine: only the mirror survived
    fresh.parent.mkdir()
    fresh.write_bytes(mirror.read_bytes())
    got2, _ = ebn.train_online_nets(p, data, checkpoint=fresh, checkpoint_every=2, checkpoint_key="k1", **kw)
    for a, b in zip(ref, got2):
        np.testing.assert_allclose(np.asarray(a.w_slow), np.asarray(b.w_slow), rtol=1e-6, atol=1e-9)
    got, got_h = ebn.train_online_nets(p, data, checkpoint=ck, checkpoint_every=2, checkpoint_key="k1", **kw)
    for a, b in zip(ref, got):
        np.testing.assert_allclose(np.asarray(a.w_slow), np.asarray(b.w_slow), rtol=1e-6, atol=1e-9)
    assert [h["train_err2"] for h in ref_h[0]] == pytest.approx([h["train_err2"] for h in got_h[0]], rel=1e-6)
    assert [h["val_score"] for h in ref_h[1]] == pytest.approx([h["val_score"] for h in got_h[1]], rel=1e-6)
    # a finished checkpoint is reused without training; other settings are refused
    n_calls = len(calls)
    again, _ = ebn.train_online_nets(p, data, checkpoint=ck, checkpoint_key="k1", **kw)
    assert len(calls) == n_calls
    np.testing.assert_array_equal(np.asarray(again[0].w_slow), np.asarray(got[0].w_slow))
    from snncore.checkpoint import CheckpointError
    with pytest.raises(CheckpointError, match="other settings"):
        ebn.train_online_nets(p, data, checkpoint=ck, checkpoint_key="k2", **kw)


def test_eta_schedule_closed_form_and_used_per_sample(small):
    # constant (the paper) unless eta_end is given; then geometric from eta to eta_end
    assert ebn.eta_schedule(7, 10, 3e-6) == 3e-6
    etas = [ebn.eta_schedule(i, 5, 1e-5, 1e-6) for i in range(5)]
    np.testing.assert_allclose(etas, 1e-5 * 0.1 ** (np.arange(5) / 4), rtol=1e-12)
    assert ebn.eta_schedule(0, 1, 1e-5, 1e-6) == 1e-5
    with pytest.raises(ValueError):
        ebn.eta_schedule(0, 3, 1e-5, 0.0)
    # train_online applies sample i's rate to sample i (pinned against the numpy reference)
    p, w0, c, x = small
    p = p._replace(w_slow=w0)
    data = lambda e: (np.stack([c, 0.7 * c]), np.stack([x, x]))  # noqa: E731
    got, hist = ebn.train_online(p, data, epochs=1, eta=2e-3, k0=75.0, eta_end=5e-4)
    w = np.asarray(w0, np.float64)
    for j, eta in enumerate([2e-3, 5e-4]):
        w, _, _ = _np_ads_trial(p, w, data(0)[0][j], x, 75.0, eta)
    assert hist[0]["eta_last"] == pytest.approx(5e-4)
    assert np.abs(w - np.asarray(w0)).sum() > 0
    np.testing.assert_allclose(np.asarray(got.w_slow), w, rtol=2e-3, atol=2e-6)
    many, _ = ebn.train_online_nets(ebn.stack_params([p]), data, epochs=1, eta=2e-3, k0=75.0, eta_end=5e-4)
    np.testing.assert_allclose(np.asarray(many[0].w_slow), np.asarray(got.w_slow), rtol=1e-4, atol=1e-7)


def test_force_rls_learns_decoder():
    N, Nc, T = 80, 4, 400
    t = np.arange(T) * 1e-3
    x = np.stack([np.sin(2 * np.pi * f * t) for f in (1, 2, 3, 1.5)], 1).astype(np.float32) * 0.5
    c = np.roll(x, 20, axis=0) * 3.0
    fp = ebn.force_init(jax.random.PRNGKey(0), N, Nc)
    assert np.all(np.asarray(fp.phi) == 0)
    om = np.asarray(fp.omega)
    nz = om != 0
    np.testing.assert_allclose((om * nz).sum(1) / np.maximum(nz.sum(1), 1), 0, atol=1e-6)
    before = ebn.force_evaluate(fp, c[None], x[None], readout=np.ones((Nc, 1)))["err2"].mean()
    fp2, errs = ebn.force_train(fp, np.stack([c] * 3), np.stack([x] * 3))
    after = ebn.force_evaluate(fp2, c[None], x[None], readout=np.ones((Nc, 1)))["err2"].mean()
    assert np.isclose(before, np.mean(np.sum(x ** 2, 1)), rtol=1e-5)   # zero decoder: error = |x|^2
    assert after < 0.5 * before, (before, after)


def test_force_network_save_load_roundtrip(tmp_path):
    # the layout the robustness chapter globs and loads: {"teacher", "force"} + meta
    teacher = ebn.teacher_init(jax.random.PRNGKey(1), 16, 8, 1)
    fp = ebn.force_init(jax.random.PRNGKey(2), 12, 8)
    fp = fp._replace(phi=jnp.asarray(np.random.default_rng(0).normal(size=(12, 8)), jnp.float32))
    meta = dict(boundary_B=1.25, teacher_boundary_B=2.5, input_gain_A=1000.0, model_seed=3,
                n_train=10, n_val=4, n_test=5)
    f = tmp_path / "wakeword-v3_force_N12_seed3_quick.npz"
    ebn.save_force(f, teacher, fp, meta)
    t2, fp2, meta2 = ebn.load_force(f, 16, 8, 12)
    for a, b in zip(jax.tree_util.tree_leaves((teacher, fp)), jax.tree_util.tree_leaves((t2, fp2))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert {k: meta2[k] for k in meta} == meta


def test_reservoir_and_ridge():
    p = ebn.reservoir_init(jax.random.PRNGKey(0), 64, 4, n_liquids=8)
    w = np.asarray(p.w_rec)
    assert np.all(w[::5] <= 0) and np.all(np.delete(w, np.s_[::5], axis=0) >= 0)
    assert np.all(w[:8, 8:] == 0)                       # liquids are disconnected
    u = np.zeros((2, 300, 4), np.float32)
    u[1, 50:250] = 0.5
    H, ns = ebn.reservoir_states(p, u, sub=10)
    assert H.shape == (2, 30, 64) and ns[0].sum() == 0 and ns[1].sum() > 0
    rng = np.random.default_rng(0)
    Hr = rng.normal(size=(500, 5))
    wt = np.array([1.0, -2.0, 0.5, 0.0, 3.0, 0.7])
    w_fit = ebn.ridge_fit(Hr, ebn.ridge_predict(Hr, wt), lam=1e-9)
    np.testing.assert_allclose(w_fit, wt, atol=1e-6)
    with pytest.raises(ValueError):
        ebn.reservoir_states(p, u[0])


def test_reservoir_readout_in_scan_and_blocked_ridge():
    # the readout applied inside the scan (no states kept) equals ridge_predict on the states, and
    # the block-accumulated ridge equals the one-shot normal equations
    p = ebn.reservoir_init(jax.random.PRNGKey(1), 64, 4, n_liquids=8)
    u = np.random.default_rng(1).uniform(0, 1, (3, 400, 4)).astype(np.float32)
    H, ns = ebn.reservoir_states(p, u, sub=10)
    y_tgt = np.random.default_rng(2).normal(size=H.shape[:2])
    w = ebn.ridge_fit(H, y_tgt, lam=3.0, rows=7)           # blocks that do not divide the rows
    X = np.concatenate([H.reshape(-1, 64).astype(np.float64), np.ones((H.shape[0] * H.shape[1], 1))], 1)
    w_ref = np.linalg.solve(X.T @ X + 3.0 * np.eye(65), X.T @ y_tgt.reshape(-1))
    np.testing.assert_allclose(w, w_ref, rtol=1e-8, atol=1e-10)
    y, ns2 = ebn.reservoir_states(p, u, sub=10, readout=w, batch=2)
    np.testing.assert_allclose(y, ebn.ridge_predict(H, w), atol=1e-4)
    np.testing.assert_array_equal(ns, ns2)
    with pytest.raises(ValueError, match="readout must be"):
        ebn.reservoir_states(p, u, readout=w[:-1])
    with pytest.raises(ValueError, match="targets"):
        ebn.ridge_fit(H, y_tgt[:, :-1])


def test_bptt_baseline_gradients_and_spikes():
    tp = ebn.teacher_init(jax.random.PRNGKey(0), 3, 8, 1)
    p = ebn.bptt_init(jax.random.PRNGKey(1), tp, 12)
    assert np.all(np.asarray(p.w_rec) == 0)
    np.testing.assert_allclose(ebn._multispike(jnp.array([-1.0, -0.2, 0.0, 0.5, 1.3])), [0, 0, 1, 1, 2])
    g = jax.grad(lambda v: ebn._multispike(v).sum())(jnp.array([-1.0, -0.4, 0.2]))
    np.testing.assert_array_equal(np.asarray(g), [0.0, 1.0, 1.0])
    u = np.random.default_rng(0).random((2, 60, 3)).astype(np.float32) * 20
    y = np.ones((2, 60), np.float32) * 0.3
    grads = jax.grad(lambda q: ebn.bptt_loss(q, u, y)[0])(p._replace(w_in=p.w_in * 500))
    for name, leaf in grads._asdict().items():
        assert np.all(np.isfinite(leaf)), name
    assert float(jnp.abs(grads.w_out).sum()) > 0 and float(jnp.abs(grads.w_in).sum()) > 0


@pytest.mark.parametrize("block,T", [(8, 203), (32, 64), (64, 50)])
def test_blocked_training_equals_stepwise_update(block, T):
    """The blocked weight update (pending updates applied through R, E, Q) is the same rule as
    updating W_slow at every step: same spikes, same weights up to float rounding, including a
    final partial block and a block longer than the trial."""
    N, Nc = 48, 16
    rng = np.random.default_rng(11)
    c = (300 * rng.normal(size=(T, Nc)).cumsum(0) / 8).astype(np.float32)
    x = np.tanh(rng.normal(size=(T, Nc)).cumsum(0) / 6).astype(np.float32)
    p = ebn.ads_init(jax.random.PRNGKey(4), N, Nc, g=1.5)
    w0 = jnp.asarray(rng.normal(size=(N, N)).astype(np.float32) * 1e-3)
    ro = jnp.asarray(rng.normal(size=(Nc, 1)).astype(np.float32))
    args = (p, w0, jnp.asarray(c), jnp.asarray(x), jnp.float32(150.0), jnp.float32(3e-4), ro, 1e-3, True)
    w_ref, o_ref = ebn._train_trial_stepwise(*args)
    w_blk, o_blk = ebn._train_trial(*args, block=block)
    assert int(o_ref["n_spikes"].sum()) > 20                      # the network is active
    np.testing.assert_array_equal(np.asarray(o_blk["spikes"]), np.asarray(o_ref["spikes"]))
    assert float(jnp.abs(w_ref - w0).max()) > 1e-4                 # and learning
    np.testing.assert_allclose(np.asarray(w_blk), np.asarray(w_ref), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(np.asarray(o_blk["y"]), np.asarray(o_ref["y"]), rtol=1e-4, atol=1e-6)
    assert np.all(np.diag(np.asarray(w_blk - w0)) == 0)           # no autapses learned


# ---------------------------------------------------------------------------------------------
# event-driven evaluation (ebn._simulate_event) against the dense reference (vmap of _simulate)
# ---------------------------------------------------------------------------------------------

def _dyadic_net(seed, n=40, nc=8, **kw):
    """A network whose recurrent sums are exact in float32 in any order: every weight of W_fast,
    W_slow and W_in is a multiple of 2**-8 below 1 in magnitude (N = 40 also exercises the
    padding of the 32-neuron compaction blocks)."""
    rng = np.random.default_rng(seed)
    dy = lambda lo, hi, shape: jnp.asarray(rng.integers(lo, hi + 1, shape) * 2.0 ** -8, jnp.float32)  # noqa: E731
    p = ebn.ads_init(jax.random.PRNGKey(seed), n, nc, g=1.5)
    off = 1 - jnp.eye(n)
    kw = {"bias": jnp.full(n, 1.5, jnp.float32), **kw}     # tonic drive: V settles above threshold
    w_in = dy(-16, 16, (nc, n)).at[0].set(dy(8, 16, (n,)))  # input channel 0 excites every neuron
    return p._replace(w_in=w_in, w_fast=dy(-3, 1, (n, n)) * off,
                      w_slow=dy(-2, 2, (n, n)) * off, **kw)


def _dyadic_input(seed, B, T, nc, scale=6):
    rng = np.random.default_rng(seed)
    return (rng.integers(-scale, scale + 1, (B, T, nc)) * 2.0 ** -2).astype(np.float32)


def _both(p, c, xh, ro, **kw):
    d = ebn.ads_evaluate(p, c, xhat=xh, readout=ro, event=False)
    e = ebn.ads_evaluate(p, c, xhat=xh, readout=ro, event=True, **kw)
    return d, e


@pytest.mark.parametrize("k", [1, 3, 8, ebn.EVENT_K])
def test_event_driven_equals_dense_exactly_on_dyadic_weights(k):
    p = _dyadic_net(0)
    B, T, nc = 3, 400, p.w_in.shape[0]
    c = _dyadic_input(1, B, T, nc)
    c[1, 150:153, 0] = 512.0     # a burst on channel 0: many neurons at once, more than k per step
    xh = np.tanh(np.random.default_rng(2).normal(0, 0.5, (B, T, nc))).astype(np.float32)
    ro = np.random.default_rng(3).normal(0, 0.3, (nc, 2)).astype(np.float32)
    d, e = _both(p, c, xh, ro, event_k=k)
    assert d["n_spikes"].sum() > 200                                   # the test is not vacuous
    if k < 8:
        assert d["n_spikes"].max() > 3 * k                             # several gather rounds ran
    np.testing.assert_array_equal(e["n_spikes"], d["n_spikes"])
    np.testing.assert_allclose(e["y"], d["y"], rtol=1e-5, atol=1e-5)    # x~ kept directly: rounding only
    np.testing.assert_allclose(e["err2"], d["err2"], rtol=1e-5, atol=1e-5)


def test_event_driven_spike_rasters_equal_with_noise_silence_and_adaptation():
    """Every per-step feature of ads_step at once: current noise (same keys, same draws),
    silencing window, threshold adaptation; compare the spike raster neuron by neuron."""
    p = _dyadic_net(4, silence=jnp.zeros(40).at[:10].set(1.0), t_silence=jnp.asarray([0.05, 0.12]),
                    beta=jnp.float32(0.25), rho=jnp.float32(0.9), noise_std=jnp.float32(2.0))
    B, T, nc = 2, 300, p.w_in.shape[0]
    c = _dyadic_input(5, B, T, nc)
    ro = np.zeros((nc, 1), np.float32)
    d, e = _both(p, c, None, ro, event_k=2)
    np.testing.assert_array_equal(e["n_spikes"], d["n_spikes"])
    # the raster itself: the event path's per-neuron counts over a trial (through ebn_robust's
    # counts output) and the dense single-trial raster of ads_simulate agree
    keys = jax.random.split(jax.random.PRNGKey(0), B)
    ps = jax.tree_util.tree_map(lambda x: jnp.asarray(x)[None], p)
    i_in = (jnp.swapaxes(jnp.asarray(c), 0, 1) @ p.w_in)[:, :, None, :]
    n, _, counts = ebn._simulate_event(ps, i_in, keys[:, None], jnp.asarray(ro), 1e-3, True, 2, "y", True)
    for b in range(B):
        ref = ebn.ads_simulate(p, c[b], key=keys[b], record_spikes=True)
        np.testing.assert_array_equal(np.asarray(counts[b, 0]), np.asarray(ref["spikes"]).sum(0))
        np.testing.assert_array_equal(np.asarray(n[:, b, 0]), np.asarray(ref["n_spikes"]))
    assert d["n_spikes"].sum() > 100


def test_event_driven_fallback_when_all_neurons_spike_at_once():
    """A step where every neuron fires: N = 40 spikes need three gather rounds of K = 16 (40 of
    K = 1); the result must equal the dense product's."""
    p = _dyadic_net(6)
    p = p._replace(v0=jnp.full(40, 0.99, jnp.float32))
    c = _dyadic_input(7, 2, 60, p.w_in.shape[0])
    c[:, 1:3, 0] = 4096.0                                             # a strong common push
    for k in (ebn.EVENT_K, 1):
        d, e = _both(p, c, None, None, event_k=k)
        assert d["n_spikes"].max() == 40
        np.testing.assert_array_equal(e["n_spikes"], d["n_spikes"])
        np.testing.assert_allclose(e["y"], d["y"], rtol=1e-5, atol=1e-6)


def test_spike_slots_match_nonzero():
    rng = np.random.default_rng(8)
    for n in (5, 32, 40, 100):
        s = rng.random((6, n)) < rng.choice([0.0, 0.05, 0.3, 1.0], size=(6, 1))
        for k0, k in ((0, 4), (4, 4), (0, n + 3), (8, 3)):
            got = np.asarray(ebn._spike_slots(jnp.asarray(s), jnp.int32(k0), k))
            for m in range(6):
                want = np.concatenate([np.flatnonzero(s[m]), np.full(n + k + k0, n)])[k0:k0 + k]
                np.testing.assert_array_equal(got[m], want)


def test_event_driven_close_to_dense_on_realistic_network():
    """ads_init weights (EBN g = 1.5, N = 96), a noisy input strong enough to fire: the spike
    counts agree step by step on a short trial and the read-out to float rounding."""
    p = ebn.ads_init(jax.random.PRNGKey(3), 96, 16, g=1.5)
    p = p._replace(w_slow=jnp.asarray(np.random.default_rng(9).normal(0, 0.02, (96, 96)) * (1 - np.eye(96)),
                                      jnp.float32))
    rng = np.random.default_rng(10)
    c = (np.cumsum(rng.normal(0, 40, (4, 500, 16)), axis=1) * 0.05 + 60 * rng.normal(0, 1, (4, 1, 16))).astype(np.float32)
    xh = np.tanh(rng.normal(0, 0.5, (4, 500, 16))).astype(np.float32)
    ro = rng.normal(0, 0.3, (16, 1)).astype(np.float32)
    d, e = _both(p, c, xh, ro)
    assert d["n_spikes"].mean() > 1.0
    np.testing.assert_array_equal(e["n_spikes"], d["n_spikes"])
    np.testing.assert_allclose(e["y"], d["y"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(e["err2"], d["err2"], rtol=1e-4, atol=1e-5)
    assert ebn.event_ok(p) and not ebn.event_ok(p._replace(tau_out=p.tau_out.at[0].set(0.05)))
    with pytest.raises(ValueError, match="tau_out"):
        ebn.ads_evaluate(p._replace(tau_out=p.tau_out.at[0].set(0.05)), c, event=True)


def test_auto_evaluation_goes_dense_after_a_densely_firing_chunk(monkeypatch):
    """ads_evaluate(event=None): event-driven first; a chunk whose trials fire at more than
    EVENT_DENSE_FRACTION of N per step switches the remaining chunks to the dense path."""
    calls = {"event": 0}
    real = ebn._evaluate_event

    def counting(*a, **k):
        calls["event"] += 1
        return real(*a, **k)

    monkeypatch.setattr(ebn, "_evaluate_event", counting)
    p = _dyadic_net(0)
    c = _dyadic_input(1, 3, 100, p.w_in.shape[0])
    quiet = ebn.ads_evaluate(p, c, batch=1)
    assert calls["event"] == 3 and quiet["n_spikes"].max(1).mean() < ebn.EVENT_DENSE_FRACTION * 40
    calls["event"] = 0
    loud = p._replace(bias=jnp.full(40, 50.0, jnp.float32), w_fast=0 * p.w_fast)  # all fire every step
    out = ebn.ads_evaluate(loud, c, batch=1)
    assert calls["event"] == 1
    np.testing.assert_array_equal(out["n_spikes"], ebn.ads_evaluate(loud, c, event=False)["n_spikes"])
