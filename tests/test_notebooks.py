"""Every notebook in notebooks/ runs under its smoke profile: discovered, so none can escape."""
import pytest

from snncore import runner

SECTIONS = runner.discover()


def test_there_are_notebooks():
    assert "intro" in SECTIONS


@pytest.mark.notebook
@pytest.mark.parametrize("name", list(SECTIONS))
def test_notebook_smoke(name, tmp_path, isolated_cache):
    rec = runner.execute(SECTIONS[name], "smoke", book_dir=tmp_path / "book", force=True,
                         log=lambda *_: None)
    assert rec["status"] == "ok"
    assert rec["dataset"]
    assert (tmp_path / "book" / f"{SECTIONS[name].output}.ipynb").exists()
