"""Spread a vmapped batch (seeds, noise levels, networks) over all local accelerators.

On one device these functions return their input unchanged, so code written with them runs the
same everywhere; on several (e.g. a multi-GPU node) the leading axis is split across devices with a
``NamedSharding`` and jit-compiled functions then run each slice on its own device.
"""
from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ["n_devices", "batch_mesh", "shard_leading", "pad_to_devices"]


def n_devices() -> int:
    return jax.local_device_count()


def batch_mesh() -> Mesh:
    return Mesh(np.array(jax.local_devices()), ("batch",))


def pad_to_devices(n: int) -> int:
    """Smallest multiple of the device count that holds ``n`` items."""
    d = n_devices()
    return -(-n // d) * d


def shard_leading(tree, *, require_divisible: bool = True):
    """Place every leaf's axis 0 across local devices (no-op on one device).

    With ``require_divisible`` (default) a leading size not divisible by the device count is an
    error naming both numbers; pad with :func:`pad_to_devices` first. Otherwise such leaves are
    replicated.
    """
    d = n_devices()
    if d == 1:
        return tree
    mesh = batch_mesh()
    split = NamedSharding(mesh, PartitionSpec("batch"))
    repl = NamedSharding(mesh, PartitionSpec())

    def put(x):
        x = jax.numpy.asarray(x)
        if x.ndim and x.shape[0] % d == 0:
            return jax.device_put(x, split)
        if require_divisible and x.ndim:
            raise ValueError(f"leading axis {x.shape[0]} is not divisible by the {d} local devices; "
                             f"pad it to {pad_to_devices(x.shape[0])} (snncore.parallel.pad_to_devices)")
        return jax.device_put(x, repl)
    return jax.tree_util.tree_map(put, tree)
