"""Provenance, run records and archived results.

* :func:`provenance` -- commit, device, versions: attached to every record and result.
* :func:`report` -- called from inside a notebook to say which dataset it actually used (and any
  other facts about the run); the runner merges it into the run record.
* :func:`save_result` / :func:`load_result` -- small JSON results under ``results/`` written
  atomically with their provenance; notebooks plot them beside the live run.
* :class:`RunClock` -- the wall time of a checkpointed run that may be resumed in later sessions.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import time
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from .checkpoint import atomic_write_text

__all__ = ["repo_root", "provenance", "versions", "device_info", "git_commit", "report",
           "save_result", "load_result", "results_dir", "RunClock", "NOTES_ENV"]

NOTES_ENV = "SNNCORE_RUN_NOTES"
KEY_PACKAGES = ("jax", "jaxlib", "numpy", "scipy", "optax", "tonic", "h5py", "scikit-learn",
                "matplotlib", "papermill", "jupytext", "jupyter-book", "tqdm")


def repo_root() -> Path:
    """The checkout holding this package (where ``results/`` and ``book/`` live)."""
    env = os.environ.get("SNNCORE_ROOT")
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parent.parent


def results_dir() -> Path:
    """``results/`` of the repository, or ``$SNNCORE_RESULTS`` (tests write elsewhere)."""
    env = os.environ.get("SNNCORE_RESULTS")
    return Path(env) if env else repo_root() / "results"


@lru_cache(maxsize=1)
def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=repo_root(),
                             capture_output=True, text=True, timeout=10)
        commit = out.stdout.strip() or "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=repo_root(), capture_output=True, text=True, timeout=10)
        return commit + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions(packages=KEY_PACKAGES) -> dict:
    out = {"python": platform.python_version()}
    from . import __version__
    out["snncore"] = __version__
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_info() -> str:
    """Human-readable description of the JAX default device, with core count for CPUs."""
    try:
        import jax
        d = jax.devices()[0]
        if d.platform == "cpu":
            return f"cpu: {_cpu_name()} ({os.cpu_count()} cores)"
        return f"{d.platform}: {getattr(d, 'device_kind', str(d))} x{len(jax.devices())}"
    except Exception as e:  # pragma: no cover - jax broken
        return f"unknown ({e})"


def provenance() -> dict:
    return {"commit": git_commit(), "device": device_info(), "versions": versions(),
            "platform": platform.platform(), "host_cores": os.cpu_count(),
            "time_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


def report(dataset: str, **facts: Any) -> dict:
    """Declare, from inside a notebook, which dataset this run actually used.

    ``dataset`` is a plain description such as ``"MNIST (real, 60,000 train)"`` or
    ``"synthetic (smoke)"`` or ``"SHD stand-in: FSDD through the cochlea encoder"``. Extra
    keyword facts (numbers of samples, accuracy ...) are recorded too. Under the runner the facts
    go into the run record; interactively they are only returned.
    """
    if not isinstance(dataset, str) or not dataset.strip():
        raise ValueError("report(dataset=...) needs a non-empty description of the data used")
    notes = {"dataset": dataset, **{k: _jsonable(v) for k, v in facts.items()},
             "device": device_info()}
    path = os.environ.get(NOTES_ENV)
    if path:
        p = Path(path)
        old = json.loads(p.read_text()) if p.exists() else {}
        old.update(notes)
        atomic_write_text(p, json.dumps(old, indent=1))
    return notes


def _jsonable(v):
    try:
        import numpy as np
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, np.ndarray):
            return v.tolist()
    except ImportError:  # pragma: no cover
        pass
    if hasattr(v, "tolist"):
        return v.tolist()
    return v


def save_result(section: str, name: str, data: dict, *, profile: str, dataset: str,
                wall_time_s: float, root: Path | None = None, wall_time_scope: str | None = None) -> Path:
    """Write ``results/<section>/<name>.json`` atomically: ``data`` plus its provenance.

    ``wall_time_scope`` says what ``wall_time_s`` covers when that is not obvious (a run resumed
    across sessions: see :class:`RunClock`)."""
    if not section or not name or "/" in name:
        raise ValueError(f"bad result name {section!r}/{name!r}")
    root = Path(root) if root else results_dir()
    payload = {"section": section, "name": name, "profile": profile, "dataset": dataset,
               "wall_time_s": round(float(wall_time_s), 3), "provenance": provenance(),
               "data": json.loads(json.dumps(data, default=_jsonable))}
    if wall_time_scope:
        payload["wall_time_scope"] = wall_time_scope
    return atomic_write_text(root / section / f"{name}.json", json.dumps(payload, indent=1))


def load_result(section: str, name: str, root: Path | None = None) -> dict | None:
    """Read an archived result, or ``None`` if it has not been produced yet."""
    root = Path(root) if root else results_dir()
    p = root / section / f"{name}.json"
    if not p.exists():
        return None
    return json.loads(p.read_text())


class RunClock:
    """The wall time of a checkpointed run that may be interrupted and resumed in later sessions.

    The seconds spent so far are kept in small JSON files beside the checkpoint (and beside its
    mirror under ``results/``, when there is one: the cache of a lent machine does not outlive it),
    rewritten by :meth:`tick` at every checkpoint. A run that starts from scratch, or resumes a
    checkpoint whose clock was kept, knows its whole wall time (``complete``); a run resuming a
    checkpoint written without a clock counts only from now, and says so (:attr:`scope`).

    Create it *after* any mirror has been copied into the cache and *before* the work starts::

        clock = RunClock(ckpt, mirror=mirror_dir / ckpt.name)
        train(..., on_checkpoint=lambda path: clock.tick())
        save_result(..., wall_time_s=clock.total(), wall_time_scope=clock.scope)
    """

    SUFFIX = ".clock.json"

    def __init__(self, checkpoint, mirror=None):
        checkpoint = Path(checkpoint)
        self.paths = [checkpoint.with_name(checkpoint.name + self.SUFFIX)]
        if mirror is not None:
            mirror = Path(mirror)
            self.paths.append(mirror.with_name(mirror.name + self.SUFFIX))
        kept = [c for c in (self._read(p) for p in self.paths) if c is not None]
        if not checkpoint.exists():        # from scratch: nothing was spent before (a stale clock is ignored)
            self.prior, self.complete = 0.0, True
        elif kept:                         # resumed, with the clock of the furthest copy
            best = max(kept, key=lambda c: c["seconds"])
            self.prior, self.complete = float(best["seconds"]), bool(best["complete"])
        else:                              # resumed from a checkpoint written without a clock
            self.prior, self.complete = 0.0, False
        self.t0 = time.perf_counter()

    @staticmethod
    def _read(path):
        try:
            c = json.loads(Path(path).read_text())
            return {"seconds": float(c["seconds"]), "complete": bool(c["complete"])}
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def total(self) -> float:
        """Seconds spent on the run so far (all sessions when ``complete``)."""
        return self.prior + time.perf_counter() - self.t0

    @property
    def scope(self) -> str:
        if self.complete:
            return "the whole run, summed over the sessions that resumed it"
        return ("the sessions since the clock was introduced only: the run resumed a checkpoint "
                "written without a clock, so earlier sessions' time is not included")

    def tick(self) -> float:
        """Record the time spent so far beside the checkpoint (and its mirror); returns it."""
        total = self.total()
        text = json.dumps({"seconds": round(total, 3), "complete": self.complete})
        for p in self.paths:
            if p.parent.exists():
                atomic_write_text(p, text)
        return total
