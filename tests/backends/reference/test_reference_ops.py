"""Stateless ops of the reference backend against ``torch.nn.functional``.

Each case builds a one-node NIR graph (``input -> op -> output``), compiles it and runs it;
stateless ops are instantaneous, so the model-time output at every step is the op applied
to that step's input. Shapes and hyper-parameters come from hypothesis (``max_examples`` is
kept modest by the ``ci`` profile in ``tests/conftest.py``).
"""

from __future__ import annotations

import nir
import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import assume, given
from hypothesis import strategies as st

import spikeforge as sf

T, B = 2, 2


def _run(node: nir.NIRNode, in_shape, out_shape, x: np.ndarray) -> np.ndarray:
    g = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array(in_shape)}),
            "op": node,
            "output": nir.Output(output_type={"output": np.array(out_shape)}),
        },
        edges=[("input", "op"), ("op", "output")],
        type_check=False,
    )
    prog = sf.compile(g)
    assert prog.output_shape == tuple(out_shape)
    return sf.run(prog, x).output


def _flat(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x.reshape(T * B, *x.shape[2:]))


def _unflat(y: torch.Tensor) -> np.ndarray:
    return y.numpy().reshape(T, B, *y.shape[1:])


def _close(got: np.ndarray, want: np.ndarray) -> None:
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@st.composite
def conv_case(draw, nd: int):
    groups = draw(st.integers(1, 3))
    cin = groups * draw(st.integers(1, 2))
    cout = groups * draw(st.integers(1, 2))
    k = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    dil = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    same = draw(st.booleans())
    if same:
        stride = (1,) * nd
        padding = "same"
        assume(all(d * (kk - 1) % 2 == 0 for kk, d in zip(k, dil)))  # symmetric 'same' only
    else:
        stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
        padding = tuple(draw(st.integers(0, 2)) for _ in range(nd))
    eff = [d * (kk - 1) + 1 for kk, d in zip(k, dil)]
    size = tuple(draw(st.integers(max(e, 1), e + 6)) for e in eff)
    return cin, cout, groups, k, stride, padding, dil, size


@given(case=conv_case(1), seed=st.integers(0, 2**16))
def test_conv1d(case, seed) -> None:
    cin, cout, groups, k, stride, padding, dil, size = case
    r = np.random.default_rng(seed)
    w, b = r.normal(size=(cout, cin // groups, *k)), r.normal(size=cout)
    x = r.normal(size=(T, B, cin, *size))
    pad_nir = padding if isinstance(padding, str) else padding[0]
    want = F.conv1d(_flat(x), torch.from_numpy(w), torch.from_numpy(b), stride=stride, padding=padding, dilation=dil, groups=groups)
    node = nir.Conv1d(input_shape=size[0], weight=w, stride=stride[0], padding=pad_nir, dilation=dil[0], groups=groups, bias=b)
    _close(_run(node, [cin, *size], list(want.shape[1:]), x), _unflat(want))


@given(case=conv_case(2), seed=st.integers(0, 2**16))
def test_conv2d(case, seed) -> None:
    cin, cout, groups, k, stride, padding, dil, size = case
    r = np.random.default_rng(seed)
    w, b = r.normal(size=(cout, cin // groups, *k)), r.normal(size=cout)
    x = r.normal(size=(T, B, cin, *size))
    want = F.conv2d(_flat(x), torch.from_numpy(w), torch.from_numpy(b), stride=stride, padding=padding, dilation=dil, groups=groups)
    node = nir.Conv2d(input_shape=size, weight=w, stride=stride, padding=padding, dilation=dil, groups=groups, bias=b)
    _close(_run(node, [cin, *size], list(want.shape[1:]), x), _unflat(want))


@st.composite
def pool_case(draw):
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = tuple(draw(st.integers(0, kk // 2)) for kk in k)  # torch allows pad <= k/2
    c = draw(st.integers(1, 3))
    size = tuple(draw(st.integers(kk, kk + 6)) for kk in k)
    return c, k, stride, padding, size


@given(case=pool_case(), seed=st.integers(0, 2**16))
def test_avgpool2d(case, seed) -> None:
    c, k, stride, padding, size = case
    x = np.random.default_rng(seed).normal(size=(T, B, c, *size))
    # NIR AvgPool2d averages over the whole window, padding included (torch's default)
    want = F.avg_pool2d(_flat(x), k, stride, padding, count_include_pad=True)
    node = nir.AvgPool2d(kernel_size=np.array(k), stride=np.array(stride), padding=np.array(padding))
    _close(_run(node, [c, *size], list(want.shape[1:]), x), _unflat(want))


@given(case=pool_case(), seed=st.integers(0, 2**16))
def test_sumpool2d(case, seed) -> None:
    c, k, stride, padding, size = case
    x = np.random.default_rng(seed).normal(size=(T, B, c, *size))
    want = F.avg_pool2d(_flat(x), k, stride, padding, count_include_pad=True, divisor_override=1)
    node = nir.SumPool2d(kernel_size=np.array(k), stride=np.array(stride), padding=np.array(padding))
    _close(_run(node, [c, *size], list(want.shape[1:]), x), _unflat(want))


@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    data=st.data(),
)
def test_flatten(shape, data) -> None:
    nd = len(shape)
    start = data.draw(st.integers(0, nd - 1))
    end = data.draw(st.integers(start, nd - 1))
    neg = data.draw(st.booleans())
    end_arg = end - nd if neg else end
    x = np.random.default_rng(0).normal(size=(T, B, *shape))
    want = torch.flatten(_flat(x), start + 1, end + 1)  # +1: torch sees the (T*B) axis
    node = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=start, end_dim=end_arg)
    np.testing.assert_array_equal(_run(node, shape, list(want.shape[1:]), x), _unflat(want))


@given(n_in=st.integers(1, 12), n_out=st.integers(1, 12), bias=st.booleans(), seed=st.integers(0, 2**16))
def test_affine_and_linear(n_in, n_out, bias, seed) -> None:
    r = np.random.default_rng(seed)
    w, b = r.normal(size=(n_out, n_in)), r.normal(size=n_out)
    x = r.normal(size=(T, B, n_in))
    if bias:
        node, want = nir.Affine(weight=w, bias=b), F.linear(_flat(x), torch.from_numpy(w), torch.from_numpy(b))
    else:
        node, want = nir.Linear(weight=w), F.linear(_flat(x), torch.from_numpy(w))
    _close(_run(node, [n_in], [n_out], x), _unflat(want))


def test_scale_and_threshold() -> None:
    r = np.random.default_rng(0)
    s = r.normal(size=5)
    x = r.normal(size=(T, B, 5))
    _close(_run(nir.Scale(scale=s), [5], [5], x), x * s)
    th = np.array([-0.5, 0.0, 0.1, 0.5, 1.0])
    x[0, 0] = th  # equality gives no spike: S = x > th
    y = _run(nir.Threshold(threshold=th), [5], [5], x)
    np.testing.assert_array_equal(y, (x > th).astype(float))
    assert not y[0, 0].any()
