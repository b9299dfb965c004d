"""``range_report``: the range analysis of an integer Program as a table.

Reads ``graph.metadata["ranges"]`` written by ``quantize``: per neuron node its grid ``p``,
the calibrated peaks (integer units: ``|v|``, ``|a << 6|``, ``|u|`` for CUBA), the static
worst case of ``|a << 6|`` over all its inputs, and the 24-bit limit. ``headroom`` is
``log2(limit / largest calibrated peak)`` in bits (negative: it overflows).
"""

from __future__ import annotations

import math
from typing import Any


def _fmt(v: Any) -> str:
    return "-" if v is None else str(v)


def range_report(prog: Any) -> str:
    """A text table of the range analysis of a Program (or Graph).

    Args:
        prog: An integer :class:`~spikeforge.compiler.Program` or its graph.

    Returns:
        The table; one line saying there is none for float programs.
    """
    g = getattr(prog, "graph", prog)
    ranges = g.metadata.get("ranges")
    if not ranges:
        return "no range analysis (float program, or compiled before range analysis existed)"
    head = ("node", "op", "p", "peak |v|", "peak |a<<6|", "peak |u|", "worst |a<<6|", "limit", "headroom")
    rows = []
    for name, r in ranges.items():
        peaks = [r.get(k) for k in ("v", "a", "u") if r.get(k) is not None]
        lim = int(r["limit"])
        head_bits = "-" if not peaks else (f"{math.log2(lim / max(peaks)):+.1f} bits" if max(peaks) > 0 else "inf")
        p = r["p"]
        rows.append((name, r["op"], f"{p[0]}" if p[0] == p[1] else f"{p[0]}..{p[1]}", _fmt(r.get("v")), _fmt(r.get("a")), _fmt(r.get("u")), _fmt(r.get("static_a")), str(lim), head_bits))
    widths = [max(len(x[i]) for x in [head, *rows]) for i in range(len(head))]
    line = lambda cells: "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    out = [line(head), line(["-" * w for w in widths])] + [line(r) for r in rows]
    warns = g.metadata.get("quantization_warnings") or ()
    if warns:
        out.append(f"{len(warns)} quantization warning(s) recorded in metadata['quantization_warnings']")
    return "\n".join(out)


__all__ = ["range_report"]
