"""Fully connected layer on the GPU: GEMMs (gemm.py) plus a bias pass and a
column-sum kernel. Math as in kernels/cpu/linear.py."""
from numba import cuda

from ._device import THREADS, blocks_for
from .gemm import matmul


@cuda.jit
def _add_row_bias(y, bias):
    idx = cuda.grid(1)
    if idx < y.size:
        y[idx // y.shape[1], idx % y.shape[1]] += bias[idx % y.shape[1]]


@cuda.jit
def _column_sum(dy, out):
    k = cuda.grid(1)
    if k < dy.shape[1]:
        acc = 0.0
        for n in range(dy.shape[0]):
            acc += dy[n, k]
        out[k] = acc


def add_row_bias(y, bias):
    if y.size:
        _add_row_bias[blocks_for(y.size), THREADS](y, bias)


def column_sum(dy, out):
    _column_sum[blocks_for(dy.shape[1]), THREADS](dy, out)


def linear_forward(x, weight, bias, y):
    matmul(x, weight, y, tb=True)
    if bias is not None:
        add_row_bias(y, bias)


def linear_backward(dy, x, weight, dx, dweight, dbias):
    matmul(dy, weight, dx)
    matmul(dy, x, dweight, ta=True)
    column_sum(dy, dbias)
