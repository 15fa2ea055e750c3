import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(ROOT / ".cache" / "jax"))

SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture
def shared_data():
    """The real data folder of this workplace; tests using it are skipped elsewhere."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    """Generated data goes to a temp folder, never to the user's cache."""
    monkeypatch.setenv("SNNCORE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"
