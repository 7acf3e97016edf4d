"""Elementwise activations on the GPU, ELEMENTS elements a thread (flat arrays;
see _device.first_element). Math as in kernels/cpu/activations.py; reference:
fastnn/reference/activations.py.

Constants are of the arrays' dtype (`dx.dtype.type(1)`): Numba types a bare
`1 - y` or a Python-float slope as float64, and a float32 kernel would then
compute in float64, exp and division included."""
import math

from numba import cuda

from ._device import ELEMENTS, THREADS, blocks_for, first_element
from ._launch import kernel


@kernel
def _relu_forward(x, y):
    zero = y.dtype.type(0)
    i = first_element()
    for _ in range(ELEMENTS):
        if i < x.size:
            y[i] = zero if x[i] <= zero else x[i]
        i += THREADS


@kernel
def _relu_backward(dy, x, dx):
    zero = dx.dtype.type(0)
    i = first_element()
    for _ in range(ELEMENTS):
        if i < x.size:
            dx[i] = dy[i] if x[i] > zero else zero
        i += THREADS


@kernel
def _leaky_relu_forward(x, a, y):
    slope, zero = y.dtype.type(a), y.dtype.type(0)
    i = first_element()
    for _ in range(ELEMENTS):
        if i < x.size:
            y[i] = x[i] if x[i] > zero else x[i] * slope
        i += THREADS


@kernel
def _leaky_relu_backward(dy, x, a, dx):
    slope, zero = dx.dtype.type(a), dx.dtype.type(0)
    i = first_element()
    for _ in range(ELEMENTS):
        if i < x.size:
            dx[i] = dy[i] if x[i] > zero else dy[i] * slope
        i += THREADS


@cuda.jit(device=True)
def sigmoid(v, one):
    """1 / (1 + exp(-v)) without overflow: exp of -|v| only. `one` is 1 in v's dtype."""
    e = math.exp(-abs(v))
    return one / (one + e) if v >= 0 else e / (one + e)


@kernel
def _sigmoid_forward(x, y):
    one = y.dtype.type(1)
    i = first_element()
    for _ in range(ELEMENTS):
        if i < x.size:
            y[i] = sigmoid(x[i], one)
        i += THREADS


@kernel
def _sigmoid_backward(dy, y, dx):
    one = dx.dtype.type(1)
    i = first_element()
    for _ in range(ELEMENTS):
        if i < y.size:
            dx[i] = dy[i] * y[i] * (one - y[i])
        i += THREADS


@kernel
def _tanh_forward(x, y):
    i = first_element()
    for _ in range(ELEMENTS):
        if i < x.size:
            y[i] = math.tanh(x[i])
        i += THREADS


@kernel
def _tanh_backward(dy, y, dx):
    one = dx.dtype.type(1)
    i = first_element()
    for _ in range(ELEMENTS):
        if i < y.size:
            dx[i] = dy[i] * (one - y[i] * y[i])
        i += THREADS


def _launcher(kernel):
    """A host function launching `kernel` over the elements of its output (the last argument)."""
    def launch(*args):
        out = args[-1]
        if out.size:
            kernel[blocks_for(out.size, THREADS * ELEMENTS), THREADS](*args)
    return launch


relu_forward = _launcher(_relu_forward)
relu_backward = _launcher(_relu_backward)
leaky_relu_forward = _launcher(_leaky_relu_forward)
leaky_relu_backward = _launcher(_leaky_relu_backward)
sigmoid_forward = _launcher(_sigmoid_forward)
sigmoid_backward = _launcher(_sigmoid_backward)
tanh_forward = _launcher(_tanh_forward)
tanh_backward = _launcher(_tanh_backward)
