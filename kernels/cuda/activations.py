"""Elementwise activations on the GPU, ELEMENTS elements a thread (flat arrays;
see _device.first_element). Math as in kernels/cpu/activations.py; reference:
fastnn/reference/activations.py."""
import math

from numba import cuda

from ._device import ELEMENTS, THREADS, blocks_for, first_element
from ._launch import kernel


@kernel
def _relu_forward(x, y):
    i = first_element()
    for _ in range(ELEMENTS):
        if i < x.size:
            y[i] = 0 if x[i] <= 0 else x[i]
        i += THREADS


@kernel
def _relu_backward(dy, x, dx):
    i = first_element()
    for _ in range(ELEMENTS):
        if i < x.size:
            dx[i] = dy[i] if x[i] > 0 else 0
        i += THREADS


@kernel
def _leaky_relu_forward(x, a, y):
    i = first_element()
    for _ in range(ELEMENTS):
        if i < x.size:
            y[i] = x[i] if x[i] > 0 else x[i] * a
        i += THREADS


@kernel
def _leaky_relu_backward(dy, x, a, dx):
    i = first_element()
    for _ in range(ELEMENTS):
        if i < x.size:
            dx[i] = dy[i] if x[i] > 0 else dy[i] * a
        i += THREADS


@cuda.jit(device=True)
def sigmoid(v):
    e = math.exp(-abs(v))
    return 1 / (1 + e) if v >= 0 else e / (1 + e)


@kernel
def _sigmoid_forward(x, y):
    i = first_element()
    for _ in range(ELEMENTS):
        if i < x.size:
            y[i] = sigmoid(x[i])
        i += THREADS


@kernel
def _sigmoid_backward(dy, y, dx):
    i = first_element()
    for _ in range(ELEMENTS):
        if i < y.size:
            dx[i] = dy[i] * y[i] * (1 - y[i])
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
    i = first_element()
    for _ in range(ELEMENTS):
        if i < y.size:
            dx[i] = dy[i] * (1 - y[i] * y[i])
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
