"""Elementwise activations and their derivatives.

    relu(x)       = max(x, 0)                   relu'      = [x > 0]
    leaky_relu(x) = x if x > 0 else a*x         leaky'     = 1 if x > 0 else a
    sigmoid(x)    = 1 / (1 + exp(-x))           sigmoid'   = y (1 - y)
    tanh(x)                                     tanh'      = 1 - y^2

Sigmoid is evaluated as exp(x) / (1 + exp(x)) for x < 0, so exp never
overflows. The backwards of sigmoid and tanh take the forward's output y,
as torch's do. NaN propagates through every forward.
"""
import numpy as np

from .. import _checks


def relu(x):
    _checks.elementwise_args("relu", allow_device=False, x=x)
    return np.where(x <= 0, x.dtype.type(0), x)


def relu_backward(dy, x):
    _checks.elementwise_args("relu_backward", allow_device=False, dy=dy, x=x)
    return np.where(x > 0, dy, dy.dtype.type(0))


def leaky_relu(x, negative_slope=0.01):
    _checks.elementwise_args("leaky_relu", allow_device=False, x=x)
    a = x.dtype.type(_checks.real("leaky_relu", "negative_slope", negative_slope))
    return np.where(x > 0, x, x * a)


def leaky_relu_backward(dy, x, negative_slope=0.01):
    _checks.elementwise_args("leaky_relu_backward", allow_device=False, dy=dy, x=x)
    a = dy.dtype.type(_checks.real("leaky_relu_backward", "negative_slope", negative_slope))
    return np.where(x > 0, dy, dy * a)


def sigmoid(x):
    _checks.elementwise_args("sigmoid", allow_device=False, x=x)
    e = np.exp(-np.abs(x))              # in (0, 1]: never overflows
    one = x.dtype.type(1)
    return np.where(x >= 0, one / (one + e), e / (one + e))


def sigmoid_backward(dy, y):
    _checks.elementwise_args("sigmoid_backward", allow_device=False, dy=dy, y=y)
    return dy * y * (1 - y)


def tanh(x):
    _checks.elementwise_args("tanh", allow_device=False, x=x)
    return np.tanh(x)


def tanh_backward(dy, y):
    _checks.elementwise_args("tanh_backward", allow_device=False, dy=dy, y=y)
    return dy * (1 - y * y)
