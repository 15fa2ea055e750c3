import jax.numpy as jnp
import numpy as np
import pytest

from snncore.checkpoint import CheckpointError, checkpoint_step, load_checkpoint, save_checkpoint
from snncore.core import LIFState


def test_roundtrip_and_resume(tmp_path):
    state = {"w": jnp.arange(6.0).reshape(2, 3), "s": LIFState(v=jnp.ones(4), i=jnp.zeros(4))}
    path = save_checkpoint(tmp_path / "ck.npz", state, step=41, meta={"seed": 3})
    loaded, step, meta = load_checkpoint(path, like=state)
    assert step == 41 and meta == {"seed": 3}
    np.testing.assert_array_equal(loaded["w"], state["w"])
    assert isinstance(loaded["s"], LIFState)
    assert load_checkpoint(tmp_path / "absent.npz", like=state) is None


def test_atomic_no_temp_left_and_overwrite(tmp_path):
    p = tmp_path / "ck.npz"
    save_checkpoint(p, {"a": jnp.zeros(2)}, 1)
    save_checkpoint(p, {"a": jnp.ones(2)}, 2)
    assert [x.name for x in tmp_path.iterdir()] == ["ck.npz"]
    assert load_checkpoint(p, {"a": jnp.zeros(2)})[1] == 2


def test_truncated_and_mismatched(tmp_path):
    p = tmp_path / "ck.npz"
    save_checkpoint(p, {"a": jnp.zeros(5)}, 1)
    with pytest.raises(CheckpointError, match="different state structure"):
        load_checkpoint(p, {"b": jnp.zeros(5), "c": jnp.zeros(1)})
    with pytest.raises(CheckpointError, match="shape"):
        load_checkpoint(p, {"a": jnp.zeros(4)})
    p.write_bytes(p.read_bytes()[:40])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(p, {"a": jnp.zeros(5)})


def test_checkpoint_step_reads_the_header_only(tmp_path):
    p = tmp_path / "c.npz"
    assert checkpoint_step(p) is None
    save_checkpoint(p, {"w": jnp.ones(3)}, step=1_000_000_225)
    assert checkpoint_step(p) == 1_000_000_225
    p.write_bytes(p.read_bytes()[:40])
    with pytest.raises(CheckpointError, match="c.npz"):
        checkpoint_step(p)
