"""An SHD stand-in: real speech (the Free Spoken Digit Dataset) through a cochlea-like spike encoder.

SHD (Cramer et al. 2020) is 700 channels of spikes from a model of the inner ear (basilar membrane,
hair cells, bushy cells) driven by spoken digits. It is not in the data root, so this module builds
files of the same schema from FSDD recordings (``<root>/fsdd/recordings/{digit}_{speaker}_{k}.wav``,
8 kHz mono) with a much simpler encoder, stage by stage:

1. **gain control**: each recording is scaled to unit RMS (FSDD loudness varies a lot);
2. **filterbank**: a short-time Fourier transform (``scipy.signal.stft``, 16 ms Hann window, 2 ms
   hop: each bin is a band-pass filter) pooled into ``n_channels`` (700) channels by triangular
   weights ``bw_erb`` ERBs wide, centred on frequencies equally spaced on the ERB-rate scale from
   ``f_lo`` to ``f_hi`` (100 Hz - 3.6 kHz: the speech range that 8 kHz audio holds); channel 0 is
   the lowest frequency, as in SHD;
3. **rectification**: the magnitude of each band (its envelope, as a hair cell's rectify and
   smooth);
4. **compression**: ``c = log1p(env / ref)`` (logarithmic loudness compression);
5. **spiking units**: one non-leaky integrate-and-fire unit per channel with subtractive reset,
   driven by the rate ``r = r_max * clip((c - c_th) / (c_sat - c_th), 0, 1)`` (silence gives no
   spikes), started at a random phase per (recording, channel) so that neighbouring channels do
   not fire in lockstep; spike times are interpolated within the 2 ms hop.

It is a *stand-in*, not a reproduction of SHD's cochlea: absolute numbers (accuracy, spike
counts) are not comparable with SHD; see the book page for what the comparison can show.

FSDD has 10 classes (digits 0-9, English, 6 male speakers) where SHD has 20 (English and German
digits, 12 speakers). The official FSDD split is used: recordings with index 0-4 are the test set
(300), 5-49 the training set (2,700).

:func:`build_standin` writes ``shd_train.h5`` / ``shd_test.h5`` (SHD schema, via
:func:`snncore.data.shd.write_shd_h5`) under ``cache_dir("shd_standin")/<hash>/``, where the hash
covers the encoder parameters and the list of source files, and returns the paths; the files are
read back with ``snncore.data.shd.load_shd(path=...)``. :func:`shd_or_standin` prefers the real SHD
files when they are in the data root.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from .paths import MissingDataError, cache_dir, data_root

__all__ = ["CochleaParams", "erb_space", "filterbank_weights", "encode", "fsdd_files", "read_wav", "build_standin",
           "shd_or_standin", "synthetic_shd", "FSDD_PATTERN"]

FSDD_PATTERN = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")


@dataclass(frozen=True)
class CochleaParams:
    n_channels: int = 700
    f_lo: float = 100.0        # Hz, lowest centre frequency
    f_hi: float = 3600.0       # Hz, highest centre frequency (< fs/2 = 4 kHz for FSDD)
    bw_erb: float = 1.0        # band-pass width in ERBs
    ref: float = 0.02          # compression reference level (of the unit-RMS signal's envelope)
    c_th: float = 2.0          # compressed level at which a unit starts firing
    c_sat: float = 4.5         # compressed level at which it fires at r_max
    r_max: float = 80.0        # Hz, maximum rate of a unit
    win_ms: float = 16.0       # STFT window (filter time resolution)
    hop_ms: float = 2.0        # STFT hop = time step of the envelope and of the units
    seed: int = 0              # random initial phases of the units
    version: int = 1           # bump when the algorithm changes (invalidates the cache)

    def validate(self, fs: float) -> "CochleaParams":
        if not (isinstance(self.n_channels, int) and self.n_channels >= 1):
            raise ValueError(f"n_channels must be a positive integer, got {self.n_channels!r}")
        if not (0 < self.f_lo < self.f_hi < fs / 2):
            raise ValueError(f"need 0 < f_lo < f_hi < fs/2 = {fs / 2} Hz, got {self.f_lo}, {self.f_hi}")
        for k in ("bw_erb", "ref", "r_max", "win_ms", "hop_ms"):
            if not getattr(self, k) > 0:
                raise ValueError(f"{k} must be positive, got {getattr(self, k)!r}")
        if not (0 <= self.c_th < self.c_sat):
            raise ValueError(f"need 0 <= c_th < c_sat, got {self.c_th}, {self.c_sat}")
        if self.r_max >= fs:
            raise ValueError(f"r_max ({self.r_max} Hz) must be below the sample rate {fs}")
        return self

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


def _erb_rate(f):
    return 21.4 * np.log10(1 + 0.00437 * np.asarray(f, float))


def _erb_rate_inv(e):
    return (10 ** (np.asarray(e, float) / 21.4) - 1) / 0.00437


def erb_space(f_lo: float, f_hi: float, n: int) -> np.ndarray:
    """``n`` centre frequencies (Hz) equally spaced on the ERB-rate scale (Glasberg & Moore)."""
    return _erb_rate_inv(np.linspace(_erb_rate(f_lo), _erb_rate(f_hi), n))


def filterbank_weights(p: "CochleaParams", fs: float, nfft: int) -> np.ndarray:
    """``[n_channels, nfft//2 + 1]`` weights pooling STFT bins into ERB-spaced channels: a
    triangle on the ERB-rate axis centred on each channel's frequency, ``bw_erb`` ERBs wide at the
    base, normalised to unit sum (a bin narrower than the triangle is still picked up)."""
    fc = erb_space(p.f_lo, p.f_hi, p.n_channels)
    f = np.arange(nfft // 2 + 1) * fs / nfft
    e_bins, e_c = _erb_rate(f), _erb_rate(fc)
    w = np.maximum(0.0, 1.0 - np.abs(e_bins[None, :] - e_c[:, None]) / (0.5 * p.bw_erb))
    empty = w.sum(1) == 0
    if np.any(empty):  # fall back to the nearest bin
        w[np.flatnonzero(empty), np.abs(f[None, :] - fc[empty, None]).argmin(1)] = 1.0
    return w / w.sum(1, keepdims=True)


def encode(signals, fs: float, params: "CochleaParams" = None, progress=None):
    """Encode a list of 1-D audio signals (sample rate ``fs``) into spikes.

    Returns ``(times, units)``: per signal, float spike times (s, sorted) and int channels
    (0 = lowest frequency). Stages: unit-RMS gain; band-pass filterbank as a short-time Fourier
    transform (``scipy.signal.stft``, Hann window ``win_ms``, hop ``hop_ms``) whose bins are pooled
    by ERB-spaced triangular weights (:func:`filterbank_weights`); magnitude (rectified envelope);
    ``log1p(env / ref)`` compression; one integrate-and-fire unit per channel with subtractive reset
    and a random initial phase, spike times interpolated linearly within the hop.
    """
    from scipy import signal

    p = (params or CochleaParams()).validate(fs)
    nper = int(round(p.win_ms * 1e-3 * fs))
    hop = int(round(p.hop_ms * 1e-3 * fs))
    if not (1 <= hop < nper):
        raise ValueError(f"need 1 <= hop < window in samples, got hop {hop}, window {nper}")
    nfft = int(2 ** np.ceil(np.log2(nper)))
    w = filterbank_weights(p, fs, nfft).astype(np.float32)
    dt = hop / fs
    if p.r_max * dt >= 1:
        raise ValueError(f"r_max * hop must be < 1 spike per hop, got {p.r_max * dt}")
    rng = np.random.default_rng(p.seed)
    times, units = [], []
    it = enumerate(signals) if progress is None else progress(list(enumerate(signals)))
    for k, s in it:
        s = np.asarray(s, np.float64)
        if s.ndim != 1 or s.size == 0:
            raise ValueError(f"signal {k} must be a non-empty 1-D array, got shape {s.shape}")
        if not np.all(np.isfinite(s)):
            raise ValueError(f"signal {k} holds NaN or inf samples")
        rms = np.sqrt(np.mean(s ** 2))
        s = s / rms if rms > 0 else s
        _, t, z = signal.stft(s, fs=fs, window="hann", nperseg=nper, noverlap=nper - hop, nfft=nfft)
        env = 2.0 * (w @ np.abs(z).astype(np.float32))                               # [C, frames]; a tone of amplitude A gives ~A
        c = np.log1p(env / p.ref)
        r = p.r_max * np.clip((c - p.c_th) / (p.c_sat - p.c_th), 0.0, 1.0)
        keep = t <= len(s) / fs                                   # frames inside the recording
        r = r[:, keep]
        cum = np.cumsum(r * dt, axis=1, dtype=np.float64) + rng.random((p.n_channels, 1))
        n = np.floor(cum)
        prev = np.concatenate([np.floor(cum[:, :1] - r[:, :1] * dt), n[:, :-1]], axis=1)
        ch, fr = np.nonzero(n > prev)
        # linear interpolation of the crossing inside the hop ending at frame fr
        c1 = cum[ch, fr]; c0 = c1 - r[ch, fr] * dt
        frac = (n[ch, fr] - c0) / np.maximum(c1 - c0, 1e-12)
        tt = np.clip(t[fr] - dt + frac * dt, 0.0, None)
        o = np.argsort(tt, kind="stable")
        times.append(tt[o]); units.append(ch[o].astype(np.int32))
    return times, units


def fsdd_files(root=None):
    """FSDD recordings as ``(path, digit, speaker, index)``, sorted by name. Raises
    :class:`MissingDataError` when the folder is missing or empty."""
    d = data_root(root) / "fsdd" / "recordings"
    files = sorted(d.glob("*.wav")) if d.is_dir() else []
    if not files:
        raise MissingDataError(f"no FSDD recordings found in {d}: put the Free Spoken Digit Dataset's "
                               "recordings/*.wav there (see shared/data/README.md)")
    out = []
    for f in files:
        m = FSDD_PATTERN.match(f.name)
        if not m:
            raise ValueError(f"unexpected file name {f.name} in {d}; expected digit_speaker_index.wav")
        out.append((f, int(m.group(1)), m.group(2), int(m.group(3))))
    return out


def read_wav(path):
    """``(fs, float signal in [-1, 1])`` of a mono 16-bit PCM wav."""
    from scipy.io import wavfile

    fs, a = wavfile.read(path)
    if a.ndim != 1:
        a = a.mean(axis=1)
    if np.issubdtype(a.dtype, np.integer):
        a = a.astype(np.float64) / np.iinfo(a.dtype).max
    return float(fs), np.asarray(a, np.float64)


def build_standin(root=None, params: CochleaParams = CochleaParams(), limit: Optional[int] = None,
                  progress=None, out_dir=None):
    """Encode FSDD into SHD-schema files; returns ``{"train": path, "test": path}``.

    Cached under ``cache_dir("shd_standin")/<hash of params + file list>/``: an existing
    complete pair is returned without work. ``limit`` keeps only the first ``limit`` recordings
    per digit and split (for tests). The official FSDD split: index 0-4 -> test, 5-49 -> train.
    """
    from .shd import write_shd_h5

    files = fsdd_files(root)
    if limit is not None:
        keep, seen = [], {}
        for f in files:
            key = (f[1], f[3] < 5)
            if seen.get(key, 0) < limit:
                keep.append(f); seen[key] = seen.get(key, 0) + 1
        files = keep
    h = hashlib.sha256((params.digest() + "|" + "|".join(f[0].name for f in files)).encode()).hexdigest()[:16]
    out = Path(out_dir) if out_dir else cache_dir("shd_standin") / h
    paths = {"train": out / "shd_train.h5", "test": out / "shd_test.h5"}
    if all(p.exists() for p in paths.values()):
        return paths
    rates = set()
    sigs = []
    for f in files:
        fs, s = read_wav(f[0])
        rates.add(fs); sigs.append(s)
    if len(rates) != 1:
        raise ValueError(f"FSDD recordings have mixed sample rates {sorted(rates)}")
    fs = rates.pop()
    times, units = encode(sigs, fs, params, progress=progress)
    for split, is_test in (("train", False), ("test", True)):
        sel = [k for k, f in enumerate(files) if (f[3] < 5) == is_test]
        write_shd_h5(paths[split], [times[k] for k in sel], [units[k] for k in sel],
                     np.asarray([files[k][1] for k in sel]),
                     extra={"speaker": np.asarray([files[k][2] for k in sel]),
                            "keys": np.asarray([files[k][0].name for k in sel]),
                            "n_channels": params.n_channels,
                            "encoder": json.dumps(asdict(params)),
                            "duration_s": np.asarray([len(sigs[k]) / fs for k in sel])})
    return paths


def shd_or_standin(root=None, params: CochleaParams = CochleaParams(), progress=None):
    """``(train SHD, test SHD, description)``: the real SHD files from ``<root>/shd/`` when both are
    present, otherwise the FSDD stand-in (built and cached on first use)."""
    from .shd import load_shd

    r = data_root(root)
    if (r / "shd" / "shd_train.h5").exists() and (r / "shd" / "shd_test.h5").exists():
        return (load_shd("train", root=r), load_shd("test", root=r),
                "SHD (real, Cramer et al. 2020; 20 classes)")
    paths = build_standin(root, params, progress=progress)
    return (load_shd(path=paths["train"]), load_shd(path=paths["test"]),
            "SHD stand-in: FSDD (10 digits, 6 speakers) through the snncore cochlea encoder")


def synthetic_shd(n: int, seed: int = 0, n_channels: int = 700, n_classes: int = 10,
                  spikes: int = 2500):
    """SHD-shaped synthetic samples (for smoke runs; no data files): per class two 'formant' bands
    gliding over 0.3-0.8 s, with jittered channels. Returns an :class:`snncore.data.shd.SHD`."""
    from .shd import SHD

    if n < 1 or n_classes < 1 or spikes < 1:
        raise ValueError("n, n_classes and spikes must be >= 1")
    rng = np.random.default_rng(seed)
    times, units, labels = [], [], []
    scale = n_channels / 700
    for k in range(n):
        c = k % n_classes
        dur = rng.uniform(0.3, 0.8)
        t = np.sort(rng.uniform(0, dur, spikes))
        f1 = (80 + 25 * c + 120 * t / dur) * scale
        f2 = (400 + 20 * c - 100 * t / dur) * scale
        u = np.where(rng.random(t.size) < 0.5, f1, f2) + rng.normal(0, 15 * scale, t.size)
        ok = (u >= 0) & (u < n_channels)
        times.append(t[ok]); units.append(u[ok].astype(np.int32)); labels.append(c)
    return SHD(times, units, labels, n_channels, "synthetic")
