"""The notebook runner: jupytext source -> papermill execution -> book tree, with a cache and run records.

A *section* is one ``notebooks/<name>.py`` jupytext file whose header carries ``snncore:`` metadata
(title, part, output path, profiles). See CONTRIBUTING.md for the format.
"""
from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import shutil
import time
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .checkpoint import atomic_write_text
from .runs import NOTES_ENV, provenance, repo_root

__all__ = ["Section", "Profile", "RunError", "ParameterError", "discover", "get_section",
           "read_parameters", "resolve_parameters", "execute", "load_records", "PROFILES"]

PROFILES = ("smoke", "quick", "paper")


class RunError(RuntimeError):
    """A notebook failed to execute; the message names the cell, the error and the notebook."""


class ParameterError(ValueError):
    """An unknown or ill-typed notebook parameter; the message lists the valid ones."""


@dataclass(frozen=True)
class Profile:
    name: str
    params: dict
    dataset: str
    time: str


@dataclass
class Section:
    name: str
    path: Path
    title: str
    part: str
    output: str  # relative to the book folder, without suffix
    order: int
    profiles: dict = field(default_factory=dict)
    depends: tuple = ()  # sections whose outputs this one reads (their cache keys join ours)
    reads: tuple = ()    # repo-relative files/folders it reads besides results/<part>/ (their content joins the key)

    def output_path(self, book_dir: Path) -> Path:
        return Path(book_dir) / f"{self.output}.ipynb"


# --------------------------------------------------------------------------------------------
# discovery
# --------------------------------------------------------------------------------------------

def notebooks_dir() -> Path:
    return repo_root() / "notebooks"


def _read_notebook(path: Path):
    import jupytext
    return jupytext.read(path)


def _section_from(path: Path) -> Section:
    nb = _read_notebook(path)
    meta = nb.metadata.get("snncore")
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: the jupytext header has no `snncore:` metadata (see CONTRIBUTING.md)")
    missing = [k for k in ("title", "part", "output", "profiles") if k not in meta]
    if missing:
        raise ValueError(f"{path}: `snncore:` metadata lacks {missing}")
    profiles = {}
    for pname, p in (meta["profiles"] or {}).items():
        if pname not in PROFILES:
            raise ValueError(f"{path}: unknown profile {pname!r}; valid: {PROFILES}")
        p = p or {}
        profiles[pname] = Profile(pname, dict(p.get("params") or {}), str(p.get("dataset", "?")),
                                  str(p.get("time", "?")))
    for needed in PROFILES:
        if needed not in profiles:
            raise ValueError(f"{path}: profile {needed!r} is not defined")
    return Section(name=path.stem, path=path, title=str(meta["title"]), part=str(meta["part"]),
                   output=str(meta["output"]).strip("/"), order=int(meta.get("order", 100)),
                   profiles=profiles, depends=tuple(meta.get("depends") or ()),
                   reads=tuple(str(x) for x in (meta.get("reads") or ())))


def discover(nb_dir: Path | None = None) -> dict[str, Section]:
    """All sections, ordered by (order, name)."""
    nb_dir = Path(nb_dir) if nb_dir else notebooks_dir()
    sections = [_section_from(p) for p in sorted(nb_dir.glob("*.py"))]
    first = {}
    for s in sections:  # parts in the order of their first section, sections by order within
        first[s.part] = min(first.get(s.part, s.order), s.order)
    sections.sort(key=lambda s: (first[s.part], s.part, s.order, s.name))
    names = {s.name for s in sections}
    for s in sections:
        unknown = [d for d in s.depends if d not in names]
        if unknown:
            raise ValueError(f"{s.path}: depends on unknown section(s) {unknown}")
    return {s.name: s for s in sections}


def get_section(name: str, nb_dir: Path | None = None) -> Section:
    sections = discover(nb_dir)
    if name in sections:
        return sections[name]
    hits = [s for s in sections if s.startswith(name)]
    if len(hits) == 1:
        return sections[hits[0]]
    raise KeyError(f"unknown section {name!r}; valid sections: {', '.join(sections) or '(none)'}")


# --------------------------------------------------------------------------------------------
# parameters
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Parameter:
    name: str
    default: Any
    comment: str


def _parameters_cell(nb, path):
    cells = [c for c in nb.cells if "parameters" in (c.metadata.get("tags") or [])]
    if len(cells) != 1:
        raise ValueError(f"{path}: expected exactly one cell tagged `parameters`, found {len(cells)}")
    return cells[0].source


def read_parameters(section: Section) -> dict[str, Parameter]:
    """Parse the ``parameters`` cell: literal assignments only, with their trailing comments."""
    src = _parameters_cell(_read_notebook(section.path), section.path)
    comments = {}
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
    out = {}
    for node in ast.parse(src).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)):
            raise ValueError(f"{section.path}: the parameters cell may hold only `name = literal` "
                             f"assignments (line {node.lineno})")
        try:
            value = ast.literal_eval(node.value)
        except ValueError as e:
            raise ValueError(f"{section.path}: parameter on line {node.lineno} is not a literal") from e
        name = node.targets[0].id
        out[name] = Parameter(name, value, comments.get(node.lineno, ""))
    if "profile" not in out:
        raise ValueError(f"{section.path}: the parameters cell must define `profile`")
    return out


def _type_name(v):
    return type(v).__name__


def coerce(name: str, value: Any, default: Any, *, from_text: bool) -> Any:
    """Check (and for command-line text, parse) ``value`` against the default's type."""
    if from_text and isinstance(value, str) and not isinstance(default, str):
        import yaml
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError as e:
            raise ParameterError(f"parameter {name!r}: cannot parse {value!r} ({e})") from None
    if default is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if from_text and isinstance(value, str):   # YAML 1.1 reads "5e-6" (no dot) as text
            try:
                return float(value)
            except ValueError:
                pass
    elif isinstance(default, str):
        if isinstance(value, str):
            return value
    elif isinstance(default, (list, tuple)):
        if isinstance(value, (list, tuple)):
            return list(value)
    elif isinstance(default, dict):
        if isinstance(value, dict):
            return value
    raise ParameterError(f"parameter {name!r} expects a {_type_name(default)} (default {default!r}), "
                         f"got {value!r} ({_type_name(value)})")


def resolve_parameters(section: Section, profile: str, overrides: dict | None = None,
                       *, from_text: bool = False) -> dict:
    """Defaults <- profile params <- user overrides, every name and type checked."""
    if profile not in PROFILES:
        raise ParameterError(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
    params = read_parameters(section)
    valid = ", ".join(f"{p.name} ({_type_name(p.default)}, default {p.default!r})"
                      for p in params.values() if p.name != "profile")
    resolved = {"profile": profile}
    for source, values, text in (("profile " + profile, section.profiles[profile].params, False),
                                 ("command line", overrides or {}, from_text)):
        for name, value in values.items():
            if name == "profile":
                raise ParameterError("set the profile with --profile, not as a parameter")
            if name not in params:
                raise ParameterError(f"unknown parameter {name!r} ({source}) for section "
                                     f"{section.name!r}. Valid parameters: {valid}")
            resolved[name] = coerce(name, value, params[name].default, from_text=text)
    return resolved


# --------------------------------------------------------------------------------------------
# execution, cache and records
# --------------------------------------------------------------------------------------------

def _package_hash() -> str:
    from . import __version__
    h = hashlib.sha256(__version__.encode())
    pkg = Path(__file__).resolve().parent
    for p in sorted(pkg.rglob("*.py")):
        h.update(p.relative_to(pkg).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _inputs_hash(section: Section) -> str:
    """Content of the archived results the section plots (``results/<first folder of its
    output>/``, where the notebooks of a part archive their paper runs) and of the extra paths
    named under ``reads:``; a new archived run or benchmark record re-runs the section."""
    from .runs import results_dir
    h = hashlib.sha256()
    root = repo_root()
    for full in [results_dir() / section.output.split("/")[0], *(root / r for r in section.reads)]:
        files = sorted(f for f in full.rglob("*") if f.is_file()) if full.is_dir() else [full]
        for f in files:
            if f.exists():
                h.update(f.name.encode())
                h.update(f.read_bytes())
    return h.hexdigest()[:16]


def cache_key(section: Section, params: dict, book_dir: Path | None = None) -> str:
    """Hash of the notebook source, its parameters, the package source, the data root, the
    archived results and other files it reads, and the cache keys of the sections it depends on
    (so a changed upstream run re-runs it)."""
    h = hashlib.sha256()
    h.update(_inputs_hash(section).encode())
    for dep in section.depends:
        rec = records_dir(book_dir) / f"{dep}.json" if book_dir else None
        h.update((json.loads(rec.read_text()).get("cache_key", "none") if rec and rec.exists()
                  else "none").encode())
    h.update(section.path.read_bytes())
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    h.update(_package_hash().encode())
    h.update(os.environ.get("SNNCORE_DATA", "").encode())
    return h.hexdigest()[:20]


def records_dir(book_dir: Path) -> Path:
    return Path(book_dir) / "records"


def load_records(book_dir: Path) -> list[dict]:
    d = records_dir(book_dir)
    return [json.loads(p.read_text()) for p in sorted(d.glob("*.json"))] if d.exists() else []


_NOISE = ("TqdmWarning: IProgress not found", "from .autonotebook import tqdm as notebook_tqdm")


def _tidy_text(text: str) -> str:
    """Resolve carriage returns the way a terminal would and drop known harmless noise."""
    lines = []
    for line in text.split("\n"):
        if "\r" in line:
            parts = [p for p in line.split("\r") if p]
            line = parts[-1] if parts else ""
        if any(n in line for n in _NOISE):
            continue
        lines.append(line)
    return "\n".join(lines)


def tidy_outputs(path: Path) -> None:
    """Merge consecutive stream outputs and collapse progress-bar redraws, so a page shows the
    final state of each bar instead of every refresh."""
    import nbformat
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        outs = []
        for o in cell.get("outputs", []):
            if (o.get("output_type") == "stream" and outs and outs[-1].get("output_type") == "stream"
                    and outs[-1].get("name") == o.get("name")):
                outs[-1]["text"] += o["text"]
            else:
                outs.append(o)
        for o in outs:
            if o.get("output_type") == "stream":
                o["text"] = _tidy_text(o["text"])
        cell["outputs"] = [o for o in outs if o.get("output_type") != "stream" or o["text"].strip()] \
            if "outputs" in cell else cell.get("outputs")
        if cell.get("outputs") is None:
            cell.pop("outputs", None)
    nbformat.write(nb, str(path))


def _failure_message(section: Section, exc, partial: Path) -> str:
    cell = getattr(exc, "exec_count", None)
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc))
    where = f"cell [{cell}]" if cell is not None else "a cell"
    return (f"section {section.name!r} ({section.path}) failed in {where}: {ename}: {evalue}\n"
            f"  partial output kept for inspection (not rendered): {partial}")


def execute(section: Section, profile: str, overrides: dict | None = None, *,
            book_dir: Path | None = None, force: bool = False, from_text: bool = False,
            log=print, timeout: int | None = None) -> dict:
    """Execute ``section`` under ``profile`` into ``book_dir`` (default: the repo's ``book/``).

    Returns the run record. Skips execution when the cache key (source, parameters, package
    source, data root) matches the last successful run and its output exists.
    """
    import papermill

    params = resolve_parameters(section, profile, overrides, from_text=from_text)
    book_dir = Path(book_dir) if book_dir else repo_root() / "book"
    out = section.output_path(book_dir)
    rec_path = records_dir(book_dir) / f"{section.name}.json"
    key = cache_key(section, params, book_dir)
    if not force and rec_path.exists() and out.exists():
        old = json.loads(rec_path.read_text())
        if old.get("cache_key") == key and old.get("status") == "ok":
            log(f"[cached] {section.name} ({profile}) -> {out}")
            return old

    work = book_dir.parent / "build" / "partial" if book_dir == repo_root() / "book" else book_dir / "_partial"
    work.mkdir(parents=True, exist_ok=True)
    partial = work / f"{section.name}.ipynb"
    notes = work / f"{section.name}.notes.json"
    if notes.exists():
        notes.unlink()
    log(f"[run] {section.name} ({profile}) {json.dumps({k: v for k, v in params.items() if k != 'profile'})}")
    old_env = os.environ.get(NOTES_ENV)
    os.environ[NOTES_ENV] = str(notes)
    os.environ.setdefault("TQDM_MININTERVAL", "5")  # few redraws; tidy_outputs keeps the last
    t0 = time.perf_counter()
    try:
        papermill.execute_notebook(_read_notebook(section.path), str(partial), parameters=params,
                                   kernel_name="python3", cwd=str(repo_root()), progress_bar=False,
                                   log_output=False, execution_timeout=timeout)
    except Exception as exc:
        if out.exists():  # never leave a stale page that looks like a success
            out.unlink()
        fail = {"section": section.name, "profile": profile, "status": "failed", "error": str(exc)[-2000:]}
        atomic_write_text(rec_path, json.dumps(fail, indent=1))
        raise RunError(_failure_message(section, exc, partial)) from None
    finally:
        if old_env is None:
            os.environ.pop(NOTES_ENV, None)
        else:
            os.environ[NOTES_ENV] = old_env
    wall = time.perf_counter() - t0
    reported = json.loads(notes.read_text()) if notes.exists() else {}
    if "dataset" not in reported:
        raise RunError(f"section {section.name!r} ({section.path}) ran but never called "
                       f"snncore.runs.report(dataset=...): the record would not say which data it used.\n"
                       f"  partial output kept for inspection (not rendered): {partial}")
    tidy_outputs(partial)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(partial), str(out))
    prov = provenance()
    record = {"section": section.name, "title": section.title, "part": section.part,
              "profile": profile, "parameters": params, "status": "ok",
              "dataset": reported.pop("dataset"), "device": reported.pop("device", prov["device"]),
              "reported": reported, "wall_time_s": round(wall, 2), "commit": prov["commit"],
              "versions": prov["versions"], "time_utc": prov["time_utc"], "cache_key": key,
              "output": str(out.relative_to(book_dir))}
    atomic_write_text(rec_path, json.dumps(record, indent=1, default=str))
    log(f"[ok] {section.name} ({profile}) in {wall:.1f} s -> {out}")
    return record
