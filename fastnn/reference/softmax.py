"""Softmax, log-softmax and the fused softmax cross-entropy loss.

    softmax(x)_i     = exp(x_i - m) / sum_j exp(x_j - m),   m = max_j x_j
    log_softmax(x)_i = x_i - m - log(sum_j exp(x_j - m))

Subtracting the maximum keeps every exponent <= 0, so logits like 1e4 or
3e38 stay finite. With y = softmax(x), the backward is

    dx = y * (dy - sum_j dy_j * y_j)

Cross-entropy, as torch.nn.functional.cross_entropy: each row n of C logits
(classes on axis 1 of (N, C, d1, ...), each (n, d1, ...) a row) is scored
against a target distribution q_n with class weights w (default 1) and label
smoothing eps:

    labels t_n:          q_nc = w_c ((1 - eps) [c = t_n] + eps / C),  0 if t_n = ignore_index
    probabilities y_n:   q_nc = w_c ((1 - eps) y_nc + eps / C)
    loss_n     = -sum_c q_nc log_softmax(x_n)_c
    dloss_n/dx_n = softmax(x_n) sum_c q_nc - q_n

reduction 'sum' adds the loss_n, 'none' keeps them, and 'mean' divides the sum
by torch's divisor: the summed weight w_{t_n} of the labels not ignored (their
count when unweighted), or the number of rows for probabilities. eps = 0, no
weights, every label kept: loss = -(1/N) sum_n log_softmax(x_n)_{t_n}.
"""
import numpy as np

from .. import _checks


def _max(x, axis):
    """max along axis, kept as a length-1 axis; an empty axis gives an empty result."""
    return x.max(axis=axis, keepdims=True, initial=-np.inf)


def softmax(x, axis=-1):
    """x (any shape) -> y, the same shape, normalised along `axis`."""
    _, _, axis = _checks.softmax_args("softmax", x, axis, allow_device=False)
    with np.errstate(over="ignore"):    # x - max may reach -inf: exp gives 0, as it should
        e = np.exp(x - _max(x, axis))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    """x (any shape) -> log(softmax(x)), computed without forming softmax."""
    _, _, axis = _checks.softmax_args("log_softmax", x, axis, allow_device=False)
    # the sum is >= 1 (the maximum's own term) except on an empty axis, where log(0)
    # meets no element
    with np.errstate(over="ignore", divide="ignore"):
        z = x - _max(x, axis)
        return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def softmax_backward(dy, y, axis=-1):
    """dy, y (softmax's output) -> dx."""
    _, _, axis = _checks.softmax_backward_args("softmax_backward", dy, y, axis, allow_device=False)
    return y * (dy - (dy * y).sum(axis=axis, keepdims=True))


def cross_entropy(logits, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """logits (C,), (N, C) or (N, C, d1, ..., dk); target labels (logits' shape
    without C) or class probabilities (logits' shape) -> (loss, dlogits).

    loss: a float, or for reduction='none' an array of logits' shape without C;
    dlogits: the gradient of the loss (of its sum, for 'none'). Math as torch's,
    in the module docstring."""
    a = _checks.cross_entropy_args("cross_entropy", logits, target, weight, ignore_index, reduction,
                                   label_smoothing, allow_device=False)
    O, C, I = a.lanes
    x = _rows(logits, a.lanes)
    w = np.ones(C) if weight is None else weight.astype(np.float64)
    eps = a.smoothing
    logp = log_softmax(x, axis=1)
    if a.probs:
        q = w * ((1 - eps) * _rows(target, a.lanes) + eps / C)
        losses = -(q * logp).sum(axis=1)
        total = O * I
    else:
        # as torch composes it, so that a logit of -inf outside the target costs nothing
        labels = target.reshape(-1).astype(np.int64)
        kept = labels != ignore_index
        t = np.where(kept, labels, 0)
        w_t = w[t] * kept
        with np.errstate(invalid="ignore"):
            losses = -(1 - eps) * w_t * logp[np.arange(O * I), t]
            if eps:
                losses = losses - eps / C * (w * logp).sum(axis=1)
        losses[~kept] = 0                       # even where logits hold NaN, as torch
        q = (1 - eps) * w_t[:, None] * (np.arange(C) == t[:, None]) + eps / C * w * kept[:, None]
        total = w_t.sum()
    dx = np.exp(logp) * q.sum(axis=1, keepdims=True) - q     # log_softmax's backward of -q
    loss = losses.sum()
    if a.reduction == "mean":
        scaled = slice(None) if a.probs else kept   # an ignored row's gradient stays 0 (0 / 0 is not)
        with np.errstate(divide="ignore", invalid="ignore"):     # nothing to average: NaN, as torch
            loss = loss / total
            dx[scaled] = dx[scaled] / total
    dlogits = np.moveaxis(dx.reshape(O, I, C), 2, 1).reshape(logits.shape).astype(logits.dtype)
    if a.reduction == "none":
        return losses.reshape(a.loss_shape).astype(logits.dtype), dlogits
    return float(loss), dlogits


def _rows(a, lanes):
    """(outer, C, inner) -> one row of C per (outer, inner) lane, in float64."""
    O, C, I = lanes
    return np.moveaxis(a.reshape(lanes), 1, 2).reshape(O * I, C).astype(np.float64)
