"""Range problems of the integer passes: raise one line, or warn and count.

Every quantity that does not fit its target (a weight shift beyond the exponent range, a
threshold beyond its bits, a 24-bit overflow, ...) goes through :meth:`Issues.exceed`: by
default a :class:`~spikeforge.compiler.errors.QuantizationError` naming the node, the
quantity, the value and the limit; with ``allow_saturation`` a
:class:`~spikeforge.compiler.errors.QuantizationWarning` and a record in the graph's metadata
(``quantization_warnings``). Automatic approximations (post-training coarsening, the CUBA
synaptic-bias approximation) are always warnings and recorded the same way.
"""

from __future__ import annotations

import warnings

from ..errors import QuantizationError, QuantizationWarning
from ..ir import Graph

#: Graph metadata key of the recorded warnings (a list of one-line messages).
WARNINGS_KEY = "quantization_warnings"


class Issues:
    """Collects the range problems of one pass.

    Args:
        where: Source of the graph (file name) for messages.
        allow: ``allow_saturation``: warn and continue instead of raising.
    """

    def __init__(self, where: str, allow: bool = False) -> None:
        self.where = where
        self.allow = allow
        self.records: list[str] = []

    def exceed(self, node: str, quantity: str, value, limit, action: str, hint: str = "") -> None:
        """Report a quantity beyond its limit.

        Args:
            node: Node (layer) name.
            quantity: What does not fit (``"threshold vth"``, ``"weight shift wexp"``, ...).
            value: The offending value.
            limit: The limit it breaks.
            action: What ``allow_saturation`` does instead (``"clip it to the limit"``).
            hint: Another way out, added to the error (``"or give calibration data"``).

        Raises:
            QuantizationError: Unless ``allow`` is set.
        """
        msg = f"{self.where}: node '{node}': {quantity} = {value} is beyond the limit {limit}"
        if not self.allow:
            raise QuantizationError(f"{msg} (with allow_saturation=True: {action}, with a warning{'; ' + hint if hint else ''})")
        self.warn(f"{msg}; {action}")

    def warn(self, msg: str) -> None:
        """Issue a :class:`QuantizationWarning` and record it."""
        warnings.warn(msg, QuantizationWarning, stacklevel=3)
        self.records.append(msg)

    def into(self, g: Graph) -> Graph:
        """``g`` with this pass's records appended to ``metadata["quantization_warnings"]``."""
        if not self.records:
            return g
        old = list(g.metadata.get(WARNINGS_KEY, ()))
        return g.replace(metadata={**g.metadata, WARNINGS_KEY: old + self.records})


def where(g: Graph) -> str:
    """The graph's source name for messages."""
    return str(g.metadata.get("source", "graph"))


__all__ = ["Issues", "WARNINGS_KEY", "where"]
