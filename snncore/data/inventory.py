"""Which datasets are under the data root, whether their checksums match, and where missing files go.

``inventory(root)`` returns one row (a dict) per file, or per group of many like files (the 3,000
FSDD recordings are one row), with keys:

* ``dataset``: mnist, nmnist-small, nmnist-official, shd, fsdd, speech_commands, dvs_samples;
* ``file``: the path relative to the data root (a glob-like pattern for a group);
* ``present``: True when the file (all files of the group) is there;
* ``checksum_ok``: True / False, or None when no checksum is known or nothing was checked;
* ``where``: the absolute path where the file lives or belongs;
* ``status``: ok, ok (no checksum), MISSING, INCOMPLETE, CORRUPT, not available here, optional;
* ``detail``: a sentence on what was checked, what is missing and where to place it.

Checksum sources, in order: the ``SHA256SUMS`` file that ships in each folder of the shared data,
then values built into the package (MNIST: md5 of the decompressed IDX content, so re-gzipped
copies pass; dvs_samples: the sha256 of the tonic fixtures). SHD has no published h5 checksum
(only zip md5s), so its h5 files get a schema check instead. The full official N-MNIST layout is
only counted (its checksums are for the zip archives). Hashing everything here (about 66 MB,
4,400 files) takes well under a second on a warm disk.
"""
from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

from .mnist import CANONICAL_MD5 as MNIST_MD5
from .nmnist import read_sha256sums
from .paths import data_root, sha256sum

__all__ = ["inventory", "format_inventory", "DATASETS"]

DATASETS = ("mnist", "nmnist-small", "nmnist-official", "shd", "fsdd", "speech_commands", "dvs_samples")

DVS_SHA256 = {
    "sample.aedat4": "b42f119af2548d4328e6c0f249e369a4b755d82eeb6ddceb14441492d979444c",
    "sample_aedat_header.aedat": "91481480838a901503239605f4a57164b69407b8b469d11c5e62b5c91d243203",
    "sample_ncars.dat": "37c942280817be4615f995f28877c81f9391eee639d0584ddb9a8c6e6833b4db",
    "sample_nmnist.bin": "3c9159329633efbb6879bba1b430598b78cc06a779a55d1259ec13e203ad00ee",
    "sample_stmnist.mat": "5c8aa565bd17aae59e3de8c788952183999081f2c7adc00bb5d4e29b7ff81636",
}
FSDD_SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
SPEECH_WORDS = ("bed bird cat dog down eight five four go happy house left marvin nine no off on one right "
                "seven sheila six stop three tree two up wow yes zero").split()


def _sums(folder: Path) -> dict[str, str]:
    f = folder / "SHA256SUMS"
    return read_sha256sums(f) if f.is_file() else {}


def _status(present, checksum_ok, some_present=False):
    if not present:
        return "INCOMPLETE" if some_present else "MISSING"
    if checksum_ok is False:
        return "CORRUPT"
    return "ok" if checksum_ok else "ok (no checksum)"


def _row(dataset, root, rel, present, checksum_ok, detail, status=None, where=None):
    return {"dataset": dataset, "file": rel, "present": bool(present), "checksum_ok": checksum_ok,
            "where": str(where or (root / rel)), "status": status or _status(present, checksum_ok), "detail": detail}


def _group(dataset, root, folder: Path, pattern: str, expected: list[str], sums: dict, verify: bool, hint: str,
           sums_prefix: str = ""):
    """One row for many files: ``expected`` are paths relative to ``folder``; ``sums`` keys are
    ``sums_prefix + name``."""
    present = [n for n in expected if (folder / n).is_file()]
    missing = [n for n in expected if not (folder / n).is_file()]
    bad, checked = [], 0
    if verify:
        for n in present:
            want = sums.get(sums_prefix + n)
            if want is not None:
                checked += 1
                if sha256sum(folder / n) != want:
                    bad.append(n)
    ok = None if checked == 0 else not bad
    parts = [f"{len(present)}/{len(expected)} files present"]
    if verify:
        parts.append(f"{checked - len(bad)}/{checked} sha256 ok" if checked else "no checksum checked")
    if bad:
        parts.append(f"MISMATCH: {', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''}")
    if missing:
        parts.append(f"missing {len(missing)}, e.g. {', '.join(missing[:3])}; {hint}")
    rel = (folder / pattern).relative_to(root).as_posix()
    status = _status(not missing, ok, some_present=bool(present))
    return _row(dataset, root, rel, not missing, ok, "; ".join(parts), status, where=folder)


def _mnist(root: Path, verify: bool):
    folder = root / "mnist"
    sums = _sums(folder)
    rows = []
    for name, md5 in MNIST_MD5.items():
        plain, gz = folder / name, folder / f"{name}.gz"
        path = plain if plain.is_file() else gz
        if not path.is_file():
            rows.append(_row("mnist", root, f"mnist/{name}.gz", False, None,
                             f"missing: place {name}.gz (or uncompressed {name}) from the MNIST distribution "
                             f"in {folder}/", where=gz))
            continue
        ok, how = None, "not verified"
        if verify:
            if sums.get(path.name) and sha256sum(path) == sums[path.name]:
                ok, how = True, "sha256 matches SHA256SUMS"
            else:
                try:
                    data = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
                    got = hashlib.md5(data).hexdigest()
                    ok = got == md5
                    how = ("md5 of decompressed content matches the original" if ok else
                           f"md5 of decompressed content {got} != original {md5}")
                except (OSError, EOFError) as e:
                    ok, how = False, f"cannot decompress: {e}"
        rows.append(_row("mnist", root, path.relative_to(root).as_posix(), True, ok, how))
    return rows


def _nmnist_small(root: Path, verify: bool):
    base = root / "nmnist"
    folder = base / "NMNISTsmall"
    sums = _sums(base)
    hint = (f"place the NMNISTsmall folder (N.bs2 files, train1K.txt, test100.txt) in {base}/")
    rows = []
    for split, label_name, first, n in (("train", "train1K.txt", 1, 1000), ("test", "test100.txt", 60001, 100)):
        lf = folder / label_name
        ok = None
        if lf.is_file() and verify and f"NMNISTsmall/{label_name}" in sums:
            ok = sha256sum(lf) == sums[f"NMNISTsmall/{label_name}"]
        rows.append(_row("nmnist-small", root, f"nmnist/NMNISTsmall/{label_name}", lf.is_file(), ok,
                         f"{split} labels" + ("" if lf.is_file() else f"; missing: {hint}"), where=lf))
        samples = None
        if lf.is_file():
            try:
                samples = [int(line.split()[0]) for line in lf.read_text().splitlines()
                           if line.strip() and not line.startswith("#")]
            except (ValueError, IndexError):
                samples = None
        if samples is None:
            samples = list(range(first, first + n))
        rows.append(_group("nmnist-small", root, folder, f"*.bs2 ({split}, {len(samples)} samples)",
                           [f"{s}.bs2" for s in samples], sums, verify, hint, "NMNISTsmall/"))
    return rows


def _nmnist_official(root: Path):
    rows = []
    for split, name in (("train", "Train"), ("test", "Test")):
        folder = root / "nmnist" / name
        counts = [len(list((folder / str(d)).glob("*.bin"))) if (folder / str(d)).is_dir() else 0 for d in range(10)]
        present = all(c > 0 for c in counts)
        if present:
            detail = f"{sum(counts)} .bin files in 10 digit folders (checksums exist only for the zip archives)"
            status = "ok (no checksum)"
        elif any(counts):
            detail = f"digit folders without .bin files: {[d for d in range(10) if not counts[d]]}; expected {name}/0 ... {name}/9"
            status = "INCOMPLETE"
        else:
            detail = (f"optional (full N-MNIST, about 1 GB, not staged): unzip the official {name.lower()}.zip "
                      f"so that {folder}/<digit>/*.bin exist; NMNISTsmall is used otherwise")
            status = "optional"
        rows.append(_row("nmnist-official", root, f"nmnist/{name}/<digit>/*.bin", present, None, detail, status, folder))
    return rows


def _shd_schema(path: Path) -> tuple[bool, str]:
    try:
        import h5py
        with h5py.File(path, "r") as f:
            missing = [k for k in ("spikes/times", "spikes/units", "labels") if k not in f]
            if missing:
                return False, f"SCHEMA ERROR: missing datasets {missing}"
            n = (len(f["spikes/times"]), len(f["spikes/units"]), len(f["labels"]))
            if len(set(n)) != 1:
                return False, f"SCHEMA ERROR: times/units/labels lengths {n} differ"
            return True, f"schema ok ({n[0]} samples); no published h5 checksum (only zip md5s)"
    except OSError as e:
        return False, f"SCHEMA ERROR: not a readable HDF5 file ({e})"


def _shd(root: Path):
    folder = root / "shd"
    hint = f"not available here: place shd_train.h5 and shd_test.h5 from the official release in {folder}/"
    rows = []
    for split in ("train", "test"):
        p = folder / f"shd_{split}.h5"
        if not p.is_file():
            rows.append(_row("shd", root, f"shd/shd_{split}.h5", False, None, hint, "not available here", p))
            continue
        ok, detail = _shd_schema(p)
        rows.append(_row("shd", root, f"shd/shd_{split}.h5", True, None, detail,
                         "ok (schema)" if ok else "CORRUPT", p))
    return rows


def _fsdd(root: Path, verify: bool):
    base = root / "fsdd"
    sums = _sums(base)
    expected = sorted(k[len("recordings/"):] for k in sums if k.startswith("recordings/")) or \
        [f"{d}_{s}_{i}.wav" for d in range(10) for s in FSDD_SPEAKERS for i in range(50)]
    hint = (f"place the Free Spoken Digit Dataset recordings ({{digit}}_{{speaker}}_{{index}}.wav) "
            f"in {base / 'recordings'}/")
    return [_group("fsdd", root, base / "recordings", f"*.wav ({len(expected)} recordings)", expected, sums,
                   verify, hint, "recordings/")]


def _speech(root: Path, verify: bool):
    base = root / "speech_commands_v0.01_subset"
    sums = _sums(base)
    hint = f"place the Speech Commands v0.01 subset (<word>/<clip>.wav, 10 per word) in {base}/"
    rows = []
    for name in ("testing_list.txt", "validation_list.txt"):
        p = base / name
        ok = (sha256sum(p) == sums[name]) if (verify and p.is_file() and name in sums) else None
        rows.append(_row("speech_commands", root, p.relative_to(root).as_posix(), p.is_file(), ok,
                         "v0.01 split list" + ("" if p.is_file() else f"; missing: {hint}"), where=p))
    wavs = sorted(k for k in sums if k.endswith(".wav"))
    if wavs:
        rows.append(_group("speech_commands", root, base, f"<word>/*.wav ({len(wavs)} clips)", wavs, sums, verify, hint))
    else:  # no SHA256SUMS: count 10 clips in each of the 30 word folders
        counts = {w: len(list((base / w).glob("*.wav"))) if (base / w).is_dir() else 0 for w in SPEECH_WORDS}
        short = [w for w, c in counts.items() if c < 10]
        detail = (f"{sum(counts.values())} clips in {sum(c > 0 for c in counts.values())}/30 word folders; "
                  "no SHA256SUMS, not verified" + (f"; fewer than 10 clips for {short[:5]}; {hint}" if short else ""))
        rows.append(_row("speech_commands", root, "speech_commands_v0.01_subset/<word>/*.wav (300 clips)",
                         not short, None, detail, _status(not short, None, any(counts.values())), base))
    return rows


def _dvs(root: Path, verify: bool):
    folder = root / "dvs_samples"
    sums = {**DVS_SHA256, **_sums(folder)}
    rows = []
    for name in DVS_SHA256:
        p = folder / name
        if not p.is_file():
            rows.append(_row("dvs_samples", root, f"dvs_samples/{name}", False, None,
                             f"missing: place tonic's test fixture {name} in {folder}/", where=p))
            continue
        ok = (sha256sum(p) == sums[name]) if verify else None
        rows.append(_row("dvs_samples", root, f"dvs_samples/{name}", True, ok,
                         "sha256 " + ("matches" if ok else "MISMATCH" if ok is False else "not verified")))
    return rows


def inventory(root=None, verify: bool = True, datasets=DATASETS) -> list[dict]:
    """Rows describing every known dataset under the data root (see the module docstring).
    ``verify=False`` skips all hashing (presence only)."""
    root = data_root(root)
    unknown = set(datasets) - set(DATASETS)
    if unknown:
        raise ValueError(f"unknown datasets {sorted(unknown)}; known: {DATASETS}")
    makers = {"mnist": lambda: _mnist(root, verify), "nmnist-small": lambda: _nmnist_small(root, verify),
              "nmnist-official": lambda: _nmnist_official(root), "shd": lambda: _shd(root),
              "fsdd": lambda: _fsdd(root, verify), "speech_commands": lambda: _speech(root, verify),
              "dvs_samples": lambda: _dvs(root, verify)}
    rows = []
    for d in datasets:
        rows += makers[d]()
    for r in rows:
        r["root"] = str(root)
    return rows


def format_inventory(rows) -> str:
    """A plain-text table of :func:`inventory` rows, then a summary of what is missing or corrupt."""
    if not rows:
        return "(no datasets)"
    head = ("dataset", "file", "status", "detail")
    table = [(r["dataset"], r["file"], r["status"], r["detail"]) for r in rows]
    w = [max(len(head[i]), *(len(t[i]) for t in table)) for i in range(3)]
    lines = []
    lines.append("  ".join(h.ljust(w[i]) if i < 3 else h for i, h in enumerate(head)))
    lines.append("  ".join("-" * (w[i] if i < 3 else 6) for i in range(4)))
    for t in table:
        lines.append("  ".join(c.ljust(w[i]) if i < 3 else c for i, c in enumerate(t)))
    bad = [r for r in rows if r["status"] in ("MISSING", "INCOMPLETE", "CORRUPT")]
    ok = sum(r["status"].startswith("ok") for r in rows)
    lines.append("")
    other = {}
    for r in rows:
        if not r["status"].startswith("ok") and r not in bad:
            other.setdefault(r["status"], []).append(r["file"])
    summary = f"{ok}/{len(rows)} entries ok"
    for status, files in other.items():
        summary += f"; {status}: {', '.join(files)}"
    lines.append(summary + (f"; {len(bad)} need attention:" if bad else "."))
    for r in bad:
        lines.append(f"  {r['status']}: {r['file']} -> {r['where']}")
    return "\n".join(lines)
