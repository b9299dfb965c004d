"""The ``quantize`` pass (target ``loihi2``): exact integers of tiny hand-made graphs.

Expected values are worked out by hand from ``docs/integer.md``: canonical exponent ``e``
(smallest with ``max|w| <= 127 * 2^e``), mantissas ``round(w / 2^e)``, ``p = 6 - min(e + s)``,
``wexp = e + s - min``, ``vth = round(theta * 2^(p-6))``, ``dv = round((1 - beta) * 4096)``,
bias ``round(b * 2^p)`` as ``bias_mant << bias_exp``.
"""

from __future__ import annotations

import warnings

import nir
import numpy as np
import pytest
from int_nets import asn, chain, cuba, lif, li

import spikeforge as sf
from spikeforge.compiler.errors import QuantizationWarning, SpikeforgeError


def _ints(node) -> dict:
    for k, v in node.params.items():
        assert np.asarray(v).dtype == np.int64, (node.name, k, np.asarray(v).dtype)
    return {k: np.asarray(v).tolist() for k, v in node.params.items()}


def _compile(g, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error", QuantizationWarning)
        return sf.compile(g, target="loihi2", dt=1.0, **kw)


def test_dense_lif_exact_integers() -> None:
    # weights [0.5, -0.25]: e = -7 (0.5 <= 127/128), m = [64, -32]; input 2^-4 -> p = 6 + 11 = 17
    g = chain(("fc", nir.Affine(np.array([[0.5, -0.25]]), np.array([0.25]))), ("lif", lif(1, beta=0.5, th=1.0)), in_shape=[2], out_shape=[1])
    prog = _compile(g, input_exp=-4)
    n = prog.graph.nodes
    assert n["input"].attrs == {"exp": -4, "bits": 8, "signed": True}
    assert n["fc"].op == "int_dense" and _ints(n["fc"]) == {"weight": [[64, -32]], "wexp": [0]}
    assert n["lif"].op == "int_lif" and n["lif"].attrs["reset"] == "zero"
    # vth = 1 * 2^11; dv = 0.5 * 4096; bias 0.25 * 2^17 = 32768 = 2048 << 4
    assert _ints(n["lif"]) == {"du": [4095], "dv": [2048], "vth": [2048], "p": [17], "bias_mant": [2048], "bias_exp": [4]}
    assert prog.realization == "graded" and prog.graph.metadata["target"] == "loihi2"


def test_per_row_and_per_layer_exponents() -> None:
    w = np.array([[0.5, -0.25], [1.0, 0.125]])
    # per row: e = [-7, -6] -> m = [[64, -32], [64, 8]], p = [17, 16]
    g = chain(("fc", nir.Affine(w, np.zeros(2))), ("lif", lif(2)), in_shape=[2], out_shape=[2])
    n = _compile(g, input_exp=-4).graph.nodes
    assert _ints(n["fc"]) == {"weight": [[64, -32], [64, 8]], "wexp": [0, 0]}
    assert _ints(n["lif"])["p"] == [17, 16] and _ints(n["lif"])["vth"] == [2048, 1024]
    # per layer (QuantLinear's metadata): e = -6 for both rows
    g = chain(("fc", nir.Affine(w, np.zeros(2), metadata={"spikeforge.weight_quant": "per_layer"})), ("lif", lif(2)), in_shape=[2], out_shape=[2])
    n = _compile(g, input_exp=-4).graph.nodes
    assert _ints(n["fc"]) == {"weight": [[32, -16], [64, 8]], "wexp": [0, 0]}
    assert _ints(n["lif"])["p"] == [16, 16]


def test_weight_shifts_of_two_edges() -> None:
    # lif2 <- fc2 (from spikes: e=-7, s=0 -> -7) and fc3 (from input: e=-8, s=-4 -> -12)
    # q = -12 -> p = 18; wexp(fc2) = -7 + 12 = 5, wexp(fc3) = 0
    g = nir.NIRGraph(
        nodes={
            "input": nir.Input(np.array([1])),
            "fc1": nir.Affine(np.array([[1.0]]), np.zeros(1)),
            "lif1": lif(1),
            "fc2": nir.Affine(np.array([[0.5]]), np.zeros(1)),
            "fc3": nir.Affine(np.array([[0.25]]), np.zeros(1)),
            "lif2": lif(1),
            "output": nir.Output(np.array([1])),
        },
        edges=[("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("input", "fc3"), ("fc3", "lif2"), ("lif2", "output")],
        type_check=False,
    )
    n = _compile(g, input_exp=-4).graph.nodes
    assert _ints(n["fc2"]) == {"weight": [[64]], "wexp": [5]}
    assert _ints(n["fc3"]) == {"weight": [[64]], "wexp": [0]}
    assert _ints(n["lif2"])["p"] == [18]
    assert _ints(n["lif1"])["p"] == [16]


def test_cuba_and_li_codes() -> None:
    # CUBA: du + 1 = round((1 - a_syn) 4096) -> du = 2047 for a_syn = 0.5; dv = round(0.1 * 4096) = 410
    g = chain(("fc", nir.Linear(np.array([[0.5]]))), ("c", cuba(1, alpha=0.5, beta=0.9)), ("fc2", nir.Linear(np.array([[0.5]]))), ("li", li(1, beta=0.75)), in_shape=[1], out_shape=[1])
    n = _compile(g, input_exp=0).graph.nodes
    assert _ints(n["c"])["du"] == [2047] and _ints(n["c"])["dv"] == [410]
    assert n["li"].op == "int_li"
    assert _ints(n["li"]) == {"du": [4095], "dv": [1024], "vth": [0], "p": [13], "bias_mant": [0], "bias_exp": [0]}


def test_asn_integers() -> None:
    # IF-type ASN (beta = 1): dv = 0; weights [0.5] from input 2^0 -> p = 6 + 7 = 13; bias 0.25 * 2^13 = 2048
    g = chain(("fc", nir.Affine(np.array([[0.5]]), np.array([0.25]))), ("a", asn(1, alpha=0, D=4, N=1)), in_shape=[1], out_shape=[1])
    n = _compile(g, input_exp=0).graph.nodes
    assert n["a"].op == "int_asn" and dict(n["a"].attrs) == {"alpha": 0, "D": 4, "N": 1, "model": "ASN"}
    assert _ints(n["a"]) == {"dv": [0], "p": [13], "bias": [2048]}


def test_input_grid_sources() -> None:
    g = chain(("fc", nir.Affine(np.array([[0.5]]), np.zeros(1))), ("lif", lif(1)), in_shape=[1], out_shape=[1])
    g.metadata.update({"spikeforge.input_exp": -3, "spikeforge.input_bits": 6, "spikeforge.input_signed": False})
    a = _compile(g).graph.nodes["input"].attrs
    assert (a["exp"], a["bits"], a["signed"]) == (-3, 6, False)
    assert _compile(g, input_exp=-5).graph.nodes["input"].attrs["exp"] == -5  # the argument wins
    g.metadata.clear()
    x = np.array([0.0, 0.25, 0.5, 1.5]).reshape(4, 1, 1)  # coarsest grid holding all values: 2^-2, unsigned
    a = _compile(g, calibration=x).graph.nodes["input"].attrs
    assert (a["exp"], a["bits"], a["signed"]) == (-2, 8, False)
    with pytest.raises(SpikeforgeError, match="input_exp"):
        _compile(g)


def test_ptq_coarsens_a_threshold_that_does_not_fit() -> None:
    # w = 1e-4: e = -20 (1e-4 <= 127 * 2^-20), input 2^0 -> p = 26, vth = 2^20 > 2^17 - 1
    g = chain(("fc", nir.Affine(np.array([[1e-4]]), np.zeros(1))), ("lif", lif(1, th=1.0)), in_shape=[1], out_shape=[1])
    with pytest.warns(QuantizationWarning, match="post-training quantization coarsened"):
        prog = sf.compile(g, target="loihi2", dt=1.0, input_exp=0)
    n = prog.graph.nodes
    # coarsened by 2^4: p = 22, vth = 2^16, e = -16: m = round(1e-4 * 2^16) = 7
    assert _ints(n["lif"])["p"] == [22] and _ints(n["lif"])["vth"] == [65536]
    assert _ints(n["fc"]) == {"weight": [[7]], "wexp": [0]}
    assert len(prog.graph.metadata["quantization_warnings"]) == 1


def test_ptq_coarsens_for_calibrated_peaks() -> None:
    # a large drive: the calibrated membrane (T steps of 127 * 2^-7... summed) must fit 24 bits
    g = chain(("fc", nir.Affine(np.full((1, 1), 1.0), np.zeros(1))), ("lif", lif(1, beta=0.999, th=1e5)), in_shape=[1], out_shape=[1])
    x = np.full((200, 1, 1), 255.0)
    with pytest.warns(QuantizationWarning, match="calibrated peak"):
        prog = sf.compile(g, target="loihi2", dt=1.0, calibration=x, allow_saturation=False)
    r = prog.graph.metadata["ranges"]["lif"]
    assert r["v"] <= r["limit"] and r["a"] <= r["limit"]


QAT = {"spikeforge.weight_quant": "per_layer"}


def _qat_lif(w, th=1.0, **kw) -> nir.NIRGraph:
    return chain(("fc", nir.Affine(np.array(w, dtype=float), np.zeros(len(w)), metadata=dict(QAT))), ("lif", lif(len(w), th=th, **kw)), in_shape=[len(w[0])], out_shape=[len(w)])


def test_qat_threshold_beyond_17_bits_is_an_error() -> None:
    g = _qat_lif([[1e-4]])
    with pytest.raises(sf.QuantizationError) as e:
        sf.compile(g, target="loihi2", dt=1.0, input_exp=0)
    msg = str(e.value)
    assert "\n" not in msg
    for word in ("'lif'", "threshold vth", "1048576", "131071", "allow_saturation"):
        assert word in msg, msg


def test_allow_saturation_clips_and_counts() -> None:
    g = _qat_lif([[1e-4]])
    with pytest.warns(QuantizationWarning, match="threshold vth"):
        prog = sf.compile(g, target="loihi2", dt=1.0, input_exp=0, allow_saturation=True)
    assert _ints(prog.graph.nodes["lif"])["vth"] == [131071]
    recs = prog.graph.metadata["quantization_warnings"]
    assert len(recs) == 1 and "threshold vth" in recs[0]


def _two_inputs(w_big: float, w_small: float) -> nir.NIRGraph:
    return nir.NIRGraph(
        nodes={
            "input": nir.Input(np.array([1])),
            "fa": nir.Affine(np.array([[w_big]]), np.zeros(1), metadata=dict(QAT)),
            "fb": nir.Affine(np.array([[w_small]]), np.zeros(1), metadata=dict(QAT)),
            "lif": lif(1, th=1e-3),
            "output": nir.Output(np.array([1])),
        },
        edges=[("input", "fa"), ("input", "fb"), ("fa", "lif"), ("fb", "lif"), ("lif", "output")],
        type_check=False,
    )


def _asn_graph(w: float, alpha: int = 0, D: int = 4) -> nir.NIRGraph:
    return chain(("fc", nir.Affine(np.array([[w]]), np.zeros(1), metadata=dict(QAT))), ("a", asn(1, alpha=alpha, D=D)), in_shape=[1], out_shape=[1])


ERRORS = {
    # case: (graph, compile kwargs, words in the one-line message)
    "wexp": (lambda: _two_inputs(1.0, 1e-4), {"input_exp": 0}, ("'lif'", "weight shift wexp", "14", "7")),
    "fan-in": (lambda: _qat_lif([[1.0] * 100]), {"input_exp": 0}, ("'fc'", "worst-case synaptic input", "row 0", "8388607")),
    "window": (lambda: _asn_graph(1.0, alpha=3000), {"input_exp": 0}, ("'a'", "ASN window", "8388607")),
    "asn-p": (lambda: _asn_graph(8000.0), {"input_exp": 0}, ("'a'", "ASN unit shift p", "0", ">= 1")),
    "v_reset": (lambda: chain(("fc", nir.Affine(np.array([[0.5]]), np.zeros(1))), ("lif", nir.LIF(tau=np.ones(1), r=np.ones(1), v_leak=np.zeros(1), v_threshold=np.ones(1), v_reset=np.full(1, 0.5))), in_shape=[1], out_shape=[1]), {"input_exp": 0}, ("'lif'", "v_reset", "0.5", "limit 0")),
    "bias": (lambda: chain(("fc", nir.Affine(np.array([[0.5]]), np.array([0.5 + 2.0**-13]), metadata=dict(QAT))), ("lif", lif(1)), in_shape=[1], out_shape=[1]), {"input_exp": -4}, ("'lif'", "bias", "mantissa")),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_range_errors_name_node_quantity_value_limit(case: str) -> None:
    make, kw, words = ERRORS[case]
    with pytest.raises(sf.QuantizationError) as e:
        sf.compile(make(), target="loihi2", dt=1.0, **kw)
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, f"{w!r} not in {msg!r}"


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_allow_saturation_turns_range_errors_into_counted_warnings(case: str) -> None:
    make, kw, words = ERRORS[case]
    with pytest.warns(QuantizationWarning):
        prog = sf.compile(make(), target="loihi2", dt=1.0, allow_saturation=True, **kw)
    recs = prog.graph.metadata["quantization_warnings"]
    assert any(words[1] in r for r in recs), recs


def test_asn_p_raised_to_one_through_weight_shift() -> None:
    with pytest.warns(QuantizationWarning):
        prog = sf.compile(_asn_graph(8000.0), target="loihi2", dt=1.0, input_exp=0, allow_saturation=True)
    n = prog.graph.nodes
    # e = 6 (8000 <= 127 * 64), p would be 0; p = 1 with wexp = 1 is the same real value
    assert _ints(n["a"])["p"] == [1] and _ints(n["fc"]) == {"weight": [[125]], "wexp": [1]}


def test_graded_width_of_the_target() -> None:
    from dataclasses import replace

    from spikeforge.compiler.targets import TARGETS

    narrow = replace(TARGETS["loihi2"], name="narrow", graded_bits=2)
    g = _asn_graph(0.5, D=4)
    with pytest.raises(sf.QuantizationError, match="graded spike width D = 4 is beyond the limit 3"):
        sf.compile(g, target=narrow, dt=1.0, input_exp=0)
    # the binary realization has no payload limit
    prog = sf.compile(g, target="loihi2-binary", dt=1.0, input_exp=0)
    assert prog.realization == "binary"


def test_structural_errors() -> None:
    # a weighted layer straight into the output
    g = chain(("fc", nir.Affine(np.array([[0.5]]), np.zeros(1))), in_shape=[1], out_shape=[1])
    with pytest.raises(SpikeforgeError, match="'fc' feeds 'output'.*neuron"):
        sf.compile(g, target="loihi2", dt=1.0, input_exp=0)
    # an LI membrane into a weighted layer
    g = chain(("fc", nir.Affine(np.array([[0.5]]), np.zeros(1))), ("li", li(1)), ("fc2", nir.Affine(np.array([[0.5]]), np.zeros(1))), ("lif", lif(1)), in_shape=[1], out_shape=[1])
    with pytest.raises(SpikeforgeError, match="non-spiking node 'li'"):
        sf.compile(g, target="loihi2", dt=1.0, input_exp=0)
    # a Threshold node has no integer form
    g = chain(("fc", nir.Affine(np.array([[0.5]]), np.zeros(1))), ("th", nir.Threshold(np.zeros(1))), in_shape=[1], out_shape=[1])
    with pytest.raises(sf.compiler.UnsupportedNodeError, match="'th' \\(threshold\\) has no integer form"):
        sf.compile(g, target="loihi2", dt=1.0, input_exp=0)


def test_verify_integer_rejects_a_float_and_out_of_range_values() -> None:
    from spikeforge.compiler.passes.verify_integer import verify_integer

    g = chain(("fc", nir.Affine(np.array([[0.5]]), np.zeros(1))), ("lif", lif(1)), in_shape=[1], out_shape=[1])
    prog = _compile(g, input_exp=0)
    verify_integer(prog.graph)
    nodes = dict(prog.graph.nodes)
    nodes["lif"] = nodes["lif"].replace(params={**nodes["lif"].params, "vth": np.array([2048.0])})
    with pytest.raises(sf.QuantizationError, match="node 'lif' \\(int_lif\\) parameter 'vth' has dtype float64"):
        verify_integer(prog.graph.replace(nodes=nodes))
    nodes["lif"] = nodes["lif"].replace(params={**nodes["lif"].params, "vth": np.array([2**17])})
    with pytest.raises(sf.QuantizationError, match="'vth' = 131072 is beyond the limit \\[0, 131071\\]"):
        verify_integer(prog.graph.replace(nodes=nodes))
    nodes["lif"] = prog.graph.nodes["lif"].replace(op="lif")
    with pytest.raises(sf.QuantizationError, match="node 'lif' has op 'lif'"):
        verify_integer(prog.graph.replace(nodes=nodes))


def test_float_target_unchanged_and_warns_on_integer_options() -> None:
    g = chain(("fc", nir.Affine(np.array([[0.5]]), np.zeros(1))), ("lif", lif(1)), in_shape=[1], out_shape=[1])
    with pytest.warns(UserWarning, match="only apply to integer targets"):
        prog = sf.compile(g, target="float", dt=1.0, input_exp=0)
    assert prog.graph.nodes["fc"].op == "affine" and prog.realization is None and not prog.integer


def test_unknown_target() -> None:
    g = chain(("fc", nir.Affine(np.array([[0.5]]), np.zeros(1))), ("lif", lif(1)), in_shape=[1], out_shape=[1])
    with pytest.raises(SpikeforgeError, match="unknown target 'loihi3'; available: float, loihi2"):
        sf.compile(g, target="loihi3")
