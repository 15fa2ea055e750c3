import json
import textwrap

import pytest

from snncore import runner
from snncore.runner import ParameterError, RunError

HEADER = """\
# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   snncore:
#     title: "Tiny"
#     part: "Tests"
#     output: tests/{name}
#     profiles:
#       smoke: {{dataset: "none", time: "1 s", params: {{n: 2}}}}
#       quick: {{dataset: "none", time: "1 s", params: {{}}}}
#       paper: {{dataset: "none", time: "1 s", params: {{n: 100, rate: 2}}}}
# ---
"""


def write_nb(d, name, body, params='profile = "quick"\nn = 5  # how many\nrate = 0.5\nlabel = "x"\nflag = False\n'):
    src = HEADER.format(name=name) + "\n# %% tags=[\"parameters\"]\n" + params + "\n# %%\n" + textwrap.dedent(body)
    p = d / f"{name}.py"
    p.write_text(src)
    return p


@pytest.fixture
def nbdir(tmp_path):
    d = tmp_path / "notebooks"
    d.mkdir()
    write_nb(d, "ok", """\
        import json, os
        from snncore import runs
        assert isinstance(rate, float)
        runs.report(dataset=f"synthetic n={n}", value=n * 2)
        """)
    write_nb(d, "boom", """\
        from snncore import runs
        print("partial output before the error")
        raise RuntimeError("deliberate failure")
        """)
    write_nb(d, "silent", "x = 1\n")
    return d


def test_discover_and_parameters(nbdir):
    secs = runner.discover(nbdir)
    assert set(secs) == {"ok", "boom", "silent"}
    params = runner.read_parameters(secs["ok"])
    assert params["n"].default == 5 and params["n"].comment == "how many"
    assert runner.resolve_parameters(secs["ok"], "smoke") == {"profile": "smoke", "n": 2}
    # profile values are type-checked too: int -> float is fine
    assert runner.resolve_parameters(secs["ok"], "paper")["rate"] == 2.0


def test_parameter_checking(nbdir):
    sec = runner.discover(nbdir)["ok"]
    with pytest.raises(ParameterError, match=r"unknown parameter 'nonsense'.*Valid parameters: n \(int"):
        runner.resolve_parameters(sec, "quick", {"nonsense": "1"}, from_text=True)
    with pytest.raises(ParameterError, match="expects a int"):
        runner.resolve_parameters(sec, "quick", {"n": "2.5"}, from_text=True)
    with pytest.raises(ParameterError, match="expects a bool"):
        runner.resolve_parameters(sec, "quick", {"flag": "3"}, from_text=True)
    with pytest.raises(ParameterError, match="profile"):
        runner.resolve_parameters(sec, "huge")
    # YAML 1.1 reads "5e-6" (no dot) as a string: a float parameter still takes it
    assert runner.resolve_parameters(sec, "quick", {"rate": "5e-6"}, from_text=True)["rate"] == 5e-6
    with pytest.raises(ParameterError, match="expects a float"):
        runner.resolve_parameters(sec, "quick", {"rate": "fast"}, from_text=True)
    got = runner.resolve_parameters(sec, "quick", {"n": "7", "rate": "10", "label": "10", "flag": "true"},
                                    from_text=True)
    assert got == {"profile": "quick", "n": 7, "rate": 10.0, "label": "10", "flag": True}


def test_bad_parameters_cell(tmp_path):
    d = tmp_path / "nb"
    d.mkdir()
    write_nb(d, "bad", "x=1\n", params='profile = "quick"\nn = len("abc")\n')
    with pytest.raises(ValueError, match="not a literal"):
        runner.read_parameters(runner.discover(d)["bad"])


def test_execute_cache_and_record(nbdir, tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "_package_hash", lambda: "fixed")
    sec = runner.discover(nbdir)["ok"]
    book = tmp_path / "book"
    rec = runner.execute(sec, "smoke", book_dir=book, log=lambda *_: None)
    assert rec["status"] == "ok" and rec["dataset"] == "synthetic n=2"
    assert rec["reported"]["value"] == 4 and rec["parameters"] == {"profile": "smoke", "n": 2}
    for key in ("device", "versions", "commit", "wall_time_s", "cache_key"):
        assert key in rec
    assert (book / "tests" / "ok.ipynb").exists()
    logs = []
    again = runner.execute(sec, "smoke", book_dir=book, log=logs.append)
    assert again["cache_key"] == rec["cache_key"] and logs[0].startswith("[cached]")
    changed = runner.execute(sec, "smoke", {"n": 3}, book_dir=book, log=lambda *_: None)
    assert changed["dataset"] == "synthetic n=3"


def test_failure_keeps_partial_but_not_rendered(nbdir, tmp_path):
    secs = runner.discover(nbdir)
    book = tmp_path / "book"
    out = secs["boom"].output_path(book)
    out.parent.mkdir(parents=True)
    out.write_text("{}")  # a stale page from an older successful run
    with pytest.raises(RunError) as e:
        runner.execute(secs["boom"], "smoke", book_dir=book, log=lambda *_: None)
    msg = str(e.value)
    assert "boom" in msg and "RuntimeError: deliberate failure" in msg and "cell [" in msg
    assert "partial output kept" in msg
    assert not out.exists()
    partial = book / "_partial" / "boom.ipynb"
    assert "partial output before the error" in partial.read_text()
    rec = json.loads((book / "records" / "boom.json").read_text())
    assert rec["status"] == "failed"


def test_notebook_must_report_dataset(nbdir, tmp_path):
    with pytest.raises(RunError, match="never called snncore.runs.report"):
        runner.execute(runner.discover(nbdir)["silent"], "smoke", book_dir=tmp_path / "b",
                       log=lambda *_: None)


def test_tidy_collapses_progress_bars():
    text = ("/x/tqdm/auto.py:21: TqdmWarning: IProgress not found. Please update\n"
            "  from .autonotebook import tqdm as notebook_tqdm\n"
            "\rwork:   0%|   | 0/5\rwork:  40%|#  | 2/5\rwork: 100%|###| 5/5\nresult 3\n")
    assert runner._tidy_text(text) == "work: 100%|###| 5/5\nresult 3\n"


def test_dependency_cache_key_and_order(tmp_path):
    d = tmp_path / "nb"
    d.mkdir()
    write_nb(d, "up", "x = 1\n")
    down = write_nb(d, "down", "x = 1\n")
    down.write_text(down.read_text().replace('#     output: tests/down\n',
                                             '#     output: tests/down\n#     depends: [up]\n#     order: 500\n'))
    secs = runner.discover(d)
    assert list(secs) == ["up", "down"] and secs["down"].depends == ("up",)
    book = tmp_path / "book"
    (book / "records").mkdir(parents=True)
    k0 = runner.cache_key(secs["down"], {"profile": "smoke"}, book)
    (book / "records" / "up.json").write_text(json.dumps({"cache_key": "abc"}))
    k1 = runner.cache_key(secs["down"], {"profile": "smoke"}, book)
    (book / "records" / "up.json").write_text(json.dumps({"cache_key": "def"}))
    assert len({k0, k1, runner.cache_key(secs["down"], {"profile": "smoke"}, book)}) == 3
    bad = write_nb(d, "bad", "x = 1\n")
    bad.write_text(bad.read_text().replace('#     output: tests/bad\n', '#     output: tests/bad\n#     depends: [nope]\n'))
    with pytest.raises(ValueError, match="unknown section"):
        runner.discover(d)


def test_archived_results_and_read_files_join_the_cache_key(tmp_path, monkeypatch):
    # a new archived paper run (results/<part>/) or a new benchmark record (a `reads:` path)
    # must re-run the section that plots it, even though the notebook itself did not change
    d = tmp_path / "nb"
    d.mkdir()
    nb = write_nb(d, "plots", "x = 1\n")
    extra = tmp_path / "records.jsonl"
    extra.write_text("{}\n")
    nb.write_text(nb.read_text().replace('#     output: tests/plots\n',
                                         f'#     output: tests/plots\n#     reads: ["{extra}"]\n'))
    monkeypatch.setenv("SNNCORE_RESULTS", str(tmp_path / "results"))
    sec = runner.discover(d)["plots"]
    assert sec.reads == (str(extra),)
    keys = [runner.cache_key(sec, {"profile": "quick"})]
    (tmp_path / "results" / "tests" / "runs").mkdir(parents=True)
    (tmp_path / "results" / "tests" / "runs" / "a.json").write_text('{"acc": 0.5}')
    keys.append(runner.cache_key(sec, {"profile": "quick"}))
    (tmp_path / "results" / "tests" / "runs" / "a.json").write_text('{"acc": 0.6}')
    keys.append(runner.cache_key(sec, {"profile": "quick"}))
    (tmp_path / "results" / "other.json").write_text("{}")   # another part's results: no effect
    keys.append(runner.cache_key(sec, {"profile": "quick"}))
    extra.write_text("{}\n{}\n")
    keys.append(runner.cache_key(sec, {"profile": "quick"}))
    assert len(set(keys)) == 4 and keys[2] == keys[3]
