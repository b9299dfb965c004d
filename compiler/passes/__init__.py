"""Compiler passes.

A pass is a pure, named function ``run(graph) -> graph``: it never mutates its input.
Pipelines are explicit, ordered lists per target (:data:`PIPELINES`); the reference
runtime can run the graph before and after any pass that ends in discrete time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..ir import Graph


@dataclass(frozen=True)
class Pass:
    """A named graph -> graph transformation.

    Attributes:
        name: Short identifier, used in pipeline listings and error messages.
        fn: The pure function.
    """

    name: str
    fn: Callable[[Graph], Graph]

    def run(self, graph: Graph) -> Graph:
        """Apply the pass and return the new graph."""
        return self.fn(graph)


def pipeline(target: str, dt: float, method: str) -> list[Pass]:
    """The ordered passes for a target.

    Args:
        target: ``"float"`` (more targets join with the integer compiler).
        dt: Time step in seconds (or the graph's time unit).
        method: ``"exact"`` or ``"euler"`` discretization.

    Returns:
        The passes, in the order they run.

    Raises:
        SpikeforgeError: The target is unknown.
    """
    from ..errors import SpikeforgeError
    from .balance import balance_delays
    from .batchnorm import fold_batchnorm
    from .discretize import make_discretize
    from .shapes import infer_shapes
    from .validate import check_algebraic_loops, validate

    common = [
        Pass("validate", validate),
        Pass("infer_shapes", infer_shapes),
        Pass("check_algebraic_loops", check_algebraic_loops),
        Pass("fold_batchnorm", fold_batchnorm),
        Pass(f"discretize[{method},dt={dt:g}]", make_discretize(dt, method)),
        Pass("balance_delays", balance_delays),
    ]
    pipelines = {"float": common}
    if target not in pipelines:
        raise SpikeforgeError(f"unknown target '{target}'; available: {', '.join(sorted(pipelines))}")
    return pipelines[target]


__all__ = ["Pass", "pipeline"]
