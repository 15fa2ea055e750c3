"""``python -m snncore``: list, run, book, data, bench, pages."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from .runs import repo_root


def _cmd_list(args) -> int:
    from .runner import discover
    sections = discover()
    if not sections:
        print("no sections found under notebooks/")
        return 1
    for s in sections.values():
        print(f"{s.name}  [{s.part}] {s.title}")
        print(f"    notebook: {s.path.relative_to(repo_root())}  ->  book/{s.output}.ipynb")
        for p in s.profiles.values():
            print(f"    {p.name:<6} ~{p.time:<18} dataset: {p.dataset}")
    return 0


def _parse_overrides(pairs) -> dict:
    out = {}
    for name, value in pairs or []:
        out[name] = value
    return out


def _cmd_run(args) -> int:
    from .runner import ParameterError, RunError, execute, get_section
    try:
        section = get_section(args.section)
        execute(section, args.profile, _parse_overrides(args.param), force=args.force,
                from_text=True, book_dir=Path(args.book_dir) if args.book_dir else None)
    except (ParameterError, KeyError) as e:
        print(f"error: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2
    except RunError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def build_site(keep_going: bool = True) -> int:
    cmd = [sys.executable, "-m", "jupyter_book", "build", str(repo_root()), "-W", "-n"]
    if keep_going:
        cmd.append("--keep-going")
    exe = Path(sys.executable).with_name("jupyter-book")
    if exe.exists():
        cmd = [str(exe)] + cmd[3:]
    print("[site] " + " ".join(cmd[:1] + cmd[1:]))
    return subprocess.call(cmd, cwd=repo_root())


def _cmd_book(args) -> int:
    from .pages import write_pages
    from .runner import RunError, discover, execute
    failures = []
    t0 = time.perf_counter()
    for section in discover().values():
        try:
            execute(section, args.profile, force=args.force)
        except RunError as e:
            print(f"error: {e}", file=sys.stderr)
            failures.append(section.name)
    write_pages()
    print(f"[book] notebooks done in {time.perf_counter() - t0:.0f} s")
    if failures:
        print(f"error: {len(failures)} section(s) failed: {', '.join(failures)}; the site is not "
              "built from a failed run", file=sys.stderr)
        return 1
    if args.no_site:
        return 0
    return build_site()


def _cmd_pages(args) -> int:
    from .pages import write_pages
    for p in write_pages():
        print(p)
    return 0


def _cmd_data(args) -> int:
    from .data.inventory import format_inventory, inventory
    from .data.paths import data_root
    root = data_root(args.root)
    print(f"data root: {root}  (argument > $SNNCORE_DATA > ~/.cache/snncore)")
    rows = inventory(root)
    print(format_inventory(rows))
    return 0


def _cmd_bench(args) -> int:
    bench_dir = repo_root() / "benchmarks"
    scripts = sorted(bench_dir.glob("bench_*.py"))
    if args.part:
        scripts = [s for s in scripts if s.stem == f"bench_{args.part}"]
        if not scripts:
            valid = [s.stem.removeprefix("bench_") for s in sorted(bench_dir.glob("bench_*.py"))]
            print(f"error: no benchmark {args.part!r}; valid: {', '.join(valid)}", file=sys.stderr)
            return 2
    rc = 0
    for s in scripts:
        print(f"[bench] {s.name}")
        extra = ["--smoke"] if args.smoke else []
        rc |= subprocess.call([sys.executable, str(s), *extra], cwd=repo_root())
    return rc


def _cmd_sweep(args) -> int:
    from .runner import ParameterError
    from .sweep import GridError, load_grid, sweep
    try:
        grid = load_grid(args.grid)
        section = args.section or grid.get("section")
        if not section:
            raise GridError("name the section on the command line or as `section:` in the grid")
        summary = sweep(section, grid, profile=args.profile, scheduler=args.scheduler,
                        n_workers=args.workers)
    except (GridError, ParameterError, KeyError) as e:
        print(f"error: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2
    done = summary["n_points"] - summary["n_failed"]
    cached = sum(1 for r in summary["rows"] if r.get("cached"))
    print(f"[sweep] {done}/{summary['n_points']} points ok ({cached} cached) in "
          f"{summary['wall_time_s']:.0f} s -> {summary['out']}")
    for f in summary["failures"]:
        print(f"error: point {f['point']} failed twice: {f['error']}", file=sys.stderr)
    return 1 if summary["n_failed"] else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m snncore", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("list", help="every section with its notebook, profiles, datasets and rough times")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("run", help="execute one section into the book tree")
    p.add_argument("section")
    p.add_argument("--profile", default="quick", choices=["smoke", "quick", "paper"])
    p.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="override a parameter of the notebook's parameters cell (type-checked)")
    p.add_argument("--force", action="store_true", help="execute even if the cache says unchanged")
    p.add_argument("--book-dir", default=None, help="write into this folder instead of book/")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("book", help="execute every section, then build the site")
    p.add_argument("--profile", default="quick", choices=["smoke", "quick", "paper"])
    p.add_argument("--force", action="store_true")
    p.add_argument("--no-site", action="store_true", help="execute notebooks and pages only")
    p.set_defaults(func=_cmd_book)

    p = sub.add_parser("pages", help="regenerate the status, benchmark and scoreboard pages")
    p.set_defaults(func=_cmd_pages)

    p = sub.add_parser("data", help="which datasets are present under the data root")
    p.add_argument("--root", default=None)
    p.set_defaults(func=_cmd_data)

    p = sub.add_parser("bench", help="run benchmarks/bench_PART.py and append records")
    p.add_argument("part", nargs="?")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, to check the harness")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("sweep", help="run a grid of parameter points on a Dask cluster")
    p.add_argument("section", nargs="?")
    p.add_argument("--grid", required=True, help="YAML grid file (fixed / product / zip)")
    p.add_argument("--profile", default=None, choices=["smoke", "quick", "paper"])
    p.add_argument("--scheduler", default=None, help="address of a running Dask scheduler "
                   "(default: a LocalCluster on this machine)")
    p.add_argument("--workers", type=int, default=2, help="LocalCluster workers (default 2)")
    p.set_defaults(func=_cmd_sweep)

    args = ap.parse_args(argv)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    return args.func(args)
