"""The paper parts' vmapped batches run sharded over several local devices and give the same
numbers as on one (two CPU devices are forced with XLA_FLAGS in a subprocess)."""
import os
import subprocess
import sys
import textwrap

import numpy as np

CODE = textwrap.dedent("""
    import sys
    import numpy as np
    import jax
    from snncore.models import denram as dm
    cfg = dm.DenRAMConfig(n_in=6, tau_mem=15e-3, max_delay=20, t_data=30)
    rng = np.random.default_rng(2)
    n = 48
    labels = rng.integers(0, 2, n)
    x = (rng.random((n, 30, 6)) < 0.05).astype(np.uint8)
    x[labels == 1, :10, :3] = 1
    data = dm.events_from_rasters(x, labels)
    tr, va, te = data.subset(np.arange(32)), data.subset(np.arange(32, 40)), data.subset(np.arange(40, 48))
    grid = dm.train_grid(cfg, tr, va, te, seeds=[3, 4], noise_stds=[0.0, 0.2], epochs=2, patience=1, batch_size=8)
    np.savez(sys.argv[1], w=np.stack([np.asarray(g["params"].w) for g in grid]),
             acc=np.array([g["test_acc"] for g in grid]), devices=jax.local_device_count())
""")


def _run(path, devices):
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    r = subprocess.run([sys.executable, "-c", CODE, str(path)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    return np.load(path)


def test_denram_grid_sharded_equals_single_device(tmp_path):
    one = _run(tmp_path / "one.npz", 1)
    two = _run(tmp_path / "two.npz", 2)
    assert int(one["devices"]) == 1 and int(two["devices"]) == 2
    np.testing.assert_allclose(two["w"], one["w"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(two["acc"], one["acc"])
