"""spikeforge's own Lava processes (Python 3.10, numpy and lava-nc only; no spikeforge import).

Lava ships bit-accurate LIF, Dense, Sparse and Conv models; spikeforge uses them where they
fit. These processes cover what Lava lacks, each a ``PyLoihiProcessModel`` tagged
``fixed_pt`` whose ``run_spk`` is the normative integer step of ``docs/integer.md``
(spikeforge's tests run them against ``models/lif/spec.py`` and ``models/asn/spec.py``):

* :class:`SfLIF`: LIF / CUBA-LIF with per-neuron ``du``, ``dv``, ``vth``, zero or subtract
  reset, or the ``int_li`` readout (no spike; it sends its voltage).
* :class:`SfASN`: the adaptive spiking neuron (ASN / NASN / I-LIF), graded spikes in
  ``[0, D]`` sent as one payload, or as ``D`` binary spikes on ``D`` parallel axons
  (the binary realization: axon ``k`` of neuron ``i`` carries ``1`` iff ``k < e_i``).
* :class:`SfDelay`: an axonal delay line of ``k`` steps.
* :class:`SfMTC`: the multi-timescale conductance neuron's integer form (``int_mtc``).
* :class:`SfFloatNeuron` (``floating_pt``): the float reference's LIF / CUBA / LI update,
  for float programs.

Sample windows: a batch runs as one Lava run, sample ``b`` in global steps
``[b W, (b + 1) W)``. A neuron at depth ``d`` runs its model step ``m`` at global step
``b W + d + m``; at ``m = 0`` its state is reset and outside ``0 <= m < T`` it holds the
reset state and sends zeros, which is how the reference treats negative model time.
Global step ``g`` is Lava's ``time_step - 1``.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

#: Largest 24-bit state magnitude (``2^23 - 1``) and Loihi's constants.
STATE_MAX = 2**23 - 1
ACT_SHIFT = 6
DECAY_BITS = 12


def decay(x: np.ndarray, d) -> np.ndarray:
    """``sign(x) * ((|x| * (4096 - d)) >> 12)``: Loihi's decay, truncating toward zero."""
    return np.sign(x) * np.right_shift(np.abs(x) * ((1 << DECAY_BITS) - np.asarray(d, np.int64)), DECAY_BITS)


def wrap24(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Lava's 24-bit wrap of the current; returns (value, number wrapped)."""
    m = 1 << 23
    hi, lo = x > m, x <= -m
    y = np.where(hi, x - 2 * m, np.where(lo, x + 2 * m, x))
    return y, int(hi.sum() + lo.sum())


def clip24(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Saturate to ``[-(2^23 - 1), 2^23 - 1]``; returns (value, number saturated)."""
    return np.clip(x, -STATE_MAX, STATE_MAX), int(np.count_nonzero(np.abs(x) > STATE_MAX))


def lif_step(u, v, a, du, dv, bias, vth, subtract: bool, spiking: bool):
    """One ``int_lif`` / ``int_li`` step on int64 arrays; returns (u, v, out, wraps, saturations).

    .. math::
        u = \\mathrm{wrap}_{24}(\\mathrm{decay}(u, du + 1) + (a \\ll 6)),\\quad
        v = \\mathrm{clip}_{24}(\\mathrm{decay}(v, dv) + u + b),\\quad s = v > (v_{th} \\ll 6)
    """
    u, nw = wrap24(decay(u, du + 1) + np.left_shift(a, ACT_SHIFT))
    v, ns = clip24(decay(v, dv) + u + bias)
    if not spiking:
        return u, v, v.copy(), nw, ns
    th = np.left_shift(vth, ACT_SHIFT)
    s = v > th
    v = np.where(s, v - th, v) if subtract else np.where(s, 0, v)
    return u, v, s.astype(np.int64), nw, ns


def asn_step(v, a, dv, bias, p, alpha: int, D: int):
    """One ``int_asn`` step; returns (v, emission in [0, D], saturations).

    .. math::
        U = \\mathrm{clip}_{24}(\\mathrm{decay}(v, dv) + (a \\ll 6) + b),\\;
        c = \\mathrm{clip}((U + 2^{p-1}) \\gg p, \\alpha, \\alpha + D),\\;
        v = \\mathrm{clip}_{24}(U - (c \\ll p)),\\; e = c - \\alpha
    """
    U, n1 = clip24(decay(v, dv) + np.left_shift(a, ACT_SHIFT) + bias)
    c = np.clip(np.right_shift(U + np.left_shift(1, p - 1), p), alpha, alpha + D)
    v, n2 = clip24(U - np.left_shift(c, p))
    return v, c - alpha, n1 + n2


class _Windowed(AbstractProcess):
    """Common Vars of a neuron process run in sample windows."""

    def __init__(self, *, shape, in_shape, out_shape, depth: int, T: int, W: int, name=None, **params) -> None:
        super().__init__(shape=shape, depth=depth, T=T, W=W, name=name)
        self.a_in = InPort(shape=in_shape)
        self.s_out = OutPort(shape=out_shape)
        self.counts = Var(shape=(2,), init=np.zeros(2, np.int64))  # wraps, saturations
        for k, val in params.items():
            setattr(self, k, Var(shape=np.shape(val), init=np.asarray(val)))


class SfLIF(_Windowed):
    """LIF / CUBA-LIF / LI with per-neuron parameters (state: ``u``, ``v`` signed 24-bit).

    Args:
        shape: Neuron shape.
        du, dv: 12-bit decay codes per neuron.
        bias: ``bias_mant << bias_exp`` per neuron (signed, fits 24 bits).
        vth: Threshold mantissa per neuron (unsigned 17-bit); the threshold is ``vth << 6``.
        subtract: Reset by subtraction instead of to zero.
        spiking: ``False`` for the ``int_li`` readout (sends ``v``).
        depth, T, W: Sample-window timing (see the module docstring).
    """

    def __init__(self, *, shape, du, dv, bias, vth, subtract: bool, spiking: bool, depth: int, T: int, W: int, name=None) -> None:
        z = np.zeros(shape, np.int64)
        super().__init__(shape=shape, in_shape=shape, out_shape=shape, depth=depth, T=T, W=W, name=name,
                         u=z, v=z, du=du, dv=dv, bias=bias, vth=vth, flags=np.array([int(subtract), int(spiking)]))


class SfASN(_Windowed):
    """Adaptive spiking neuron (state: ``v`` signed 24-bit), graded or binary-expanded output.

    Args:
        shape: Neuron shape ``(n,)``.
        dv, bias, p: Per-neuron decay code, bias and unit shift.
        alpha, D: Firing window.
        binary: Send ``D`` binary spikes per neuron (out shape ``(D * n,)``) instead of one
            graded payload.
        depth, T, W: Sample-window timing.
    """

    def __init__(self, *, shape, dv, bias, p, alpha: int, D: int, binary: bool, depth: int, T: int, W: int, name=None) -> None:
        n = int(np.prod(shape))
        out = (D * n,) if binary else shape
        super().__init__(shape=shape, in_shape=shape, out_shape=out, depth=depth, T=T, W=W, name=name,
                         v=np.zeros(shape, np.int64), dv=dv, bias=bias, p=p, win=np.array([alpha, D, int(binary)]))


class SfDelay(AbstractProcess):
    """Delay line: sends at step ``g`` what it received at step ``g - steps`` (state: a ring
    buffer of ``steps`` messages, 24-bit)."""

    def __init__(self, *, shape, steps: int, name=None) -> None:
        super().__init__(shape=shape, steps=steps, name=name)
        self.s_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.buf = Var(shape=(steps,) + tuple(shape), init=np.zeros((steps,) + tuple(shape), np.int64))


class _WindowModel(PyLoihiProcessModel):
    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.depth = int(proc_params["depth"])
        self.T = int(proc_params["T"])
        self.W = int(proc_params["W"])

    def model_step(self) -> int:
        """This step's model step inside its sample window, or -1 outside model time."""
        g = self.time_step - 1 - self.depth
        if g < 0:
            return -1
        m = g % self.W
        return m if m < self.T else -1


@implements(proc=SfLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySfLIFModel(_WindowModel):
    """Bit-exact ``int_lif`` / ``int_li`` (``docs/integer.md``)."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    u: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    v: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    du: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=12)
    dv: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=12)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    vth: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=17)
    flags: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=1)
    counts: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=32)

    def run_spk(self) -> None:
        a = self.a_in.recv().astype(np.int64)
        m = self.model_step()
        if m < 0:
            self.u[:] = 0
            self.v[:] = 0
            self.s_out.send(np.zeros(self.s_out.shape, np.int32))
            return
        if m == 0:
            self.u[:] = 0
            self.v[:] = 0
        u, v, out, nw, ns = lif_step(self.u.astype(np.int64), self.v.astype(np.int64), a, self.du, self.dv, self.bias, self.vth,
                                     bool(self.flags[0]), bool(self.flags[1]))
        self.u[:] = u
        self.v[:] = v
        self.counts[0] += nw
        self.counts[1] += ns
        self.s_out.send(out.astype(np.int32))


@implements(proc=SfASN, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySfASNModel(_WindowModel):
    """Bit-exact ``int_asn`` (``docs/integer.md``), graded or binary-expanded output."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    v: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    dv: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=12)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    p: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=5)
    win: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    counts: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=32)

    def run_spk(self) -> None:
        a = self.a_in.recv().astype(np.int64)
        alpha, D, binary = (int(x) for x in self.win)
        m = self.model_step()
        if m < 0:
            self.v[:] = 0
            self.s_out.send(np.zeros(self.s_out.shape, np.int32))
            return
        if m == 0:
            self.v[:] = 0
        v, e, ns = asn_step(self.v.astype(np.int64), a, self.dv, self.bias, self.p, alpha, D)
        self.v[:] = v
        self.counts[1] += ns
        if binary:
            e = (e.reshape(1, -1) > np.arange(D).reshape(-1, 1)).reshape(-1)
        self.s_out.send(e.astype(np.int32))


@implements(proc=SfDelay, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySfDelayModel(PyLoihiProcessModel):
    """Ring buffer of ``steps`` messages."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    buf: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)

    def run_spk(self) -> None:
        k = (self.time_step - 1) % self.buf.shape[0]
        out = self.buf[k].copy()
        self.buf[k] = self.s_in.recv()
        self.s_out.send(out.astype(np.int32))


@implements(proc=SfDelay, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PySfDelayModelFloat(PyLoihiProcessModel):
    """Ring buffer of ``steps`` float messages."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    buf: np.ndarray = LavaPyType(np.ndarray, float)

    def run_spk(self) -> None:
        k = (self.time_step - 1) % self.buf.shape[0]
        out = self.buf[k].copy()
        self.buf[k] = self.s_in.recv()
        self.s_out.send(out)


# ----------------------------------------------------------------------------- float mode


class SfFloatNeuron(_Windowed):
    """Float ``lif`` / ``cuba_lif`` / ``li`` / ``cuba_li`` (Lava ``floating_pt``), per-neuron
    parameters; the float reference's update (state ``i``, ``v``: float64):

    .. math::
        i = a_{syn} i + g_{syn} x \\;(\\text{CUBA});\\quad v = a v + g\\,i + b;\\quad
        s = v > v_{th};\\quad v \\leftarrow v - s\\,v_{th} \\text{ or } (s ? v_{reset} : v)

    ``li`` sends ``v`` instead of spikes.
    """

    def __init__(self, *, shape, a_syn, g_syn, a, g, b, vth, vreset, use_syn: bool, subtract: bool, spiking: bool,
                 depth: int, T: int, W: int, name=None) -> None:
        z = np.zeros(shape)
        super().__init__(shape=shape, in_shape=shape, out_shape=shape, depth=depth, T=T, W=W, name=name,
                         i=z, v=z, a_syn=a_syn, g_syn=g_syn, a=a, g=g, b=b, vth=vth, vreset=vreset,
                         flags=np.array([int(use_syn), int(subtract), int(spiking)]))


@implements(proc=SfFloatNeuron, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PySfFloatNeuronModel(_WindowModel):
    """The float reference's LIF / CUBA / LI update."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    i: np.ndarray = LavaPyType(np.ndarray, float)
    v: np.ndarray = LavaPyType(np.ndarray, float)
    a_syn: np.ndarray = LavaPyType(np.ndarray, float)
    g_syn: np.ndarray = LavaPyType(np.ndarray, float)
    a: np.ndarray = LavaPyType(np.ndarray, float)
    g: np.ndarray = LavaPyType(np.ndarray, float)
    b: np.ndarray = LavaPyType(np.ndarray, float)
    vth: np.ndarray = LavaPyType(np.ndarray, float)
    vreset: np.ndarray = LavaPyType(np.ndarray, float)
    flags: np.ndarray = LavaPyType(np.ndarray, np.int64)
    counts: np.ndarray = LavaPyType(np.ndarray, np.int64)

    def run_spk(self) -> None:
        x = self.a_in.recv().astype(np.float64)
        use_syn, subtract, spiking = (bool(f) for f in self.flags)
        m = self.model_step()
        if m <= 0:
            self.i[:] = 0.0
            self.v[:] = 0.0
            if m < 0:
                self.s_out.send(np.zeros(self.s_out.shape))
                return
        if use_syn:
            x = self.a_syn * self.i + self.g_syn * x
            self.i[:] = x
        v = self.a * self.v + self.g * x + self.b
        if not spiking:
            self.v[:] = v
            self.s_out.send(v.copy())
            return
        s = v > self.vth
        v = np.where(s, v - self.vth, v) if subtract else np.where(s, self.vreset, v)
        self.v[:] = v
        self.s_out.send(s.astype(np.float64))


# ----------------------------------------------------------------------------- MTC

#: ``int_mtc`` (``models/mtc/spec.py``): conductances (name, filtered voltage read), filters,
#: and the fixed-point constants of its normative step.
MTC_FEEDBACK = (("fn", "f"), ("sp", "s"), ("sn", "s"), ("usp", "us"))
MTC_FILTERS = ("f", "s", "us")
MTC_PARAMS = ("dm", "kf", "ks", "kus", "gfn", "gsp", "gsn", "gusp", "dfn", "dsp", "dsn", "dusp", "th", "bias", "oscale", "oshift", "ishift")
MTC_LUT_BITS, MTC_RATE_BITS, MTC_OUT_MAX = 12, 16, 256


def mtc_step(st: dict, a, p: dict, lut):
    """One ``int_mtc`` step (states ``um``, ``uf``, ``us``, ``uus``: signed 24-bit); returns
    (graded output in ``[0, 256]``, saturations).

    .. math::
        U_m = \\mathrm{clip}_{24}(\\mathrm{decay}(U_m, d_m) + (a \\ll 6) + b
              + (\\textstyle\\sum_x g_x \\mathrm{LUT}(U_{src(x)} - \\delta_x) + 2^{11}) \\gg 12),\\;
        U_y \\mathrel{+}= ((U_m - U_y) k_y + 2^{15}) \\gg 16,\\;
        o = \\mathrm{clip}(((U_m - th)\\, s + 2^{sh-1}) \\gg sh, 0, 256)
    """
    src = {"f": st["uf"], "s": st["us"], "us": st["uus"]}
    acc = np.zeros_like(st["um"])
    for name, var in MTC_FEEDBACK:
        y = src[var] - p["d" + name]
        i = np.right_shift(y + np.left_shift(np.int64(1), p["ishift"] - 1), p["ishift"])
        k = np.minimum(np.abs(i), lut.shape[0] - 1)
        acc = acc + p["g" + name] * np.where(i >= 0, lut[k], -lut[k])
    fb = np.right_shift(acc + (1 << (MTC_LUT_BITS - 1)), MTC_LUT_BITS)
    um, ns = clip24(decay(st["um"], p["dm"]) + np.left_shift(a, ACT_SHIFT) + p["bias"] + fb)
    st["um"] = um
    half = 1 << (MTC_RATE_BITS - 1)
    for var in MTC_FILTERS:
        key = "u" + var
        st[key] = st[key] + np.right_shift((um - st[key]) * p["k" + var] + half, MTC_RATE_BITS)
    sh = p["oshift"]
    out = np.right_shift((um - p["th"]) * p["oscale"] + np.left_shift(np.int64(1), sh - 1), sh)
    return np.clip(out, 0, MTC_OUT_MAX), ns


class SfMTC(_Windowed):
    """Multi-timescale conductance neuron, integer form (``int_mtc``): graded output.

    Args:
        shape: Neuron shape ``(n,)``.
        params: The per-neuron integer parameters (:data:`MTC_PARAMS`).
        lut: The tanh table (int64).
        depth, T, W: Sample-window timing.
    """

    def __init__(self, *, shape, params: dict, lut, depth: int, T: int, W: int, name=None) -> None:
        z = np.zeros(shape, np.int64)
        super().__init__(shape=shape, in_shape=shape, out_shape=shape, depth=depth, T=T, W=W, name=name,
                         um=z, uf=z, us=z, uus=z, lut=np.asarray(lut, np.int64),
                         prm=np.stack([np.asarray(params[k], np.int64) for k in MTC_PARAMS]))


@implements(proc=SfMTC, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySfMTCModel(_WindowModel):
    """Bit-exact ``int_mtc`` (``docs/integer.md``)."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    um: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    uf: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    us: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    uus: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    lut: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=12)
    prm: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    counts: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=32)

    def run_spk(self) -> None:
        a = self.a_in.recv().astype(np.int64)
        m = self.model_step()
        keys = ("um", "uf", "us", "uus")
        if m <= 0:
            for k in keys:
                getattr(self, k)[:] = 0
            if m < 0:
                self.s_out.send(np.zeros(self.s_out.shape, np.int32))
                return
        st = {k: getattr(self, k).astype(np.int64) for k in keys}
        p = dict(zip(MTC_PARAMS, self.prm.astype(np.int64)))
        out, ns = mtc_step(st, a, p, self.lut.astype(np.int64))
        for k in keys:
            getattr(self, k)[:] = st[k]
        self.counts[1] += ns
        self.s_out.send(out.astype(np.int32))
