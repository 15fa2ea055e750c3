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

__all__ = ["timeit", "append_record", "read_records", "records_path", "cost", "machine_peaks",
           "baseline_seconds"]


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


def cost(fn: Callable, *args, **kwargs) -> dict:
    """XLA's own count of floating-point operations and bytes accessed by one call of the jitted
    ``fn`` (``jax.jit(...).lower(...).compile().cost_analysis()``). Loops (``lax.scan``) are
    counted once per body by XLA, so pass a single step to obtain per-step figures."""
    jitted = fn if hasattr(fn, "lower") else jax.jit(fn)
    ca = jitted.lower(*args, **kwargs).compile().cost_analysis()
    if isinstance(ca, (list, tuple)):
        ca = ca[0] if ca else {}
    ca = ca or {}
    return {"flops": float(ca.get("flops", 0.0)), "bytes": float(ca.get("bytes accessed", 0.0))}


def machine_peaks(n: int = 2048, mbytes: int = 256, repeats: int = 5, record: bool = True,
                  path: Path | None = None) -> dict:
    """Measure what this device can do: float32 matmul throughput (FLOP/s) and the bandwidth of a
    large array copy (bytes/s, read + write). These are the roofs of the roofline plots."""
    import jax.numpy as jnp
    a = jnp.ones((n, n), jnp.float32)
    mm = timeit(jax.jit(lambda x: x @ x), a, name="peak_matmul_f32", part="machine", repeats=repeats,
                work={"flops": 2 * n ** 3}, shapes={"a": [n, n]}, record=record, path=path)
    m = mbytes * (1 << 20) // 4
    x = jnp.ones((m,), jnp.float32)
    cp = timeit(jax.jit(lambda x: x * 1.0001), x, name="peak_stream_f32", part="machine",
                repeats=repeats, work={"bytes": 2 * 4 * m}, shapes={"x": [m]}, record=record, path=path)
    return {"flops_per_s": 2 * n ** 3 / mm["median_s"], "bytes_per_s": 2 * 4 * m / cp["median_s"],
            "device": mm["device"]}


def baseline_seconds(rec: dict) -> float | None:
    """The baseline's time for the same work as the record's measured call.

    A baseline is ``{"name", "seconds", "per"}``: without ``per`` its seconds are for the whole
    call; with ``per`` (free text such as ``"image"`` or ``"image per network"``) they are for one
    unit of each named quantity, and are multiplied by the matching counts in ``rec["work"]``
    (``image`` matches ``images``, ``network`` matches ``networks``).
    """
    base = rec.get("baseline") or {}
    sec = base.get("seconds")
    if not sec:
        return None
    per = base.get("per")
    if not per:
        return float(sec)
    work = rec.get("work") or {}
    total = float(sec)
    for word in str(per).replace(",", " ").split():
        keys = [k for k in work if k.startswith(word) and isinstance(work[k], (int, float))]
        if keys:
            total *= float(work[keys[0]])
    return total
