"""map_program: partition within the core limits, placement, the fan-in error, the core graph."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import spikeforge as sf
from spikeforge.compiler.ir import Node
from spikeforge.compiler.mapping import map_program
from spikeforge.compiler.targets import TARGETS, CoreLimits
from tests.backends.reference import intnets

LIMIT = TARGETS["loihi2"].core.neurons_per_core


def one_layer(n_in: int, n_out: int, weight=None):
    """input (n_in) -> dense (all weights 1 unless given) -> n1 int_lif (n_out) -> output."""
    rng = np.random.default_rng(0)
    w = np.ones((n_out, n_in), np.int64) if weight is None else weight
    nodes = [
        intnets.input_node((n_in,)),
        Node("fc1", "int_dense", {"weight": w, "wexp": np.zeros(n_out, np.int64)}, {}, (n_in,), (n_out,)),
        intnets.neuron("n1", "int_lif", (n_out,), rng),
        intnets.output_node((n_out,)),
    ]
    return intnets.program(nodes, [("input", "fc1"), ("fc1", "n1"), ("n1", "output")])


def test_just_above_the_neuron_limit_takes_two_cores() -> None:
    assert LIMIT == 8192
    m = map_program(one_layer(2, LIMIT + 1), "loihi2")
    assert m.cores_used == 2 and m.chips_used == 1
    assert [(c.layer, c.start, c.stop, c.neurons) for c in m.cores] == [("n1", 0, LIMIT, LIMIT), ("n1", LIMIT, LIMIT + 1, 1)]
    assert m.cores[0].utilisation["neurons"] == 1.0 and m.cores[1].utilisation["neurons"] == 1 / LIMIT
    assert m.layers == {"n1": [0, 1]}
    exact = map_program(one_layer(2, LIMIT), "loihi2")
    assert exact.cores_used == 1


def test_beyond_the_fan_in_limit_is_a_clear_error() -> None:
    fan = TARGETS["loihi2"].core.fan_in_per_core
    assert fan == 4096
    assert map_program(one_layer(fan, 2)).cores[0].fan_in == fan
    with pytest.raises(sf.SpikeforgeError, match=r"^layer 'n1': neuron 0 has fan-in 4097 \(distinct input axons\), above the per-core fan-in limit 4096 of target 'loihi2'") as ei:
        map_program(one_layer(fan + 1, 2))
    assert "\n" not in str(ei.value)


def test_synapse_memory_and_fan_in_split_cores() -> None:
    """Tiny limits: 4 neurons, 48 synapse bits (6 synapses at 8 bits), fan-in 3 per core."""
    core = CoreLimits(neurons_per_core=4, synapse_memory_bits=48, fan_in_per_core=3, cores_per_chip=2, cores_per_tile=1, mesh=(2, 1))
    t = dataclasses.replace(TARGETS["loihi2"], name="tiny", core=core)
    # rows: 2 synapses each on inputs (0,1), (0,1), (1,2), (0,1), (2,3)
    w = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 1, 1, 0], [1, 1, 0, 0], [0, 0, 1, 1]])
    m = map_program(one_layer(4, 5, w), t)
    # core 0: rows 0-2 (fan-in {0,1,2} = 3, 6 synapses = 48 bits: full); rows 3 and 4 together would need
    # fan-in {0,1,2,3} = 4 > 3, so each takes a core of its own
    assert [(c.start, c.stop, c.fan_in, c.synapses) for c in m.cores] == [(0, 3, 3, 6), (3, 4, 2, 2), (4, 5, 2, 2)]
    assert m.chips_used == 2  # 2 cores per chip
    assert [(c.chip, c.x, c.y) for c in m.cores] == [(0, 0, 0), (0, 1, 0), (1, 2, 0)]
    assert m.cores[0].utilisation == {"neurons": 0.75, "synapse_memory": 1.0, "fan_in": 1.0}
    too_big = dataclasses.replace(t, core=dataclasses.replace(core, synapse_memory_bits=8, fan_in_per_core=8))
    with pytest.raises(sf.SpikeforgeError, match=r"layer 'n1': neuron 0 needs 2 synapses x 8 bits = 16 bits, above the per-core synapse memory limit 8 bits"):
        map_program(one_layer(4, 5, w), too_big)


def test_core_graph_and_routes() -> None:
    prog = intnets.recurrent_program()
    m = map_program(prog)
    assert m.cores_used == 2 and set(m.graph.nodes) == {"input", 0, 1}
    assert m.graph.has_edge(0, 0)  # the recurrent layer's synapses onto itself
    from spikeforge.backends.projections import projections

    want: dict = {}
    for p in projections(prog):
        src = "input" if p.src == prog.input_name else p.src
        want[src, p.dst] = want.get((src, p.dst), 0) + (p.matrix != 0).sum(axis=0)
    for (src, dst), fo in want.items():
        np.testing.assert_array_equal(m.routes[src].fan_out_by_dst[dst], fo)
    np.testing.assert_array_equal(m.routes["rec"].messages, np.full(10, 2))  # itself and the readout core
    total = sum(d["synapses"] for _, _, d in m.graph.edges(data=True))
    assert total == sum(p.nnz for p in projections(prog))
    assert "| core | layer |" in m.table() and m.as_dict()["cores_used"] == 2


def test_no_core_limits() -> None:
    with pytest.raises(sf.SpikeforgeError, match="target 'float' has no core limits to map onto; targets with core limits: loihi2, loihi2-binary"):
        map_program(intnets.mlp_program(), "float")


def test_conv_layer_maps() -> None:
    m = map_program(intnets.conv_program())
    assert [c.layer for c in m.cores] == ["n1", "n2", "out"]
    assert m.cores[0].neurons == 4 * 8 * 8 and m.cores[0].fan_in == 2 * 8 * 8
