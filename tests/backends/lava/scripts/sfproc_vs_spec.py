"""Run in .venv-lava: spikeforge's Lava process steps (sfproc) against the normative steps.

Prints one JSON line: {"cases", "steps", "mismatches", "wraps", "saturations"}.
"""

import json
import sys

import numpy as np

from spikeforge.backends.lava.lavanet import sfproc
from spikeforge.models.asn import spec as asn_spec
from spikeforge.models.lif import spec as lif_spec
from spikeforge.models.lif.spec import Counters
from spikeforge.models.mtc import spec as mtc_spec


def main(seed: int, cases: int, steps: int) -> None:
    rng = np.random.default_rng(seed)
    bad = wraps = sats = 0
    for case in range(cases):
        n = int(rng.integers(1, 30))
        scale = int(rng.choice([10, 1000, 2**17, 2**20]))
        if case % 2 == 0:  # int_lif / int_li with per-neuron parameters
            p = dict(du=rng.integers(0, 4096, n), dv=rng.integers(0, 4096, n), bias_mant=rng.integers(-4096, 4096, n),
                     bias_exp=rng.integers(0, 8, n), vth=rng.integers(0, 2**17, n))
            subtract, spiking = bool(rng.integers(0, 2)), bool(rng.integers(0, 4))
            st, c = lif_spec.init_state(1, n), Counters()
            u = v = np.zeros(n, np.int64)
            bias = np.left_shift(p["bias_mant"], p["bias_exp"])
            for _ in range(steps):
                a = rng.integers(-scale, scale, n)
                want = lif_spec.step(st, a[None], p, "subtract" if subtract else "zero", spiking, c)[0]
                u, v, got, nw, ns = sfproc.lif_step(u, v, a, p["du"], p["dv"], bias, p["vth"], subtract, spiking)
                wraps += nw
                sats += ns
                bad += int(np.count_nonzero(got != want) + np.count_nonzero(u != st["u"][0]) + np.count_nonzero(v != st["v"][0]))
        else:  # int_asn
            p = dict(dv=rng.integers(0, 4096, n), bias=rng.integers(-2**22, 2**22, n), p=rng.integers(1, 20, n))
            alpha, D = int(rng.integers(-3, 4)), int(rng.integers(1, 16))
            st, c = asn_spec.init_state(1, n), Counters()
            v = np.zeros(n, np.int64)
            for _ in range(steps):
                a = rng.integers(-scale, scale, n)
                want = asn_spec.step(st, a[None], p, alpha, D, c)[0]
                v, got, ns = sfproc.asn_step(v, a, p["dv"], p["bias"], p["p"], alpha, D)
                sats += ns
                bad += int(np.count_nonzero(got != want) + np.count_nonzero(v != st["v"][0]))
    for case in range(cases // 4):  # int_mtc: random parameters in their bit widths
        n = int(rng.integers(1, 20))
        p = {k: rng.integers(0, 2**bits - 1, n) if not signed else rng.integers(-2 ** (bits - 3), 2 ** (bits - 3), n)
             for k, (bits, signed) in mtc_spec.PARAM_BITS.items()}
        p["dm"] = rng.integers(0, 4096, n)
        for k in ("kf", "ks", "kus"):
            p[k] = rng.integers(0, 2**16, n)
        p["oscale"] = rng.integers(1, 2**12, n)
        p["oshift"] = rng.integers(1, 24, n)
        p["ishift"] = rng.integers(1, 16, n)
        p["lut"] = mtc_spec.tanh_lut()
        st, c = mtc_spec.init_state(1, n), Counters()
        mine = {k: np.zeros(n, np.int64) for k in ("um", "uf", "us", "uus")}
        for _ in range(steps):
            a = rng.integers(-2**12, 2**12, n)
            want = mtc_spec.step(st, a[None], p, c)[0]
            got, ns = sfproc.mtc_step(mine, a, {k: p[k] for k in sfproc.MTC_PARAMS}, p["lut"])
            sats += ns
            bad += int(np.count_nonzero(got != want)) + sum(int(np.count_nonzero(mine[k] != st[k][0])) for k in mine)
    print(json.dumps({"cases": cases, "steps": steps, "mismatches": bad, "wraps": wraps, "saturations": sats}))


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:4]))
