"""V1 layer 4 on N-MNIST patches (Larisch, Berger & Hamker 2023), re-implemented from the notes.

Network (one 12x12 ON/OFF patch)::

    Input (288, binary raster) --1:1, w=30--> LGN relay (288)
    LGN --all-to-all, Clopath set A--> V1 (144 AdEx-Clopath cells)
    LGN --all-to-all, Clopath set A--> Inh (36 AdEx-Clopath cells)
    V1  --all-to-all, Clopath set B--> Inh
    Inh --all-to-all, iSTDP "back"--> V1       (feedback inhibition)
    Inh --all-to-all minus self, iSTDP "lat"--> Inh

Input rank of pixel (row, col) and channel ch is ``2 * (12 * row + col) + ch`` with ch 0 = ON
(tonic ``p == 1``) and ch 1 = OFF. Units: mV, ms, pA, nS, pF; dt = 1 ms explicit Euler, exactly
as the original ANNarchy model (the dt=1 Euler arithmetic is part of the model: the one-step
excitatory pulse, the x0.9 inhibitory decay and the state-1 reset formula all depend on it).

One simulation step (ANNarchy ``singleStep`` order, :func:`step`):

1. propagate the spikes emitted in the previous step (``g += W @ s_prev``) and run the iSTDP
   pre-spike rules (``g_Inh += w`` with the old w, then ``w += eta (tracePost - alpha)``,
   ``tracePre += 1``);
2. update the neurons (ODEs with the old values, then ``state = max(state-1, 0)``, then the
   spike test ``vm > VT and state == 0`` on the new values, then the reset);
3. Clopath ``dw`` on the three excitatory plastic projections with the post-update neuron
   variables and this step's pre spikes, clip; iSTDP trace decay and clip of w to [0, 1];
4. iSTDP post-spike rules (``w += eta tracePre``, ``tracePost += 1``).

All neuron variables are reset to their initial values before each presentation (``vmean``
included, as ANNarchy's ``reset()`` does); weights and iSTDP traces persist.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from snncore.parallel import shard_leading

from ..core import check_finite, run

__all__ = [
    "N_IN", "N_EXC", "N_INH", "PATCH", "T_STEPS", "LarischParams", "default_params",
    "Weights", "Traces", "PlasticState", "NeuronState", "LGNState", "NetState",
    "init_weights", "init_plastic", "init_net", "step", "present", "normalize_on_off", "infer_counts_fast",
    "patch_raster", "pad_events", "TrainConfig", "train", "infer_counts", "extract_features",
    "crop_counts", "lat_to_dense", "dense_to_lat",
]

PATCH = 12
N_IN = PATCH * PATCH * 2      # 288
N_EXC = 144
N_INH = 36
T_STEPS = 350                 # ms per presentation
SENSOR = 34
EVAL_CORNERS = ((5, 5), (5, 17), (17, 5), (17, 17))  # the 24x24 crop rows/cols 5..28 in 4 patches


class LarischParams(NamedTuple):
    """Constants of the model (defaults = the original code's values, see the notes §1)."""
    # AdEx-Clopath neuron (V1 and Inh)
    C: float = 281.0
    gL: float = 30.0
    EL: float = -70.6
    DeltaT: float = 2.0
    a: float = 4.0
    b: float = 0.0805
    tau_w: float = 144.0
    Isp: float = 400.0
    tau_z: float = 40.0
    VTrest: float = -50.4
    VTmax: float = -30.4
    tau_VT: float = 50.0
    tau_x: float = 15.0
    tau_LTD: float = 10.0
    tau_LTP: float = 7.0
    tau_mean: float = 750.0
    tau_gexc: float = 1.0
    tau_ginh: float = 10.0
    u_init: float = -70.0       # initial uLTD / uLTP
    # LGN relay
    lgn_EL: float = -70.4
    lgn_init: float = -70.6
    lgn_VT: float = -50.4
    w_input: float = 30.0
    # Clopath rule
    theta_minus: float = -70.6
    theta_plus: float = -45.3
    u_ref2: float = 9.0
    a_ltd_A: float = 3.5e-7
    a_ltp_A: float = 4.5e-7
    wmax_A: float = 5.0
    a_ltd_B: float = 3.5e-7
    a_ltp_B: float = 3.5e-7
    wmax_B: float = 1.0
    # iSTDP
    tau_back: float = 175.0
    eta_back: float = 7e-6
    alpha_back: float = 12.0
    tau_lat: float = 100.0
    eta_lat: float = 7e-6
    alpha_lat: float = 10.0
    wmax_inh: float = 1.0
    # our knobs (1.0 = the original)
    fb_scale: float = 1.0       # multiplies Inh->V1 at propagation (feedback-strength variants)
    lr_scale: float = 1.0       # multiplies all learning rates (1.0 = paper; quick runs may raise it)


def default_params(**overrides) -> LarischParams:
    bad = set(overrides) - set(LarischParams._fields)
    if bad:
        raise ValueError(f"unknown Larisch parameter(s): {sorted(bad)}")
    p = LarischParams(**overrides)
    for name in ("C", "gL", "DeltaT", "tau_w", "tau_z", "tau_VT", "tau_x", "tau_LTD", "tau_LTP",
                 "tau_mean", "tau_gexc", "tau_ginh", "tau_back", "tau_lat", "u_ref2"):
        v = getattr(p, name)
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be positive and finite, got {v!r}")
    if p.fb_scale < 0 or p.lr_scale < 0:
        raise ValueError("fb_scale and lr_scale must be >= 0")
    return p


# ------------------------------------------------------------------------------------------
# state
# ------------------------------------------------------------------------------------------

class Weights(NamedTuple):
    """Weight matrices, post x pre (as the original saves them; Inh->Inh dense with zero diagonal)."""
    lgn_v1: Any    # (144, 288)  "V1weight"
    lgn_inh: Any   # (36, 288)   "InhibW"
    v1_inh: Any    # (36, 144)   "V1toIN"
    inh_v1: Any    # (144, 36)   "INtoV1"
    inh_inh: Any   # (36, 36)    "INLat" with the diagonal inserted


class Traces(NamedTuple):
    """iSTDP traces. Per synapse in the original, but every synapse of a pre (post) neuron sees
    the same spikes and decay, so one value per neuron is exact."""
    back_pre: Any   # (36,)  Inh->V1 tracePre
    back_post: Any  # (144,) Inh->V1 tracePost
    lat_pre: Any    # (36,)
    lat_post: Any   # (36,)


class PlasticState(NamedTuple):
    w: Weights
    tr: Traces
    i: Any          # presentations done (int)


class NeuronState(NamedTuple):
    vm: Any
    VT: Any
    wad: Any
    z: Any
    st: Any         # spike-shape state 0/1/2 (float)
    vmean: Any
    u_ltd: Any
    u_ltp: Any
    xtrace: Any
    g_exc: Any
    g_inh: Any
    spike: Any      # 1.0 in the step the neuron spiked


class LGNState(NamedTuple):
    g: Any          # the relay's "g_exc", used as its voltage
    xtrace: Any
    spike: Any


class NetState(NamedTuple):
    inp_prev: Any   # (288,) input spikes of the previous step
    lgn: LGNState
    v1: NeuronState
    inh: NeuronState


def _neuron_init(p: LarischParams, shape, dtype) -> NeuronState:
    z = jnp.zeros(shape, dtype)
    f = lambda v: jnp.full(shape, v, dtype)  # noqa: E731
    return NeuronState(vm=f(p.EL), VT=f(p.VTrest), wad=z, z=z, st=z, vmean=z, u_ltd=f(p.u_init),
                       u_ltp=f(p.u_init), xtrace=z, g_exc=z, g_inh=z, spike=z)


def init_net(p: LarischParams, batch: tuple = (), dtype=jnp.float32) -> NetState:
    """Initial neuron state (what ``reset()`` restores before every presentation)."""
    batch = tuple(batch)
    z = jnp.zeros(batch + (N_IN,), dtype)
    return NetState(inp_prev=z, lgn=LGNState(g=jnp.full(batch + (N_IN,), p.lgn_init, dtype),
                                             xtrace=z, spike=z),
                    v1=_neuron_init(p, batch + (N_EXC,), dtype),
                    inh=_neuron_init(p, batch + (N_INH,), dtype))


def init_weights(key, dtype=jnp.float32) -> Weights:
    """Initial weights: LGN->V1 U(0.015, 2), LGN->Inh U(0.0175, 1.5), V1->Inh U(0.0175, 0.25),
    both inhibitory projections 0."""
    k1, k2, k3 = jax.random.split(key, 3)
    u = lambda k, s, lo, hi: jax.random.uniform(k, s, dtype, lo, hi)  # noqa: E731
    return Weights(lgn_v1=u(k1, (N_EXC, N_IN), 0.015, 2.0), lgn_inh=u(k2, (N_INH, N_IN), 0.0175, 1.5),
                   v1_inh=u(k3, (N_INH, N_EXC), 0.0175, 0.25),
                   inh_v1=jnp.zeros((N_EXC, N_INH), dtype), inh_inh=jnp.zeros((N_INH, N_INH), dtype))


def init_plastic(key, dtype=jnp.float32) -> PlasticState:
    tr = Traces(jnp.zeros(N_INH, dtype), jnp.zeros(N_EXC, dtype), jnp.zeros(N_INH, dtype),
                jnp.zeros(N_INH, dtype))
    return PlasticState(w=init_weights(key, dtype), tr=tr, i=jnp.asarray(0, jnp.int32))


def lat_to_dense(lat):
    """INLat (36, 35) -> dense (36, 36) with a zero diagonal (row i lists pre j != i ascending)."""
    lat = np.asarray(lat)
    n = lat.shape[0]
    if lat.shape != (n, n - 1):
        raise ValueError(f"INLat must be (n, n-1), got {lat.shape}")
    out = np.zeros((n, n), lat.dtype)
    for i in range(n):
        out[i, np.arange(n) != i] = lat[i]
    return out


def dense_to_lat(w):
    w = np.asarray(w)
    n = w.shape[0]
    return np.stack([w[i, np.arange(n) != i] for i in range(n)])


# ------------------------------------------------------------------------------------------
# one step
# ------------------------------------------------------------------------------------------

def _neuron_update(p: LarischParams, s: NeuronState) -> NeuronState:
    """Stage 2 for V1/Inh: concurrent Euler ODEs (old values; g already holds this step's
    input), state decrement, spike test on the new values, reset."""
    dt = 1.0
    st = s.st
    in0 = st == 0
    in1 = st == 1
    drive = s.g_exc - s.g_inh
    # exp is only used where st == 0 and vm <= VT there; clamp so the unused branches stay finite
    expo = jnp.exp(jnp.minimum((s.vm - s.VT) / p.DeltaT, 30.0))
    dv0 = (-p.gL * (s.vm - p.EL) + p.gL * p.DeltaT * expo - s.wad + s.z) / p.C + drive
    dv1 = -(s.vm + 51.75) + (p.Isp - (s.wad + p.b)) / p.C + drive
    dv = jnp.where(in0, dv0, jnp.where(in1, dv1, 3.462))
    dwad = jnp.where(in0, (p.a * (s.vm - p.EL) - s.wad) / p.tau_w, jnp.where(in1, p.b / p.tau_w, 0.0))
    dz = jnp.where(in1, -s.z + p.Isp - 10.0, -s.z / p.tau_z)
    dVT = jnp.where(in1, (p.VTmax - s.VT) - 0.4, (p.VTrest - s.VT) / p.tau_VT)
    dvmean = (jnp.maximum(s.vm - p.EL, 0.0) ** 2 - s.vmean) / p.tau_mean
    vm = s.vm + dt * dv
    wad = s.wad + dt * dwad
    z = s.z + dt * dz
    VT = s.VT + dt * dVT
    vmean = s.vmean + dt * dvmean
    u_ltd = s.u_ltd + dt * (s.vm - s.u_ltd) / p.tau_LTD
    u_ltp = s.u_ltp + dt * (s.vm - s.u_ltp) / p.tau_LTP
    xtrace = s.xtrace - dt * s.xtrace / p.tau_x
    g_exc = s.g_exc - dt * s.g_exc / p.tau_gexc
    g_inh = s.g_inh - dt * s.g_inh / p.tau_ginh
    st = jnp.maximum(st - 1.0, 0.0)
    spk = (vm > VT) & (st == 0)
    f = spk.astype(vm.dtype)
    vm = jnp.where(spk, 29.0, vm)
    st = jnp.where(spk, 2.0, st)
    VT = jnp.where(spk, p.VTmax, VT)
    xtrace = xtrace + f / p.tau_x
    return NeuronState(vm=vm, VT=VT, wad=wad, z=z, st=st, vmean=vmean, u_ltd=u_ltd, u_ltp=u_ltp,
                       xtrace=xtrace, g_exc=g_exc, g_inh=g_inh, spike=f)


def _lgn_update(p: LarischParams, s: LGNState) -> LGNState:
    g = jnp.maximum(s.g + p.lgn_EL / 1000.0, p.lgn_EL)
    xtrace = s.xtrace - s.xtrace / p.tau_x
    spk = g > p.lgn_VT
    f = spk.astype(g.dtype)
    g = jnp.where(spk, p.lgn_EL, g)
    return LGNState(g=g, xtrace=xtrace + f / p.tau_x, spike=f)


def _clopath(p: LarischParams, w, post: NeuronState, pre_spike, pre_x, a_ltd, a_ltp, wmax):
    """Clopath et al. (2010) voltage rule, one dt = 1 step, post x pre, clipped to [0, wmax]."""
    ltd_post = a_ltd * p.lr_scale * (post.vmean / p.u_ref2) * jnp.maximum(post.u_ltd - p.theta_minus, 0.0)
    ltp_post = (a_ltp * p.lr_scale * jnp.maximum(post.vm - p.theta_plus, 0.0)
                * jnp.maximum(post.u_ltp - p.theta_minus, 0.0))
    ltd = ltd_post[:, None] * pre_spike[None, :]
    ltp = ltp_post[:, None] * pre_x[None, :]
    dw = -jnp.where(w > 0, ltd, 0.0) + jnp.where(w < wmax, ltp, 0.0)
    return jnp.clip(w + dw, 0.0, wmax)


_OFFDIAG = 1.0 - np.eye(N_INH, dtype=np.float32)


def step(p: LarischParams, carry, x, plastic: bool = True):
    """One 1-ms step. ``carry = (NetState, PlasticState)``; ``x`` = input raster row (288,).

    Returns ``(carry, out)`` with ``out = (n_v1_spikes, n_inh_spikes, mean g_Exc V1, mean g_Inh V1)``
    (the conductances after propagation, i.e. this step's drive)."""
    return _step(p, carry, x, plastic)


def _late_updates(p: LarischParams, net: NetState, tr: Traces, w: Weights) -> Weights:
    """The weight updates of a step that read only its post-update neuron variables and iSTDP pre
    traces: Clopath V1->Inh (phase 3), the clip of both iSTDP projections (phase 3) and their
    post-spike rules (phase 4). ``net``/``tr``: the step's resulting state."""
    offd = jnp.asarray(_OFFDIAG, w.inh_inh.dtype)
    v1, inh = net.v1, net.inh
    v1_inh = _clopath(p, w.v1_inh, inh, v1.spike, v1.xtrace, p.a_ltd_B, p.a_ltp_B, p.wmax_B)
    inh_v1 = jnp.clip(w.inh_v1, 0.0, p.wmax_inh)
    inh_inh = jnp.clip(w.inh_inh, 0.0, p.wmax_inh)
    inh_v1 = inh_v1 + p.eta_back * p.lr_scale * v1.spike[:, None] * tr.back_pre[None, :]
    inh_inh = inh_inh + p.eta_lat * p.lr_scale * inh.spike[:, None] * tr.lat_pre[None, :] * offd
    return w._replace(v1_inh=v1_inh, inh_v1=inh_v1, inh_inh=inh_inh)


def _step(p: LarischParams, carry, x, plastic: bool = True, late: bool = True):
    """:func:`step`. ``late=False`` leaves :func:`_late_updates` out of a plastic step (the
    returned V1->Inh, Inh->V1 and Inh->Inh weights are then the ones before them); applying
    ``_late_updates(p, net, ps.tr, ps.w)`` to the returned state gives :func:`step`'s weights
    exactly. :func:`present` applies them at the start of the next step: there they read the neuron
    variables from the scan carry, while inside the step XLA fuses the neuron update that produces
    them into the post x pre loops and redoes it for every weight (measured: -14 % per float64
    presentation, -40 % for 8 vmapped float32 networks on a 2-core Intel Xeon)."""
    net, ps = carry
    w, tr = ps.w, ps.tr
    dt_ = net.v1.vm.dtype
    offd = jnp.asarray(_OFFDIAG, dt_)
    inh_prev = net.inh.spike
    # ---- 1. propagation of the previous step's spikes (+ iSTDP pre-spike rules)
    lgn = net.lgn._replace(g=net.lgn.g + p.w_input * net.inp_prev)
    v1 = net.v1._replace(g_exc=net.v1.g_exc + w.lgn_v1 @ net.lgn.spike,
                         g_inh=net.v1.g_inh + p.fb_scale * (w.inh_v1 @ inh_prev))
    inh = net.inh._replace(g_exc=net.inh.g_exc + w.lgn_inh @ net.lgn.spike + w.v1_inh @ net.v1.spike,
                           g_inh=net.inh.g_inh + (w.inh_inh * offd) @ inh_prev)
    if plastic:
        eta_b = p.eta_back * p.lr_scale
        eta_l = p.eta_lat * p.lr_scale
        inh_v1 = w.inh_v1 + eta_b * (tr.back_post[:, None] - p.alpha_back) * inh_prev[None, :]
        inh_inh = w.inh_inh + eta_l * (tr.lat_post[:, None] - p.alpha_lat) * inh_prev[None, :] * offd
        tr = tr._replace(back_pre=tr.back_pre + inh_prev, lat_pre=tr.lat_pre + inh_prev)
    out_ge = jnp.mean(v1.g_exc)
    out_gi = jnp.mean(v1.g_inh)
    # ---- 2. neuron updates
    lgn = _lgn_update(p, lgn)
    v1 = _neuron_update(p, v1)
    inh = _neuron_update(p, inh)
    net = NetState(inp_prev=x.astype(dt_), lgn=lgn, v1=v1, inh=inh)
    if plastic:
        # ---- 3. continuous synaptic updates with the post-update variables (LGN side here;
        # V1->Inh and the iSTDP clip in _late_updates)
        lgn_v1 = _clopath(p, w.lgn_v1, v1, lgn.spike, lgn.xtrace, p.a_ltd_A, p.a_ltp_A, p.wmax_A)
        lgn_inh = _clopath(p, w.lgn_inh, inh, lgn.spike, lgn.xtrace, p.a_ltd_A, p.a_ltp_A, p.wmax_A)
        tr = Traces(back_pre=tr.back_pre - tr.back_pre / p.tau_back,
                    back_post=tr.back_post - tr.back_post / p.tau_back,
                    lat_pre=tr.lat_pre - tr.lat_pre / p.tau_lat,
                    lat_post=tr.lat_post - tr.lat_post / p.tau_lat)
        w = Weights(lgn_v1, lgn_inh, w.v1_inh, inh_v1, inh_inh)
        if late:
            # ---- 4. (with the rest of 3) iSTDP post-spike rules
            w = _late_updates(p, net, tr, w)
        tr = tr._replace(back_post=tr.back_post + v1.spike, lat_post=tr.lat_post + inh.spike)
        ps = PlasticState(w=w, tr=tr, i=ps.i)
    out = (jnp.sum(v1.spike), jnp.sum(inh.spike), out_ge, out_gi)
    return (net, ps), out


def normalize_on_off(w):
    """Rescale the ON half (ch 0 = even inputs) of every row so ||ON||_2 = ||OFF||_2."""
    on, off = w[:, 0::2], w[:, 1::2]
    n_on = jnp.sqrt(jnp.sum(on ** 2, axis=1, keepdims=True))
    n_off = jnp.sqrt(jnp.sum(off ** 2, axis=1, keepdims=True))
    scale = jnp.where(n_on > 0, n_off / jnp.where(n_on > 0, n_on, 1.0), 1.0)
    return w.at[:, 0::2].set(on * scale)


def present(p: LarischParams, ps: PlasticState, raster, plastic: bool = True):
    """One presentation: reset the neurons, run ``raster`` ([350, 288], time-major) through one
    ``lax.scan`` (:func:`snncore.core.run`), then (training) apply the ON/OFF normalisation when
    the 0-based presentation index is a multiple of 400. Returns ``(ps, per-step outputs)``."""
    net = init_net(p, dtype=ps.w.lgn_v1.dtype)
    if plastic:
        # The same arithmetic as scanning `step`, with the late updates of step t (_late_updates)
        # moved to the start of step t + 1 (step 0 peeled off: nothing is pending before it; the
        # last step's after the scan). Only those updates touch these weights and they read only
        # the carried state, so every weight sees the same operations in the same order.
        if raster.shape[0] != T_STEPS:
            raise ValueError(f"present(): expected a [{T_STEPS}, {N_IN}] raster (time-major), got {raster.shape}")

        def body(pp, c, x):
            net, ps = c
            ps = ps._replace(w=_late_updates(pp, net, ps.tr, ps.w))
            return _step(pp, (net, ps), x, True, late=False)

        c, out0 = _step(p, (net, ps), raster[0], True, late=False)
        (net, ps2), out = run(body, p, c, raster[1:], expected_steps=T_STEPS - 1)
        ps2 = ps2._replace(w=_late_updates(p, net, ps2.tr, ps2.w))
        out = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), out0, out)
        out = jax.lax.optimization_barrier(out)   # keeps later sums over `out` adding as before
    else:
        (net, ps2), out = run(lambda pp, c, x: step(pp, c, x, plastic=False), p, (net, ps), raster,
                              expected_steps=T_STEPS)
    if plastic:
        do = (ps.i % 400) == 0
        w = ps2.w
        w = w._replace(lgn_v1=jnp.where(do, normalize_on_off(w.lgn_v1), w.lgn_v1),
                       lgn_inh=jnp.where(do, normalize_on_off(w.lgn_inh), w.lgn_inh))
        ps2 = ps2._replace(w=w, i=ps.i + 1)
    return ps2, out


# ------------------------------------------------------------------------------------------
# input: padded events -> 12x12x2x350 raster, inside jit
# ------------------------------------------------------------------------------------------

def _bucket(n: int) -> int:
    """Padding length: the next power of two >= max(n, 256), so shapes (and compilations) are few."""
    return int(2 ** math.ceil(math.log2(max(int(n), 256))))


def pad_events(events_list, length: int | None = None):
    """Stack a list of event arrays (fields x, y, t [µs], p) into padded int32 arrays
    ``(x, y, ms, p, valid)`` of shape [N, L]. Events outside the 34x34 sensor or with t < 0 are
    marked invalid (and counted: the second return value is the number dropped per sample)."""
    n = len(events_list)
    L = max([len(e) for e in events_list] + [1]) if length is None else int(length)
    out = {k: np.zeros((n, L), np.int32) for k in ("x", "y", "ms", "p")}
    valid = np.zeros((n, L), bool)
    dropped = np.zeros(n, np.int64)
    for i, ev in enumerate(events_list):
        m = len(ev)
        if m > L:
            raise ValueError(f"sample {i} has {m} events, more than the padding length {L}")
        if m == 0:
            continue
        x = np.asarray(ev["x"], np.int64)
        y = np.asarray(ev["y"], np.int64)
        t = np.asarray(ev["t"], np.int64)
        ok = (x >= 0) & (x < SENSOR) & (y >= 0) & (y < SENSOR) & (t >= 0)
        dropped[i] = int((~ok).sum())
        out["x"][i, :m] = np.where(ok, x, 0)
        out["y"][i, :m] = np.where(ok, y, 0)
        out["ms"][i, :m] = np.where(ok, np.minimum(t // 1000, 1 << 30), 0)
        out["p"][i, :m] = np.asarray(ev["p"], np.int64)
        valid[i, :m] = ok
    return (out["x"], out["y"], out["ms"], out["p"], valid), dropped


def patch_raster(x, y, ms, pol, valid, r0, c0, flip_lr=False, flip_ud=False, transpose=False,
                 t_min: int = 0, dtype=jnp.float32):
    """Binary raster [350, 288] of one 12x12 patch with top-left (row r0, col c0).

    Events with ``ms`` outside ``[t_min, 350)`` are dropped (training uses ``t_min = 1``: the
    original copy loop starts at t = 1). Several events in one (ms, y, x) voxel collapse to one
    and the later event's polarity wins, as in the original cube."""
    row = y - r0
    col = x - c0
    inside = valid & (row >= 0) & (row < PATCH) & (col >= 0) & (col < PATCH) & (ms >= t_min) & (ms < T_STEPS)
    row = jnp.where(flip_ud, PATCH - 1 - row, row)
    col = jnp.where(flip_lr, PATCH - 1 - col, col)
    row, col = jnp.where(transpose, col, row), jnp.where(transpose, row, col)
    pix = jnp.clip(row, 0, PATCH - 1) * PATCH + jnp.clip(col, 0, PATCH - 1)
    msc = jnp.clip(ms, 0, T_STEPS - 1)
    vox = jnp.where(inside, msc * (PATCH * PATCH) + pix, T_STEPS * PATCH * PATCH)  # dump bin
    idx = jnp.arange(x.shape[-1], dtype=jnp.int32)
    last = jnp.full(T_STEPS * PATCH * PATCH + 1, -1, jnp.int32).at[vox].max(idx)
    keep = inside & (last[vox] == idx)
    ch = jnp.where(pol == 1, 0, 1)
    flat = jnp.where(keep, msc * N_IN + 2 * pix + ch, T_STEPS * N_IN)
    r = jnp.zeros(T_STEPS * N_IN + 1, dtype).at[flat].set(1.0)
    return r[:-1].reshape(T_STEPS, N_IN)


# ------------------------------------------------------------------------------------------
# training
# ------------------------------------------------------------------------------------------

class TrainConfig(NamedTuple):
    n_presentations: int = 400_000
    chunk: int = 200             # presentations per jitted call (and per checkpoint check)
    checkpoint_every: int = 40_000
    seed: int = 0


def _draw_chunk(seed: int, chunk_idx: int, k: int, n_samples: int):
    """Host-side random choices for one chunk; a function of (seed, chunk index) only, so a
    resumed run draws the same presentations as an uninterrupted one."""
    rng = np.random.default_rng([int(seed), int(chunk_idx)])
    idx = rng.integers(0, n_samples, k)
    r0 = rng.integers(5, 17, k)   # randint(5, 17): 5..16
    c0 = rng.integers(5, 17, k)
    flips = rng.random((k, 3)) < 0.5
    return idx, r0, c0, flips


def _train_chunk_impl(p, ps, ev, r0, c0, flips):
    x, y, ms, pol, valid = ev

    def one(ps, inp):
        xi, yi, mi, pi, vi, ri, ci, fi = inp
        raster = patch_raster(xi, yi, mi, pi, vi, ri, ci, fi[0], fi[1], fi[2], t_min=1,
                              dtype=ps.w.lgn_v1.dtype)
        ps, out = present(p, ps, raster, plastic=True)
        n_v1, n_inh, ge, gi = out
        return ps, (jnp.sum(n_v1), jnp.sum(n_inh), jnp.mean(ge), jnp.mean(gi))

    return jax.lax.scan(one, ps, (x, y, ms, pol, valid, r0, c0, flips))


_train_chunk = jax.jit(_train_chunk_impl)


def train(p: LarischParams, events, cfg: TrainConfig, *, checkpoint: str | Path | None = None,
          dtype=jnp.float32, progress=None, stop_after: int | None = None, on_checkpoint=None):
    """Train on random 12x12 patches of ``events`` (a sequence of event arrays, indexable).

    Resumes from ``checkpoint`` if it exists (same seed and config give the same result as an
    uninterrupted run). ``stop_after`` stops after that many *new* presentations (to simulate an
    interruption in tests). ``on_checkpoint(path, presentations)`` is called after every
    checkpoint save (for example to mirror it somewhere that outlives the cache). Returns ``(PlasticState, history)`` where history holds per
    presentation V1/Inh spike counts and mean V1 g_Exc / g_Inh (only for this call's part)."""
    from ..checkpoint import load_checkpoint, save_checkpoint

    n = len(events)
    if n == 0:
        raise ValueError("train(): no training samples")
    if cfg.n_presentations < 0 or cfg.chunk < 1:
        raise ValueError(f"bad TrainConfig {cfg}")
    ps = init_plastic(jax.random.PRNGKey(cfg.seed), dtype)
    hist = {k: [] for k in ("n_v1", "n_inh", "g_exc", "g_inh")}
    if checkpoint is not None:
        got = load_checkpoint(checkpoint, ps)
        if got is not None:
            ps, _, meta = got
            if meta.get("seed") != cfg.seed or meta.get("chunk") != cfg.chunk:
                raise ValueError(f"checkpoint {checkpoint} was written with seed/chunk "
                                 f"{meta.get('seed')}/{meta.get('chunk')}, not {cfg.seed}/{cfg.chunk}")
    done = int(ps.i)
    if done % cfg.chunk:
        raise ValueError(f"checkpoint at {done} presentations is not on a chunk boundary ({cfg.chunk})")
    last_ckpt = done
    new = 0
    while done < cfg.n_presentations and (stop_after is None or new < stop_after):
        k = min(cfg.chunk, cfg.n_presentations - done)
        idx, r0, c0, flips = _draw_chunk(cfg.seed, done // cfg.chunk, k, n)
        chosen = [events[int(i)] for i in idx]
        ev, _ = pad_events(chosen, _bucket(max(len(e) for e in chosen)))
        ev = tuple(jnp.asarray(a) for a in ev)
        ps, h = _train_chunk(p, ps, ev, jnp.asarray(r0, jnp.int32), jnp.asarray(c0, jnp.int32),
                             jnp.asarray(flips))
        for key, v in zip(hist, h):
            hist[key].append(np.asarray(v))
        done += k
        new += k
        check_finite(ps.w, done, "Larisch weights")
        if progress is not None:
            progress(done)
        if checkpoint is not None and (done - last_ckpt >= cfg.checkpoint_every
                                       or done >= cfg.n_presentations or
                                       (stop_after is not None and new >= stop_after)):
            save_checkpoint(checkpoint, ps, done, {"seed": cfg.seed, "chunk": cfg.chunk})
            last_ckpt = done
            if on_checkpoint is not None:
                on_checkpoint(Path(checkpoint), done)
    hist = {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in hist.items()}
    return ps, hist


# ------------------------------------------------------------------------------------------
# inference: 576 spike counts per sample, batched over samples x patches
# ------------------------------------------------------------------------------------------

def _infer_impl(p, w, rasters):
    """rasters [P, 350, 288] -> V1 spike counts [P, 144], mean V1 g_Exc and g_Inh per patch."""
    P = rasters.shape[0]
    dtype = w.lgn_v1.dtype
    net = init_net(p, (P,), dtype)
    ps = PlasticState(w=w, tr=None, i=None)

    def body(pp, c, x):
        (net, cnt, ge, gi) = c
        # batched: weights are shared, states carry a leading patch axis -> use vmap of the step
        def one(n_, x_):
            (n2, _), o = step(pp, (n_, ps), x_, plastic=False)
            return n2, o

        net2, out = jax.vmap(one)(net, x)
        v1 = net2.v1
        return (net2, cnt + v1.spike, ge + out[2], gi + out[3]), None

    z = jnp.zeros((P,), dtype)
    c0 = (net, jnp.zeros((P, N_EXC), dtype), z, z)
    (net, cnt, ge, gi), _ = run(body, p, c0, jnp.swapaxes(rasters, 0, 1), expected_steps=T_STEPS)
    return cnt, ge / T_STEPS, gi / T_STEPS


infer_counts = jax.jit(_infer_impl)


def _eval_rasters(ev, dtype=jnp.float32):
    """[B, 4, 350, 288] rasters of the four 12x12 patches of the 24x24 crop (rows/cols 5..28),
    order TL, TR, BL, BR; ms-bin 0 kept, no flips. One scatter per sample for the whole crop
    (later event's polarity wins in a voxel, as in the original cube)."""
    x, y, ms, pol, valid = ev
    c = 2 * PATCH  # 24

    def per_sample(x, y, ms, pol, valid):
        row = y - 5
        col = x - 5
        inside = valid & (row >= 0) & (row < c) & (col >= 0) & (col < c) & (ms >= 0) & (ms < T_STEPS)
        pix = jnp.clip(row, 0, c - 1) * c + jnp.clip(col, 0, c - 1)
        msc = jnp.clip(ms, 0, T_STEPS - 1)
        vox = jnp.where(inside, msc * (c * c) + pix, T_STEPS * c * c)
        idx = jnp.arange(x.shape[-1], dtype=jnp.int32)
        last = jnp.full(T_STEPS * c * c + 1, -1, jnp.int32).at[vox].max(idx)
        keep = inside & (last[vox] == idx)
        ch = jnp.where(pol == 1, 0, 1)
        flat = jnp.where(keep, vox * 2 + ch, T_STEPS * c * c * 2)
        r = jnp.zeros(T_STEPS * c * c * 2 + 1, dtype).at[flat].set(1.0)[:-1]
        r = r.reshape(T_STEPS, 2, PATCH, 2, PATCH, 2)           # t, rb, row, cb, col, ch
        return r.transpose(1, 3, 0, 2, 4, 5).reshape(4, T_STEPS, N_IN)

    return jax.vmap(per_sample)(x, y, ms, pol, valid)


def _eval_rasters_by_patch(ev, corners=EVAL_CORNERS):
    """Reference for :func:`_eval_rasters` built with :func:`patch_raster` (used in tests)."""
    x, y, ms, pol, valid = ev
    f = jnp.asarray(False)

    def per_sample(xi, yi, mi, pi, vi):
        return jnp.stack([patch_raster(xi, yi, mi, pi, vi, r, c, f, f, f, t_min=0) for r, c in corners])

    return jax.vmap(per_sample)(x, y, ms, pol, valid)


def _infer_fast_impl(p, w, rasters):
    """Same result as :func:`infer_counts` (tested), faster: the LGN relay is exactly a one-step
    delay (every input spike makes one LGN spike one step later), so the feed-forward drive of V1
    and Inh at step t is ``W @ x[t-2]``; it is computed for all steps and patches in one matrix
    product outside the scan, and the scan only carries the V1 <-> Inh recurrence."""
    P = rasters.shape[0]
    dtype = w.lgn_v1.dtype
    xs = jnp.swapaxes(rasters, 0, 1)                       # [T, P, 288]
    xs = jnp.concatenate([jnp.zeros((2,) + xs.shape[1:], dtype), xs[:-2]], 0)   # x[t-2]
    w_ff = jnp.concatenate([w.lgn_v1, w.lgn_inh], 0)       # [180, 288]
    ff = jnp.einsum("tpi,ji->tpj", xs, w_ff)               # [T, P, 180]
    offd = jnp.asarray(_OFFDIAG, dtype)
    w_ii = (w.inh_inh * offd).T
    w_iv = (p.fb_scale * w.inh_v1).T                       # [36, 144]
    w_vi = w.v1_inh.T                                      # [144, 36]

    def body(pp, c, f):
        v1, inh, cnt, ge, gi = c
        v1 = v1._replace(g_exc=v1.g_exc + f[:, :N_EXC], g_inh=v1.g_inh + inh.spike @ w_iv)
        inh = inh._replace(g_exc=inh.g_exc + f[:, N_EXC:] + v1.spike @ w_vi,
                           g_inh=inh.g_inh + inh.spike @ w_ii)
        ge = ge + jnp.mean(v1.g_exc, -1)
        gi = gi + jnp.mean(v1.g_inh, -1)
        v1 = _neuron_update(pp, v1)
        inh = _neuron_update(pp, inh)
        return (v1, inh, cnt + v1.spike, ge, gi), None

    net = init_net(p, (P,), dtype)
    z = jnp.zeros((P,), dtype)
    c0 = (net.v1, net.inh, jnp.zeros((P, N_EXC), dtype), z, z)
    (_, _, cnt, ge, gi), _ = run(body, p, c0, ff, expected_steps=T_STEPS)
    return cnt, ge / T_STEPS, gi / T_STEPS


infer_counts_fast = jax.jit(_infer_fast_impl)


def _features_impl(p, w, ev, fb_scales, fast=False):
    rasters = _eval_rasters(ev, w.lgn_v1.dtype)
    B = rasters.shape[0]
    f = _infer_fast_impl if fast else _infer_impl
    rasters = rasters.reshape((B * 4, T_STEPS, N_IN))

    def one(k):
        cnt, ge, gi = f(p._replace(fb_scale=k), w, rasters)
        return cnt.reshape(B, 4 * N_EXC), ge.reshape(B, 4), gi.reshape(B, 4)

    return jax.vmap(one)(fb_scales)   # the variants share the rasters


_features_jit = jax.jit(_features_impl, static_argnames=("fast",))


def extract_features(p: LarischParams, w: Weights, events_list, batch: int = 32, length=None,
                     fast: bool = True, fb_scales=None):
    """576 V1 spike counts per sample (4 patches x 144, patch order TL, TR, BL, BR), computed
    batched over samples and patches. Empty samples give all-zero features. Returns
    ``(features int [N, 576], info)`` with info = mean V1 g_Exc / g_Inh per sample and the
    number of events dropped as invalid (outside the sensor, t < 0).

    ``fb_scales``: a sequence of feedback-inhibition scales (Inh->V1 multiplied by k); the
    variants are simulated in one call on shared rasters and the outputs get a leading variant
    axis ``[V, N, 576]``. ``fast`` uses the hoisted feed-forward product (identical counts).
    """
    n = len(events_list)
    single = fb_scales is None
    ks = jnp.asarray([p.fb_scale] if single else list(fb_scales), w.lgn_v1.dtype)
    if n == 0:
        shape = (0, 4 * N_EXC) if single else (len(ks), 0, 4 * N_EXC)
        return np.zeros(shape, np.int32), {"g_exc": np.zeros(shape[:-1]), "g_inh": np.zeros(shape[:-1]),
                                           "dropped": np.zeros(0, np.int64)}
    L = _bucket(length or max([len(e) for e in events_list] + [1]))
    feats, ges, gis, drops = [], [], [], []
    for s in range(0, n, batch):
        chunk = list(events_list[s:s + batch])
        real = len(chunk)
        chunk += [chunk[0][:0]] * (batch - real)   # pad the batch with empty samples
        ev, dropped = pad_events(chunk, L)
        ev = shard_leading(tuple(jnp.asarray(a) for a in ev), require_divisible=False)  # samples over devices
        c, ge, gi = _features_jit(p, w, ev, ks, fast=fast)
        feats.append(np.asarray(c)[:, :real])
        ges.append(np.asarray(ge).mean(-1)[:, :real])
        gis.append(np.asarray(gi).mean(-1)[:, :real])
        drops.append(dropped[:real])
    F = np.concatenate(feats, 1).round().astype(np.int32)
    info = {"g_exc": np.concatenate(ges, 1), "g_inh": np.concatenate(gis, 1), "dropped": np.concatenate(drops)}
    if single:
        F, info["g_exc"], info["g_inh"] = F[0], info["g_exc"][0], info["g_inh"][0]
    return F, info


def crop_counts(events_list):
    """Control features: binary-raster voxel counts of the 24x24 crop (rows/cols 5..28), ON and
    OFF, summed over 350 ms (1152 features), i.e. exactly what the network's input layer sees."""
    out = np.zeros((len(events_list), 2, 24, 24), np.int32)
    for i, ev in enumerate(events_list):
        if len(ev) == 0:
            continue
        x = np.asarray(ev["x"], np.int64)
        y = np.asarray(ev["y"], np.int64)
        ms = np.asarray(ev["t"], np.int64) // 1000
        ch = np.where(np.asarray(ev["p"]) == 1, 0, 1)
        ok = (x >= 5) & (x < 29) & (y >= 5) & (y < 29) & (ms >= 0) & (ms < T_STEPS)
        vox = np.zeros((2, 24, 24, T_STEPS), bool)
        vox[ch[ok], y[ok] - 5, x[ok] - 5, ms[ok]] = True
        out[i] = vox.sum(-1)
    return out.reshape(len(events_list), -1)
