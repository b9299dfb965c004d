"""Compiled neuron scans (numba) for the float reference backend.

Each scan runs a neuron layer over all its steps at once, given the whole input current
``x`` shaped ``(T, B, N)``; the state arrays are updated in place so a caller can also step
one step at a time (recurrent segments). Equations: ``docs/semantics.md``.
"""

from __future__ import annotations

import numpy as np

try:
    from numba import njit, prange
except ImportError:  # pragma: no cover - the Lava worker env has no numba
    prange = range

    def njit(*args, **kwargs):  # type: ignore[no-redef]
        if args and callable(args[0]):
            return args[0]
        return lambda f: f


@njit(cache=True, fastmath=False, parallel=True)
def spiking_scan(x, a_syn, g_syn, a, g, b, vth, vreset, subtract, use_syn, i_state, v_state, v_rec, record):
    """LIF / CUBA-LIF over ``T`` steps.

    .. math::
        i = a_{syn} i + g_{syn} x \\;(\\text{CUBA only});\\quad v = a v + g\\,i + b;\\quad
        s = v > v_{th};\\quad v \\leftarrow v - s\\,v_{th} \\text{ or } (s ? v_{reset} : v)

    Args:
        x: Input current ``(T, B, N)``.
        a_syn, g_syn, a, g, b, vth, vreset: Per-neuron parameters ``(N,)``.
        subtract: Reset by subtraction (else to ``vreset``).
        use_syn: Whether there is a synaptic current stage (CUBA).
        i_state, v_state: State ``(B, N)``, updated in place.
        v_rec: ``(T, B, N)`` receives the pre-reset membrane when ``record``.
        record: Whether to fill ``v_rec``.

    Returns:
        Spikes ``(T, B, N)`` as 0.0/1.0.
    """
    T, B, N = x.shape
    s = np.zeros((T, B, N))
    for bi in prange(B):  # samples are independent: parallel over the batch
        for t in range(T):
            for n in range(N):
                xin = x[t, bi, n]
                if use_syn:
                    xin = a_syn[n] * i_state[bi, n] + g_syn[n] * xin
                    i_state[bi, n] = xin
                v = a[n] * v_state[bi, n] + g[n] * xin + b[n]
                if record:
                    v_rec[t, bi, n] = v
                if v > vth[n]:
                    s[t, bi, n] = 1.0
                    if subtract:
                        v = v - vth[n]
                    else:
                        v = vreset[n]
                v_state[bi, n] = v
    return s


@njit(cache=True, fastmath=False, parallel=True)
def leaky_scan(x, a_syn, g_syn, a, g, b, use_syn, i_state, v_state):
    """LI / CUBA-LI / integrator over ``T`` steps; returns the membrane ``(T, B, N)``.

    .. math::
        i = a_{syn} i + g_{syn} x \\;(\\text{CUBA only});\\quad v = a v + g\\,i + b
    """
    T, B, N = x.shape
    out = np.zeros((T, B, N))
    for bi in prange(B):
        for t in range(T):
            for n in range(N):
                xin = x[t, bi, n]
                if use_syn:
                    xin = a_syn[n] * i_state[bi, n] + g_syn[n] * xin
                    i_state[bi, n] = xin
                v = a[n] * v_state[bi, n] + g[n] * xin + b[n]
                v_state[bi, n] = v
                out[t, bi, n] = v
    return out


@njit(cache=True, parallel=True)
def event_affine(x, wt, bias):
    """Event-driven ``x @ wt + bias`` for binary spike rows: only active inputs add weights.

    Args:
        x: ``(N, K)`` of 0.0/1.0.
        wt: ``(K, M)`` transposed weights (C-contiguous).
        bias: ``(M,)``.

    Returns:
        ``(N, M)``; equal to the dense product up to float summation order.
    """
    N, K = x.shape
    M = wt.shape[1]
    y = np.empty((N, M))
    for n in prange(N):
        for m in range(M):
            y[n, m] = bias[m]
        for k in range(K):
            if x[n, k] != 0.0:
                for m in range(M):
                    y[n, m] += wt[k, m]
    return y


@njit(cache=True, fastmath=False, parallel=True)
def asn_scan(x, a, g, b, alpha, D, N, h_state, u_rec, record):
    """ASN / NASN / I-LIF (float ``asn`` op, ``docs/integer.md`` "NIR form") over ``T`` steps.

    .. math::
        U = a H + g X + b;\\quad c = \\mathrm{clip}(\\lfloor U + 1/2 \\rfloor, \\alpha, \\alpha + D);
        \\quad H = U - c;\\quad \\text{output } c / N

    Args:
        x: Input ``(T, B, N)``.
        a, g, b: Per-neuron parameters ``(N,)``.
        alpha: Firing-window shift.
        D: Window width.
        N: Output normalisation (NASN; 1 for ASN).
        h_state: Post-reset membrane ``(B, N)``, updated in place.
        u_rec: ``(T, B, N)`` receives ``U`` (before the reset) when ``record``.
        record: Whether to fill ``u_rec``.

    Returns:
        ``c / N`` shaped ``(T, B, N)``.
    """
    T, B, M = x.shape
    out = np.zeros((T, B, M))
    lo = float(alpha)
    hi = float(alpha + D)
    for bi in prange(B):
        for t in range(T):
            for n in range(M):
                u = a[n] * h_state[bi, n] + g[n] * x[t, bi, n] + b[n]
                if record:
                    u_rec[t, bi, n] = u
                c = np.floor(u + 0.5)
                if c < lo:
                    c = lo
                elif c > hi:
                    c = hi
                h_state[bi, n] = u - c
                out[t, bi, n] = c / N
    return out


@njit(cache=True, fastmath=False, parallel=True)
def mtc_scan(x, P, state, um_rec, record):
    """MTC (float op ``mtc``, ``models/mtc/spec.py``) over ``T`` steps.

    .. math::
        U_m = a U_m + g X + b + \\sum_x g_x \\tanh(U_{src(x)} - d_x);\\quad
        U_y \\mathrel{+}= k_y (U_m - U_y);\\quad s = \\mathrm{clip}((U_m - u_{th}) / (u_{sat} - u_{th}), 0, 1)

    Args:
        x: Input ``(T, B, N)``.
        P: ``(16, N)`` parameters in the order of ``spec.FLOAT_PARAMS``
            (a, g, b, kf, ks, kus, gfn, gsp, gsn, gusp, dfn, dsp, dsn, dusp, uth, usat).
        state: ``(4, B, N)``: ``um``, ``uf``, ``us``, ``uus``, updated in place.
        um_rec: ``(T, B, N)`` receives ``U_m`` when ``record``.
        record: Whether to fill ``um_rec``.

    Returns:
        The graded output ``(T, B, N)`` in ``[0, 1]``.
    """
    T, B, N = x.shape
    out = np.zeros((T, B, N))
    for bi in prange(B):
        for t in range(T):
            for n in range(N):
                um = state[0, bi, n]
                uf = state[1, bi, n]
                us = state[2, bi, n]
                uus = state[3, bi, n]
                fb = P[6, n] * np.tanh(uf - P[10, n])
                fb = fb + P[7, n] * np.tanh(us - P[11, n])
                fb = fb + P[8, n] * np.tanh(us - P[12, n])
                fb = fb + P[9, n] * np.tanh(uus - P[13, n])
                um = P[0, n] * um + P[1, n] * x[t, bi, n] + P[2, n] + fb
                state[0, bi, n] = um
                state[1, bi, n] = uf + P[3, n] * (um - uf)
                state[2, bi, n] = us + P[4, n] * (um - us)
                state[3, bi, n] = uus + P[5, n] * (um - uus)
                if record:
                    um_rec[t, bi, n] = um
                s = (um - P[14, n]) / (P[15, n] - P[14, n])
                if s < 0.0:
                    s = 0.0
                elif s > 1.0:
                    s = 1.0
                out[t, bi, n] = s
    return out
