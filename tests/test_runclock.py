"""runs.RunClock: the wall time of a checkpointed run resumed across sessions is summed over the
sessions, kept beside the checkpoint and its mirror, and flagged when earlier sessions were not timed."""
import json

import pytest

from snncore import runs


@pytest.fixture
def fake_time(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(runs.time, "perf_counter", lambda: now[0])
    return now


def test_fresh_run_then_two_resumed_sessions_add_up(tmp_path, fake_time):
    ck, mirror = tmp_path / "cache" / "run.ckpt.npz", tmp_path / "results" / "run.ckpt.npz"
    ck.parent.mkdir(), mirror.parent.mkdir()
    clock = runs.RunClock(ck, mirror=mirror)          # no checkpoint yet: a run from scratch
    assert clock.complete and clock.prior == 0
    fake_time[0] += 30.0
    ck.write_bytes(b"state")                          # the first checkpoint of session 1
    assert clock.tick() == pytest.approx(30.0)
    for p in (ck, mirror):
        got = json.loads(p.with_name(p.name + ".clock.json").read_text())
        assert got == {"seconds": 30.0, "complete": True}
    fake_time[0] += 5.0                               # session 1 dies 5 s after its last checkpoint

    clock2 = runs.RunClock(ck, mirror=mirror)         # session 2 resumes the checkpoint
    assert clock2.complete and clock2.prior == pytest.approx(30.0)
    fake_time[0] += 12.5
    assert clock2.tick() == pytest.approx(42.5)       # the 5 s after the last save are lost with the session
    assert clock2.total() == pytest.approx(42.5)
    assert "whole run" in clock2.scope


def test_furthest_copy_wins_and_stale_clock_without_checkpoint_is_ignored(tmp_path, fake_time):
    ck, mirror = tmp_path / "run.ckpt.npz", tmp_path / "m" / "run.ckpt.npz"
    mirror.parent.mkdir()
    (tmp_path / "run.ckpt.npz.clock.json").write_text(json.dumps({"seconds": 99.0, "complete": True}))
    clock = runs.RunClock(ck, mirror=mirror)          # a clock left behind, but no checkpoint: fresh
    assert clock.prior == 0 and clock.complete
    ck.write_bytes(b"state")
    (tmp_path / "run.ckpt.npz.clock.json").write_text(json.dumps({"seconds": 10.0, "complete": True}))
    (mirror.parent / "run.ckpt.npz.clock.json").write_text(json.dumps({"seconds": 70.0, "complete": True}))
    assert runs.RunClock(ck, mirror=mirror).prior == pytest.approx(70.0)   # e.g. a fresh cache + the mirror


def test_resuming_a_checkpoint_without_clock_says_earlier_time_is_missing(tmp_path, fake_time):
    ck = tmp_path / "run.ckpt.npz"
    ck.write_bytes(b"state written by an older version")
    (tmp_path / "run.ckpt.npz.clock.json").write_text("{not json")   # a corrupt clock counts as none
    clock = runs.RunClock(ck)
    assert not clock.complete and clock.prior == 0
    fake_time[0] += 8.0
    assert clock.tick() == pytest.approx(8.0)
    assert "not included" in clock.scope
    # and the flag is kept by later sessions: the sum stays partial
    later = runs.RunClock(ck)
    assert not later.complete and later.prior == pytest.approx(8.0)
    out = runs.save_result("x", "r", {}, profile="paper", dataset="d", wall_time_s=later.total(),
                           wall_time_scope=later.scope, root=tmp_path / "results")
    rec = json.loads(out.read_text())
    assert rec["wall_time_s"] == pytest.approx(8.0) and "not included" in rec["wall_time_scope"]


def test_archived_table_says_what_a_resumed_runs_wall_time_covers(tmp_path):
    from snncore import pages
    root = tmp_path / "results"
    fresh = runs.RunClock(tmp_path / "new.ckpt.npz")                 # no checkpoint: the whole run
    (tmp_path / "old.ckpt.npz").write_bytes(b"state")
    resumed = runs.RunClock(tmp_path / "old.ckpt.npz")               # a checkpoint without a clock
    runs.save_result("a", "whole", {}, profile="paper", dataset="d", wall_time_s=7200.0, root=root,
                     wall_time_scope=fresh.scope)
    runs.save_result("a", "partial", {}, profile="paper", dataset="d", wall_time_s=60.0, root=root,
                     wall_time_scope=resumed.scope)
    runs.save_result("a", "plain", {}, profile="quick", dataset="d", wall_time_s=5.0, root=root)
    rows = {line.split("|")[1].strip(): line for line in pages.archived_fragment(root).splitlines()
            if line.startswith("| `")}
    assert "(all sessions)" in rows["`a/whole.json`"]
    assert "(later sessions only)" in rows["`a/partial.json`"]
    assert "sessions" not in rows["`a/plain.json`"]
