"""`present` reorders the plastic step for speed (the late weight updates of step t run at the
start of step t + 1); it must give exactly what scanning the reference `step` gives."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snncore.models import larisch as L


def _reference_present(p, ps, raster):
    net = L.init_net(p, dtype=ps.w.lgn_v1.dtype)
    (net, ps2), out = jax.lax.scan(lambda c, x: L.step(p, c, x, plastic=True), (net, ps), raster)
    do = (ps.i % 400) == 0
    w = ps2.w._replace(lgn_v1=jnp.where(do, L.normalize_on_off(ps2.w.lgn_v1), ps2.w.lgn_v1),
                       lgn_inh=jnp.where(do, L.normalize_on_off(ps2.w.lgn_inh), ps2.w.lgn_inh))
    return ps2._replace(w=w, i=ps.i + 1), out


@pytest.fixture
def x64_restored():
    old = jax.config.jax_enable_x64
    yield
    jax.config.update("jax_enable_x64", old)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_present_equals_scanned_step(dtype, x64_restored):
    jax.config.update("jax_enable_x64", dtype == jnp.float64)
    # strong plasticity and LGN->V1 weights above wmax (what the ON/OFF normalisation can
    # leave), so the clip, both Clopath masks and the iSTDP rules all act
    p = L.default_params(lr_scale=200.0)
    ps = L.init_plastic(jax.random.PRNGKey(3), dtype)
    ps = ps._replace(w=ps.w._replace(lgn_v1=ps.w.lgn_v1.at[:, 0::2].multiply(4.0)),
                     i=jnp.asarray(1, jnp.int32))
    rng = np.random.default_rng(3)
    rate = np.full((L.T_STEPS, 1), 0.01)
    rate[-40:] = 0.1                     # busy at the end: the last step's late updates matter
    raster = jnp.asarray(rng.random((L.T_STEPS, L.N_IN)) < rate, dtype)
    got = jax.jit(lambda ps, r: L.present(p, ps, r))(ps, raster)
    want = jax.jit(lambda ps, r: _reference_present(p, ps, r))(ps, raster)
    assert float(jnp.max(ps.w.lgn_v1)) > p.wmax_A
    assert int(jnp.sum(got[1][0])) > 0 and int(jnp.sum(got[1][1])) > 0     # V1 and Inh spiked
    assert int(got[1][0][-1]) > 0 and int(got[1][1][-1]) > 0      # ... in the last step too
    assert not np.array_equal(np.asarray(got[0].w.inh_v1), np.asarray(ps.w.inh_v1))  # iSTDP acted
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
