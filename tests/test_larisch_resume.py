"""The robustness evaluation of larisch_robustness is cached piece by piece: a rerun with
resume=True reuses every piece and gives the same accuracies; a partial archive is plotted."""
import json
import re

import pytest

from snncore import runner


def _outputs(path):
    nb = json.loads(path.read_text())
    return "".join("".join(o.get("text", "")) for c in nb["cells"] if c["cell_type"] == "code"
                   for o in c.get("outputs", []))


@pytest.mark.notebook
def test_robustness_evaluation_resumes_from_cached_pieces(tmp_path, isolated_cache, monkeypatch):
    monkeypatch.setenv("SNNCORE_RESULTS", str(tmp_path / "results"))
    sec = runner.discover()["larisch_robustness"]
    params = {"resume": True, "archive_paper": True}
    archive = tmp_path / "results" / "larisch" / "robustness_paper.json"

    rec1 = runner.execute(sec, "smoke", params, book_dir=tmp_path / "b1", force=True, log=lambda *_: None)
    assert rec1["status"] == "ok"
    text1 = _outputs(tmp_path / "b1" / f"{sec.output}.ipynb")
    assert re.search(r"0 pieces reused, [1-9]\d* computed", text1)
    assert re.search(r"trained (\d+) presentations in [\d.]+ s \([\d.]+ ms per presentation\), \1 in all", text1)
    first_rec = json.loads(archive.read_text())
    first = first_rec["data"]
    assert "whole run" in first_rec["wall_time_scope"] and first_rec["wall_time_s"] > 0
    assert first["complete"] is False and first["missing"] == [] and not first["full_scale"]  # smoke: a subset
    assert len(first["results"]) == 5 * 3     # 5 corruptions x (k = 0, 1, raw counts)
    pieces = list(isolated_cache.glob("larisch/eval_*/*"))
    assert pieces and not [p for p in pieces if p.suffix == ".tmp"]

    # as an interrupted paper run leaves it: the last corruption missing, complete: false
    part = json.loads(archive.read_text())
    part["data"]["results"] = {k: v for k, v in first["results"].items() if not k.startswith("time jitter")}
    part["data"]["missing"] = [k for k in first["results"] if k.startswith("time jitter")]
    archive.write_text(json.dumps(part))

    rec2 = runner.execute(sec, "smoke", params, book_dir=tmp_path / "b2", force=True, log=lambda *_: None)
    assert rec2["status"] == "ok"
    text2 = _outputs(tmp_path / "b2" / f"{sec.output}.ipynb")
    m = re.search(r"(\d+) pieces reused, 0 computed", text2)
    # the finished training is loaded, not timed again (it used to print a bogus rate)
    assert re.search(r"training already finished \(\d+ presentations\): loaded from checkpoint", text2), text2[:3000]
    assert m and int(m.group(1)) > 0, text2[-2000:]
    assert "PARTIAL (complete: false, unfinished); 12 curves; missing 3: time jitter|k=0.0" in text2
    second_rec = json.loads(archive.read_text())
    second = second_rec["data"]
    # the resumed run's wall time includes the first run's (kept beside the training checkpoint)
    assert second_rec["wall_time_s"] > first_rec["wall_time_s"] and "whole run" in second_rec["wall_time_scope"]
    for key in ("results", "ei", "raw_clean", "table", "conv_warnings"):
        assert second[key] == first[key], key
    assert rec2["reported"]["clean_accuracy_k1"] == rec1["reported"]["clean_accuracy_k1"]
    assert rec2["reported"]["scoreboard"] == rec1["reported"]["scoreboard"]


@pytest.mark.notebook
def test_parallel_svm_fits_give_the_same_results(tmp_path, isolated_cache, monkeypatch):
    # at paper scale the ~14 LinearSVC fits dominate a CPU evaluation; svm_jobs fits them in
    # parallel processes up front. Same models, so every accuracy must equal the one-by-one run.
    sec = runner.discover()["larisch_robustness"]
    with pytest.raises(runner.RunError, match="svm_jobs must be an integer >= 0"):
        runner.execute(sec, "smoke", {"svm_jobs": -1}, book_dir=tmp_path / "bad", force=True, log=lambda *_: None)
    got = {}
    for jobs in (1, 2):
        monkeypatch.setenv("SNNCORE_CACHE", str(tmp_path / f"cache{jobs}"))     # nothing shared
        monkeypatch.setenv("SNNCORE_RESULTS", str(tmp_path / f"results{jobs}"))
        rec = runner.execute(sec, "smoke", {"svm_jobs": jobs, "archive_paper": True},
                             book_dir=tmp_path / f"b{jobs}", force=True, log=lambda *_: None)
        assert rec["status"] == "ok"
        text = _outputs(tmp_path / f"b{jobs}" / f"{sec.output}.ipynb")
        fitted = re.search(r"(\d+) SVMs fitted in (\d+) processes", text)
        assert (fitted is not None) == (jobs == 2)
        if fitted:
            assert int(fitted.group(1)) >= 2 and int(fitted.group(2)) == 2
        got[jobs] = (rec["reported"], json.loads((tmp_path / f"results{jobs}" / "larisch" / "robustness_paper.json")
                                                 .read_text())["data"])
    (rep1, arch1), (rep2, arch2) = got[1], got[2]
    assert rep1["clean_accuracy_k1"] == rep2["clean_accuracy_k1"]
    for key in ("results", "ei", "raw_clean", "conv_warnings"):
        assert arch1[key] == arch2[key], key
