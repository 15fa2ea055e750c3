"""Checks of the wake-word stand-in builder (snncore.data.wakeword)."""
import numpy as np
import pytest
from scipy.io import wavfile

from snncore.data import CorruptDataError, MissingDataError
from snncore.data import wakeword as ww


def test_read_wav_resamples_and_rejects(tmp_path):
    t = np.arange(8000) / 8000
    x = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    wavfile.write(tmp_path / "a.wav", 8000, x)
    y = ww.read_wav(tmp_path / "a.wav")
    assert y.dtype == np.float32 and len(y) == 16000
    assert abs(np.abs(y).max() - 0.3) < 0.02
    wavfile.write(tmp_path / "clip.wav", 16000, np.full(1000, 32767, np.int16))
    with pytest.raises(CorruptDataError, match="clipped"):
        ww.read_wav(tmp_path / "clip.wav")
    wavfile.write(tmp_path / "empty.wav", 16000, np.zeros(0, np.int16))
    with pytest.raises(CorruptDataError, match="empty"):
        ww.read_wav(tmp_path / "empty.wav")
    with pytest.raises(MissingDataError):
        ww.read_wav(tmp_path / "nope.wav")


def test_filterbank_is_frequency_selective():
    fs = 16000
    t = np.arange(fs) / fs
    low = ww.filterbank(np.sin(2 * np.pi * 250 * t))
    high = ww.filterbank(np.sin(2 * np.pi * 3000 * t))
    assert low.shape == (1000, 16)
    assert np.argmax(low[500:].mean(0)) < 3 and np.argmax(high[500:].mean(0)) > 12


def test_target_bump_shape():
    y = ww.target_bump(5000, 1.28, 1.71)
    t = np.arange(5000) / 1000
    assert y[t < 1.28].max() == 0
    assert np.isclose(y.max(), 1.0, atol=1e-3) and abs(t[np.argmax(y)] - 1.71) < 0.002
    assert abs(t[np.argmax(y > 0.5)] - (1.28 + 0.43 / 3)) < 0.003      # quarter-sine rise
    assert np.isclose(y[int(round((1.71 + 0.35) * 1000))], np.exp(-1), atol=0.01)


def test_make_clip_snr_and_onset():
    rng = np.random.default_rng(0)
    kw = np.sin(np.arange(8000) / 5.0).astype(np.float32)
    dis = [np.sin(np.arange(6000) / 9.0).astype(np.float32)]
    audio, on, end = ww.make_clip(rng, kw, dis)
    assert audio.shape == (80000,)
    assert 0.2 <= on and end <= 5.0 - 1.5 + 1e-9 and np.isclose(end - on, 0.5)
    # noise power is 10 dB below the speech power
    clean, _, _ = ww.make_clip(np.random.default_rng(0), kw, dis, snr_db=200.0)
    noise = audio - clean
    assert abs(10 * np.log10(np.mean(clean ** 2) / np.mean(noise ** 2)) - 10.0) < 0.2


def test_synthetic_has_real_shapes():
    d = ww.synthetic_wakeword(6, 4, 4, clip_s=5.0)
    assert d["train"]["features"].shape == (6, 5000, 16)
    assert d["test"]["target"].shape == (4, 5000)
    assert set(d["val"]["labels"]) == {0, 1}
    assert np.all(d["train"]["target"][d["train"]["labels"] == 0] == 0)


def test_bad_arguments_rejected():
    with pytest.raises(ValueError, match="n_val"):
        ww.make_wakeword(10, 1, 10)
    with pytest.raises(ValueError, match="clip_s"):
        ww.make_wakeword(10, 10, 10, clip_s=0.1)


def test_missing_root_is_clear(tmp_path):
    with pytest.raises(MissingDataError, match="FSDD"):
        ww.word_inventory(tmp_path)


def test_real_split_is_speaker_disjoint():
    try:
        items = ww.word_inventory()
    except MissingDataError:
        pytest.skip("data root without FSDD")
    spk = {s: {it["speaker"] for it in items if it["split"] == s} for s in ("train", "val", "test")}
    assert not (spk["train"] & spk["test"]) and not (spk["train"] & spk["val"]) and not (spk["val"] & spk["test"])
    for s in ("train", "val", "test"):
        assert any(it["word"] == ww.KEYWORD for it in items if it["split"] == s)


def test_rejected_recordings_are_skipped_not_fatal(tmp_path):
    """A clipped recording (the real Speech Commands subset has one) is skipped with a warning
    and named in the metadata; the split is still built from the readable ones."""
    rng = np.random.default_rng(0)
    t = np.arange(6000) / 16000
    items = []
    for i, word in enumerate(["seven", "seven", "one", "two", "three", "four"]):
        x = (0.2 * np.sin(2 * np.pi * (300 + 100 * i) * t) * 32767).astype(np.int16)
        wavfile.write(tmp_path / f"{i}.wav", 16000, x)
        items.append({"path": tmp_path / f"{i}.wav", "word": word, "speaker": "s", "split": "train"})
    wavfile.write(tmp_path / "bad.wav", 16000, np.full(6000, 32767, np.int16))
    items.append({"path": tmp_path / "bad.wav", "word": "one", "speaker": "s", "split": "train"})
    rejected = {}
    with pytest.warns(UserWarning, match="skipping a recording.*clipped"):
        feats, tgt, labels, _ = ww._build_split(items, 12, rng, 2.0, {}, rejected)
    assert list(rejected) == [str(tmp_path / "bad.wav")]
    assert feats.shape == (12, 2000, 16) and np.isfinite(feats).all() and labels.sum() == 6
    only_bad = [items[0], items[-1]]
    with pytest.raises(MissingDataError, match="not enough readable recordings"):
        ww._build_split(only_bad, 4, np.random.default_rng(1), 2.0, {}, {})
