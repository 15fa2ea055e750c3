"""Every notebook in notebooks/ runs under its smoke profile: discovered, so none can escape."""
import json

import pytest

from snncore import runner

SECTIONS = runner.discover()


def test_there_are_notebooks():
    assert "intro" in SECTIONS


@pytest.mark.notebook
@pytest.mark.parametrize("name", list(SECTIONS))
def test_notebook_smoke(name, tmp_path, isolated_cache):
    rec = runner.execute(SECTIONS[name], "smoke", book_dir=tmp_path / "book", force=True,
                         log=lambda *_: None)
    assert rec["status"] == "ok"
    assert rec["dataset"]
    assert (tmp_path / "book" / f"{SECTIONS[name].output}.ipynb").exists()


@pytest.mark.notebook
def test_lcsnn_paper_rows_are_saved_and_reused(tmp_path, isolated_cache, shared_data, monkeypatch):
    # the paper profile saves every finished row (and the learning curve) under results/ and a
    # rerun - the next session - reuses exactly those whose settings match
    import json
    monkeypatch.setenv("SNNCORE_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("SNNCORE_DATA", str(shared_data))
    small = {"synthetic": False, "rows": [5], "n_networks": 1, "n_train": 4, "n_calib": 30, "n_test": 30,
             "curve_points": [0, 4], "curve_eval": 30, "archive_rows": True}
    sec = SECTIONS["lcsnn_main"]
    assert runner.execute(sec, "smoke", small, book_dir=tmp_path / "b1", force=True, log=lambda *_: None)["status"] == "ok"
    row = tmp_path / "results" / "lcsnn" / "main_paper_rows" / "row05.json"
    curve = row.with_name("curve.json")
    first = json.loads(row.read_text())
    assert first["data"]["key"]["n_calib"] == 30 and first["provenance"]["device"] and curve.exists()
    curve_time = curve.stat().st_mtime_ns
    # n_calib changed: the row no longer matches and is recomputed; the curve does not depend on it
    assert runner.execute(sec, "smoke", {**small, "n_calib": 31}, book_dir=tmp_path / "b2", force=True,
                          log=lambda *_: None)["status"] == "ok"
    text = (tmp_path / "b2" / f"{sec.output}.ipynb").read_text()
    assert "learning curve reused from" in text and "row  5" in text
    assert "reused from results/lcsnn/main_paper_rows/row05.json" not in text
    assert json.loads(row.read_text())["data"]["key"]["n_calib"] == 31
    assert curve.stat().st_mtime_ns == curve_time


@pytest.mark.notebook
def test_wakeword_runaway_is_recorded_not_fatal(tmp_path, isolated_cache, monkeypatch):
    # a variant whose online training runs away is a result: the page still builds, the other
    # models still run, the summary and scoreboard say "ran away", and an archive records it
    import json
    monkeypatch.setenv("SNNCORE_RESULTS", str(tmp_path / "results"))
    sec = SECTIONS["ebn_wakeword"]
    rec = runner.execute(sec, "smoke", {"max_rate_hz": 0.0, "archs": ["ebn"], "archive_nets": True,
                                        "resume": True},
                         book_dir=tmp_path / "book", force=True, log=lambda *_: None)
    assert rec["status"] == "ok"
    text = (tmp_path / "book" / f"{sec.output}.ipynb").read_text()
    assert "RAN AWAY" in text and "FORCE" in text
    board = {r["item"]: r for r in rec["reported"]["scoreboard"]}
    ebn_row = board["Fig. 2, wake word, Network ADS + EBN test accuracy"]
    assert ebn_row["verdict"].startswith("ran away during online training")
    assert not list((tmp_path / "results").rglob("*.json"))   # smoke (synthetic) archives nothing


@pytest.mark.notebook
def test_wakeword_baselines_can_be_skipped_and_are_validated_first(tmp_path, isolated_cache):
    # a paper run of one ADS variant alone skips the baselines (their archive stays in place);
    # an unknown baseline name is rejected in the setup cell, before data or training
    sec = SECTIONS["ebn_wakeword"]
    with pytest.raises(runner.RunError, match="baselines must be a subset"):
        runner.execute(sec, "smoke", {"baselines": ["forse"]}, book_dir=tmp_path / "bad", force=True,
                       log=lambda *_: None)
    rec = runner.execute(sec, "smoke", {"baselines": [], "archs": ["noebn"]}, book_dir=tmp_path / "book",
                         force=True, log=lambda *_: None)
    assert rec["status"] == "ok"
    board = {r["item"]: r for r in rec["reported"]["scoreboard"]}
    for item in ("FORCE baseline test accuracy", "reservoir baseline (simplified) test accuracy"):
        assert board[f"Fig. 2, wake word, {item}"]["verdict"].startswith("not run")
    assert board["Fig. 2, wake word, BPTT baseline test accuracy"]["ours"] == "not run"
    text = (tmp_path / "book" / f"{sec.output}.ipynb").read_text()
    assert "FORCE #0" not in text and "reservoir #0" not in text


@pytest.mark.notebook
def test_wakeword_force_network_is_reused_on_resume(tmp_path, isolated_cache):
    # outside smoke a trained FORCE network is saved; a resumed run with the same settings and
    # teacher reuses it (same test accuracy), one with other settings trains again
    sec = SECTIONS["ebn_wakeword"]
    small = {**sec.profiles["smoke"].params, "resume": True, "archs": ["noebn"],
             "baselines": ["force"], "bptt_steps": 0}
    accs = []
    for i, extra in enumerate(({}, {}, {"force_epochs": 2})):
        rec = runner.execute(sec, "quick", {**small, **extra}, book_dir=tmp_path / f"b{i}", force=True,
                             log=lambda *_: None)
        assert rec["status"] == "ok"
        text = (tmp_path / f"b{i}" / f"{sec.output}.ipynb").read_text()
        assert ("FORCE #0: reused" in text) == (i == 1)
        accs.append(rec["reported"]["force_acc"])
        clocks = list(isolated_cache.rglob("ads_noebn_*.ckpt.npz.clock.json"))
        assert len(clocks) == 1, clocks      # the online training's wall time, kept beside its checkpoint
        got = json.loads(clocks[0].read_text())
        assert got["complete"] and got["seconds"] > (seconds if i else 0)
        seconds = got["seconds"]             # a resumed run adds its own time to the earlier runs'
    assert accs[0] == accs[1]
