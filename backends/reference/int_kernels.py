"""Compiled integer kernels (numba, int64) for the integer reference backend.

The neuron scans are bit-exact transcriptions of the normative numpy steps
(``models/lif/spec.py`` for ``int_lif`` / ``int_li``, ``models/asn/spec.py`` for ``int_asn``;
``docs/integer.md``): Loihi's sign-magnitude 12-bit decay, synaptic input MSB-aligned by
``<< 6``, the current wrapped and the voltage saturated at 24 bits. Each scan runs a layer
over all its steps at once, updates its state arrays in place (so a caller can also step one
step at a time) and adds its wrap / saturation counts to a ``(B, 2)`` counter array
(``[:, 0]`` wraps, ``[:, 1]`` saturations; one row per sample so the batch loop can run in
parallel without races).
"""

from __future__ import annotations

import numpy as np

from .kernels import njit, prange

#: ``2^23``: Lava wraps the current above this (and at or below its negative).
WRAP_LIMIT = 1 << 23
#: ``2^24``: the wrap modulus.
WRAP_MOD = 1 << 24
#: ``2^23 - 1``: the voltage saturates here (both signs).
SAT_LIMIT = (1 << 23) - 1


@njit(cache=True, inline="always")
def _decay(x, f):
    """``sign(x) * ((|x| * f) >> 12)`` with ``f = 4096 - d`` (truncation toward zero)."""
    if x >= 0:
        return (x * f) >> 12
    return -(((-x) * f) >> 12)


@njit(cache=True, inline="always")
def _sat24(x):
    """``clip24``: ``(x saturated to [-(2^23 - 1), 2^23 - 1], 1 if it was saturated else 0)``."""
    if x > SAT_LIMIT:
        return SAT_LIMIT, 1
    if x < -SAT_LIMIT:
        return -SAT_LIMIT, 1
    return x, 0


@njit(cache=True, fastmath=False, parallel=True)
def int_lif_scan(a, du, dv, bias, vth6, subtract, spiking, u_state, v_state, v_rec, record, counts):
    """``int_lif`` / ``int_li`` over ``T`` steps (Lava's bit-accurate LIF).

    .. math::
        u = \\mathrm{wrap}_{24}(\\mathrm{decay}(u, d_u + 1) + (a \\ll 6));\\quad
        v = \\mathrm{clip}_{24}(\\mathrm{decay}(v, d_v) + u + b);\\quad s = v > (\\vartheta \\ll 6)

    Args:
        a: Synaptic input ``(T, B, N)`` int64.
        du, dv: Decay codes ``(N,)``.
        bias: ``bias_mant << bias_exp`` ``(N,)``.
        vth6: ``vth << 6`` ``(N,)``.
        subtract: Reset by subtracting ``vth << 6`` (else to 0).
        spiking: ``False`` for ``int_li`` (no spike; the output is ``v``).
        u_state, v_state: State ``(B, N)`` int64, updated in place.
        v_rec: ``(T, B, N)`` receives ``v`` before the reset when ``record``.
        record: Whether to fill ``v_rec``.
        counts: ``(B, 2)`` int64; wraps and saturations are added.

    Returns:
        Spikes (0/1) or, for ``int_li``, the voltage, ``(T, B, N)`` int64.
    """
    T, B, N = a.shape
    out = np.zeros((T, B, N), np.int64)
    for bi in prange(B):
        nw = 0
        ns = 0
        for t in range(T):
            for n in range(N):
                u = _decay(u_state[bi, n], 4096 - (du[n] + 1)) + (a[t, bi, n] << 6)
                if u > WRAP_LIMIT:
                    u -= WRAP_MOD
                    nw += 1
                elif u <= -WRAP_LIMIT:
                    u += WRAP_MOD
                    nw += 1
                u_state[bi, n] = u
                v, hit = _sat24(_decay(v_state[bi, n], 4096 - dv[n]) + u + bias[n])
                ns += hit
                if record:
                    v_rec[t, bi, n] = v
                if spiking:
                    if v > vth6[n]:
                        out[t, bi, n] = 1
                        if subtract:
                            v = v - vth6[n]
                        else:
                            v = 0
                else:
                    out[t, bi, n] = v
                v_state[bi, n] = v
        counts[bi, 0] += nw
        counts[bi, 1] += ns
    return out


@njit(cache=True, fastmath=False, parallel=True)
def int_asn_scan(a, dv, bias, p, alpha, D, v_state, u_rec, record, counts):
    """``int_asn`` (ASN / NASN / I-LIF) over ``T`` steps.

    .. math::
        U = \\mathrm{clip}_{24}(\\mathrm{decay}(v, d_v) + (a \\ll 6) + b);\\quad
        c = \\mathrm{clip}((U + 2^{p-1}) \\gg p, \\alpha, \\alpha + D);\\quad v = \\mathrm{clip}_{24}(U - (c \\ll p))

    Args:
        a: Synaptic input ``(T, B, N)`` int64.
        dv: Decay codes ``(N,)``.
        bias: Biases ``(N,)``.
        p: Unit shifts ``(N,)`` (``>= 1``).
        alpha: Window shift.
        D: Window width.
        v_state: Post-reset membrane ``(B, N)`` int64, updated in place.
        u_rec: ``(T, B, N)`` receives ``U`` (before the reset) when ``record``.
        record: Whether to fill ``u_rec``.
        counts: ``(B, 2)`` int64; saturations are added to column 1.

    Returns:
        Emissions ``c - alpha`` in ``[0, D]``, ``(T, B, N)`` int64.
    """
    T, B, N = a.shape
    out = np.zeros((T, B, N), np.int64)
    hi = alpha + D
    for bi in prange(B):
        ns = 0
        for t in range(T):
            for n in range(N):
                U, hit = _sat24(_decay(v_state[bi, n], 4096 - dv[n]) + (a[t, bi, n] << 6) + bias[n])
                ns += hit
                if record:
                    u_rec[t, bi, n] = U
                pn = p[n]
                c = (U + (np.int64(1) << (pn - 1))) >> pn
                if c < alpha:
                    c = alpha
                elif c > hi:
                    c = hi
                h, hit = _sat24(U - (c << pn))  # a window above U (alpha > 0) can overflow
                ns += hit
                v_state[bi, n] = h
                out[t, bi, n] = c - alpha
        counts[bi, 1] += ns
    return out


@njit(cache=True, parallel=True)
def int_event_dense(x, wt):
    """Event-driven ``x @ wt`` for binary rows: only active inputs add their weight rows.

    Args:
        x: ``(R, K)`` int64 of 0/1.
        wt: ``(K, M)`` transposed weights (C-contiguous), int64, or int32 where every column's
            ``sum |w|`` fits 31 bits (then no partial sum can overflow; twice as fast).

    Returns:
        ``(R, M)`` of ``wt``'s dtype, exactly the dense product.
    """
    R, K = x.shape
    M = wt.shape[1]
    y = np.zeros((R, M), wt.dtype)
    for r in prange(R):
        for k in range(K):
            if x[r, k] != 0:
                for m in range(M):
                    y[r, m] += wt[k, m]
    return y


@njit(cache=True, parallel=True)
def quantize_rows(x, scale, lo, hi, out):
    """``out = clip(floor(x * scale + 1/2), lo, hi)`` row by row; returns the number clipped.

    ``scale`` is a power of two, so ``x * scale`` is exact (it is ``ldexp``); values are
    clipped in float64 before the conversion to int64, so huge inputs cannot overflow.

    Args:
        x: ``(R, F)`` float64.
        scale: ``2^-exp``.
        lo, hi: Integer range (as float64).
        out: ``(R, F)`` int64, written.
    """
    R, F = x.shape
    cnt = np.zeros(R, np.int64)
    for r in prange(R):
        c = 0
        for f in range(F):
            q = np.floor(x[r, f] * scale + 0.5)
            if q < lo:
                q = lo
                c += 1
            elif q > hi:
                q = hi
                c += 1
            out[r, f] = np.int64(q)
        cnt[r] = c
    return cnt.sum()


@njit(cache=True)
def sparse_binary_int(x, max_nnz):
    """Whether the integer array ``x`` (any shape, C-contiguous) holds only 0/1 with at most
    ``max_nnz`` ones (stops at the first value that rules it out)."""
    flat = x.ravel()
    nnz = 0
    for i in range(flat.size):
        v = flat[i]
        if v != 0:
            if v != 1:
                return False
            nnz += 1
            if nnz > max_nnz:
                return False
    return True


@njit(cache=True, inline="always")
def _tanh_lut(y, ishift, lut):
    """Odd-symmetric, saturating table lookup of ``tanh`` (``models/mtc/spec.py``)."""
    i = (y + (np.int64(1) << (ishift - 1))) >> ishift
    K = lut.shape[0] - 1
    if i >= 0:
        return lut[min(i, K)]
    return -lut[min(-i, K)]


@njit(cache=True, fastmath=False, parallel=True)
def int_mtc_scan(a, P, lut, out_max, state, u_rec, record, counts):
    """``int_mtc`` (``models/mtc/spec.py``, ``step``) over ``T`` steps.

    .. math::
        F = (\\sum_x g_x \\,\\mathrm{lut}(U_{src(x)} - d_x) + 2^{11}) \\gg 12;\\quad
        U_m = \\mathrm{clip}_{24}(\\mathrm{decay}(U_m, d_m) + (a \\ll 6) + b + F);\\quad
        U_y \\mathrel{+}= ((U_m - U_y) k_y + 2^{15}) \\gg 16;\\quad
        o = \\mathrm{clip}(((U_m - th)\\, c + 2^{sh-1}) \\gg sh, 0, 2^8)

    Args:
        a: Synaptic input ``(T, B, N)`` int64.
        P: ``(17, N)`` int64 in the order of ``spec.INT_PARAMS``
            (dm, kf, ks, kus, gfn, gsp, gsn, gusp, dfn, dsp, dsn, dusp, th, bias, oscale, oshift, ishift).
        lut: The tanh table (int64).
        out_max: ``2^OUT_BITS``.
        state: ``(4, B, N)`` int64: ``um``, ``uf``, ``us``, ``uus``, updated in place.
        u_rec: ``(T, B, N)`` receives ``U_m`` when ``record``.
        record: Whether to fill ``u_rec``.
        counts: ``(B, 2)`` int64; membrane saturations are added to column 1.

    Returns:
        The graded output ``(T, B, N)`` int64 in ``[0, out_max]``.
    """
    T, B, N = a.shape
    out = np.zeros((T, B, N), np.int64)
    for bi in prange(B):
        ns = 0
        for t in range(T):
            for n in range(N):
                um = state[0, bi, n]
                uf = state[1, bi, n]
                us = state[2, bi, n]
                uus = state[3, bi, n]
                ish = P[16, n]
                acc = P[4, n] * _tanh_lut(uf - P[8, n], ish, lut)
                acc += P[5, n] * _tanh_lut(us - P[9, n], ish, lut)
                acc += P[6, n] * _tanh_lut(us - P[10, n], ish, lut)
                acc += P[7, n] * _tanh_lut(uus - P[11, n], ish, lut)
                fb = (acc + 2048) >> 12
                um, hit = _sat24(_decay(um, 4096 - P[0, n]) + (a[t, bi, n] << 6) + P[13, n] + fb)
                ns += hit
                state[0, bi, n] = um
                state[1, bi, n] = uf + (((um - uf) * P[1, n] + 32768) >> 16)
                state[2, bi, n] = us + (((um - us) * P[2, n] + 32768) >> 16)
                state[3, bi, n] = uus + (((um - uus) * P[3, n] + 32768) >> 16)
                if record:
                    u_rec[t, bi, n] = um
                sh = P[15, n]
                o = ((um - P[12, n]) * P[14, n] + (np.int64(1) << (sh - 1))) >> sh
                if o < 0:
                    o = 0
                elif o > out_max:
                    o = out_max
                out[t, bi, n] = o
        counts[bi, 1] += ns
    return out
