"""Compiler passes.

A pass is a pure, named function ``run(graph) -> graph``: it never mutates its input.
Pipelines are explicit, ordered lists per target (:func:`pipeline`); the reference
runtime can run the graph before and after any pass that ends in discrete time (up to
``fold_nasn``, after which the graph is on its way to the integer format).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from ..ir import Graph

if TYPE_CHECKING:
    from ..targets import Target


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


@dataclass(frozen=True)
class QuantOptions:
    """Options of the integer passes (``sf.compile`` arguments).

    Attributes:
        calibration: Representative inputs ``(T, B, *input_shape)`` for the input grid and the
            range analysis, or ``None``.
        input_exp: Input exponent (real = int * 2^exp), overriding the graph metadata.
        input_bits: Input width (default: ``spikeforge.input_bits`` metadata, else 8).
        input_signed: Whether the input is signed (default: metadata, else the calibration data).
        allow_saturation: Turn range errors into counted warnings.
    """

    calibration: Any = None
    input_exp: int | None = None
    input_bits: int | None = None
    input_signed: bool | None = None
    allow_saturation: bool = False


def pipeline(target: "str | Target", dt: float, method: str, options: QuantOptions | None = None) -> list[Pass]:
    """The ordered passes for a target.

    Every target starts with the float passes (validate, infer_shapes, check_algebraic_loops,
    fold_batchnorm, discretize, balance_delays). Integer targets (``Target.integer``) go on:

    ``fold_scale``, ``fold_avgpool``, ``fold_thresholds`` (targets with one threshold per layer),
    ``fold_gains``, ``move_biases``, ``input_grid``, ``calibrate`` (with calibration data),
    ``fold_nasn``, ``quantize``, ``verify_integer``.

    Args:
        target: A target name of :data:`~spikeforge.compiler.targets.TARGETS` or a Target.
        dt: Time step in seconds (or the graph's time unit).
        method: ``"exact"`` or ``"euler"`` discretization.
        options: Options of the integer passes.

    Returns:
        The passes, in the order they run.

    Raises:
        SpikeforgeError: The target is unknown.
    """
    from ..targets import get_target
    from .balance import balance_delays
    from .batchnorm import fold_batchnorm
    from .discretize import make_discretize
    from .shapes import infer_shapes
    from .validate import check_algebraic_loops, validate

    t = get_target(target)
    passes = [
        Pass("validate", validate),
        Pass("infer_shapes", infer_shapes),
        Pass("check_algebraic_loops", check_algebraic_loops),
        Pass("fold_batchnorm", fold_batchnorm),
        Pass(f"discretize[{method},dt={dt:g}]", make_discretize(dt, method)),
        Pass("balance_delays", balance_delays),
    ]
    if not t.integer:
        return passes
    from .calibrate import make_calibrate
    from .fold_forward import fold_avgpool, fold_scale
    from .fold_gains import fold_gains
    from .fold_nasn import fold_nasn
    from .fold_thresholds import fold_thresholds
    from .input_grid import make_input_grid
    from .move_biases import move_biases
    from .quantize import make_quantize
    from .verify_integer import make_verify_integer

    o = options or QuantOptions()
    passes += [Pass("fold_scale", fold_scale), Pass("fold_avgpool", fold_avgpool)]
    if not t.per_neuron_threshold:
        passes.append(Pass("fold_thresholds", fold_thresholds))
    passes += [
        Pass("fold_gains", fold_gains),
        Pass("move_biases", move_biases),
        Pass("input_grid", make_input_grid(o.input_exp, o.input_bits, o.input_signed, o.calibration)),
    ]
    if o.calibration is not None:
        passes.append(Pass("calibrate", make_calibrate(o.calibration)))
    passes += [
        Pass("fold_nasn", fold_nasn),
        Pass(f"quantize[{t.name}]", make_quantize(t, o.allow_saturation)),
        Pass(f"verify_integer[{t.name}]", make_verify_integer(t)),
    ]
    return passes


__all__ = ["Pass", "QuantOptions", "pipeline"]
