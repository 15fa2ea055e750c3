"""SHD h5 reader/writer (official schema and quirks) and event binning."""
import h5py
import numpy as np
import pytest

from snncore.data import CorruptDataError, MissingDataError
from snncore.data.fakes import fake_shd_samples, write_fake_shd
from snncore.data.shd import bin_events, bin_samples, load_shd, read_shd_h5, write_shd_h5


def test_fake_roundtrip_drops_nan(tmp_path):
    truth = write_fake_shd(tmp_path, n_train=6, n_test=3, n_nan=4)
    ds = load_shd("train", root=tmp_path)
    t_true, u_true, l_true = truth["train"]
    assert len(ds) == 6 and ds.n_channels == 700 and ds.source == tmp_path / "shd" / "shd_train.h5"
    np.testing.assert_array_equal(ds.labels, l_true)
    assert ds.n_nan_dropped == 4
    assert ds.n_events == sum(len(t) for t in t_true) - 4
    assert len(ds.times[0]) == 0  # the empty sample survives
    for t, u, tt, uu in zip(ds.times, ds.units, t_true, u_true):
        keep = ~np.isnan(tt)
        assert t.dtype.kind == "f" and not np.isnan(t).any()
        np.testing.assert_array_equal(t, tt[keep])
        np.testing.assert_array_equal(u, uu[keep])
    assert ds.extra["speaker"].shape == (6,)
    times, units, label = ds[2]
    assert label == l_true[2] and len(times) == len(units)


@pytest.mark.parametrize("dt", [np.float16, np.float64])
def test_float_dtypes_kept(tmp_path, dt):
    write_fake_shd(tmp_path, n_train=3, n_test=2, n_nan=1, time_dtype=dt)
    ds = load_shd("test", root=tmp_path)
    assert all(t.dtype == dt for t in ds.times)


@pytest.mark.parametrize("lengths", [[1], [2, 2, 2], [0, 0], [3, 0, 5]])
def test_write_equal_or_odd_lengths(tmp_path, lengths):
    times = [np.linspace(0, 1, n) for n in lengths]
    units = [np.arange(n) for n in lengths]
    ds = load_shd(path=write_shd_h5(tmp_path / "x.h5", times, units, np.arange(len(lengths))))
    assert [len(t) for t in ds.times] == lengths
    for a, b in zip(ds.times, times):
        np.testing.assert_allclose(a, b.astype(np.float32))


def test_path_and_channel_count(tmp_path):
    rng = np.random.default_rng(0)
    times, units, labels = fake_shd_samples(rng, 4, n_channels=140, n_nan=0)
    p = write_shd_h5(tmp_path / "standin.h5", times, units, labels, extra={"n_channels": 140, "name": np.array(["fsdd"])})
    ds = load_shd(path=p)
    assert ds.n_channels == 140 and ds.source == p and ds.extra["name"][0] == "fsdd"


def test_missing_file_message(tmp_path):
    with pytest.raises(MissingDataError) as e:
        load_shd("test", root=tmp_path)
    msg = str(e.value)
    assert "shd_test.h5" in msg and str(tmp_path / "shd") in msg and "official release" in msg


def test_schema_errors(tmp_path):
    p = tmp_path / "bad.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("labels", data=np.zeros(2, np.uint16))
        f.create_dataset("spikes/times", (2,), dtype=h5py.vlen_dtype(np.float32))
    with pytest.raises(CorruptDataError, match="spikes/units") as e:
        read_shd_h5(p)
    assert str(p) in str(e.value)
    (tmp_path / "junk.h5").write_bytes(b"not an hdf5 file at all")
    with pytest.raises(CorruptDataError, match="HDF5"):
        read_shd_h5(tmp_path / "junk.h5")
    # truncated h5
    good = write_shd_h5(tmp_path / "good.h5", *fake_shd_samples(np.random.default_rng(0), 5))
    data = good.read_bytes()
    (tmp_path / "trunc.h5").write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptDataError):
        read_shd_h5(tmp_path / "trunc.h5")


def test_length_and_range_errors(tmp_path):
    p = tmp_path / "x.h5"
    with h5py.File(p, "w") as f:
        t = f.create_dataset("spikes/times", (1,), dtype=h5py.vlen_dtype(np.float32))
        u = f.create_dataset("spikes/units", (1,), dtype=h5py.vlen_dtype(np.uint16))
        t[0] = np.array([0.1, 0.2], np.float32)
        u[0] = np.array([1], np.uint16)
        f.create_dataset("labels", data=np.zeros(1, np.uint16))
    with pytest.raises(CorruptDataError, match="2 times but 1 units"):
        read_shd_h5(p)
    write_shd_h5(p, [np.array([0.1])], [np.array([700])], [3])
    with pytest.raises(CorruptDataError, match="units range"):
        read_shd_h5(p)
    with pytest.raises(ValueError, match="one label per sample"):
        write_shd_h5(p, [np.array([0.1])], [np.array([3])], [3, 4])


# ------------------------------------------------------------------ binning

def test_bin_events_matches_histogram2d_and_preserves_count():
    rng = np.random.default_rng(3)
    t = rng.uniform(-0.1, 1.5, 5000)
    u = rng.integers(0, 700, 5000)
    edges = np.linspace(0, 1.4, 281)
    counts = bin_events(t, u, edges)
    assert counts.shape == (280, 700)
    ref, _, _ = np.histogram2d(t, u, bins=[edges, np.arange(701)])
    np.testing.assert_array_equal(counts, ref.astype(int))
    inside = (t >= 0) & (t <= 1.4)
    assert counts.sum() == inside.sum() and inside.sum() < 5000


def test_bin_edges_semantics():
    edges = np.array([0.0, 0.5, 1.0, 2.0])
    t = np.array([0.5, 1.0, 2.0, 0.0, 2.0000001, -1e-9, np.nan, 0.4999])
    u = np.array([0, 1, 2, 3, 4, 5, 6, 7])
    c = bin_events(t, u, edges, n_channels=8)
    assert c[1, 0] == 1  # on an inner edge -> right-hand bin
    assert c[2, 1] == 1
    assert c[2, 2] == 1  # on the last edge -> last bin (closed), like numpy.histogram
    assert c[0, 3] == 1  # on the first edge -> first bin
    assert c[:, 4].sum() == c[:, 5].sum() == c[:, 6].sum() == 0  # outside or NaN: dropped
    assert c[0, 7] == 1
    assert c.sum() == 5
    np.testing.assert_array_equal(c.sum(1), np.histogram(t[~np.isnan(t)], edges)[0])


def test_bin_binary_dtype_and_errors():
    c = bin_events([0.1, 0.1, 0.2], [3, 3, 3], [0, 1], n_channels=4, binary=True, dtype=np.uint8)
    assert c.dtype == np.uint8 and c.tolist() == [[0, 0, 0, 1]]
    with pytest.raises(ValueError, match="strictly increasing"):
        bin_events([0.1], [0], [0, 1, 1])
    with pytest.raises(ValueError, match="units"):
        bin_events([0.1], [700], [0, 1])
    with pytest.raises(ValueError, match="same length"):
        bin_events([0.1, 0.2], [1], [0, 1])
    with pytest.raises(ValueError, match="uint8"):
        bin_events(np.full(300, 0.5), np.zeros(300, int), [0, 1], dtype=np.uint8)


def test_bin_samples_equals_per_sample(tmp_path):
    write_fake_shd(tmp_path, n_train=6, n_test=2, n_nan=3)
    ds = load_shd("train", root=tmp_path)
    edges = np.linspace(0, 1.4, 280)  # DenRAM-style: 280 edges -> 279 bins
    batch = bin_samples(ds.times, ds.units, edges, dtype=np.int32)
    assert batch.shape == (6, 279, 700)
    for i in range(len(ds)):
        np.testing.assert_array_equal(batch[i], bin_events(ds.times[i], ds.units[i], edges))
    assert batch.sum() == ds.n_events  # fake times lie in [0, 1) s
    binary = bin_samples(ds.times, ds.units, edges, binary=True)
    np.testing.assert_array_equal(binary, np.minimum(batch, 1))
    # NaN times given directly are dropped too
    t, u, _ = fake_shd_samples(np.random.default_rng(1), 3, n_nan=2)
    assert bin_samples(t, u, edges, dtype=np.int32).sum() == sum(np.isfinite(x).sum() for x in t)


def test_digitize_convention_is_a_shift_by_one():
    # DenRAM's reference bins with numpy.digitize (index = number of edges <= t, row 0 empty)
    rng = np.random.default_rng(0)
    t, u = rng.uniform(0, 1.3, 2000), rng.integers(0, 700, 2000)
    edges = np.linspace(0, 1.4, 280)
    ref = np.zeros((280, 700), int)
    np.add.at(ref, (np.digitize(t, edges), u), 1)
    assert ref[0].sum() == 0
    np.testing.assert_array_equal(ref[1:], bin_events(t, u, edges))
