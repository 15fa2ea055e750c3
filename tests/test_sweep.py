"""Sweeps on a two-worker Dask LocalCluster, resume, and validation before scheduling."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from snncore import sweep as sw
from snncore.runner import ParameterError

NB = """\
# ---
# jupyter:
#   kernelspec: {{display_name: Python 3, language: python, name: python3}}
#   snncore:
#     title: "Grid point"
#     part: "Tests"
#     output: tests/point
#     profiles:
#       smoke: {{dataset: "none", time: "1 s", params: {{}}}}
#       quick: {{dataset: "none", time: "1 s", params: {{}}}}
#       paper: {{dataset: "none", time: "1 s", params: {{}}}}
# ---

# %% tags=["parameters"]
profile = "quick"
seed = 0
noise = 0.0
sleep = 0.0

# %%
import time
from snncore import runs
time.sleep(sleep)
runs.report(dataset="synthetic", score=seed * 10 + noise)
"""


@pytest.fixture
def nbdir(tmp_path):
    d = tmp_path / "nb"
    d.mkdir()
    (d / "point.py").write_text(NB.format())
    return d


def test_expand_product_zip_fixed():
    pts = sw.expand({"fixed": {"a": 1}, "product": {"seed": [0, 1]}, "zip": {"x": [1, 2], "y": [3, 4]}})
    assert len(pts) == 4 and {"a": 1, "seed": 1, "x": 2, "y": 4} in pts
    with pytest.raises(sw.GridError, match="equal lengths"):
        sw.expand({"zip": {"x": [1], "y": [1, 2]}})
    with pytest.raises(sw.GridError, match="named twice"):
        sw.expand({"fixed": {"x": 1}, "product": {"x": [1, 2]}})


def test_grid_file_errors(tmp_path):
    bad = tmp_path / "g.yaml"
    bad.write_text("product: {seed: [0]}\nbogus: 1\n")
    with pytest.raises(sw.GridError, match="unknown keys"):
        sw.load_grid(bad)
    with pytest.raises(sw.GridError, match="not found"):
        sw.load_grid(tmp_path / "none.yaml")


def test_invalid_parameter_rejected_before_scheduling(nbdir, tmp_path):
    grid = {"name": "g", "product": {"seed": [0, 1], "nonsense": [1]}}

    class NoClient:
        def submit(self, *a, **k):
            raise AssertionError("nothing may be scheduled")
    with pytest.raises(ParameterError, match="nonsense"):
        sw.sweep("point", grid, profile="smoke", nb_dir=nbdir, out_root=tmp_path, client=NoClient())


@pytest.mark.slow
def test_sweep_on_two_worker_localcluster_and_resume(nbdir, tmp_path):
    grid = {"name": "g", "product": {"seed": [0, 1, 2]}, "zip": {"noise": [0.0, 0.5]}}
    s = sw.sweep("point", grid, profile="smoke", nb_dir=nbdir, out_root=tmp_path, n_workers=2, progress=False)
    assert s["n_points"] == 6 and s["n_failed"] == 0
    scores = sorted(r["score"] for r in s["rows"])
    assert scores == [0.0, 0.5, 10.0, 10.5, 20.0, 20.5]
    table = (tmp_path / "point" / "g" / "smoke" / "table.csv").read_text()
    assert "score" in table and len(table.strip().splitlines()) == 7
    assert json.loads((tmp_path / "point" / "g" / "smoke" / "sweep.json").read_text())["provenance"]["commit"]
    again = sw.sweep("point", grid, profile="smoke", nb_dir=nbdir, out_root=tmp_path, n_workers=2, progress=False)
    assert all(r["cached"] for r in again["rows"]) and again["n_failed"] == 0


@pytest.mark.slow
def test_sweep_survives_a_killed_worker(nbdir, tmp_path):
    from dask.distributed import Client, LocalCluster
    grid = {"name": "k", "product": {"seed": [0, 1, 2, 3]}, "fixed": {"sleep": 2.0}}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        pids = list(client.run(os.getpid).values())

        def kill_one():
            time.sleep(3.0)  # while points are running
            os.kill(pids[0], signal.SIGKILL)
        threading.Thread(target=kill_one, daemon=True).start()
        s = sw.sweep("point", grid, profile="smoke", nb_dir=nbdir, out_root=tmp_path, client=client,
                     progress=False)
    assert s["n_points"] == 4 and s["n_failed"] == 0, s["failures"]
    assert sorted(r["score"] for r in s["rows"]) == [0.0, 10.0, 20.0, 30.0]


def test_sharding_noop_on_one_device_and_splits_on_two():
    import jax.numpy as jnp
    from snncore import parallel
    x = jnp.arange(6.0)
    assert parallel.shard_leading(x) is x or parallel.n_devices() > 1
    code = textwrap.dedent("""
        import jax, jax.numpy as jnp
        from snncore import parallel
        assert jax.local_device_count() == 2
        x = parallel.shard_leading(jnp.arange(8.0).reshape(4, 2))
        assert len(x.sharding.device_set) == 2
        y = jax.jit(jax.vmap(lambda r: r.sum()))(x)
        assert y.tolist() == [1.0, 5.0, 9.0, 13.0]
        try:
            parallel.shard_leading(jnp.ones(3))
        except ValueError as e:
            assert "pad it to 4" in str(e)
        else:
            raise SystemExit("no error")
        print("ok")
    """)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr
