"""Timing harness: JIT warm-up excluded, ``block_until_ready``, median of repeats.

Records are appended (one JSON object per line) to ``benchmarks/records.jsonl`` with the device,
versions, shapes and dtype, and the book's benchmark page renders every record.
"""
from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import jax

from .runs import provenance, repo_root

__all__ = ["timeit", "append_record", "read_records", "records_path"]


def records_path() -> Path:
    env = os.environ.get("SNNCORE_BENCH_RECORDS")
    return Path(env) if env else repo_root() / "benchmarks" / "records.jsonl"


def _block(out):
    return jax.tree_util.tree_map(
        lambda x: x.block_until_ready() if hasattr(x, "block_until_ready") else x, out)


def timeit(fn: Callable, *args, name: str, part: str, repeats: int = 5, warmup: int = 1,
           work: dict | None = None, shapes: dict | None = None, dtype: str = "float32",
           baseline: dict | None = None, record: bool = True, path: Path | None = None,
           **kwargs) -> dict:
    """Time ``fn(*args, **kwargs)``.

    The first call (which compiles) is timed separately as ``compile_s`` (it includes one
    execution); then ``warmup - 1`` further untimed calls; then ``repeats`` timed calls, each
    ending with ``block_until_ready`` on every output leaf. Reports the median and all times.
    ``work`` describes the size of the job (e.g. ``{"images": 1}``) so per-item times can be
    derived; ``baseline`` may carry a reference time measured in the same run
    (``{"name": ..., "seconds": ...}``).
    """
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    t0 = time.perf_counter()
    _block(fn(*args, **kwargs))
    compile_s = time.perf_counter() - t0
    for _ in range(max(0, warmup - 1)):
        _block(fn(*args, **kwargs))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        _block(fn(*args, **kwargs))
        times.append(time.perf_counter() - t0)
    prov = provenance()
    rec = {"part": part, "name": name, "median_s": statistics.median(times), "times_s": times,
           "compile_s": compile_s, "repeats": repeats, "work": work or {}, "shapes": shapes or {},
           "dtype": dtype, "baseline": baseline, "device": prov["device"],
           "versions": {k: prov["versions"].get(k) for k in ("python", "jax", "jaxlib", "numpy",
                                                            "snncore")},
           "commit": prov["commit"], "time_utc": prov["time_utc"]}
    if record:
        append_record(rec, path)
    return rec


def append_record(rec: dict, path: Path | None = None) -> Path:
    path = Path(path) if path else records_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(rec, default=float) + "\n"
    with open(path, "a", encoding="utf-8") as f:  # one write per record: safe enough to append
        f.write(line)
    return path


def read_records(path: Path | None = None) -> list[dict]:
    path = Path(path) if path else records_path()
    if not path.exists():
        return []
    out = []
    for k, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{k}: not a JSON record ({e})") from e
    return out
