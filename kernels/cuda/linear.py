"""Fully connected layer on the GPU: GEMMs (gemm.py) plus a bias pass; the
bias gradient is reduce.column_sum. Math as in kernels/cpu/linear.py."""
from numba import cuda

from ._device import THREADS, blocks_for
from ._launch import kernel
from .gemm import matmul
from .reduce import column_sum


@kernel
def _add_row_bias(y, bias):
    idx = cuda.grid(1)
    if idx < y.size:
        y[idx // y.shape[1], idx % y.shape[1]] += bias[idx % y.shape[1]]


def add_row_bias(y, bias):
    if y.size:
        _add_row_bias[blocks_for(y.size), THREADS](y, bias)


def linear_forward(x, weight, bias, y):
    matmul(x, weight, y, tb=True)
    if bias is not None:
        add_row_bias(y, bias)


def linear_backward(dy, x, weight, dx, dweight, dbias):
    matmul(dy, weight, dx)
    matmul(dy, x, dweight, ta=True)
    column_sum(dy, dbias)
