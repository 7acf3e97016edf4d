"""Binary cross-entropy on logits (logistic regression's loss), as
torch.nn.functional.binary_cross_entropy_with_logits, straight from its
definition, in float64. With s = sigmoid(x), weight w and positive-class
weight p (1 when not given):

    l = -w (p y log s + (1 - y) log(1 - s)) = w (p y softplus(-x) + (1 - y) softplus(x))
    dl/dx = w ((1 + (p - 1) y) s - p y)

softplus(z) = log(1 + e^z) = max(z, 0) + log1p(e^-|z|), which never overflows.
'mean' divides the summed l by the number of elements.
"""
import numpy as np

from .. import _checks
from .activations import sigmoid


def _softplus(z):
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def binary_cross_entropy_with_logits(logits, target, weight=None, reduction="mean", pos_weight=None):
    """logits, target (any shape, the same); weight, pos_weight None or
    broadcastable to it -> (loss: a float, or for 'none' an array like logits;
    dlogits like logits, of the summed losses for 'none')."""
    _, _, reduction = _checks.bce_args("binary_cross_entropy_with_logits", logits, target, weight, reduction,
                                       pos_weight, allow_device=False)
    x, y = logits.astype(np.float64), target.astype(np.float64)
    w = 1.0 if weight is None else weight.astype(np.float64)
    p = 1.0 if pos_weight is None else pos_weight.astype(np.float64)
    with np.errstate(invalid="ignore"):         # inf - inf, 0 inf: NaN, as torch's
        l = w * (p * y * _softplus(-x) + (1 - y) * _softplus(x))
        d = w * ((1 + (p - 1) * y) * sigmoid(x) - p * y)
    n = logits.size
    if reduction == "none":
        return l.astype(logits.dtype), d.astype(logits.dtype)
    if reduction == "sum":
        return float(l.sum()), d.astype(logits.dtype)
    loss = l.sum() / n if n else float("nan")   # the mean of no elements, NaN as in torch
    return float(loss), (d / max(n, 1)).astype(logits.dtype)
