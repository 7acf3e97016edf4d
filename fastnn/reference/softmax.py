"""Softmax, log-softmax and the fused softmax cross-entropy loss.

    softmax(x)_i     = exp(x_i - m) / sum_j exp(x_j - m),   m = max_j x_j
    log_softmax(x)_i = x_i - m - log(sum_j exp(x_j - m))

Subtracting the maximum keeps every exponent <= 0, so logits like 1e4 or
3e38 stay finite. With y = softmax(x), the backward is

    dx = y * (dy - sum_j dy_j * y_j)

Cross-entropy over N rows of C logits with integer targets t:

    loss = -(1/N) sum_n log_softmax(x_n)_{t_n}
    dloss/dx_n = (softmax(x_n) - onehot(t_n)) / N
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


def cross_entropy(logits, target):
    """logits (N, C), target (N,) ints in [0, C) -> (loss: float, dlogits (N, C))."""
    _checks.cross_entropy_args("cross_entropy", logits, target, allow_device=False)
    N = logits.shape[0]
    logp = log_softmax(logits, axis=1)
    rows = np.arange(N)
    with np.errstate(invalid="ignore"):     # N = 0: the mean of no rows is 0/0 = NaN, as in torch
        loss = -logp[rows, target].astype(np.float64).sum() / N
    dlogits = np.exp(logp)
    dlogits[rows, target] -= 1
    dlogits /= logits.dtype.type(N)
    return float(loss), dlogits
