"""Fully connected layer, as torch.nn.functional.linear.

    y = x @ W^T + b          x (N, in), W (out, in), b (out,)
    dx = dy @ W,  dW = dy^T @ x,  db = sum_n dy
"""
from .. import _checks


def linear(x, weight, bias=None):
    """x (N, in), weight (out, in), bias (out,) -> y (N, out)."""
    _checks.linear_args("linear", x, weight, bias, allow_device=False)
    y = x @ weight.T
    return y if bias is None else y + bias


def linear_backward(dy, x, weight):
    """dy (N, out) -> dx (N, in), dweight (out, in), dbias (out,)."""
    _checks.linear_backward_args("linear_backward", dy, x, weight, allow_device=False)
    return dy @ weight, dy.T @ x, dy.sum(axis=0)
