"""Run in .venv-lava: our normative int_lif step against Lava's PyLifModelBitAcc, step by step.

Prints one JSON line: {"cases": n, "steps": k, "mismatches": m, "wraps": w, "saturations": s}.
"""

import json
import sys

import numpy as np
from lava.proc.lif.models import PyLifModelBitAcc

from spikeforge.models.lif import spec
from spikeforge.models.lif.spec import Counters


def lava_model(n, du, dv, bias_mant, bias_exp, vth):
    m = PyLifModelBitAcc.__new__(PyLifModelBitAcc)  # the process model without a running process
    for k, v in dict(ds_offset=1, dm_offset=0, isbiasscaled=False, isthrscaled=False, effective_bias=0,
                     uv_bitwidth=24, max_uv_val=2**23, decay_shift=12, decay_unity=4096, vth_shift=6, act_shift=6).items():
        setattr(m, k, v)
    m.u = np.zeros(n, np.int32)
    m.v = np.zeros(n, np.int32)
    m.du, m.dv, m.vth = du, dv, vth
    m.bias_mant = bias_mant.astype(np.int16)
    m.bias_exp = bias_exp.astype(np.int16)
    return m


def main(seed: int, cases: int, steps: int) -> None:
    rng = np.random.default_rng(seed)
    bad = 0
    tot = Counters()
    for _ in range(cases):
        n = int(rng.integers(1, 40))
        du, dv = int(rng.integers(0, 4096)), int(rng.integers(0, 4096))
        vth = int(rng.integers(0, 2**17))
        bm = rng.integers(-4096, 4096, n)
        be = rng.integers(0, 8, n)
        scale = int(rng.choice([10, 1000, 2**17, 2**20]))  # from small inputs to wrapping ones
        m = lava_model(n, du, dv, bm, be, vth)
        st = spec.init_state(1, n)
        p = dict(du=du, dv=dv, bias_mant=bm, bias_exp=be, vth=vth)
        for _t in range(steps):
            a = rng.integers(-scale, scale + 1, n).astype(np.int32)
            m.scale_bias()
            m.scale_threshold()
            m.subthr_dynamics(activation_in=a.copy())
            s_l = m.spiking_activation()
            m.reset_voltage(spike_vector=s_l)
            s_o = spec.step(st, a[None], p, reset="zero", counters=tot)
            if not (np.array_equal(s_o[0], s_l.astype(np.int64)) and np.array_equal(st["u"][0], m.u) and np.array_equal(st["v"][0], m.v)):
                bad += 1
    print(json.dumps({"cases": cases, "steps": steps, "mismatches": bad, "wraps": tot.wrap, "saturations": tot.saturate}))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
