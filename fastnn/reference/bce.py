"""Binary cross-entropy on logits (logistic regression's loss), as
torch.nn.functional.binary_cross_entropy_with_logits with mean reduction:

    l = max(x, 0) - x y + log(1 + exp(-|x|))     (= -(y log s + (1 - y) log(1 - s)), s = sigmoid(x))
    loss = mean(l),   d(loss)/dx = (sigmoid(x) - y) / n
"""
import numpy as np

from .. import _checks
from .activations import sigmoid


def binary_cross_entropy_with_logits(logits, target):
    """logits, target (any shape, the same) -> (loss: float, dlogits like logits)."""
    _checks.bce_args("binary_cross_entropy_with_logits", logits, target, allow_device=False)
    n = logits.size
    x64, y64 = logits.astype(np.float64), target.astype(np.float64)
    total = np.sum(np.maximum(x64, 0) - x64 * y64 + np.log1p(np.exp(-np.abs(x64))))
    loss = total / n if n else float("nan")        # the mean of no elements, NaN as in torch
    return float(loss), (sigmoid(logits) - target) / logits.dtype.type(max(n, 1))
