"""The command line, the generated pages and the benchmark harness."""
import json
import subprocess
import sys

import jax.numpy as jnp
import pytest

from snncore import bench, pages, runner


def cli(*args, env=None):
    import os
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "snncore", *args], capture_output=True, text=True, env=e)


def test_cli_list():
    r = cli("list")
    assert r.returncode == 0 and "intro" in r.stdout and "smoke" in r.stdout and "dataset:" in r.stdout


def test_cli_rejects_unknown_parameter_with_valid_list():
    r = cli("run", "intro", "--profile", "smoke", "-p", "nonsense", "1")
    assert r.returncode == 2
    assert "unknown parameter 'nonsense'" in r.stderr and "n_currents (int" in r.stderr


def test_cli_unknown_section():
    r = cli("run", "no_such_section")
    assert r.returncode == 2 and "valid sections" in r.stderr


def test_cli_data_on_empty_root_names_missing_files(tmp_path):
    r = cli("data", "--root", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "train-images-idx3-ubyte" in r.stdout and "missing" in r.stdout.lower()


def test_real_data_notebook_names_missing_file(tmp_path):
    sec = runner.get_section("intro")
    import os
    old = os.environ.get("SNNCORE_DATA")
    os.environ["SNNCORE_DATA"] = str(tmp_path / "empty")
    try:
        with pytest.raises(runner.RunError, match=r"MissingDataError.*train-images-idx3-ubyte"):
            runner.execute(sec, "quick", {"n_currents": 3, "t_sim": 0.1}, book_dir=tmp_path / "b",
                           log=lambda *_: None)
    finally:
        if old is None:
            os.environ.pop("SNNCORE_DATA")
        else:
            os.environ["SNNCORE_DATA"] = old


def test_timeit_records(tmp_path):
    import jax
    f = jax.jit(lambda x: (x @ x).sum())
    path = tmp_path / "rec.jsonl"
    rec = bench.timeit(f, jnp.ones((64, 64)), name="matmul", part="test", repeats=3, path=path,
                       work={"matmuls": 1}, shapes={"x": [64, 64]}, baseline={"name": "ref", "seconds": 1.0})
    assert rec["median_s"] > 0 and rec["compile_s"] > 0 and len(rec["times_s"]) == 3
    assert rec["device"] and rec["versions"]["jax"]
    got = bench.read_records(path)
    assert got[0]["name"] == "matmul"
    page = pages.benchmarks_page(got)
    assert "| matmul |" in page and "speed-up" in page
    path.write_text(path.read_text() + "not json\n")
    with pytest.raises(ValueError, match="rec.jsonl:2"):
        bench.read_records(path)


def test_status_page_and_scoreboard(tmp_path):
    book = tmp_path / "book"
    (book / "records").mkdir(parents=True)
    rec = {"section": "s1", "title": "T", "part": "P", "profile": "quick", "parameters": {"profile": "quick", "n": 3},
           "status": "ok", "dataset": "MNIST (real)", "device": "cpu: X", "wall_time_s": 12.5,
           "commit": "abc", "versions": {}, "reported": {"scoreboard": [
               {"item": "Table 1", "paper": "95 %", "ours": "94 %", "dataset": "MNIST", "verdict": "close"}]}}
    (book / "records" / "s1.json").write_text(json.dumps(rec))
    (book / "records" / "s2.json").write_text(json.dumps({"section": "s2", "profile": "quick", "status": "failed"}))
    page = pages.status_page(book)
    assert "MNIST (real)" in page and "12.5 s" in page and "**failed**" in page and "JAX" in page
    board = pages.scoreboard_fragment(book)
    assert "### P" in board and "Dataset: MNIST. Profile: `quick`." in board
    assert "| Table 1 | 95 % | 94 % | close |" in board
    assert "notebook failed" in board


def test_cost_and_peaks(tmp_path):
    import jax
    c = bench.cost(jax.jit(lambda x: x @ x), jnp.ones((32, 32)))
    assert c["flops"] >= 2 * 32 ** 3 * 0.9 and c["bytes"] > 0
    peaks = bench.machine_peaks(n=128, mbytes=4, repeats=2, path=tmp_path / "r.jsonl")
    assert peaks["flops_per_s"] > 1e6 and peaks["bytes_per_s"] > 1e6
    assert {r["name"] for r in bench.read_records(tmp_path / "r.jsonl")} == {"peak_matmul_f32", "peak_stream_f32"}


def test_baseline_seconds_scales_with_work():
    rec = {"work": {"images": 20, "networks": 4}, "baseline": {"seconds": 0.2, "per": "image per network"}}
    assert bench.baseline_seconds(rec) == pytest.approx(16.0)
    assert bench.baseline_seconds({"work": {"images": 512}, "baseline": {"seconds": 0.1, "per": "image"}}) == pytest.approx(51.2)
    assert bench.baseline_seconds({"baseline": {"seconds": 316.0}}) == 316.0
    assert bench.baseline_seconds({"baseline": None}) is None
