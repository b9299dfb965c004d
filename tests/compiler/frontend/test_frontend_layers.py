"""BatchNorm folding nodes, Dropout/Identity removal, unsupported-module errors."""

import nir
import numpy as np
import pytest
import torch
from torch import nn

from spikeforge.compiler.frontend import UnsupportedModuleError, trace
from spikeforge.models import LIF, Seq

T, B = 4, 3


def _bn(cls, c):
    bn = cls(c)
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    return bn.double().eval()


def test_batchnorm2d_becomes_depthwise_conv_with_metadata():
    bn = _bn(nn.BatchNorm2d, 3)
    net = nn.Sequential(Seq(nn.Conv2d(2, 3, 3, padding=1)), Seq(bn), LIF()).double()
    x = torch.rand(T, B, 2, 5, 5, dtype=torch.float64)
    g = trace(net, x)
    node = g.nodes["_1"]
    assert isinstance(node, nir.Conv2d)
    assert node.metadata == {"spikeforge.op": "batchnorm"}
    assert node.groups == 3 and node.weight.shape == (3, 1, 1, 1)
    scale = bn.weight.detach().numpy() / np.sqrt(bn.running_var.numpy() + bn.eps)
    np.testing.assert_allclose(node.weight.reshape(3), scale, rtol=1e-15)
    np.testing.assert_allclose(node.bias, bn.bias.detach().numpy() - bn.running_mean.numpy() * scale, rtol=1e-14)
    # the node computes BatchNorm's eval-mode output
    z = torch.rand(6, 3, 5, 5, dtype=torch.float64)
    y = torch.nn.functional.conv2d(z, torch.from_numpy(node.weight), torch.from_numpy(node.bias), groups=3)
    torch.testing.assert_close(y, bn(z))
    g.check_types()


def test_batchnorm1d_becomes_diagonal_affine():
    bn = _bn(nn.BatchNorm1d, 4)
    net = nn.Sequential(nn.Linear(3, 4), Seq(bn), LIF()).double()
    g = trace(net, torch.rand(T, B, 3, dtype=torch.float64))
    node = g.nodes["_1"]
    assert isinstance(node, nir.Affine) and node.metadata == {"spikeforge.op": "batchnorm"}
    z = torch.rand(7, 4, dtype=torch.float64)
    torch.testing.assert_close(z @ torch.from_numpy(node.weight).T + torch.from_numpy(node.bias), bn(z))
    assert np.count_nonzero(node.weight - np.diag(np.diag(node.weight))) == 0


def test_batchnorm_without_seq_is_rejected():
    net = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(B), LIF())  # torch reads (T, B, F) as (N, C, L)
    with pytest.raises(UnsupportedModuleError, match="Seq"):
        trace(net, torch.rand(T, B, 3))


@pytest.mark.parametrize("drop", [nn.Dropout(0.3), nn.Identity(), Seq(nn.Dropout(0.5))])
def test_dropout_and_identity_are_removed(drop):
    net = nn.Sequential(nn.Linear(3, 4), LIF(), drop, nn.Linear(4, 2), LIF())
    g = trace(net, torch.rand(T, B, 3))
    assert "_2" not in g.nodes
    assert ("_1", "_3") in g.edges
    assert not any("_2" in e for e in g.edges)
    g.check_types()


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.fc(x))


class Outer(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.lif = LIF()

    def forward(self, x):
        return self.lif(self.block(x))


def test_unsupported_module_error_names_path_type_and_supported():
    with pytest.raises(UnsupportedModuleError) as info:
        trace(Outer(), torch.rand(T, B, 3))
    msg = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "'block.act'" in msg
    assert "torch.nn.modules.activation.ReLU" in msg
    assert "supported types:" in msg and "torch.nn.modules.linear.Linear" in msg
    assert "spikeforge.models.lif.nn.LIF" in msg or "SpikingNeuron" in msg
    assert info.value.path == "block.act" and info.value.module_type is nn.ReLU


def test_unsupported_module_inside_seq():
    net = nn.Sequential(Seq(nn.MaxPool2d(2)), LIF())
    with pytest.raises(UnsupportedModuleError, match=r"'0\.module'.*MaxPool2d"):
        trace(net, torch.rand(T, B, 2, 4, 4))


def test_unsupported_function_is_a_clear_value_error():
    class Mul(nn.Module):
        def __init__(self):
            super().__init__()
            self.lif = LIF()

        def forward(self, x):
            return self.lif(x * 2.0)

    with pytest.raises(ValueError, match="cannot trace Mul"):
        trace(Mul(), torch.rand(T, B, 3))


def test_subclass_of_registered_module_lowers_like_its_base():
    class MyLinear(nn.Linear):
        pass

    g = trace(nn.Sequential(MyLinear(3, 2), LIF()), torch.rand(T, B, 3))
    assert isinstance(g.nodes["_0"], nir.Affine)
