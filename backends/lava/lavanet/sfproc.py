"""spikeforge's own Lava processes (Python 3.10, numpy and lava-nc only).

Lava ships bit-accurate LIF, Dense, Sparse and Conv models; spikeforge uses them where they
fit. These processes cover what Lava lacks, each a ``PyLoihiProcessModel`` tagged
``fixed_pt`` whose ``run_spk`` *calls* the normative integer step of ``docs/integer.md``
(``models/lif/spec.py``, ``models/asn/spec.py``, ``models/mtc/spec.py``): no neuron equation
is written here. An emitted folder carries those numpy-only modules as the package
``sfmodels`` (a verbatim copy), so it runs without spikeforge installed.

* :class:`SfLIF`: LIF / CUBA-LIF with per-neuron ``du``, ``dv``, ``vth``, zero or subtract
  reset, or the ``int_li`` readout (no spike; it sends its voltage).
* :class:`SfASN`: the adaptive spiking neuron (ASN / NASN / I-LIF), graded spikes in
  ``[0, D]`` sent as one payload, or as ``D`` binary spikes on ``D`` parallel axons
  (the binary realization: axon ``k`` of neuron ``i`` carries ``1`` iff ``k < e_i``).
* :class:`SfMTC`: the multi-timescale conductance neuron's integer form (``int_mtc``).
* :class:`SfSPE`: the self-prediction enhanced neuron (``int_spe_lif`` / ``int_spe_asn``,
  ``models/spe/spec.py``), spikes or graded / binary-expanded ASN emissions.
* :class:`SfDelay`: an axonal delay line of ``k`` steps.
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

try:  # an emitted folder: the vendored copy of spikeforge's numpy-only neuron specs
    from sfmodels.asn import spec as asn_spec
    from sfmodels.lif import spec as lif_spec
    from sfmodels.mtc import spec as mtc_spec
    from sfmodels.spe import spec as spe_spec
except ImportError:  # inside the spikeforge tree
    from spikeforge.models.asn import spec as asn_spec
    from spikeforge.models.lif import spec as lif_spec
    from spikeforge.models.mtc import spec as mtc_spec
    from spikeforge.models.spe import spec as spe_spec


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
    """LIF / CUBA-LIF / LI with per-neuron parameters (state: ``u``, ``v`` signed 24-bit);
    the step is ``models/lif/spec.py``'s.

    Args:
        shape: Neuron shape.
        du, dv: 12-bit decay codes per neuron.
        bias_mant, bias_exp: Bias mantissa (signed 13-bit) and exponent (3-bit) per neuron.
        vth: Threshold mantissa per neuron (unsigned 17-bit); the threshold is ``vth << 6``.
        subtract: Reset by subtraction instead of to zero.
        spiking: ``False`` for the ``int_li`` readout (sends ``v``).
        depth, T, W: Sample-window timing (see the module docstring).
    """

    def __init__(self, *, shape, du, dv, bias_mant, bias_exp, vth, subtract: bool, spiking: bool, depth: int, T: int, W: int, name=None) -> None:
        z = np.zeros(shape, np.int64)
        super().__init__(shape=shape, in_shape=shape, out_shape=shape, depth=depth, T=T, W=W, name=name,
                         u=z, v=z, du=du, dv=dv, bias_mant=bias_mant, bias_exp=bias_exp, vth=vth,
                         flags=np.array([int(subtract), int(spiking)]))


class SfASN(_Windowed):
    """Adaptive spiking neuron (state: ``v`` signed 24-bit), graded or binary-expanded output;
    the step is ``models/asn/spec.py``'s.

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


class SfMTC(_Windowed):
    """Multi-timescale conductance neuron, integer form (``int_mtc``; states ``um``, ``uf``,
    ``us``, ``uus`` signed 24-bit), graded output; the step is ``models/mtc/spec.py``'s.

    Args:
        shape: Neuron shape ``(n,)``.
        params: The per-neuron integer parameters (``spec.INT_PARAMS``).
        lut: The tanh table (int64).
        depth, T, W: Sample-window timing.
    """

    def __init__(self, *, shape, params: dict, lut, depth: int, T: int, W: int, name=None) -> None:
        z = np.zeros(shape, np.int64)
        super().__init__(shape=shape, in_shape=shape, out_shape=shape, depth=depth, T=T, W=W, name=name,
                         um=z, uf=z, us=z, uus=z, lut=np.asarray(lut, np.int64),
                         prm=np.stack([np.asarray(params[k], np.int64) for k in mtc_spec.INT_PARAMS]))


class SfSPE(_Windowed):
    """Self-prediction enhanced neuron (``int_spe_lif`` / ``int_spe_asn``; states ``u``, ``v``,
    ``pr``, ``q`` signed 24-bit, ``u`` unused by the ASN base); the step is ``models/spe/spec.py``'s.

    Args:
        shape: Neuron shape ``(n,)``.
        op: ``"int_spe_lif"`` or ``"int_spe_asn"``.
        params: The per-neuron integer parameters (``spec.PARAM_BITS[op]``).
        subtract: LIF base: reset by subtraction.
        alpha, D: ASN base: firing window.
        binary: ASN base: send ``D`` binary spikes per neuron instead of one graded payload.
        depth, T, W: Sample-window timing.
    """

    def __init__(self, *, shape, op: str, params: dict, subtract: bool = False, alpha: int = 0, D: int = 1, binary: bool = False,
                 depth: int, T: int, W: int, name=None) -> None:
        n = int(np.prod(shape))
        out = (D * n,) if binary else shape
        z = np.zeros(shape, np.int64)
        super().__init__(shape=shape, in_shape=shape, out_shape=out, depth=depth, T=T, W=W, name=name,
                         u=z, v=z, pr=z, q=z, prm=np.stack([np.asarray(params[k], np.int64) for k in spe_spec.PARAM_BITS[op]]),
                         win=np.array([alpha, D, int(binary), int(subtract)]))
        self.proc_params["op"] = op


class SfDelay(AbstractProcess):
    """Delay line: sends at step ``g`` what it received at step ``g - steps`` (state: a ring
    buffer of ``steps`` messages, 24-bit)."""

    def __init__(self, *, shape, steps: int, name=None) -> None:
        super().__init__(shape=shape, steps=steps, name=name)
        self.s_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.buf = Var(shape=(steps,) + tuple(shape), init=np.zeros((steps,) + tuple(shape), np.int64))


class _WindowModel(PyLoihiProcessModel):
    """A neuron model run in sample windows: :meth:`begin` resets the state at model step 0
    and, outside model time, sends zeros and tells ``run_spk`` to stop."""

    #: State Vars to reset at the start of each sample window.
    STATES: tuple[str, ...] = ()
    #: dtype of the messages sent on ``s_out``.
    OUT_DTYPE = np.int32

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.depth = int(proc_params["depth"])
        self.T = int(proc_params["T"])
        self.W = int(proc_params["W"])

    def begin(self) -> bool:
        """Window bookkeeping for this step; ``True`` when the neuron runs (model time)."""
        g = self.time_step - 1 - self.depth
        m = g % self.W if g >= 0 else -1
        if m <= 0 or m >= self.T:
            for k in self.STATES:
                getattr(self, k)[:] = 0
        if m < 0 or m >= self.T:
            self.s_out.send(np.zeros(self.s_out.shape, self.OUT_DTYPE))
            return False
        return True

    def state(self) -> dict:
        """The state Vars as the ``(1, n)`` int64 arrays a spec ``step`` takes."""
        return {k: getattr(self, k).astype(np.int64)[None] for k in self.STATES}

    def store(self, st: dict, counters) -> None:
        """Write a spec ``step``'s state back and add its overflow counts."""
        for k in self.STATES:
            getattr(self, k)[:] = st[k][0]
        self.counts[0] += counters.wrap
        self.counts[1] += counters.saturate


class _IntWindowModel(_WindowModel):
    """Ports and overflow counts of the fixed_pt neuron models (24-bit messages)."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    counts: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=32)


@implements(proc=SfLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySfLIFModel(_IntWindowModel):
    """Bit-exact ``int_lif`` / ``int_li``: ``models/lif/spec.py`` ``step``."""

    STATES = ("u", "v")
    u: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    v: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    du: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=12)
    dv: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=12)
    bias_mant: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=13)
    bias_exp: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=3)
    vth: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=17)
    flags: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=1)

    def run_spk(self) -> None:
        a = self.a_in.recv().astype(np.int64)
        if not self.begin():
            return
        st, c = self.state(), lif_spec.Counters()
        p = {"du": self.du, "dv": self.dv, "bias_mant": self.bias_mant, "bias_exp": self.bias_exp, "vth": self.vth}
        out = lif_spec.step(st, a[None], p, "subtract" if self.flags[0] else "zero", bool(self.flags[1]), c)
        self.store(st, c)
        self.s_out.send(out[0].astype(np.int32))


@implements(proc=SfASN, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySfASNModel(_IntWindowModel):
    """Bit-exact ``int_asn``: ``models/asn/spec.py`` ``step``, graded or binary-expanded output."""

    STATES = ("v",)
    v: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    dv: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=12)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    p: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=5)
    win: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)

    def run_spk(self) -> None:
        a = self.a_in.recv().astype(np.int64)
        if not self.begin():
            return
        alpha, D, binary = (int(x) for x in self.win)
        st, c = self.state(), lif_spec.Counters()
        e = asn_spec.step(st, a[None], {"dv": self.dv, "bias": self.bias, "p": self.p}, alpha, D, c)[0]
        self.store(st, c)
        if binary:
            e = (e.reshape(1, -1) > np.arange(D).reshape(-1, 1)).reshape(-1)
        self.s_out.send(e.astype(np.int32))


@implements(proc=SfMTC, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySfMTCModel(_IntWindowModel):
    """Bit-exact ``int_mtc``: ``models/mtc/spec.py`` ``step``."""

    STATES = ("um", "uf", "us", "uus")
    um: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    uf: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    us: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    uus: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    lut: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=12)
    prm: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)

    def run_spk(self) -> None:
        a = self.a_in.recv().astype(np.int64)
        if not self.begin():
            return
        st, c = self.state(), lif_spec.Counters()
        p = dict(zip(mtc_spec.INT_PARAMS, self.prm.astype(np.int64)), lut=self.lut)
        out = mtc_spec.step(st, a[None], p, c)
        self.store(st, c)
        self.s_out.send(out[0].astype(np.int32))


@implements(proc=SfSPE, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySfSPEModel(_IntWindowModel):
    """Bit-exact ``int_spe_lif`` / ``int_spe_asn``: ``models/spe/spec.py`` ``step``."""

    STATES = ("u", "v", "pr", "q")
    u: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    v: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    pr: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    q: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    prm: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    win: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.op = str(proc_params["op"])

    def run_spk(self) -> None:
        a = self.a_in.recv().astype(np.int64)
        if not self.begin():
            return
        alpha, D, binary, subtract = (int(x) for x in self.win)
        attrs = {"alpha": alpha, "D": D, "reset": "subtract" if subtract else "zero"}
        st, c = self.state(), lif_spec.Counters()
        p = dict(zip(spe_spec.PARAM_BITS[self.op], self.prm.astype(np.int64)))
        e = spe_spec.step(self.op, st, a[None], p, attrs, c)[0]
        self.store(st, c)
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
    parameters; the float reference's update (``backends/reference/kernels.py``; state ``i``,
    ``v``: float64), checked against it by the float-mode tests:

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

    STATES = ("i", "v")
    OUT_DTYPE = np.float64
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
        if not self.begin():
            return
        use_syn, subtract, spiking = (bool(f) for f in self.flags)
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
