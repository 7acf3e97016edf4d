"""Fully connected layer: the products by BLAS, the bias by a parallel pass.

    y = x @ W^T + b,   dx = dy @ W,   dW = dy^T @ x,   db = sum_n dy

The bias add is a separate pass over y: for the shapes of this library
(y at most a few MB) it costs under 5% of the GEMM, and folding it into
the GEMM would need BLAS's beta=1 form, which NumPy does not expose.
Reference: fastnn/reference/linear.py.
"""
import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def add_row_bias(y, bias):
    """y (N, out) += bias (out,), in place."""
    for n in prange(y.shape[0]):
        y[n] += bias


@njit(parallel=True, cache=True)
def column_sum(dy, out):
    """out[k] = sum_n dy[n, k], accumulated in float64 (blocks of columns per thread)."""
    N, K = dy.shape
    block = 64
    for b in prange((K + block - 1) // block):
        k0, k1 = b * block, min(K, (b + 1) * block)
        acc = np.zeros(k1 - k0)
        for n in range(N):
            acc += dy[n, k0:k1]
        out[k0:k1] = acc


def linear_forward(x, weight, bias, y):
    """y (N, out) <- x (N, in) @ weight (out, in)^T + bias (out,) or None."""
    np.matmul(x, weight.T, out=y)
    if bias is not None:
        add_row_bias(y, bias)


def linear_backward(dy, x, weight, dx, dweight, dbias):
    """dx (N, in), dweight (out, in), dbias (out,) <- the gradients of linear for dy (N, out)."""
    np.matmul(dy, weight, out=dx)
    np.matmul(dy.T, x, out=dweight)
    column_sum(dy, dbias)
