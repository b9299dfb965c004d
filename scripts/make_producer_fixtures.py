"""Write the NIR producer fixtures of ``tests/data/producers/`` (Norse, Sinabs, Rockpool).

Each fixture is a small network with deterministic random weights, exported by the
producer's OWN NIR exporter (``norse.torch.to_nir``, ``sinabs.to_nir``,
``rockpool.nn.modules.torch.nir.to_nir``) and written with ``nir.write`` to
``tests/data/producers/<producer>_<name>.nir``, together with
``tests/data/producers/<producer>_<name>.npz`` (``np.savez``, no pickled objects) holding:

* ``x``: a deterministic input, shaped ``(T, B, *input_shape)`` (spikeforge's layout);
* ``y``: the producer's own forward output for ``x``, shaped ``(T, B, *output_shape)``;
* ``layer__<node>``: the output of every neuron layer, keyed by its NIR node name;
* ``producer``, ``producer_version``, ``torch_version``, ``nir_version``: version strings;
* ``dt``: the time step the producer's modules ran with (in the unit of their time constants);
* ``dt_export``: the ``dt`` given to the exporter, where it takes one (Norse), else NaN;
* ``method``: the discretization the producer's own update rule is (``"euler"`` or ``"exact"``),
  as read from its source;
* ``max_spike_count``: the largest number of spikes one neuron emitted in one step (Sinabs and
  Rockpool default to multi-spike outputs; NIR's spike is 0/1).

These libraries are NOT in the main venv (they pin older nir/nirtorch). Regenerate with a
throwaway venv outside the repository (the constraints file pins torch to the CPU wheel)::

    python3.11 -m venv /tmp/producers
    /tmp/producers/bin/pip install -c requirements/constraints.txt torch==2.13.0 norse sinabs rockpool
    /tmp/producers/bin/pip uninstall -y samna   # PyPI's samna stub pip-installs from a private index on import
    /tmp/producers/bin/python scripts/make_producer_fixtures.py [--only norse|sinabs|rockpool]

Versions used for the committed files: see ``tests/data/producers/README.md``.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
from pathlib import Path
from typing import Callable

import nir
import numpy as np
import torch

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "producers"
T, B = 40, 2


def _versions(producer: str) -> dict:
    return {
        "producer": np.array(producer),
        "producer_version": np.array(md.version(producer)),
        "torch_version": np.array(torch.__version__),
        "nir_version": np.array(md.version("nir")),
        "nirtorch_version": np.array(md.version("nirtorch")),
    }


def _spikes(rng: np.random.Generator, p: float, *shape: int) -> np.ndarray:
    return (rng.random(shape) < p).astype(np.float32)


def _drop_none(d: dict) -> tuple[dict, list[str]]:
    """``to_dict()`` without None-valued entries (and the dotted names of those dropped)."""
    out, dropped = {}, []
    for k, v in d.items():
        if v is None:
            dropped.append(str(k))
        elif isinstance(v, dict):
            sub, more = _drop_none(v)
            out[k] = sub
            dropped += [f"{k}.{m}" for m in more]
        else:
            out[k] = v
    return out, dropped


class _WithoutNone:
    """What ``nir.write`` needs of a graph (``to_dict``), with None-valued fields left out.

    Some exporters leave optional fields None (``sinabs.to_nir`` leaves ``Conv2d.input_shape``
    and ``Flatten.input_type`` None); nir 1.0.4's ``write`` cannot store None, while its
    ``read`` maps an absent ``input_shape``/``input_type`` back to None. Leaving them out is
    therefore the file that reads back as exactly the exported graph.
    """

    def __init__(self, graph: nir.NIRGraph) -> None:
        self.dict, self.dropped = _drop_none(graph.to_dict())

    def to_dict(self) -> dict:
        return self.dict


def _save(name: str, graph: nir.NIRGraph, x: np.ndarray, y: np.ndarray, layers: dict, extra: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.nir"
    if path.exists():
        path.unlink()
    g = _WithoutNone(graph)
    nir.write(path, g)  # type: ignore[arg-type]
    extra = {**extra, "none_fields_left_out": np.array(",".join(g.dropped))}
    arrays = {"x": np.asarray(x, dtype=np.float32), "y": np.asarray(y, dtype=np.float32)}
    arrays.update({f"layer__{k}": np.asarray(v, dtype=np.float32) for k, v in layers.items()})
    counts = [v.max() for k, v in layers.items() if k in extra.pop("_spiking", ())]
    arrays["max_spike_count"] = np.array(float(max(counts)) if counts else 0.0)
    # Every fixture is kept single-spike (Sinabs and Rockpool can emit several spikes per step by
    # default, which NIR cannot express), so that each comparison isolates one convention.
    assert arrays["max_spike_count"] <= 1, f"{name}: a neuron spiked {arrays['max_spike_count']} times in one step"
    arrays.update(extra)
    np.savez(OUT / f"{name}.npz", **arrays)
    spikes = {k: int(v.sum()) for k, v in layers.items()}
    print(f"{name}: {path.stat().st_size} B nir, {(OUT / f'{name}.npz').stat().st_size} B npz; layer sums {spikes}")


# --------------------------------------------------------------------------------------- Norse
def make_norse() -> None:
    import norse.torch as norse
    from norse.torch.functional.iaf import IAFParameters
    from norse.torch.functional.leaky_integrator_box import LIBoxParameters
    from norse.torch.functional.lif import LIFParameters
    from norse.torch.functional.lif_box import LIFBoxParameters

    dt = 1e-3  # the modules' own dt (their default)
    dt_export = 1e-3  # to_nir's dt argument (its default)

    def run(model: torch.nn.Module, x: np.ndarray, spiking: tuple[str, ...]) -> tuple[np.ndarray, dict]:
        # SequentialState over time, one step per call (Norse's own stepping API).
        rec: dict[str, list] = {}
        hooks = [
            m.register_forward_hook(lambda mod, inp, out, k=k: rec.setdefault(k, []).append(out[0].detach().numpy().copy()))
            for k, m in model.named_children()
            if k in spiking
        ]
        state = None
        ys = []
        with torch.no_grad():
            for t in range(x.shape[0]):
                y, state = model(torch.from_numpy(x[t]), state)
                ys.append(y.numpy().copy())
        for h in hooks:
            h.remove()
        return np.stack(ys), {k: np.stack(v) for k, v in rec.items()}

    def export(model: torch.nn.Module, n_in: int) -> nir.NIRGraph:
        return norse.to_nir(model, torch.zeros(1, n_in), dt=dt_export)

    def inv_taus(model: torch.nn.Module) -> dict:
        # The modules' own 1/tau (1/s), to check what the exported tau means.
        out = {}
        for k, m in model.named_children():
            for f in ("tau_mem_inv", "tau_syn_inv"):
                if hasattr(getattr(m, "p", None), f):
                    out[f"param__{k}__{f}"] = np.asarray(getattr(m.p, f), dtype=np.float32)
        return out

    meta = {**_versions("norse"), "dt": np.array(dt), "dt_export": np.array(dt_export), "method": np.array("euler")}

    # 1. Linear -> LIFBoxCell (NIR LIF) -> Linear -> LIBoxCell (NIR LI readout).
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    lif_p = LIFBoxParameters(
        tau_mem_inv=torch.linspace(60.0, 140.0, 8),
        v_leak=torch.zeros(8),
        v_th=torch.linspace(0.3, 0.5, 8),
    )
    model = norse.SequentialState(
        torch.nn.Linear(5, 8),
        norse.LIFBoxCell(lif_p, dt=dt),
        torch.nn.Linear(8, 3),
        norse.LIBoxCell(LIBoxParameters(tau_mem_inv=torch.tensor([50.0, 100.0, 200.0]), v_leak=torch.zeros(3)), dt=dt),
    )
    with torch.no_grad():
        model[0].weight.mul_(6.0)
    x = _spikes(rng, 0.4, T, B, 5)
    y, layers = run(model, x, ("1", "3"))
    _save("norse_lifbox_li", export(model, 5), x, y, layers, {**meta, **inv_taus(model), "_spiking": ("1",)})

    # 2. Linear -> LIFCell (NIR CubaLIF) -> Linear -> LIFCell.
    torch.manual_seed(2)
    rng = np.random.default_rng(2)

    def cuba(n: int) -> LIFParameters:
        return LIFParameters(
            tau_syn_inv=torch.linspace(150.0, 250.0, n),
            tau_mem_inv=torch.linspace(80.0, 120.0, n),
            v_leak=torch.zeros(n),
            v_th=torch.linspace(0.2, 0.3, n),
            v_reset=torch.zeros(n),
        )

    model = norse.SequentialState(
        torch.nn.Linear(5, 8), norse.LIFCell(cuba(8), dt=dt), torch.nn.Linear(8, 3), norse.LIFCell(cuba(3), dt=dt)
    )
    with torch.no_grad():
        model[0].weight.mul_(2.0)
        model[2].weight.mul_(2.0)
    x = _spikes(rng, 0.4, T, B, 5)
    y, layers = run(model, x, ("1", "3"))
    _save("norse_cubalif", export(model, 5), x, y, layers, {**meta, **inv_taus(model), "_spiking": ("1", "3")})

    # 3. Linear -> IAFCell (NIR IF) -> Linear -> IAFCell.
    torch.manual_seed(3)
    rng = np.random.default_rng(3)
    model = norse.SequentialState(
        torch.nn.Linear(5, 8),
        norse.IAFCell(IAFParameters(v_th=torch.linspace(0.8, 1.2, 8), v_reset=torch.zeros(8)), dt=dt),
        torch.nn.Linear(8, 3),
        norse.IAFCell(IAFParameters(v_th=torch.linspace(0.5, 0.7, 3), v_reset=torch.zeros(3)), dt=dt),
    )
    with torch.no_grad():
        model[0].weight.mul_(2.0)
    x = _spikes(rng, 0.4, T, B, 5)
    y, layers = run(model, x, ("1", "3"))
    _save("norse_iaf", export(model, 5), x, y, layers, {**meta, **inv_taus(model), "_spiking": ("1", "3")})


# -------------------------------------------------------------------------------------- Sinabs
def make_sinabs() -> None:
    import sinabs
    import sinabs.layers as sl
    from sinabs.activation import MembraneReset, SingleSpike

    meta = {**_versions("sinabs"), "dt": np.array(1.0), "dt_export": np.array(np.nan), "method": np.array("exact")}

    def run(model: torch.nn.Sequential, x: np.ndarray, spiking: tuple[str, ...]) -> tuple[np.ndarray, dict]:
        # Squeeze layers take (B*T, ...) batch-major: row b*T + t.
        sinabs.reset_states(model)
        rec: dict[str, np.ndarray] = {}
        hooks = [
            m.register_forward_hook(lambda mod, inp, out, k=k: rec.__setitem__(k, out.detach().numpy().copy()))
            for k, m in model.named_children()
            if k in spiking
        ]
        xs = torch.from_numpy(np.ascontiguousarray(np.swapaxes(x, 0, 1)).reshape(B * T, *x.shape[2:]))
        with torch.no_grad():
            y = model(xs).numpy()
        for h in hooks:
            h.remove()

        def back(a: np.ndarray) -> np.ndarray:
            return np.swapaxes(a.reshape(B, T, *a.shape[1:]), 0, 1)

        return back(y), {k: back(v) for k, v in rec.items()}

    def export(model: torch.nn.Sequential, x: np.ndarray) -> nir.NIRGraph:
        xs = torch.zeros((B * T, *x.shape[2:]))
        g = sinabs.to_nir(model, xs)
        sinabs.reset_states(model)
        return g

    single = {"spike_fn": SingleSpike, "reset_fn": MembraneReset()}

    # 1. Linear -> IAFSqueeze -> Linear -> IAFSqueeze, one spike per step and reset to zero.
    torch.manual_seed(11)
    rng = np.random.default_rng(11)
    model = torch.nn.Sequential(
        torch.nn.Linear(6, 10),
        sl.IAFSqueeze(batch_size=B, spike_threshold=torch.tensor(1.0), **single),
        torch.nn.Linear(10, 4),
        sl.IAFSqueeze(batch_size=B, spike_threshold=torch.tensor(0.5), **single),
    )
    with torch.no_grad():
        model[0].weight.mul_(2.0)
        model[2].weight.mul_(2.0)
    x = _spikes(rng, 0.4, T, B, 6)
    g = export(model, x)
    y, layers = run(model, x, ("1", "3"))
    _save("sinabs_iaf_reset", g, x, y, layers, {**meta, "_spiking": ("1", "3")})

    # 2. The same network with Sinabs' DEFAULT neuron (MultiSpike, MembraneSubtract).
    torch.manual_seed(12)
    rng = np.random.default_rng(12)
    model = torch.nn.Sequential(
        torch.nn.Linear(6, 10),
        sl.IAFSqueeze(batch_size=B),
        torch.nn.Linear(10, 4),
        sl.IAFSqueeze(batch_size=B),
    )
    with torch.no_grad():
        model[0].weight.mul_(0.7)
        model[2].weight.mul_(1.5)
    x = _spikes(rng, 0.3, T, B, 6)
    g = export(model, x)
    y, layers = run(model, x, ("1", "3"))
    _save("sinabs_iaf_default", g, x, y, layers, {**meta, "_spiking": ("1", "3")})

    # 3. Conv2d -> LIFSqueeze -> SumPool2d -> Flatten -> Linear -> IAFSqueeze.
    torch.manual_seed(13)
    rng = np.random.default_rng(13)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3, padding=1),
        sl.LIFSqueeze(tau_mem=torch.tensor(4.0), spike_threshold=torch.tensor(0.3), batch_size=B, **single),
        sl.SumPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(2 * 3 * 3, 4),
        sl.IAFSqueeze(batch_size=B, spike_threshold=torch.tensor(1.0), **single),
    )
    with torch.no_grad():
        model[0].weight.mul_(3.0)
        model[4].weight.mul_(2.0)
    x = _spikes(rng, 0.4, T, B, 1, 6, 6)
    g = export(model, x)
    # sinabs.to_nir leaves Conv2d.input_shape None: nir 1.0.4 cannot write None, and nir >= 1.0.5
    # cannot read a Conv2d without it, so the one value the exporter had at hand (the spatial
    # shape of the sample data) is filled in. Flatten.input_type stays left out (readable).
    assert g.nodes["0"].input_shape is None
    g.nodes["0"].input_shape = np.array(x.shape[3:])
    fixups = "0.input_shape filled from the sample data"
    y, layers = run(model, x, ("1", "5"))
    _save("sinabs_conv_lif", g, x, y, layers, {**meta, "fixups": np.array(fixups), "_spiking": ("1", "5")})


# ------------------------------------------------------------------------------------ Rockpool
def make_rockpool() -> None:
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import ExpSynTorch, LIFNeuronTorch, LIFTorch, LinearTorch
    from rockpool.nn.modules.torch.nir import to_nir

    dt = 1e-3
    meta = {**_versions("rockpool"), "dt": np.array(dt), "dt_export": np.array(np.nan), "method": np.array("exact")}

    def run(net, x: np.ndarray, spiking: tuple[str, ...]) -> tuple[np.ndarray, dict]:
        # Rockpool's evolve API takes (B, T, N); each submodule is evolved in order as
        # Sequential does, keeping every layer's output; the whole net's own call must agree.
        xb = torch.from_numpy(np.ascontiguousarray(np.swapaxes(x, 0, 1)))
        net.reset_state()
        with torch.no_grad():
            y, _, _ = net(xb)
        net.reset_state()
        layers = {}
        h = xb
        with torch.no_grad():
            for name, mod in net.modules().items():
                h, _, _ = mod(h)
                layers[name] = np.swapaxes(h.numpy(), 0, 1).copy()
        net.reset_state()
        y = np.swapaxes(y.detach().numpy(), 0, 1)
        assert np.array_equal(y, layers[list(layers)[-1]])
        return y, {k: v for k, v in layers.items() if k in spiking}

    # 1. LinearTorch -> LIFTorch (NIR CubaLIF) -> LinearTorch -> LIFTorch.
    torch.manual_seed(21)
    rng = np.random.default_rng(21)
    net = Sequential(
        LinearTorch((5, 8)),
        LIFTorch(8, tau_mem=torch.linspace(0.01, 0.03, 8), tau_syn=torch.linspace(0.004, 0.008, 8), threshold=torch.linspace(0.6, 1.0, 8), dt=dt),
        LinearTorch((8, 3)),
        LIFTorch(3, tau_mem=torch.tensor([0.01, 0.02, 0.04]), tau_syn=torch.tensor([0.005, 0.005, 0.01]), threshold=torch.full((3,), 0.5), dt=dt),
    )
    with torch.no_grad():
        net[0].weight.mul_(0.15)
        net[2].weight.mul_(0.2)
    x = _spikes(rng, 0.3, T, B, 5)
    g = to_nir(net)
    y, layers = run(net, x, ("1_LIFTorch", "3_LIFTorch"))
    _save("rockpool_lif", g, x, y, layers, {**meta, "_spiking": ("1_LIFTorch", "3_LIFTorch")})

    # 2. LinearTorch -> LIFNeuronTorch (NIR LIF) -> LinearTorch -> ExpSynTorch (NIR LI readout).
    torch.manual_seed(22)
    rng = np.random.default_rng(22)
    net = Sequential(
        LinearTorch((5, 8)),
        LIFNeuronTorch(8, tau_mem=torch.linspace(0.005, 0.02, 8), threshold=torch.linspace(0.8, 1.2, 8), dt=dt),
        LinearTorch((8, 3)),
        ExpSynTorch(3, tau=torch.tensor([0.005, 0.01, 0.02]), dt=dt),
    )
    with torch.no_grad():
        net[0].weight.mul_(0.5)
    x = _spikes(rng, 0.3, T, B, 5)
    # ExpSynTorch's exporter passes ``tau`` without detaching it; nir.write then fails on a
    # tensor that requires grad. Freezing the parameters (no value changes) avoids that.
    for p in torch.nn.Module.parameters(net):
        p.requires_grad_(False)
    g = to_nir(net)
    y, layers = run(net, x, ("1_LIFNeuronTorch", "3_ExpSynTorch"))
    _save("rockpool_lifneuron_expsyn", g, x, y, layers, {**meta, "_spiking": ("1_LIFNeuronTorch",)})


MAKERS: dict[str, Callable[[], None]] = {"norse": make_norse, "sinabs": make_sinabs, "rockpool": make_rockpool}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=sorted(MAKERS), action="append", help="producer(s) to (re)generate; default all")
    args = ap.parse_args()
    torch.set_num_threads(1)
    for name in args.only or list(MAKERS):
        MAKERS[name]()


if __name__ == "__main__":
    main()
