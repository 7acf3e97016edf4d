"""Elementwise activations and their derivatives, over flat arrays.

    relu(x) = x > 0 ? x : 0 (NaN stays NaN)     relu'(x) = x > 0
    leaky_relu(x) = x > 0 ? x : a x             leaky'(x) = x > 0 ? 1 : a
    sigmoid(x) = 1 / (1 + e^-x)                 sigmoid' = y (1 - y)
    tanh(x)                                     tanh'    = 1 - y^2

sigmoid and tanh are the vectorised forms in _math.py (through exp(-|x|)
and expm1(-2|x|), so nothing overflows).
Reference: fastnn/reference/activations.py.
"""
from numba import njit, prange

from ._math import FASTMATH, sigmoid, tanh


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def relu_forward(x, y):
    zero = x.dtype.type(0)
    for i in prange(x.size):
        y[i] = zero if x[i] <= 0 else x[i]


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def relu_backward(dy, x, dx):
    zero = dy.dtype.type(0)
    for i in prange(x.size):
        dx[i] = dy[i] if x[i] > 0 else zero


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def leaky_relu_forward(x, negative_slope, y):
    a = x.dtype.type(negative_slope)
    for i in prange(x.size):
        y[i] = x[i] if x[i] > 0 else x[i] * a


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def leaky_relu_backward(dy, x, negative_slope, dx):
    a = dy.dtype.type(negative_slope)
    for i in prange(x.size):
        dx[i] = dy[i] if x[i] > 0 else dy[i] * a


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def sigmoid_forward(x, y):
    one = x.dtype.type(1)
    for i in prange(x.size):
        y[i] = sigmoid(x[i], one)


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def sigmoid_backward(dy, y, dx):
    one = y.dtype.type(1)           # a bare 1 (an int) would lift float32 to float64
    for i in prange(y.size):
        dx[i] = dy[i] * y[i] * (one - y[i])


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def tanh_forward(x, y):
    one = x.dtype.type(1)
    for i in prange(x.size):
        y[i] = tanh(x[i], one)


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def tanh_backward(dy, y, dx):
    one = y.dtype.type(1)
    for i in prange(y.size):
        dx[i] = dy[i] * (one - y[i] * y[i])
