"""Grids of notebook executions on a Dask cluster.

A grid file (YAML) expands to points, each a full set of notebook parameters::

    section: denram_fig4d        # optional: the command line may name it instead
    profile: quick               # optional, default quick
    name: noise-ten-seeds        # optional: folder name under results/sweeps/<section>/
    fixed:   {epochs: 5}         # the same for every point
    product:                     # cartesian product of these lists
      seed: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    zip:                         # lists of equal length, taken element by element
      tau: [0.015, 0.02]
      n_inputs: [256, 700]

Every point is validated against the notebook's parameters cell before anything is scheduled.
Each point executes (papermill) into its own folder keyed by the hash of its parameters, so a
point already done with the same source, parameters and package code is skipped: an interrupted
sweep resumes where it stopped. A failed point is retried once. The table of all points and their
run records is written atomically to ``results/sweeps/<section>/<name>/``.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import time
from pathlib import Path

import yaml

from .checkpoint import atomic_write_text
from .runs import provenance, repo_root

__all__ = ["GridError", "load_grid", "expand", "run_point", "sweep"]


class GridError(ValueError):
    pass


def load_grid(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise GridError(f"grid file not found: {path}")
    try:
        grid = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise GridError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(grid, dict):
        raise GridError(f"{path}: a grid is a mapping with keys fixed / product / zip")
    unknown = set(grid) - {"section", "profile", "name", "fixed", "product", "zip"}
    if unknown:
        raise GridError(f"{path}: unknown keys {sorted(unknown)}; valid: section, profile, name, "
                        "fixed, product, zip")
    grid.setdefault("name", path.stem)
    return grid


def expand(grid: dict) -> list[dict]:
    """Points of a grid: product x zip, each merged over ``fixed``."""
    fixed = dict(grid.get("fixed") or {})
    product = dict(grid.get("product") or {})
    zipped = dict(grid.get("zip") or {})
    for name, values in {**product, **zipped}.items():
        if not isinstance(values, list) or not values:
            raise GridError(f"grid entry {name!r} must be a non-empty list, got {values!r}")
    lengths = {len(v) for v in zipped.values()}
    if len(lengths) > 1:
        raise GridError(f"zip lists must have equal lengths, got {sorted(lengths)}")
    overlap = (set(fixed) & set(product)) | (set(fixed) & set(zipped)) | (set(product) & set(zipped))
    if overlap:
        raise GridError(f"parameters named twice in the grid: {sorted(overlap)}")
    zip_rows = [dict(zip(zipped, vals)) for vals in zip(*zipped.values())] if zipped else [{}]
    prod_rows = [dict(zip(product, vals)) for vals in itertools.product(*product.values())] if product else [{}]
    return [{**fixed, **p, **z} for p in prod_rows for z in zip_rows]


def point_id(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:12]


def run_point(section_name: str, profile: str, params: dict, point_dir: str, nb_dir: str | None = None) -> dict:
    """Execute one point (on a worker). Returns its run record, with ``point`` and ``cached``."""
    from .runner import execute, get_section
    section = get_section(section_name, Path(nb_dir) if nb_dir else None)
    logs = []
    rec = execute(section, profile, params, book_dir=Path(point_dir), log=logs.append)
    return {**rec, "point": params, "cached": any(m.startswith("[cached]") for m in logs)}


def sweep(section_name: str, grid: dict, *, profile: str | None = None, scheduler: str | None = None,
          n_workers: int = 2, out_root: Path | None = None, nb_dir: Path | None = None,
          progress: bool = True, client=None) -> dict:
    """Run every point of ``grid`` on a Dask cluster; returns the summary written to disk."""
    from dask.distributed import Client, LocalCluster, as_completed

    from .runner import get_section, resolve_parameters

    profile = profile or grid.get("profile") or "quick"
    section = get_section(section_name, nb_dir)
    points = expand(grid)
    for p in points:  # validate everything before anything is scheduled
        resolve_parameters(section, profile, p)
    out = Path(out_root) if out_root else repo_root() / "results" / "sweeps"
    out = out / section.name / str(grid.get("name", "grid")) / profile
    out.mkdir(parents=True, exist_ok=True)

    own_cluster = None
    if client is None:
        if scheduler:
            client = Client(scheduler)
        else:
            own_cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
            client = Client(own_cluster)
    t0 = time.perf_counter()
    rows, failures = [], []
    try:
        futures = {client.submit(run_point, section.name, profile, p,
                                 str(out / f"{profile}_{point_id(p)}"), str(nb_dir) if nb_dir else None,
                                 retries=1, pure=False,
                                 key=f"point-{section.name}-{point_id(p)}-{time.time_ns()}"): p
                   for p in points}
        from .progress import tqdm
        bar = tqdm(total=len(futures), desc=f"sweep {section.name}", disable=not progress)
        for fut in as_completed(futures):
            p = futures[fut]
            try:
                rec = fut.result()
                rows.append({"point_id": point_id(p), **p, "status": "ok", "cached": rec["cached"],
                             "wall_time_s": rec["wall_time_s"], "dataset": rec["dataset"],
                             "device": rec["device"], **_scalars(rec.get("reported", {}))})
            except Exception as e:  # after the retry
                failures.append({"point": p, "error": str(e)[-1500:]})
                rows.append({"point_id": point_id(p), **p, "status": "failed"})
            bar.update(1)
        bar.close()
    finally:
        if own_cluster is not None:
            client.close()
            own_cluster.close()
    rows.sort(key=lambda r: r["point_id"])
    summary = {"section": section.name, "profile": profile, "grid": grid, "n_points": len(points),
               "n_failed": len(failures), "failures": failures, "wall_time_s": time.perf_counter() - t0,
               "scheduler": scheduler or f"LocalCluster({n_workers} workers)",
               "provenance": provenance(), "rows": rows}
    atomic_write_text(out / "sweep.json", json.dumps(summary, indent=1, default=str))
    import pandas as pd
    atomic_write_text(out / "table.csv", pd.DataFrame(rows).to_csv(index=False))
    summary["out"] = str(out)
    return summary


def _scalars(d: dict) -> dict:
    return {k: v for k, v in d.items() if isinstance(v, (int, float, str, bool)) and k != "device"}
