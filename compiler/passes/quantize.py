"""The ``quantize`` pass: a folded float graph -> the integer Program format of ``docs/integer.md``.

Runs after ``fold_scale``, ``fold_avgpool``, (``fold_thresholds``), ``fold_gains``,
``move_biases``, ``input_grid``, (``calibrate``) and ``fold_nasn``, so weighted layers have no
bias, neurons have gain 1, and the input node carries its grid. In order:

1. grids (:mod:`.quant_grid`): per-row weight exponents, source exponents, per-neuron
   ``q = min(e + s)`` and ``p = 6 - q``;
2. adjustments of ``q`` per neuron node: one grid per node when the target has one threshold
   per layer; ASN ``p >= 1``; post-training coarsening (below); the weight-shift range
   (``wexp <= 7``);
3. weights: ``wexp = e + s - q`` per row, mantissas ``round(w / 2^e)``;
4. neurons (:mod:`.quant_neurons`): decay codes, thresholds, biases;
5. ASN window shifts folded into the biases downstream, in the integer domain:
   ``bias += L(alpha) << 6`` with ``L`` the bias-free integer synapse path (exact, zero padding
   included);
6. checks and the range table (``metadata["ranges"]``): ASN window and graded-spike width,
   worst-case fan-in per row, calibrated peaks.

**Post-training quantization (PTQ).** A neuron node is *post-training* when none of its
weighted inputs carries a ``weight_quant`` attr and the graph has no ``spikeforge.input_exp``
(both written by the torch quantization-aware modules). For such nodes, when the threshold,
the bias, the ASN window or a calibrated peak would not fit, the membrane grid is coarsened
(``p`` lowered, the incoming weight exponents raised; ASN keeps ``p >= 1``) until they do,
with a warning. Quantization-aware nodes
are never changed silently: a misfit there is a :class:`QuantizationError` (or, with
``allow_saturation``, a counted warning).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ...models.quant import mantissa, round_half_up
from ..errors import GraphError, UnsupportedNodeError
from ..ir import Graph, Node
from ..targets import Target
from .calibrate import PEAKS_KEY
from .issues import Issues, where
from .linops import LINEAR_OPS, conv, per_row, push, row_labels
from .paths import INT_WEIGHTED, WEIGHTED, paths_from, paths_into
from ...models.spe.spec import base_op
from .quant_grid import LEAKY, Layer, edges_into, grid, layer, source_max
from .quant_neurons import NEURON_FORMS, Ctx, bias_int, finish_bias, on_grid

#: Float weighted op -> integer op.
INT_WEIGHTED_OP = {"affine": "int_dense", "conv1d": "int_conv1d", "conv2d": "int_conv2d"}
#: Ops that pass to the integer program unchanged.
PASSTHROUGH = frozenset({"input", "output", "flatten", "sumpool2d", "delay"})
#: Graph metadata key of the range table.
RANGES_KEY = "ranges"
#: Ops eligible for post-training coarsening.
PTQ_OPS = ("lif", "cuba_lif", "li", "cuba_li", "asn", "mtc", "spe_lif", "spe_asn")


def _min_p(op: str) -> int:
    """Smallest membrane grid ``p`` of a neuron op (ASN: 1; MTC: ``LUT_FRAC + 1``, the tanh index shift is >= 1)."""
    if op == "mtc":
        from ...models.mtc.spec import LUT_FRAC

        return LUT_FRAC + 1
    return 1


class _Quantizer:
    def __init__(self, g: Graph, target: Target, allow: bool) -> None:
        self.g = g
        self.t = target
        self.w_ = where(g)
        self.issues = Issues(self.w_, allow)
        self.peaks = dict(g.metadata.get(PEAKS_KEY) or {})
        self.qat_graph = g.metadata.get("spikeforge.input_exp") is not None
        self.neurons = [k for k, n in g.nodes.items() if n.op in NEURON_FORMS]

    # -- 0. what can be quantized ------------------------------------------------------------
    def check_ops(self) -> None:
        ok = PASSTHROUGH | set(INT_WEIGHTED_OP) | set(NEURON_FORMS)
        for n in self.g.nodes.values():
            if n.op not in ok:
                raise UnsupportedNodeError(
                    f"{self.w_}: node '{n.name}' ({n.op}) has no integer form for target '{self.t.name}'; supported: {', '.join(sorted(ok))}"
                )

    def check_consumers(self) -> None:
        for k in self.neurons:
            if self.g.nodes[k].op in LEAKY:
                bad = [s for s in self.g.succs(k) if self.g.nodes[s].op != "output"]
                if bad:
                    raise GraphError(f"{self.w_}: non-spiking node '{k}' ({self.g.nodes[k].op}) feeds '{bad[0]}'; on integer targets its membrane can only go to an output")
        for k in self.layers:
            for p in paths_from(self.g, k):
                if p.end not in self.edges:
                    raise GraphError(
                        f"{self.w_}: weighted layer '{k}' feeds '{p.end}' ({self.g.nodes[p.end].op}) without a neuron in between; "
                        "integer targets need a neuron (e.g. LI) after every weighted layer"
                    )

    # -- 2. neuron grids ---------------------------------------------------------------------
    def is_qat(self, k: str) -> bool:
        """Whether neuron ``k`` was exported by quantization-aware training."""
        return self.qat_graph or any(e.layer.qat for e in self.edges[k] if e.layer)

    def is_ptq(self, k: str) -> bool:
        """Whether neuron ``k`` may be coarsened (post-training quantization of a float LIF, LI or ASN)."""
        return self.g.nodes[k].op in PTQ_OPS and not self.is_qat(k)

    def _misfits(self, n: Node, p: np.ndarray) -> list[str]:
        """What would not fit on grid ``p`` (thresholds, biases, calibrated peaks)."""
        t = self.t
        bad = []
        if "v_threshold" in n.params:
            th = np.broadcast_to(n.params["v_threshold"], p.shape)
            if round_half_up(on_grid(th, p - t.act_shift)).max(initial=0) > t.vth_max:
                bad.append(f"threshold ({t.vth_bits} bits)")
        b = np.abs(round_half_up(on_grid(np.broadcast_to(n.params["b"], p.shape), p))).max(initial=0)
        if base_op(n.op) == "asn":
            alpha, D = int(n.attrs["alpha"]), int(n.attrs["D"])
            if b > t.asn_bias_max:
                bad.append("bias")
            if max(abs(alpha), abs(alpha + D)) * 2.0 ** int(p.max()) > t.state_max:
                bad.append(f"window (alpha + D) << p ({t.state_bits} bits)")
        elif n.op == "mtc":
            if b > t.state_max:
                bad.append("bias")
            for k in ("dfn", "dsp", "dsn", "dusp", "uth", "usat", "gfn", "gsp", "gsn", "gusp"):
                if np.abs(round_half_up(on_grid(np.broadcast_to(n.params[k], p.shape), p))).max(initial=0) > t.state_max:
                    bad.append(f"MTC {k} ({t.state_bits} bits)")
        elif b > (t.bias_mant_max << t.bias_exp_max):
            bad.append("bias")
        for key, what in (("v", "peak |v|"), ("a", "peak |a << 6|"), ("u", "peak |u|")):
            pk = self.peaks.get(n.name, {}).get(key)
            if pk is not None and on_grid(np.broadcast_to(pk, p.shape), p).max(initial=0) > t.state_max:
                bad.append(f"calibrated {what} ({t.state_bits} bits)")
        return bad

    def _coarsen(self, k: str, q: np.ndarray) -> np.ndarray:
        n = self.g.nodes[k]
        sh = self.t.act_shift
        first = self._misfits(n, sh - q)
        if not first:
            return q
        top = int((sh - q).min()) - _min_p(n.op) if base_op(n.op) in ("asn", "mtc") else 64  # ASN keeps p >= 1, MTC p > LUT_FRAC
        c = 0
        while c < top:
            c += 1
            if not self._misfits(n, sh - q - c):
                break
        if c == 0:
            return q
        lost = f"; its incoming weights lose {c} of their {self.t.weight_bits} bits" if c > 2 else ""
        self.issues.warn(
            f"{self.w_}: node '{k}': post-training quantization coarsened the membrane grid by 2^{c} "
            f"(p {int((sh - q).max())} -> {int((sh - q).max()) - c}) so that its {', '.join(first)} fit{lost}"
        )
        return q + c

    def grid_of(self, k: str) -> np.ndarray:
        n, t = self.g.nodes[k], self.t
        edges = self.edges[k]
        q, qmax = grid(edges, tuple(n.out_shape))
        if not t.per_neuron_threshold:
            q = np.full_like(q, q.min())
        if base_op(n.op) == "asn" and (t.act_shift - q).min() < 1:
            self.issues.exceed(k, "ASN unit shift p", int((t.act_shift - q).min()), ">= 1", "raise p to 1 through larger weight shifts")
            q = np.minimum(q, t.act_shift - 1)
        if n.op == "mtc" and (t.act_shift - q).min() < _min_p("mtc"):
            # the tanh table index needs p > LUT_FRAC: a finer membrane grid through larger weight shifts
            q = np.minimum(q, t.act_shift - _min_p("mtc"))
        if self.is_ptq(k):
            q = self._coarsen(k, q)
        hi = t.weight_exp_range[1]
        if np.any(qmax - q > hi):
            worst = int((qmax - q).max())
            if self.is_ptq(k):
                self.issues.warn(f"{self.w_}: node '{k}': its inputs' weight exponents differ by {worst} > {hi}; post-training quantization coarsened the finer ones")
            else:
                self.issues.exceed(k, "weight shift wexp", worst, f"{hi} (weight exponent range {list(t.weight_exp_range)})", "coarsen the finer inputs")
            q = np.maximum(q, qmax - hi)
            if not t.per_neuron_threshold:
                q = np.full_like(q, q.max())
        for e in edges:
            if e.layer is None:
                r = ~np.isnan(e.label)
                if np.any(q[r] != e.label[r]):
                    raise GraphError(
                        f"{self.w_}: node '{k}': its input from '{e.path.start}' passes no weighted layer, so it cannot be shifted onto "
                        f"the neuron's grid 2^{int(-(t.act_shift - q).max())}; add a weighted layer on that path"
                    )
        return q

    # -- 3. weights --------------------------------------------------------------------------
    def weights(self, L: Layer, q: dict[str, np.ndarray]) -> Node:
        w = L.node
        req = np.full(L.rows, np.nan)
        for k in self.neurons:
            for e in self.edges[k]:
                if e.layer is not L:
                    continue
                r, conflict = per_row(e.ids, q[k], L.rows)
                clash = conflict | (~np.isnan(req) & ~np.isnan(r) & (req != r))
                if clash.any():
                    raise GraphError(
                        f"{self.w_}: weighted layer '{w.name}' row {int(np.argmax(clash))} feeds neurons on different membrane grids "
                        f"(at '{k}'); integer targets need one grid per row"
                    )
                req = np.where(np.isnan(req), r, req)
        req = np.where(np.isnan(req), L.e + L.s, req).astype(np.int64)
        e_eff = np.maximum(L.e, req - L.s)
        wexp = e_eff + L.s - req
        m = mantissa(w.params["weight"], e_eff)
        m = np.clip(m, -self.t.weight_max, self.t.weight_max)
        attrs = {k: w.attrs[k] for k in ("stride", "padding", "dilation", "groups") if k in w.attrs}
        return w.replace(op=INT_WEIGHTED_OP[w.op], params={"weight": m.astype(np.int64), "wexp": wexp.astype(np.int64)}, attrs=attrs)

    # -- 5. ASN window shifts ----------------------------------------------------------------
    def fold_alpha(self, gi: Graph, bias: dict[str, np.ndarray]) -> None:
        """``bias += L(alpha) << 6`` downstream of every ``int_asn`` with ``alpha != 0``."""
        sh = self.t.act_shift
        for k, n in gi.nodes.items():
            if base_op(n.op) != "int_asn" or int(n.attrs["alpha"]) == 0:
                continue
            amap = np.full(tuple(n.out_shape), int(n.attrs["alpha"]), np.int64)
            for p1 in paths_from(gi, k):
                x1 = push(gi, p1.chain, amap)
                end1 = gi.nodes[p1.end]
                if end1.op in INT_WEIGHTED:
                    y = LINEAR_OPS[end1.op](end1, x1[None])[0]
                    for p2 in paths_from(gi, end1.name):
                        self._add_alpha(gi, bias, p2.end, push(gi, p2.chain, y) << sh, k, p1.user_delays(gi) + p2.user_delays(gi))
                elif p1.end in bias:
                    self._add_alpha(gi, bias, p1.end, x1 << sh, k, p1.user_delays(gi))

    def _add_alpha(self, gi: Graph, bias: dict, end: str, add: np.ndarray, src: str, delays: list[str]) -> None:
        bias[end] = bias[end] + add
        if delays:
            self.issues.warn(f"{self.w_}: node '{end}': the window shift of '{src}' passes delay {', '.join(delays)}; folded into the bias it acts from the first step")

    # -- 6. checks and ranges ----------------------------------------------------------------
    def out_bound(self, wi: Node, L: Layer) -> np.ndarray:
        """Worst-case ``|a|`` per output element of an integer weighted node."""
        m = np.abs(wi.params["weight"]).astype(np.float64)
        if wi.op == "int_dense":
            y = m @ L.maxsrc.reshape(-1)
        else:
            y = conv(L.maxsrc[None], m, wi.attrs)[0]
        return y * row_labels(wi, np.ldexp(1.0, wi.params["wexp"]))

    def check_asn(self, k: str, n: Node) -> None:
        t = self.t
        alpha, D = int(n.attrs["alpha"]), int(n.attrs["D"])
        top = max(abs(alpha), abs(alpha + D)) * 2.0 ** int(n.params["p"].max())
        if top > t.state_max:
            self.issues.exceed(k, "ASN window (alpha + D) << p", int(top), f"{t.state_max} ({t.state_bits} bits)", "keep it (the membrane saturates at run time)")
        if t.realization == "graded" and t.graded_max is not None and D > t.graded_max:
            self.issues.exceed(k, "graded spike width D", D, f"{t.graded_max} ({t.graded_bits}-bit payload)", "keep D (larger emissions cannot run on chip)")

    def ranges(self, gi: Graph, bounds: dict[str, np.ndarray], q: dict[str, np.ndarray]) -> dict:
        t, sh = self.t, self.t.act_shift
        out = {}
        for k in self.neurons:
            n = gi.nodes[k]
            p = sh - q[k]
            static = np.zeros(tuple(n.out_shape))
            for e in self.edges[k]:
                if e.layer is not None:
                    static = static + push(gi, e.path.chain, bounds[e.path.start])
                else:
                    st = gi.nodes[e.path.start]
                    static = static + push(gi, e.path.chain, np.full(tuple(st.out_shape), float(source_max(gi, e.path.start))))
            rec = {"op": n.op, "p": [int(p.min()), int(p.max())], "limit": t.state_max, "static_a": int(static.max(initial=0) * 2**sh)}
            for key, what in (("v", "|v|"), ("a", "|a << 6|"), ("u", "|u|")):
                pk = self.peaks.get(k, {}).get(key)
                if pk is None:
                    continue
                val = int(np.ceil(on_grid(np.broadcast_to(pk, p.shape), p).max(initial=0)))
                rec[key] = val
                if val > t.state_max:  # post-training nodes were coarsened to fit; others report
                    self.issues.exceed(k, f"calibrated peak {what}", val, f"{t.state_max} ({t.state_bits} bits)", "keep it (it saturates or wraps at run time, counted)")
            out[k] = rec
        return out

    # -- the pass ----------------------------------------------------------------------------
    def run(self) -> Graph:
        g, t = self.g, self.t
        self.check_ops()
        self.layers = {k: layer(g, n, t) for k, n in g.nodes.items() if n.op in WEIGHTED}
        self.edges = {k: edges_into(g, k, self.layers) for k in self.neurons}
        self.check_consumers()
        q = {k: self.grid_of(k) for k in self.neurons}
        nodes = dict(g.nodes)
        for k, L in self.layers.items():
            nodes[k] = self.weights(L, q)
        bias, ctxs = {}, {}
        for k in self.neurons:
            n = g.nodes[k]
            ctx = Ctx(t, self.issues, qat=self.is_qat(k))
            p = (t.act_shift - q[k]).astype(np.int64)
            op, params, attrs = NEURON_FORMS[n.op](n, p, ctx)
            bias[k] = bias_int(n, p, ctx)
            nodes[k] = n.replace(op=op, params=params, attrs=attrs)
            ctxs[k] = ctx
        gi = g.replace(nodes=nodes)
        self.fold_alpha(gi, bias)
        for k in self.neurons:
            n = nodes[k]
            nodes[k] = n.replace(params={**n.params, **finish_bias(k, n.op, bias[k], ctxs[k])})
            if base_op(n.op) == "int_asn":
                self.check_asn(k, nodes[k])
        gi = g.replace(nodes=nodes)
        bounds = {k: self.out_bound(nodes[k], L) for k, L in self.layers.items()}
        for k, b in bounds.items():
            per = b.reshape(b.shape[0], -1).max(axis=1) * 2**t.act_shift
            if per.max(initial=0) > t.state_max:
                r = int(np.argmax(per))
                from_input = any(g.nodes[p.start].op == "input" for p in paths_into(g, k))
                hint = "or give calibration data to bound the input by its calibrated peak" if from_input and "input_peak" not in g.metadata else ""
                self.issues.exceed(
                    k, f"worst-case synaptic input |a << 6| of row {r}", int(per[r]), f"{t.state_max} ({t.state_bits} bits)",
                    "keep the weights (the current may wrap at run time, counted)", hint,
                )
        meta = {kk: v for kk, v in g.metadata.items() if kk != PEAKS_KEY}
        meta.update({"target": t.name, "realization": t.realization, RANGES_KEY: self.ranges(gi, bounds, q)})
        return self.issues.into(gi.replace(metadata=meta))


def make_quantize(target: Target, allow_saturation: bool = False) -> Callable[[Graph], Graph]:
    """Build the ``quantize`` pass for a target.

    Args:
        target: An integer :class:`~spikeforge.compiler.targets.Target`.
        allow_saturation: Turn every range error into a counted warning.

    Returns:
        A pure pass ``graph -> graph`` producing the integer node format.
    """

    def quantize(g: Graph) -> Graph:
        return _Quantizer(g, target, allow_saturation).run()

    return quantize


__all__ = ["INT_WEIGHTED_OP", "PASSTHROUGH", "RANGES_KEY", "make_quantize"]
