"""Softmax, log-softmax, their backward, and fused softmax cross-entropy.

Arrays arrive as (outer, L, inner) views: L is the softmax axis. With
inner == 1 (the last axis) each row is contiguous and all passes over it run
in L1: DRAM sees one read and one write per element. Otherwise each
(outer, inner) lane walks its L elements at stride `inner`.

    softmax:      y = e / s,                 e = exp(x - max x), s = sum e
    log_softmax:  y = x - max x - log s
    backward:     dx = y (dy - sum(dy y))
    cross-entropy, per row n with target t:
                  loss_n = max x + log s - x_t
                  dlogits = (e / s - onehot(t)) / N

exp runs through the vectorised exp_nonpositive (every argument is <= 0);
sums accumulate in float64. Reference: fastnn/reference/softmax.py.
"""
import numpy as np
from numba import njit, prange

from ._math import FASTMATH, exp_and_sum, row_max


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _softmax_row(row, m, log, out):
    """out <- softmax or log_softmax of row (1-D, contiguous or strided), m = max(row)."""
    s = exp_and_sum(row, m, out)
    if log:
        shift = out.dtype.type(m + np.log(s))     # in out's dtype: float32 loops stay float32
        for j in range(row.size):
            out[j] = row[j] - shift
    else:
        inv = out.dtype.type(1.0 / s)
        for j in range(row.size):
            out[j] = out[j] * inv


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def softmax_forward(x, log, y):
    """y <- softmax (log=False) or log_softmax (log=True) of x along axis 1 of (outer, L, inner)."""
    O, L, I = x.shape
    if I == 1:                                    # contiguous rows: the vectorised path
        x2, y2 = x.reshape(O, L), y.reshape(O, L)
        for o in prange(O):
            _softmax_row(x2[o], row_max(x2[o]), log, y2[o])
        return
    for lane in prange(O * I):
        row = x[lane // I, :, lane % I]
        _softmax_row(row, row_max(row), log, y[lane // I, :, lane % I])


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def softmax_backward(dy, y, dx):
    """dx <- y * (dy - sum(dy * y)) along axis 1 of (outer, L, inner)."""
    O, L, I = y.shape
    for lane in prange(O * I):
        o, i = lane // I, lane % I
        g, p, d = dy[o, :, i], y[o, :, i], dx[o, :, i]
        dot = 0.0
        for j in range(L):
            dot += g[j] * p[j]
        for j in range(L):
            d[j] = p[j] * (g[j] - dot)


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def cross_entropy_forward_backward(logits, target, row_loss, dlogits):
    """row_loss[n] (float64) <- -log_softmax(logits[n])[target[n]];
    dlogits <- d(mean loss)/d(logits). logits (N, C), target (N,) ints in [0, C)."""
    N, C = logits.shape
    inv_n = 1.0 / N
    for n in prange(N):
        row, d = logits[n], dlogits[n]
        m = row_max(row)
        s = exp_and_sum(row, m, d)
        t = target[n]
        row_loss[n] = m + np.log(s) - row[t]
        scale = d.dtype.type(inv_n / s)
        for j in range(C):
            d[j] = d[j] * scale
        d[t] -= inv_n
