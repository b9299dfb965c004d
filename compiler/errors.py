"""Errors raised on bad input.

Every error a user can cause by handing spikeforge a bad file, graph or array is a
:class:`SpikeforgeError`. Its message is one line that names the file, node or layer,
what is wrong, and what is allowed. The CLI prints it and exits with code 2.
"""

from __future__ import annotations


class SpikeforgeError(ValueError):
    """Base class of all user-facing input errors (CLI exit code 2)."""


class NIRFileError(SpikeforgeError):
    """A NIR or Program file is missing, unreadable, truncated or not what it claims."""


class GraphError(SpikeforgeError):
    """A graph is malformed: missing nodes, bad shapes, NaN parameters, algebraic loops."""


class UnsupportedNodeError(GraphError):
    """A node type no registry knows."""


class InputError(SpikeforgeError):
    """An input array does not fit the program."""


class QuantizationError(SpikeforgeError):
    """A value of an integer target does not fit its bit width or exponent range.

    The message names the node (or layer), the quantity, the value and the limit.
    ``compile(..., allow_saturation=True)`` turns these into counted warnings.
    """


class QuantizationWarning(UserWarning):
    """A value was saturated, rounded or approximated by an integer target (counted, recorded)."""
