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
