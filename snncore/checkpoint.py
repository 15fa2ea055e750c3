"""Checkpoint and resume of a training state (any pytree of arrays), with atomic writes.

A checkpoint is one ``.npz`` file holding the flattened leaves, the tree structure (as a string
to check against on load), the step counter and a JSON ``meta`` dict. It is written to a temporary
file in the same folder and moved into place with ``os.replace``, so an interruption leaves either
the previous checkpoint or the new one, never a truncated file.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import jax
import numpy as np

__all__ = ["atomic_write_bytes", "atomic_write_text", "save_checkpoint", "load_checkpoint",
           "checkpoint_step", "CheckpointError"]


class CheckpointError(RuntimeError):
    pass


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same folder + ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def save_checkpoint(path, state: Any, step: int, meta: dict | None = None) -> Path:
    """Save ``state`` (a pytree of arrays) at training ``step`` to ``path`` atomically."""
    import io

    leaves, treedef = jax.tree_util.tree_flatten(state)
    arrays = {f"leaf_{k:05d}": np.asarray(leaf) for k, leaf in enumerate(leaves)}
    header = {"step": int(step), "treedef": str(treedef), "n_leaves": len(leaves),
              "meta": meta or {}}
    buf = io.BytesIO()
    np.savez(buf, __header__=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **arrays)
    return atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path, like: Any):
    """Load a checkpoint written by :func:`save_checkpoint`.

    ``like`` is a pytree with the same structure as the saved state (for example a freshly
    initialised state); its structure is checked and its leaves' shapes must match.
    Returns ``(state, step, meta)``, or ``None`` when ``path`` does not exist (start from scratch).
    A truncated or foreign file raises :class:`CheckpointError` naming the file.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(bytes(z["__header__"]).decode())
            leaves = [z[f"leaf_{k:05d}"] for k in range(header["n_leaves"])]
    except Exception as e:  # zipfile.BadZipFile, KeyError, ValueError, EOFError ...
        raise CheckpointError(f"checkpoint {path} is unreadable or truncated ({e}); delete it to "
                              "start from scratch or restore it from a backup") from e
    like_leaves, treedef = jax.tree_util.tree_flatten(like)
    if str(treedef) != header["treedef"] or len(like_leaves) != len(leaves):
        raise CheckpointError(f"checkpoint {path} holds a different state structure:\n"
                              f"  saved:    {header['treedef']}\n  expected: {treedef}")
    for k, (a, b) in enumerate(zip(leaves, like_leaves)):
        if np.shape(a) != np.shape(b):
            raise CheckpointError(f"checkpoint {path}: leaf {k} has shape {np.shape(a)}, "
                                  f"expected {np.shape(b)}")
    state = jax.tree_util.tree_unflatten(treedef, [jax.numpy.asarray(a) for a in leaves])
    return state, int(header["step"]), header["meta"]


def checkpoint_step(path) -> int | None:
    """The step a checkpoint was saved at (header only), or ``None`` when ``path`` does not exist.
    A truncated or foreign file raises :class:`CheckpointError` naming the file."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return int(json.loads(bytes(z["__header__"]).decode())["step"])
    except Exception as e:
        raise CheckpointError(f"checkpoint {path} is unreadable or truncated ({e})") from e
