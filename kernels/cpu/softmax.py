"""Softmax, log-softmax, their backward, and fused softmax cross-entropy.

Arrays arrive as (outer, L, inner) views: L is the softmax axis. With
inner == 1 (the last axis) each row is contiguous and all passes over it run
in L1: DRAM sees one read and one write per element. Otherwise each
(outer, inner) lane walks its L elements at stride `inner`.

    softmax:      y = e / s,                 e = exp(x - max x), s = sum e
    log_softmax:  y = x - max x - log s
    backward:     dx = y (dy - sum(dy y))
    cross-entropy, per row against a target distribution q (labels, class
    weights, label smoothing folded in; see the reference):
                  loss = sum_c q_c (m - x_c) + log s sum_c q_c,   m = max x
                  dlogits = grad_scale (e / s sum_c q_c - q)
    A label's row needs no pass for q: q = hit onehot(t) + spread w.

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


# ---------------------------------------------------------- cross-entropy

@njit(cache=True, inline="always")
def _class_weight(weight, c):
    """weight[c], or 1 when there are no class weights (compiled away per signature)."""
    if weight is None:
        return 1.0
    return weight[c]


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _label_row(row, t, weight, weight_sum, ignore_index, smoothing, grad_scale, d):
    """The loss of one row (float64) against label t; d <- grad_scale * its gradient.
    Distances m - x_c >= 0 keep the sums free of cancellation for huge logits."""
    C = row.size
    m = row_max(row)
    s = exp_and_sum(row, m, d)                      # d <- e = exp(x - m)
    if t == ignore_index:                           # q = 0: d = 0 e, NaN where x is, as torch's
        for j in range(C):
            d[j] = d[j] * 0
        return 0.0
    log_s = np.log(s)
    hit = (1.0 - smoothing) * _class_weight(weight, t)      # q_t, less the smoothing's share
    loss = hit * ((m - row[t]) + log_s)
    if smoothing == 0.0:
        scale = d.dtype.type(grad_scale * hit / s)
        for j in range(C):
            d[j] = d[j] * scale
    else:
        spread = smoothing / C                      # q_c = hit [c = t] + spread w_c
        dist = 0.0
        for j in range(C):
            dist += _class_weight(weight, j) * (m - row[j])
        loss += spread * (weight_sum * log_s + dist)
        scale = d.dtype.type(grad_scale * (hit + spread * weight_sum) / s)
        off = grad_scale * spread
        for j in range(C):
            d[j] = d[j] * scale - d.dtype.type(off * _class_weight(weight, j))
    d[t] -= grad_scale * hit
    return loss


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _probs_row(row, y, weight, smoothing, grad_scale, d):
    """The loss of one row (float64) against class probabilities y; d <- grad_scale *
    its gradient."""
    C = row.size
    m = row_max(row)
    s = exp_and_sum(row, m, d)
    keep, spread = 1.0 - smoothing, smoothing / C
    mass = 0.0                                      # sum_c q_c
    dist = 0.0                                      # sum_c q_c (m - x_c)
    for j in range(C):
        q = _class_weight(weight, j) * (keep * y[j] + spread)
        mass += q
        dist += q * (m - row[j])
    scale = d.dtype.type(grad_scale * mass / s)
    for j in range(C):
        d[j] = d[j] * scale - d.dtype.type(grad_scale * _class_weight(weight, j) * (keep * y[j] + spread))
    return mass * np.log(s) + dist


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def cross_entropy_forward_backward(logits, target, weight, weight_sum, ignore_index, smoothing, grad_scale,
                                   loss, dlogits):
    """Against labels: loss[o, i] <- the loss of row (o, :, i) (unreduced);
    dlogits <- grad_scale * d(sum of loss)/d(logits). logits, dlogits (O, C, I);
    target (O, I) ints, each in [0, C) or ignore_index; weight (C,) or None,
    weight_sum = sum(weight) (C without weights)."""
    O, C, I = logits.shape
    if I == 1:                                    # contiguous rows: the vectorised path
        x2, d2 = logits.reshape(O, C), dlogits.reshape(O, C)
        for o in prange(O):
            loss[o, 0] = _label_row(x2[o], target[o, 0], weight, weight_sum, ignore_index, smoothing,
                                    grad_scale, d2[o])
        return
    for lane in prange(O * I):
        o, i = lane // I, lane % I
        loss[o, i] = _label_row(logits[o, :, i], target[o, i], weight, weight_sum, ignore_index, smoothing,
                                grad_scale, dlogits[o, :, i])


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def cross_entropy_probs_forward_backward(logits, target, weight, smoothing, grad_scale, loss, dlogits):
    """Against class probabilities: as cross_entropy_forward_backward, with target
    (O, C, I) of logits' shape."""
    O, C, I = logits.shape
    if I == 1:
        x2, y2, d2 = logits.reshape(O, C), target.reshape(O, C), dlogits.reshape(O, C)
        for o in prange(O):
            loss[o, 0] = _probs_row(x2[o], y2[o], weight, smoothing, grad_scale, d2[o])
        return
    for lane in prange(O * I):
        o, i = lane // I, lane % I
        loss[o, i] = _probs_row(logits[o, :, i], target[o, :, i], weight, smoothing, grad_scale,
                                dlogits[o, :, i])
