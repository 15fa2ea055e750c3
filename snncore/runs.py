"""Provenance, run records and archived results.

* :func:`provenance` -- commit, device, versions: attached to every record and result.
* :func:`report` -- called from inside a notebook to say which dataset it actually used (and any
  other facts about the run); the runner merges it into the run record.
* :func:`save_result` / :func:`load_result` -- small JSON results under ``results/`` written
  atomically with their provenance; notebooks plot them beside the live run.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from .checkpoint import atomic_write_text

__all__ = ["repo_root", "provenance", "versions", "device_info", "git_commit", "report",
           "save_result", "load_result", "results_dir", "NOTES_ENV"]

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
                wall_time_s: float, root: Path | None = None) -> Path:
    """Write ``results/<section>/<name>.json`` atomically: ``data`` plus its provenance."""
    if not section or not name or "/" in name:
        raise ValueError(f"bad result name {section!r}/{name!r}")
    root = Path(root) if root else results_dir()
    payload = {"section": section, "name": name, "profile": profile, "dataset": dataset,
               "wall_time_s": round(float(wall_time_s), 3), "provenance": provenance(),
               "data": json.loads(json.dumps(data, default=_jsonable))}
    return atomic_write_text(root / section / f"{name}.json", json.dumps(payload, indent=1))


def load_result(section: str, name: str, root: Path | None = None) -> dict | None:
    """Read an archived result, or ``None`` if it has not been produced yet."""
    root = Path(root) if root else results_dir()
    p = root / section / f"{name}.json"
    if not p.exists():
        return None
    return json.loads(p.read_text())
