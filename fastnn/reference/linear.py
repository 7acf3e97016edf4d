"""Fully connected layer, as torch.nn.functional.linear.

    y = x @ W^T + b          x (N, in), W (out, in), b (out,)
    dx = dy @ W,  dW = dy^T @ x,  db = sum_n dy

x may have any leading dimensions (*, in), as in torch: they are all batch
dimensions, and the weight and bias gradients sum over them.
"""
import numpy as np

from .. import _checks


def linear(x, weight, bias=None):
    """x (*, in), weight (out, in), bias (out,) -> y (*, out)."""
    _checks.linear_args("linear", x, weight, bias, allow_device=False)
    y = x @ weight.T
    return y if bias is None else y + bias


def linear_backward(dy, x, weight):
    """dy (*, out) -> dx (*, in), dweight (out, in), dbias (out,)."""
    _checks.linear_backward_args("linear_backward", dy, x, weight, allow_device=False)
    rows = int(np.prod(x.shape[:-1]))         # not -1: that cannot be inferred when in = 0
    dy2, x2 = dy.reshape(rows, dy.shape[-1]), x.reshape(rows, x.shape[-1])
    return dy @ weight, dy2.T @ x2, dy2.sum(axis=0)
