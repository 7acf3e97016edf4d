"""Batch normalisation on the GPU: one block per channel for the statistics
and the backward's two sums (float64 shared-memory trees, shifted by the
channel's first value as on the CPU), one thread per element elsewhere.
Math as in kernels/cpu/batchnorm.py; reference: fastnn/reference/batchnorm.py.
"""
import math

from numba import cuda, float64

from ._device import THREADS, blocks_for
from .softmax import _block_reduce


@cuda.jit
def _forward_train(x, gamma, beta, has_gamma, has_beta, eps, y, mean, var, inv_std):
    c = cuda.blockIdx.x
    N, C, P = x.shape
    M = N * P
    buf = cuda.shared.array(THREADS, float64)
    x0 = x[0, c, 0]
    s = 0.0
    ss = 0.0
    for k in range(cuda.threadIdx.x, M, cuda.blockDim.x):
        d = x[k // P, c, k % P] - x0
        s += d
        ss += d * d
    s = _block_reduce(buf, s, False)
    ss = _block_reduce(buf, ss, False)
    mu = s / M
    m = x0 + mu
    v = max(ss / M - mu * mu, 0.0)
    inv = 1.0 / math.sqrt(v + eps)
    if cuda.threadIdx.x == 0:
        mean[c], var[c], inv_std[c] = m, v, inv
    scale = gamma[c] * inv if has_gamma else inv
    shift = (beta[c] if has_beta else 0.0) - m * scale
    for k in range(cuda.threadIdx.x, M, cuda.blockDim.x):
        y[k // P, c, k % P] = x[k // P, c, k % P] * scale + shift


@cuda.jit
def _forward_eval(x, gamma, beta, has_gamma, has_beta, mean, inv_std, y):
    idx = cuda.grid(1)
    N, C, P = x.shape
    if idx >= N * C * P:
        return
    c = (idx // P) % C
    scale = gamma[c] * inv_std[c] if has_gamma else inv_std[c]
    shift = (beta[c] if has_beta else 0.0) - mean[c] * scale
    y[idx // (C * P), c, idx % P] = x[idx // (C * P), c, idx % P] * scale + shift


@cuda.jit
def _backward(dy, x, gamma, has_gamma, mean, inv_std, training, dx, dgamma, dbeta):
    c = cuda.blockIdx.x
    N, C, P = x.shape
    M = N * P
    buf = cuda.shared.array(THREADS, float64)
    m, inv = mean[c], inv_std[c]
    sb = 0.0
    sg = 0.0
    for k in range(cuda.threadIdx.x, M, cuda.blockDim.x):
        g = dy[k // P, c, k % P]
        sb += g
        sg += g * (x[k // P, c, k % P] - m)
    sb = _block_reduce(buf, sb, False)
    sg = _block_reduce(buf, sg, False) * inv
    if cuda.threadIdx.x == 0:
        dbeta[c], dgamma[c] = sb, sg
    k_ = gamma[c] * inv if has_gamma else inv
    b = -k_ * sb / M if training else 0.0
    e = -k_ * sg / M * inv if training else 0.0
    for k in range(cuda.threadIdx.x, M, cuda.blockDim.x):
        dx[k // P, c, k % P] = k_ * dy[k // P, c, k % P] + b + e * (x[k // P, c, k % P] - m)


@cuda.jit
def _update_running(running_mean, running_var, mean, var, momentum, M):
    c = cuda.grid(1)
    if c < running_mean.size:
        running_mean[c] = (1 - momentum) * running_mean[c] + momentum * mean[c]
        running_var[c] = (1 - momentum) * running_var[c] + momentum * var[c] * (M / (M - 1))


@cuda.jit
def _running_inv_std(running_mean, running_var, eps, mean, inv_std):
    c = cuda.grid(1)
    if c < running_mean.size:
        mean[c] = running_mean[c]
        inv_std[c] = 1.0 / math.sqrt(running_var[c] + eps)


def _or_dummy(a, like):
    return (a, True) if a is not None else (like, False)


def batch_norm_forward_train(x, gamma, beta, eps, y, mean, var, inv_std):
    (gamma, hg), (beta, hb) = _or_dummy(gamma, mean), _or_dummy(beta, mean)
    _forward_train[x.shape[1], THREADS](x, gamma, beta, hg, hb, eps, y, mean, var, inv_std)


def batch_norm_forward_eval(x, gamma, beta, mean, inv_std, y):
    (gamma, hg), (beta, hb) = _or_dummy(gamma, mean), _or_dummy(beta, mean)
    _forward_eval[blocks_for(x.size), THREADS](x, gamma, beta, hg, hb, mean, inv_std, y)


def batch_norm_backward(dy, x, gamma, mean, inv_std, training, dx, dgamma, dbeta):
    gamma, hg = _or_dummy(gamma, mean)
    _backward[x.shape[1], THREADS](dy, x, gamma, hg, mean, inv_std, training, dx, dgamma, dbeta)


def update_running_stats(running_mean, running_var, mean, var, momentum, M):
    _update_running[blocks_for(mean.size), THREADS](running_mean, running_var, mean, var, momentum, M)


def running_inv_std(running_mean, running_var, eps, mean, inv_std):
    _running_inv_std[blocks_for(mean.size), THREADS](running_mean, running_var, eps, mean, inv_std)
