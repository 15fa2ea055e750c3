"""Progress bars that stay quiet in executed notebooks.

Interactively this is ``tqdm.auto.tqdm``. Under the runner (papermill), where every refresh would
end up in the rendered page, the bar is drawn only when it starts and when it closes, on stdout,
so the book shows one final line such as ``train: 100%|#####| 50/50 [00:12<00:00]``.
"""
from __future__ import annotations

import os
import sys

from .runs import NOTES_ENV

__all__ = ["tqdm"]


def tqdm(iterable=None, **kwargs):
    if os.environ.get(NOTES_ENV):
        from tqdm.std import tqdm as std_tqdm
        kwargs.setdefault("file", sys.stdout)
        kwargs.setdefault("mininterval", float("inf"))
        kwargs.setdefault("ascii", True)
        kwargs.setdefault("dynamic_ncols", False)
        kwargs.setdefault("ncols", 90)
        return std_tqdm(iterable, **kwargs)
    from tqdm.auto import tqdm as auto_tqdm
    return auto_tqdm(iterable, **kwargs)
