"""``spikeforge energy``: run a program with the activity probes, print and write its energy.

Registered by :mod:`spikeforge.cli` with ``cli_energy.add_parser(sub)``; bad input raises
:class:`spikeforge.cli.BadInput` or :class:`~spikeforge.compiler.errors.SpikeforgeError`
(one line, exit 2, handled by ``cli.main``).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def cmd_energy(a: argparse.Namespace) -> int:
    """Run ``a.program`` on ``a.input`` and report its energy on ``a.target``."""
    import spikeforge as sf
    from spikeforge.cli import EXIT_OK, BadInput, _load_npy
    from spikeforge.compiler.energy_tables import ENERGY_TABLES
    from spikeforge.compiler.fsutil import atomic_path
    from spikeforge.compiler.targets import get_target

    t = get_target(a.target)
    if t.core is None:
        raise BadInput(f"--target {t.name} has no core limits to map onto; use one of: {', '.join(k for k, v in sf.TARGETS.items() if v.core is not None)}")
    if a.table is not None and a.table not in ENERGY_TABLES:
        raise BadInput(f"--table {a.table}: unknown energy table; available: {', '.join(ENERGY_TABLES)}")
    prog = sf.Program.load(a.program)
    x = _load_npy(a.input)
    if x.ndim < 2 or tuple(x.shape[2:]) != prog.input_shape:
        raise BadInput(f"{a.input}: input shape {x.shape}; expected (T, B, {', '.join(map(str, prog.input_shape))}) for {a.program}")
    trace = sf.run(prog, x, backend=a.backend, probes=sf.activity_probes(prog))
    e = sf.energy(prog, trace, target=t, table=a.table)
    print(e.table())
    if a.output:
        out = Path(a.output)
        out.mkdir(parents=True, exist_ok=True)
        e.to_json(out / "energy.json")
        e.plot(out / "energy.png")
        with atomic_path(out / "mapping.md") as tmp:
            Path(tmp).write_text(e.mapping.table() + "\n")
        print(f"wrote {out / 'energy.json'}, {out / 'energy.png'}, {out / 'mapping.md'}")
    return EXIT_OK


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``spikeforge energy`` on an ``argparse`` subparsers object."""
    from spikeforge.compiler.energy_tables import ENERGY_TABLES
    from spikeforge.compiler.targets import TARGETS

    p = subparsers.add_parser(
        "energy",
        help="estimate on-chip energy of a program from a run (per-layer table, JSON, bar chart)",
        description="Run a Program with probes on the input and every neuron layer, map it onto the target's cores, and "
        "estimate energy from the measured activity: synaptic operations, active/idle neuron updates, spike messages by "
        "mesh hops, static power. Figures and assumptions: docs/energy.md.",
        epilog="Example: spikeforge energy prog.h5 --input x.npy --target loihi2 -o out/energy",
    )
    p.add_argument("program", help="program file written by 'spikeforge compile'")
    p.add_argument("--input", required=True, metavar="X.npy", help="input array (.npy), shape (T, B, *input_shape)")
    p.add_argument("--backend", default="reference", help="backend that produces the activity (default: reference)")
    with_core = [k for k, v in TARGETS.items() if v.core is not None]
    p.add_argument("--target", default="loihi2", metavar="TARGET", help=f"chip to map onto: {', '.join(with_core)} (default: loihi2)")
    p.add_argument("--table", default=None, metavar="TABLE", help=f"energy table overriding the target's: {', '.join(ENERGY_TABLES)}")
    p.add_argument("-o", "--output", metavar="OUTDIR", help="write energy.json, energy.png and mapping.md to this folder")
    p.set_defaults(fn=cmd_energy)
    return p


__all__ = ["add_parser", "cmd_energy"]
