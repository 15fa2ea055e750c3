import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snncore import core


def _lif_counts(currents, n_steps, dt=1e-3, tau=20e-3, v_th=1.0):
    p = core.lif_params(tau_mem=tau, tau_syn=1e-9, dt=dt, v_th=v_th)

    def one(c):
        _, z = core.run(lambda p, s, x: core.lif_step(p, s, x, spike=core.heaviside), p,
                        core.lif_init(()), jnp.full((n_steps,), c), expected_steps=n_steps)
        return z.sum()
    return np.asarray(jax.vmap(one)(jnp.asarray(currents)))


def test_lif_fi_curve_matches_discrete_closed_form():
    dt, tau, v_th, n = 1e-3, 20e-3, 1.0, 2000
    currents = np.linspace(0.5, 5.0, 37)
    counts = _lif_counts(currents, n, dt, tau, v_th)
    alpha = np.exp(-dt / tau)
    with np.errstate(divide="ignore", invalid="ignore"):
        n_star = np.where(currents > v_th, np.floor(np.log1p(-v_th / currents) / np.log(alpha)) + 1, np.inf)
    expected = np.where(np.isfinite(n_star), np.floor(n / n_star), 0)
    np.testing.assert_array_equal(counts, expected)
    # the discrete period is the continuous one rounded up to a whole step: 1/(T_c + dt) <= rate <= 1/T_c
    i = currents > 1.05
    t_c = tau * np.log(currents[i] / (currents[i] - v_th))
    rate = counts[i] / (n * dt)
    assert np.all(rate <= 1 / t_c + 1e-9)
    assert np.all(rate >= 1 / (t_c + dt) - 1 / (n * dt))


def test_lif_subthreshold_never_spikes():
    assert _lif_counts([0.0, 0.5, 0.99], 3000).sum() == 0


def test_lif_pinned_trajectory():
    # hand-computed with the documented update order (i, then v, then spike and reset)
    p = core.lif_params(tau_mem=10e-3, tau_syn=5e-3, dt=1e-3, v_th=0.06, v_reset=0.0)
    a, b = float(np.exp(-0.1)), float(np.exp(-0.2))
    xs = jnp.array([1.0, 0.0, 0.0, 0.0])
    _, z = core.run(lambda p, s, x: core.lif_step(p, s, x, spike=core.heaviside), p,
                    core.lif_init(()), xs)
    i, v, zs = 0.0, 0.0, []
    for x in [1.0, 0.0, 0.0, 0.0]:
        i = b * i + x
        v = a * v + (1 - a) * i
        zz = float(v > 0.06)
        v = v - zz * v
        zs.append(zz)
    np.testing.assert_array_equal(np.asarray(z), zs)
    assert zs == [1.0, 1.0, 1.0, 0.0]  # v = .0952, .0779, .0638, .0522 before reset


def test_li_step_closed_form():
    p = core.li_params(tau=15e-3, dt=1e-3)
    _, v = core.run(core.li_step, p, core.li_init((3,)), jnp.ones((50, 3)) * 2.0)
    n = np.arange(1, 51)
    np.testing.assert_allclose(np.asarray(v[:, 0]), 2.0 * (1 - np.exp(-1e-3 / 15e-3) ** n), rtol=1e-5)


@pytest.mark.parametrize("name", sorted(core.SURROGATES))
def test_surrogate_forward_and_gradient(name):
    f = core.spike_fn(name, slope=10.0)
    x = jnp.array([-0.5, -0.01, 0.0, 0.01, 0.5])
    np.testing.assert_array_equal(np.asarray(f(x)), [0, 0, 0, 1, 1])
    g = jax.grad(lambda x: f(x).sum())(x)
    assert np.all(np.asarray(g) >= 0) and float(g[2]) == pytest.approx(float(g.max()))
    assert float(g[2]) > float(g[0]) > 0 or name == "triangle"


def test_spike_fn_rejects_bad_arguments():
    with pytest.raises(ValueError, match="valid"):
        core.spike_fn("nope")
    with pytest.raises(ValueError, match="slope"):
        core.spike_fn("arctan", slope=-1.0)


def test_lif_gradient_flows_through_surrogate():
    p = core.lif_params(tau_mem=20e-3, tau_syn=5e-3, dt=1e-3)
    w = jnp.ones((4,)) * 0.3

    def loss(w):
        xs = jnp.ones((100, 4)) * w
        _, z = core.run(core.lif_step, p, core.lif_init((4,)), xs)
        return z.sum()
    g = jax.grad(loss)(w)
    assert np.all(np.isfinite(np.asarray(g))) and np.all(np.asarray(g) != 0)


def test_run_checks_time_axis():
    p = core.li_params(tau=1.0, dt=0.1)
    with pytest.raises(ValueError, match="expected 100 time steps on axis 0 but got 8"):
        core.run(core.li_step, p, core.li_init((100,)), jnp.zeros((8, 100)), expected_steps=100)
    with pytest.raises(ValueError, match="disagree"):
        core.run(lambda p, s, x: (s, x[0]), p, core.li_init(()), (jnp.zeros(3), jnp.zeros(4)))


def test_invalid_time_constants_rejected():
    with pytest.raises(ValueError, match="tau_mem"):
        core.lif_params(tau_mem=-1.0, tau_syn=1.0, dt=1e-3)
    with pytest.raises(ValueError, match="dt"):
        core.li_params(tau=1.0, dt=0.0)


def test_seeds_split_per_concern():
    a, b = core.split_seeds(1), core.split_seeds(2)
    assert len({tuple(np.asarray(jax.random.key_data(k)).ravel()) for k in a}) == 3
    assert not np.array_equal(jax.random.key_data(a.model), jax.random.key_data(b.model))
    c = core.split_seeds(1, train=99)
    np.testing.assert_array_equal(jax.random.key_data(a.data), jax.random.key_data(c.data))
    assert not np.array_equal(jax.random.key_data(a.train), jax.random.key_data(c.train))
    explicit = core.split_seeds(data=1, model=2, train=3)
    np.testing.assert_array_equal(jax.random.key_data(explicit.model), jax.random.key_data(jax.random.PRNGKey(2)))
    with pytest.raises(ValueError):
        core.split_seeds(data=1)


def test_nan_guard_names_step_and_leaf():
    core.check_finite({"w": jnp.ones(3), "loss": 1.0}, step=3)
    with pytest.raises(core.NonFiniteError, match=r"step 17.*\['w'\]"):
        core.check_finite({"w": jnp.array([1.0, jnp.nan]), "loss": 1.0}, step=17)
