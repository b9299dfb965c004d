"""Our synaptic-operation counts equal NeuroBench's ``SynapticOperations`` (neurobench 2.3) on
the same snnTorch network and input, and our activation sparsity equals its ``ActivationSparsity``.

NeuroBench hooks every ``nn.Linear``/``nn.Conv`` of the torch model and, per time step, counts
``binarised input x binarised weight`` (nonzero inputs times nonzero weights: events x
nonzero fan-out), as ACs when the layer input is in {-1, 0, 1} and MACs otherwise, then
divides by the number of samples. spikeforge counts events x nonzero fan-out from the
program's projections and the probed activity of the compiled program (the input included,
as NeuroBench does). The spikes of both runs are checked identical first, so equal counts
test the counting, not the simulators.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
snn = pytest.importorskip("snntorch")
pytest.importorskip("neurobench")
from neurobench.benchmarks import Benchmark  # noqa: E402
from neurobench.metrics.workload import ActivationSparsity, SynapticOperations  # noqa: E402
from neurobench.models import SNNTorchModel  # noqa: E402
from snntorch.export_nir import export_to_nir  # noqa: E402
from torch import nn  # noqa: E402

import nir  # noqa: E402
import spikeforge as sf  # noqa: E402

pytestmark = pytest.mark.snntorch

T, B = 25, 4


def heaviside(x):
    return (x > 0).to(x.dtype)


def leaky(n, seed, output=False):
    g = torch.Generator().manual_seed(seed)
    beta = 0.7 + 0.25 * torch.rand(n, generator=g)
    th = 0.5 + 0.4 * torch.rand(n, generator=g)
    return snn.Leaky(beta=beta, threshold=th, spike_grad=heaviside, init_hidden=True, reset_mechanism="zero", output=output)


def net() -> nn.Module:
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(8, 12), leaky(12, 1), nn.Linear(12, 5), leaky(5, 2, output=True)).double()
    with torch.no_grad():
        m[0].weight[:, :2] = 0  # zero weights are no synapses: fan-out excludes them
        m[0].weight.mul_(2.0)
        m[2].weight.mul_(2.0)
    return m


def test_synaptic_operations_equal_neurobench(tmp_path) -> None:
    model = net()
    rng = np.random.default_rng(5)
    x = (rng.random((T, B, 8)) < 0.4).astype(np.float64)

    # spikeforge: export with snnTorch, compile (euler, dt = 1e-4 as the exporter writes), run
    g = export_to_nir(copy.deepcopy(model), torch.zeros((1, 8), dtype=torch.float64), ignore_dims=[0])
    nir.write(tmp_path / "net.nir", g)
    prog = sf.compile(sf.load_nir(tmp_path / "net.nir"), method="euler", dt=1e-4)
    tr = sf.run(prog, x, probes=sf.activity_probes(prog))
    e = sf.energy(prog, tr)

    # snnTorch spikes of both layers, to check the two runs are the same activity
    rec = {"1": [], "3": []}
    hooks = [model[int(k)].register_forward_hook(lambda m, i, o, k=k: rec[k].append((o[0] if isinstance(o, tuple) else o).detach().clone())) for k in rec]
    snn.utils.reset(model)
    with torch.no_grad():
        for t in range(T):
            model(torch.from_numpy(x[t]))
    for h in hooks:
        h.remove()
    for k in rec:
        np.testing.assert_array_equal(tr.probes[k], torch.stack(rec[k]).numpy(), err_msg=f"layer {k}")
    assert 0 < tr.probes["1"].mean() < 1 and 0 < tr.probes["3"].mean() < 1

    # NeuroBench: data (B, T, features)
    snn.utils.reset(model)
    data = torch.from_numpy(x).transpose(0, 1).contiguous()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data, torch.zeros(B)), batch_size=B)
    bench = Benchmark(SNNTorchModel(model), loader, [], [], [[], [SynapticOperations, ActivationSparsity]])
    res = bench.run(quiet=True)
    nb = res["SynapticOperations"]
    print(f"neurobench: {nb}, activation sparsity {res['ActivationSparsity']}; spikeforge: effective ACs {e.effective_acs}, "
          f"MACs {e.effective_macs}, sparsity {e.activation_sparsity}")
    assert e.syn_ops == nb["Effective_ACs"] * B  # our total over the batch; NeuroBench per sample
    assert e.effective_acs == nb["Effective_ACs"] and e.effective_macs == nb["Effective_MACs"] == 0
    assert e.activation_sparsity == pytest.approx(res["ActivationSparsity"], abs=1e-12)
