"""The N-MNIST stand-in simulator: event physics, file round trip, resumability, bad input."""
import numpy as np
import pytest

from snncore.data import nmnist_sim as S
from snncore.data.nmnist import load_nmnist, read_nmnist_bin


def _square(b=2):
    img = np.zeros((b, 28, 28), np.uint8)
    img[:, 8:20, 10:18] = 255
    return img


def test_trajectory_closes_and_spans_three_saccades():
    cfg = S.SimConfig()
    t = np.array([0.0, 3 * cfg["saccade_ms"] * 1000 - 1])
    a, b = S.trajectory(cfg, t)
    np.testing.assert_allclose(a, b, atol=1e-6)
    mid = S.trajectory(cfg, np.array([cfg["saccade_ms"] * 1000.0]))[0]
    np.testing.assert_allclose(mid, cfg["corners"][1], atol=1e-9)


def test_events_in_range_sorted_and_balanced():
    cfg = S.SimConfig()
    evs = S.simulate_events(_square(), cfg, np.random.default_rng(0))
    assert len(evs) == 2
    e = evs[0]
    assert len(e) > 100
    assert (np.diff(e["t"]) >= 0).all()
    assert e["t"].min() >= 0 and e["t"].max() <= 3 * cfg["saccade_ms"] * 1000
    assert e["x"].min() >= 0 and e["x"].max() < 34 and e["y"].min() >= 0 and e["y"].max() < 34
    # the path is closed, so every pixel ends at its start intensity: per pixel, ON and OFF
    # counts differ by at most one threshold crossing
    net = np.zeros((34, 34), int)
    np.add.at(net, (e["y"], e["x"]), np.where(e["p"] == 1, 1, -1))
    assert np.abs(net).max() <= 1
    # no events from a blank image
    assert len(S.simulate_events(np.zeros((1, 28, 28), np.uint8), cfg)[0]) == 0


def test_threshold_scales_event_count():
    lo = len(S.simulate_events(_square(1), S.SimConfig(threshold=0.2))[0])
    hi = len(S.simulate_events(_square(1), S.SimConfig(threshold=0.6))[0])
    assert lo > 2 * hi > 0


def test_split_roundtrip_resume_and_settings_guard(tmp_path):
    from snncore.data.fakes import write_fake_mnist

    mnist_root = tmp_path / "data"
    imgs = write_fake_mnist(mnist_root, n_train=60, n_test=10, seed=1)
    images, labels = imgs["train"]
    assert len(set(labels.tolist())) == 10
    root = S.simulate_split("train", n=60, root=tmp_path / "sim", mnist_root=mnist_root, batch=32)
    ds = load_nmnist("train", root=root)
    assert len(ds) == 60
    by_name = {int(p.stem): (p, lab) for p, lab in zip(ds.paths, ds.labels)}
    assert sorted(by_name) == list(range(1, 61))
    for n in (1, 33, 60):                      # sample n = MNIST image n-1
        p, lab = by_name[n]
        assert lab == labels[n - 1]
        direct = S.simulate_events(images[32:60] if n > 32 else images[:32], S.SimConfig(),
                                   np.random.default_rng([0, 0, 32 if n > 32 else 0]))
        ev = read_nmnist_bin(p)
        ref = direct[(n - 1) % 32]
        np.testing.assert_array_equal(ev["x"], ref["x"])
        np.testing.assert_array_equal(ev["t"], ref["t"])
        np.testing.assert_array_equal(ev["p"], ref["p"])
    mtime = by_name[5][0].stat().st_mtime_ns
    S.simulate_split("train", n=60, root=tmp_path / "sim", mnist_root=mnist_root, batch=32)
    assert by_name[5][0].stat().st_mtime_ns == mtime          # kept, not rewritten
    with pytest.raises(ValueError, match="other simulator settings"):
        S.simulate_split("train", n=60, cfg=S.SimConfig(threshold=0.5), root=tmp_path / "sim",
                         mnist_root=mnist_root)


def test_bad_input_raises():
    with pytest.raises(ValueError):
        S.simulate_events(np.zeros((2, 27, 28), np.uint8))
    with pytest.raises(ValueError):
        S.SimConfig(threshold=-1)
    with pytest.raises(ValueError):
        S.SimConfig(bogus=1)
    with pytest.raises(ValueError):
        S.simulate_split("val")
