"""Diagnostic (not a benchmark): where does a saved paper-scale wake-word ADS network lose accuracy
between validation and test?

    SNNCORE_DATA=... python benchmarks/diag_wakeword_calibration.py CACHE/ebn_networks/wakeword-v3_ads_noebn_N768_seed0_paper.npz

It runs the wake-word notebook's own setup cells (data, cached teacher, ``evaluate``) with the
settings of the paper run below, evaluates the network on the validation and test splits, and
prints: the integral-rule accuracy with the boundary fitted on validation (the result), with a
boundary fitted on test itself (a ceiling, not a result), the any(y_f > 0.7) rule on both splits,
and the median integral scores of negative and positive clips, for the network and its teacher.
The notebook records the same diagnostics for every variant it trains since 2026-12-06.
"""
import json
import sys
from pathlib import Path

import jupytext
import numpy as np

nb = jupytext.read(Path(__file__).resolve().parents[1] / "notebooks" / "ebn_wakeword.py")
over = dict(profile="paper", synthetic=False, n_train=1000, n_val=500, n_test=1000, teacher_steps=3000,
            n_neurons=768, n_nets=1, bptt_steps=0, force_epochs=1, eta=2e-6, ads_block=250,
            archs=["noebn"], resume=True, archive_nets=False, n_ads_train=1000, ads_epochs=5,
            n_neurons_force=768, n_neurons_res=768)
g = {}
for c in nb.cells:
    if c.cell_type != "code":
        continue
    src = c.source
    if "parameters" in c.metadata.get("tags", []):
        exec(src, g); g.update(over); continue
    if "rows, nets, hists, diverged" in src:
        exec(src[:src.index("rows, nets, hists, diverged")], g); break
    exec(src, g)
ebn = g["ebn"]; data = g["data"]
for f in sys.argv[1:]:
    teacher, p, meta = ebn.load_network(f, 16, 128, 768)
    assert abs(float(teacher.w_out.sum()) - float(g["teacher"].w_out.sum())) < 1e-6, "different teacher"
    ev = {s: g["evaluate"](p, s) for s in ("val", "test")}
    th = g["theta0"]
    sv = ebn.integral_score(ev["val"]["y_f"], th); st = ebn.integral_score(ev["test"]["y_f"], th)
    lv, lt = data["val"]["labels"], data["test"]["labels"]
    B, va = ebn.fit_boundary(sv, lv); Bt, ta = ebn.fit_boundary(st, lt)
    tv = {s: ebn.integral_score(g["ty"][s], th) for s in ("val", "test")}
    TB, _ = ebn.fit_boundary(tv["val"], lv); TBt, tta = ebn.fit_boundary(tv["test"], lt)
    out = dict(file=f, B_val=B, val_acc=va, test_acc=float(np.mean((st > B) == lt)),
               B_test_oracle=Bt, test_acc_oracle=ta,
               any07_val=float(np.mean((ev["val"]["y_f"] > 0.7).any(-1) == lv)),
               any07_test=float(np.mean((ev["test"]["y_f"] > 0.7).any(-1) == lt)),
               score_median={s: {lab: float(np.median(x[l == lab])) for lab in (0, 1)}
                             for s, x, l in (("val", sv, lv), ("test", st, lt))},
               teacher=dict(B_val=TB, test_acc=float(np.mean((tv["test"] > TB) == lt)), B_test_oracle=TBt,
                            test_acc_oracle=tta,
                            score_median={s: {lab: float(np.median(tv[s][l == lab])) for lab in (0, 1)}
                                          for s, l in (("val", lv), ("test", lt))}))
    print(json.dumps(out, indent=1))
