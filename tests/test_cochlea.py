"""Tests of the cochlea-like encoder and the SHD stand-in builder (snncore.data.cochlea)."""
import numpy as np
import pytest

from snncore.data import cochlea as co
from snncore.data.shd import load_shd

FS = 8000.0
P = co.CochleaParams(n_channels=64)


def _tone(f, dur=0.4, amp=1.0):
    t = np.arange(int(dur * FS)) / FS
    return amp * np.sin(2 * np.pi * f * t)


def test_erb_space_monotone_and_spans_range():
    fc = co.erb_space(100, 3600, 700)
    assert fc[0] == pytest.approx(100) and fc[-1] == pytest.approx(3600)
    assert np.all(np.diff(fc) > 0)
    w = co.filterbank_weights(co.CochleaParams(), FS, 128)
    assert w.shape == (700, 65) and np.allclose(w.sum(1), 1)


@pytest.mark.parametrize("f", [300.0, 1000.0, 2500.0])
def test_tonotopy_a_tone_drives_the_channels_tuned_to_it(f):
    (t,), (u,) = co.encode([_tone(f)], FS, P)
    assert len(t) > 20
    counts = np.bincount(u, minlength=P.n_channels)
    fc = co.erb_space(P.f_lo, P.f_hi, P.n_channels)
    best = fc[np.argmax(counts)]
    assert abs(np.log2(best / f)) < 0.35, (best, f)        # within a third of an octave
    far = np.abs(np.log2(fc / f)) > 1.5
    assert counts[far].sum() < 0.05 * counts.sum()


def test_silence_gives_no_spikes_and_times_lie_inside_the_recording():
    sig = np.concatenate([np.zeros(2000), _tone(800, 0.3), np.zeros(2000)])
    (t,), (u,) = co.encode([sig], FS, P)
    assert len(t) > 0 and np.all(np.diff(t) >= 0)
    assert t.min() > 0.25 - 0.02 and t.max() < 0.55 + 0.02
    (t0,), _ = co.encode([np.zeros(4000)], FS, P)
    assert len(t0) == 0


def test_rate_bounded_and_deterministic():
    sigs = [_tone(500), _tone(1500, amp=0.1)]
    a = co.encode(sigs, FS, P)
    b = co.encode(sigs, FS, P)
    for x, y in zip(a[0] + a[1], b[0] + b[1]):
        assert np.array_equal(x, y)
    t, u = a[0][0], a[1][0]
    for ch in np.unique(u):
        assert np.sum(u == ch) <= P.r_max * 0.4 + 1           # at most r_max per second
    # gain control: a quiet copy of a tone spikes like the loud one
    (tq,), _ = co.encode([_tone(500, amp=0.01)], FS, P)
    assert abs(len(tq) - len(t)) <= 0.05 * len(t)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="NaN"):
        co.encode([np.array([0.0, np.nan, 1.0])], FS, P)
    with pytest.raises(ValueError, match="1-D"):
        co.encode([np.zeros((2, 5))], FS, P)
    with pytest.raises(ValueError, match="f_hi"):
        co.encode([_tone(100)], FS, co.CochleaParams(f_hi=5000.0))


def test_build_standin_writes_shd_schema_read_by_the_shd_reader(tmp_path):
    root = tmp_path / "data"
    rec = root / "fsdd" / "recordings"
    rec.mkdir(parents=True)
    from scipy.io import wavfile
    rng = np.random.default_rng(0)
    for digit in (0, 3):
        for k in (0, 7):
            sig = _tone(300 + 200 * digit, 0.3) + 0.05 * rng.standard_normal(2400)
            wavfile.write(rec / f"{digit}_tester_{k}.wav", 8000, (sig * 8000).astype(np.int16))
    paths = co.build_standin(root, P, out_dir=tmp_path / "out")
    tr, te = load_shd(path=paths["train"]), load_shd(path=paths["test"])
    assert len(tr) == 2 and len(te) == 2                 # index 0-4 -> test, 5-49 -> train
    assert sorted(tr.labels.tolist()) == [0, 3] and tr.n_channels == 64
    assert all(len(t) > 0 for t in tr.times) and max(u.max() for u in tr.units) < 64
    # cached: a second call does no work and returns the same files
    m = paths["train"].stat().st_mtime_ns
    assert co.build_standin(root, P, out_dir=tmp_path / "out")["train"].stat().st_mtime_ns == m
    with pytest.raises(co.MissingDataError, match="FSDD"):
        co.fsdd_files(tmp_path / "nowhere")
