"""Checks of the robustness perturbations (snncore.models.ebn_robust)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snncore.models import ebn
from snncore.models import ebn_robust as rb


@pytest.fixture(scope="module")
def net():
    p = ebn.ads_init(jax.random.PRNGKey(3), 40, 6, g=1.5, use_ebn=True)
    w = 0.02 * jax.random.normal(jax.random.PRNGKey(4), (40, 40)) * (1 - jnp.eye(40))
    return p._replace(w_slow=w.astype(jnp.float32))


# ---------------------------------------------------------------- quantiser

@pytest.mark.parametrize("bits", [2, 3, 4, 5, 6])
def test_quantiser_levels_and_idempotence(bits):
    M = jax.random.normal(jax.random.PRNGKey(bits), (30, 20)) * 0.3 + 0.1
    Mq = np.asarray(rb.quantise_matrix(M, bits), np.float64)
    q = (float(M.max()) - float(M.min())) / (2 ** bits - 1)
    k = Mq / q
    assert np.allclose(k, np.round(k), atol=1e-4)                    # integer multiples of q
    assert len(np.unique(np.round(k))) <= 2 ** bits + 1               # at most 2^bits + 1 levels
    assert np.max(np.abs(Mq - np.asarray(M))) <= q / 2 + 1e-6         # rounding error <= q/2
    # hand computation for one entry
    assert np.isclose(Mq[0, 0], q * np.round(float(M[0, 0]) / q), atol=1e-6)
    # idempotent when the range is unchanged (extremes land on the grid only up to q/2; check the
    # second application moves no entry by more than float noise of its own step)
    Mqq = np.asarray(rb.quantise_matrix(jnp.asarray(Mq, jnp.float32), bits), np.float64)
    q2 = (Mq.max() - Mq.min()) / (2 ** bits - 1)
    assert np.allclose(Mqq / q2, np.round(Mqq / q2), atol=1e-4)
    assert np.allclose(np.asarray(rb.quantise_matrix(Mqq, bits)), Mqq, atol=1e-6)


def test_quantiser_known_values_and_constant():
    M = jnp.array([-1.0, -0.2, 0.0, 0.34, 2.0])
    # bits = 2: q = 3 / 3 = 1 -> round to integers
    assert np.allclose(rb.quantise_matrix(M, 2), [-1.0, 0.0, 0.0, 0.0, 2.0])
    assert np.allclose(rb.quantise_matrix(jnp.full((3,), 0.7), 4), 0.7)


def test_quantise_touches_the_papers_matrices(net):
    pe = rb.quantise(net, 3, use_ebn=True)
    assert not np.allclose(pe.w_in, net.w_in) and not np.allclose(pe.w_out, net.w_out)
    # W_fast is not quantised (typo in the original), only scaled by 0.7 for EBN at 3 bits
    assert np.allclose(pe.w_fast, 0.7 * np.asarray(net.w_fast))
    assert np.allclose(pe.w_slow, 0.7 * np.asarray(rb.quantise_matrix(net.w_slow, 3)))
    pn = rb.quantise(net, 5, use_ebn=False)
    assert np.allclose(pn.w_fast, net.w_fast)
    assert np.allclose(pn.w_slow, rb.quantise_matrix(net.w_slow, 5))
    assert np.allclose(rb.quantise(net, 5, use_ebn=True).w_fast, 0.8 * np.asarray(net.w_fast))


# ---------------------------------------------------------------- neuron death

def test_silenced_fraction_and_never_spike(net):
    ps = rb.silence(net, 0.4)
    N = net.v0.shape[0]
    assert int(np.asarray(ps.silence).sum()) == rb.n_silenced(N, 0.4) == 16
    assert rb.n_silenced(768, 0.4) == 307                              # indices 0..306, as the paper
    assert np.all(np.asarray(ps.silence)[:16] == 1) and np.all(np.asarray(ps.silence)[16:] == 0)
    c = 1000.0 * np.abs(np.random.default_rng(0).normal(size=(3, 300, 6))).astype(np.float32)
    _, counts = rb.simulate(ps, c, np.ones((6, 1), np.float32))
    _, counts0 = rb.simulate(net, c, np.ones((6, 1), np.float32))
    assert counts0[0, :, :16].sum() > 0                                # they do spike when alive
    assert counts[0, :, :16].sum() == 0                                # ... and never when silenced
    assert counts[0, :, 16:].sum() > 0


# ---------------------------------------------------------------- mismatch

def test_mismatch_statistics(net):
    p = net._replace(w_in=jnp.ones((6, 400)), w_out=jnp.ones((400, 6)), w_fast=jnp.ones((400, 400)),
                     w_slow=jnp.ones((400, 400)),
                     **{f: jnp.full(400, getattr(net, f)[0]) for f in
                        ("v0", "tau_mem", "tau_slow", "tau_fast", "tau_out", "v_th", "v_rest",
                         "v_reset", "bias", "silence")})
    for sigma in (0.05, 0.1, 0.2):
        pm = rb.mismatch_draws(p, sigma, jax.random.split(jax.random.PRNGKey(1), 4))
        assert pm.w_in.shape == (4, 6, 400)
        s = rb.SAFE_SCALE_MISMATCH[sigma]
        rel = np.asarray(pm.w_slow) / s - 1.0
        assert abs(rel.mean()) < 0.01 and abs(rel.std() / sigma - 1) < 0.02
        rel_in = np.asarray(pm.w_in) - 1.0
        assert abs(rel_in.std() / sigma - 1) < 0.05
        for f in ("tau_mem", "tau_slow", "v_th"):
            d = np.asarray(getattr(pm, f)) / np.asarray(getattr(p, f)) - 1.0
            assert abs(d.mean()) < 3 * sigma / np.sqrt(d.size) + 1e-3 and abs(d.std() / sigma - 1) < 0.08
            assert np.all(np.asarray(getattr(pm, f)) >= 0)
        # untouched: W_fast (only safe-scaled), tau_fast, tau_out, V_rest, V_reset
        assert np.allclose(pm.w_fast, s)
        for f in ("tau_fast", "tau_out", "v_rest", "v_reset"):
            assert np.allclose(getattr(pm, f), getattr(p, f)[None])
        # draws differ from each other, and the same key gives the same draw (frozen)
        assert not np.allclose(pm.w_slow[0], pm.w_slow[1])
    a = rb.mismatch(p, 0.1, jax.random.PRNGKey(7))
    b = rb.mismatch(p, 0.1, jax.random.PRNGKey(7))
    assert np.array_equal(a.tau_mem, b.tau_mem)


# ---------------------------------------------------------------- membrane noise

def test_noise_scale(net):
    for level in (0.01, 0.05, 0.1):
        pn = rb.membrane_noise(net, level, use_ebn=True)
        assert np.isclose(float(pn.noise_std), level * 0.05 / 1e-3)    # 0.5, 2.5, 5.0
        assert np.allclose(pn.w_fast, rb.EBN_SCALE_NOISE[level] * np.asarray(net.w_fast))
    assert np.allclose(rb.membrane_noise(net, 0.1, use_ebn=False).w_fast, net.w_fast)
    # the per-step change of V from the noise alone has std = level (threshold-reset gap = 1):
    # no input, no recurrence, V far below threshold -> V_t - V_{t-1} has the OU increments
    p = rb.membrane_noise(net._replace(w_fast=0 * net.w_fast, w_slow=0 * net.w_slow,
                                       v_th=jnp.full_like(net.v_th, 1e6)), 0.05, use_ebn=False)
    s = ebn.ads_state_init(p, jax.random.PRNGKey(0))
    vs = []
    for _ in range(200):
        s, _ = ebn.ads_step(p, p.w_slow, s, jnp.zeros_like(p.v0), noisy=True)
        vs.append(np.asarray(s.v))
    vs = np.array(vs)
    dv = vs[2:] - vs[1:-1] - (1e-3 / 0.05) * (0.5 - vs[1:-1])           # remove the leak drift
    assert abs(dv.std() / 0.05 - 1) < 0.05


# ---------------------------------------------------------------- gains and decisions

def test_gain_refit_closed_form():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(20, 100))
    y_ref = 2.37 * y + 0.01 * rng.normal(size=y.shape)
    g = rb.fit_gain_mse(y, y_ref)
    assert abs(g - np.sum(y * y_ref) / np.sum(y * y)) < 1e-12 and abs(g - 2.37) < 1e-3
    grid = np.linspace(0.5, 5.5, 100)
    gg = rb.fit_gain_mse(y, y_ref, grid)
    brute = grid[np.argmin([np.mean((x * y - y_ref) ** 2) for x in grid])]
    assert gg == brute
    # outside the grid: clipped to the nearest end
    assert rb.fit_gain_mse(y, 9.0 * y, grid) == 5.5


def test_integral_score_fast_equals_reference():
    rng = np.random.default_rng(1)
    y = np.cumsum(rng.normal(size=(7, 400)), axis=1) * 0.05 + 0.4
    assert np.allclose(rb.integral_score_fast(y), ebn.integral_score(y))


def test_fit_gain_accuracy_finds_separating_gain():
    T = 300
    y = np.zeros((4, T))
    y[:2, 100:200] = 0.3                  # positives: too small without a gain
    labels = np.array([1, 1, 0, 0])
    g, acc = rb.fit_gain_accuracy(y, labels, np.linspace(0.5, 5.5, 150), boundary=5.0)
    assert acc == 1.0 and g * 0.3 * 0.99 > 0.5


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("name,level", [("quantize", 4), ("quantise", 7), ("quantise", 1),
                                        ("mismatch", 0.15), ("noise", 0.2), ("death", 1.0),
                                        ("death", 0.0), ("noise", "x")])
def test_rejects_bad_names_and_levels(net, name, level):
    with pytest.raises(ValueError, match="valid"):
        rb.perturb(net, name, level, use_ebn=True, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError) as e:
        rb.check_perturbation(name, level)
    assert "quantise" in str(e.value) and "mismatch" in str(e.value)   # the choices are listed


def test_simulate_rejects_bad_shapes(net):
    with pytest.raises(ValueError, match="c_tilde"):
        rb.simulate(net, np.zeros((10, 6)), np.ones((6, 1)))
    with pytest.raises(ValueError, match="readout"):
        rb.simulate(net, np.zeros((1, 10, 6)), np.ones((5, 1)))


# ---------------------------------------------------------------- FORCE baseline

def test_force_quantise_and_mismatch():
    fp = ebn.force_init(jax.random.PRNGKey(0), 300, 8)
    fp = fp._replace(phi=0.1 * jax.random.normal(jax.random.PRNGKey(1), fp.phi.shape))
    fq = rb.quantise_force(fp, 3)
    for f in ("w_in", "omega", "phi", "E"):
        assert np.allclose(getattr(fq, f), rb.quantise_matrix(getattr(fp, f), 3))
    fm = rb.mismatch_force(fp, 0.2, jax.random.PRNGKey(2))
    assert fm.tau_m.shape == (300,) and fm.v_peak.shape == (300,)
    d = np.asarray(fm.tau_m) / float(fp.tau_m) - 1
    assert abs(d.std() / 0.2 - 1) < 0.15
    dv = np.asarray(fm.v_peak) - float(fp.v_peak)
    assert abs(dv.std() / (0.2 * 25.0) - 1) < 0.15                  # sigma of the 25-mV gap
    om = np.asarray(fp.omega)
    nz = om != 0
    rel = np.asarray(fm.omega)[nz] / om[nz] - 1
    assert abs(rel.std() / 0.2 - 1) < 0.05
    assert np.all(np.asarray(fm.omega)[~nz] == 0)                    # sparsity kept
    with pytest.raises(ValueError, match="valid"):
        rb.mismatch_force(fp, 0.25, jax.random.PRNGKey(0))
    # per-neuron arrays run through the FORCE simulator
    c = np.zeros((1, 50, 8), np.float32)
    out = ebn.force_evaluate(fm, c, c, readout=np.ones((8, 1), np.float32))
    assert np.isfinite(out["y"]).all()


# ---------------------------------------------------------------- reservoir baseline

@pytest.fixture(scope="module")
def res():
    rp = ebn.reservoir_init(jax.random.PRNGKey(5), 64, 4, n_liquids=8)
    w = np.random.default_rng(0).normal(size=65) * 0.05
    w[-1] = 0.3                                                       # the ridge bias
    return rp, w


@pytest.mark.parametrize("bits", [2, 3, 4, 5, 6])
def test_reservoir_quantise_levels_and_step(res, bits):
    rp, w = res
    rq, wq = rb.quantise_reservoir(rp, w, bits)
    for M, Mq in ((rp.w_in, rq.w_in), (rp.w_rec, rq.w_rec), (w[:-1], wq[:-1])):
        M, Mq = np.asarray(M, np.float64), np.asarray(Mq, np.float64)
        q = (M.max() - M.min()) / (2 ** bits - 1)                    # the notes' step, per matrix
        k = Mq / q
        assert np.allclose(k, np.round(k), atol=1e-3)                # on the grid q * integer
        assert len(np.unique(np.round(k))) <= 2 ** bits + 1
        assert np.max(np.abs(Mq - M)) <= q / 2 + 1e-6
    assert np.isclose(float(wq[-1]), w[-1], atol=1e-7)               # bias kept at full precision
    for f in ("tau_mem", "tau_syn", "tau_in", "g_in", "tau_read", "syn_gain"):
        assert np.array_equal(np.asarray(getattr(rq, f)), np.asarray(getattr(rp, f)))
    assert np.all(np.asarray(rq.w_rec)[:8, 8:] == 0)                  # zeros stay zero: liquids stay apart


def test_reservoir_mismatch_statistics():
    N = 400
    rp = ebn.reservoir_init(jax.random.PRNGKey(6), N, 4, n_liquids=8)
    rp = rp._replace(w_rec=jnp.ones((N, N)), tau_mem=jnp.full(N, 0.05), tau_syn=jnp.full(N, 0.03))
    w = np.ones(N + 1)
    w[-1] = 0.7
    for sigma in (0.05, 0.1, 0.2, 0.3):
        rm, wm = rb.mismatch_reservoir_draws(rp, w, sigma, jax.random.split(jax.random.PRNGKey(1), 4))
        assert rm.w_rec.shape == (4, N, N) and wm.shape == (4, N + 1) and rm.v_th.shape == (4, N)
        # input layer unchanged in every draw
        assert np.array_equal(np.asarray(rm.w_in), np.broadcast_to(rp.w_in, rm.w_in.shape))
        for f in ("tau_in", "g_in", "tau_read", "syn_gain"):
            assert np.allclose(getattr(rm, f), getattr(rp, f))
        assert np.allclose(wm[:, -1], 0.7)                             # readout bias untouched
        rel = np.asarray(rm.w_rec) - 1.0                                # multiplicative, std sigma
        assert abs(rel.mean()) < 0.01 and abs(rel.std() / sigma - 1) < 0.02
        rel_o = np.asarray(wm[:, :-1]) - 1.0
        assert abs(rel_o.std() / sigma - 1) < 0.08
        for f, mu in (("tau_mem", 0.05), ("tau_syn", 0.03), ("v_th", 1.0)):
            d = np.asarray(getattr(rm, f)) / mu - 1.0                   # relative std sigma (gap = 1 for V_th)
            assert abs(d.mean()) < 4 * sigma / np.sqrt(d.size) + 2e-3 and abs(d.std() / sigma - 1) < 0.08
            assert np.all(np.asarray(getattr(rm, f)) >= 0)
        assert not np.allclose(rm.tau_mem[0], rm.tau_syn[0] * 0.05 / 0.03)   # drawn independently
        assert not np.allclose(rm.w_rec[0], rm.w_rec[1])                # draws differ
    # tau floor: a 2-ms time constant at 30 % never goes below 1 ms (the Euler step)
    rm, _ = rb.mismatch_reservoir_draws(rp._replace(tau_mem=jnp.full(N, 0.0012)), w, 0.3,
                                        jax.random.split(jax.random.PRNGKey(2), 8))
    assert np.asarray(rm.tau_mem).min() >= rb.TAU_FLOOR_RES and np.any(np.isclose(rm.tau_mem, 1e-3))
    # frozen: the same key gives the same draw
    a, _ = rb.mismatch_reservoir(rp, w, 0.1, jax.random.PRNGKey(7))
    b, _ = rb.mismatch_reservoir(rp, w, 0.1, jax.random.PRNGKey(7))
    assert np.array_equal(a.tau_mem, b.tau_mem) and np.array_equal(a.w_rec, b.w_rec)


def test_reservoir_sigma_zero_and_noise_zero_are_identity(res):
    rp, w = res
    r0, w0 = rb.mismatch_reservoir(rp, w, 0.0, jax.random.PRNGKey(3))
    for f in rp._fields:
        assert np.array_equal(np.broadcast_to(np.asarray(getattr(rp, f), np.float32), np.shape(getattr(r0, f))),
                              np.asarray(getattr(r0, f)))
    assert np.array_equal(np.asarray(w0), np.asarray(w, np.float32))
    u = np.zeros((3, 400, 4), np.float32)
    u[1:, 50:300] = np.random.default_rng(1).uniform(0.2, 0.6, size=(2, 250, 4))
    y, s = rb.simulate_reservoir(rp, w, u)
    y0, s0 = rb.simulate_reservoir(r0, w0, u)
    yn, sn = rb.simulate_reservoir(rb.membrane_noise_reservoir(rp, 0.0), w, u, key=jax.random.PRNGKey(9))
    assert s[0, 1] > 0 and s[0, 0] == 0                                 # driven clips spike, silent one not
    assert np.array_equal(y, y0) and np.array_equal(s, s0)
    assert np.array_equal(y, yn) and np.array_equal(s, sn)
    # the readout inside the scan equals ridge_predict on the states of ebn.reservoir_states
    H, ns = ebn.reservoir_states(rp, u)
    assert np.allclose(y[0], ebn.ridge_predict(H, w), atol=1e-4) and np.array_equal(s[0], ns.sum(1))
    # a nonzero level changes the output, and the same key reproduces it
    y1, _ = rb.simulate_reservoir(rb.membrane_noise_reservoir(rp, 0.1), w, u, key=jax.random.PRNGKey(9))
    y2, _ = rb.simulate_reservoir(rb.membrane_noise_reservoir(rp, 0.1), w, u, key=jax.random.PRNGKey(9))
    assert not np.allclose(y1, y) and np.array_equal(y1, y2)


def test_reservoir_noise_per_step_std():
    N, level = 200, 0.05
    rp = ebn.reservoir_init(jax.random.PRNGKey(8), N, 4, n_liquids=8)
    rn = rb.membrane_noise_reservoir(rp, level)
    assert np.isclose(float(rn.noise_std), level)          # level x threshold-reset gap (1 - 0)
    # no input, no recurrence, tau_mem = dt: the leak empties V every step, so V_t = level xi_t.
    # With the threshold at `level`, a neuron spikes with P(xi >= 1) = 0.1587 per step.
    rth = rn._replace(w_rec=jnp.zeros((N, N)), v_th=jnp.full(N, level), tau_mem=jnp.full(N, 1e-3))
    u = np.zeros((1, 2000, 4), np.float32)
    _, s = rb.simulate_reservoir(rth, np.zeros(N + 1), u, key=jax.random.PRNGKey(0))
    assert abs(s[0, 0] / (N * 2000) - 0.1587) < 0.005
    _, s2 = rb.simulate_reservoir(rth._replace(v_th=jnp.full(N, 2 * level)), np.zeros(N + 1), u)
    assert abs(s2[0, 0] / (N * 2000) - 0.02275) < 0.002   # P(xi >= 2)


def test_reservoir_rejects_bad_levels(res):
    rp, w = res
    for fn, lv in ((lambda l: rb.quantise_reservoir(rp, w, l), 7),
                   (lambda l: rb.quantise_reservoir(rp, w, l), 1),
                   (lambda l: rb.mismatch_reservoir(rp, w, l, jax.random.PRNGKey(0)), 0.15),
                   (lambda l: rb.mismatch_reservoir_draws(rp, w, l, jax.random.split(jax.random.PRNGKey(0), 2)), 0.4),
                   (lambda l: rb.membrane_noise_reservoir(rp, l), 0.2)):
        with pytest.raises(ValueError, match="valid") as e:
            fn(lv)
        assert "quantise" in str(e.value) and "mismatch" in str(e.value)
    with pytest.raises(ValueError, match="u must be"):
        rb.simulate_reservoir(rp, w, np.zeros((10, 4)))
    with pytest.raises(ValueError, match="readout"):
        rb.simulate_reservoir(rp, w[:-1], np.zeros((1, 10, 4)))


# ---------------------------------------------------------------- event-driven simulate

def _dyadic_draws():
    """Two networks whose recurrent sums are exact in any order (weights multiples of 2**-8),
    the second with current noise, a silencing window and threshold adaptation."""
    from test_ebn import _dyadic_input, _dyadic_net   # tests/ is on sys.path under pytest
    a = _dyadic_net(0)
    b = _dyadic_net(4, silence=jnp.zeros(40).at[:10].set(1.0), t_silence=jnp.asarray([0.05, 0.12]),
                    beta=jnp.float32(0.25), rho=jnp.float32(0.9), noise_std=jnp.float32(2.0))
    ps = jax.tree_util.tree_map(lambda x, y: jnp.stack([jnp.asarray(x), jnp.asarray(y)]), a, b)
    c = _dyadic_input(1, 5, 300, 8)
    c[2, 100:103, 0] = 512.0
    return ps, c


def test_event_simulate_equals_dense_on_dyadic_draws():
    ps, c = _dyadic_draws()
    ro = np.random.default_rng(0).normal(0, 0.3, (8, 1)).astype(np.float32)
    yd, nd = rb.simulate(ps, c, ro, chunk=2, event=False)
    ye, ne = rb.simulate(ps, c, ro, chunk=2, event=True)
    assert nd.shape == ne.shape == (2, 5, 40) and yd.shape == ye.shape == (2, 5, 300)
    assert nd.sum() > 300 and (nd[1, :, :10].sum() < nd[1, :, 10:].sum())
    np.testing.assert_array_equal(ne, nd)
    np.testing.assert_allclose(ye, yd, rtol=1e-5, atol=1e-5)


def test_event_simulate_close_to_dense_on_mismatch_draws(net):
    ps = rb.mismatch_draws(net, 0.2, jax.random.split(jax.random.PRNGKey(1), 3))
    rng = np.random.default_rng(2)
    c = (60 * rng.normal(0, 1, (4, 1, 6)) + 20 * rng.normal(0, 1, (4, 300, 6))).astype(np.float32)
    ro = rng.normal(0, 0.3, (6, 1)).astype(np.float32)
    yd, nd = rb.simulate(ps, c, ro, event=False)
    ye, ne = rb.simulate(ps, c, ro)                                      # event-driven by default
    assert nd.sum() > 500
    np.testing.assert_array_equal(ne, nd)
    np.testing.assert_allclose(ye, yd, rtol=1e-4, atol=1e-5)
