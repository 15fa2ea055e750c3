"""Where data lives, and the errors raised when it does not.

The data root is, in order: the ``root`` argument, the ``SNNCORE_DATA`` environment variable,
``~/.cache/snncore``. No reader ever downloads: a missing file raises :class:`MissingDataError`
naming the file, what was expected and where to put it.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["data_root", "cache_dir", "MissingDataError", "CorruptDataError", "require_file", "sha256sum"]

ENV = "SNNCORE_DATA"


class MissingDataError(FileNotFoundError):
    """A data file the code needs is not under the data root."""


class CorruptDataError(ValueError):
    """A data file exists but is truncated, of the wrong format, or fails its checksum."""


def data_root(root=None) -> Path:
    if root is not None:
        return Path(root).expanduser().resolve()
    env = os.environ.get(ENV)
    if env:
        return Path(env).expanduser().resolve()
    return (Path.home() / ".cache" / "snncore").resolve()


def require_file(path, what: str, where_hint: str | None = None) -> Path:
    """Return ``path`` if it is a file, else raise :class:`MissingDataError` that says what the
    file is and where it belongs."""
    path = Path(path)
    if path.is_file():
        return path
    hint = where_hint or f"place it at {path}"
    raise MissingDataError(
        f"missing data file: {path}\n  expected: {what}\n  where: {hint}\n"
        f"  (data root = argument, then ${ENV}, then ~/.cache/snncore; snncore never downloads)")


def sha256sum(path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def cache_dir(sub: str = "") -> Path:
    """Writable folder for data *generated* by snncore (stand-in datasets, binned caches).

    ``SNNCORE_CACHE`` if set, else ``~/.cache/snncore/generated``. The data root itself may be
    read-only, so nothing is ever written there.
    """
    env = os.environ.get("SNNCORE_CACHE")
    base = Path(env).expanduser() if env else Path.home() / ".cache" / "snncore" / "generated"
    path = (base / sub) if sub else base
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()
