"""SPE layers of the reference backend: float ``spe_lif`` / ``spe_asn`` and integer
``int_spe_lif`` / ``int_spe_asn``, each advancing by the normative step of
``models/spe/spec.py`` (numpy, one call per time step; no equation is written here)."""

from __future__ import annotations

import numpy as np

from spikeforge.compiler.errors import SpikeforgeError

from .neurons import IntLayer, _check_range, int_param


class SpeLayer:
    """Float SPE layer (``spe_lif`` or ``spe_asn``): ``spec.float_step`` per step.

    With ``record``, ``self.v_recs`` keeps the post-step membrane ``H``.

    Args:
        node: The node (params of the base op plus ``kappa``).
        batch: Batch size.
        record: Keep ``H``.
    """

    spiking = True

    def __init__(self, node, batch: int, record: bool = False) -> None:
        from spikeforge.models.spe import spec

        self.spec = spec
        self.node = node
        shape = tuple(node.out_shape or ())
        self.n = int(np.prod(shape)) if shape else 1
        self.P = {k: np.broadcast_to(np.asarray(v, dtype=np.float64), shape or (1,)).reshape(-1) for k, v in node.params.items()}
        self.P.setdefault("g", np.ones(self.n))
        self.P.setdefault("b", np.zeros(self.n))
        if not np.all((self.P["kappa"] >= 0) & (self.P["kappa"] <= 1)):
            raise SpikeforgeError(f"node '{node.name}' ({node.op}): kappa must lie in [0, 1]")
        self.attrs = dict(node.attrs)
        self.state = spec.float_init_state(node.op, batch, self.n)
        self.record = record
        self.v_recs: list[np.ndarray] = []

    def advance(self, x: np.ndarray) -> np.ndarray:
        """Advance over ``x`` shaped ``(T, B, *shape)``; return the outputs of the same shape."""
        T, B = x.shape[:2]
        xf = np.asarray(x, dtype=np.float64).reshape(T, B, self.n)
        out = np.zeros((T, B, self.n))
        rec = np.zeros((T, B, self.n))
        for t in range(T):
            out[t] = self.spec.float_step(self.node.op, self.state, xf[t], self.P, self.attrs)
            rec[t] = self.state["h"]
        if self.record:
            self.v_recs.append(rec.reshape(x.shape))
        return out.reshape(x.shape[:2] + tuple(self.node.out_shape or ()))


class IntSpeLayer(IntLayer):
    """Integer SPE layer (``int_spe_lif`` / ``int_spe_asn``): ``spec.step`` per step, overflow
    counted like the base's. With ``record``, ``self.v_recs`` keeps the post-step voltage ``v``.

    Args:
        node: The node (params of the base op plus ``kc``; the base's attrs).
        batch: Batch size.
        record: Keep ``v``.
    """

    def __init__(self, node, batch: int, record: bool = False) -> None:
        from spikeforge.models.lif.spec import Counters
        from spikeforge.models.spe import spec

        super().__init__(node, batch, record)
        self.spec, self.Counters = spec, Counters
        bits = spec.PARAM_BITS[node.op]
        self.P = {k: int_param(node, k, self.shape) for k in bits}
        for k in ("du", "dv", "kc"):
            if k in self.P:
                _check_range(node, k, self.P[k], 0, 4095)
        if "p" in self.P:
            _check_range(node, "p", self.P["p"], 1, 40)
        if "bias_exp" in self.P:
            _check_range(node, "bias_exp", self.P["bias_exp"], 0, 62)
        self.attrs = dict(node.attrs)
        if node.op == "int_spe_asn" and "D" not in self.attrs:
            raise SpikeforgeError(f"node '{node.name}' ({node.op}) needs integer attrs 'alpha' and 'D'")
        if str(self.attrs.get("reset", "zero")) not in ("zero", "subtract"):
            raise SpikeforgeError(f"node '{node.name}' ({node.op}): reset must be 'zero' or 'subtract'")
        self.state = spec.init_state(node.op, batch, self.n)

    def advance(self, a: np.ndarray) -> np.ndarray:
        """Advance over the synaptic input ``a`` ``(T, B, *shape)``; return int64 of that shape."""
        ai, rec = self._prep(a)
        T, B = ai.shape[:2]
        out = np.zeros((T, B, self.n), np.int64)
        c = self.Counters()
        for t in range(T):
            out[t] = self.spec.step(self.node.op, self.state, ai[t], self.P, self.attrs, c)
            if self.record:
                rec[t] = self.state["v"]
        self._counts[0, 0] += c.wrap
        self._counts[0, 1] += c.saturate
        return self._finish(a, out, rec)
