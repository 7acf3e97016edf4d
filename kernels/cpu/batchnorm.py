"""Batch normalisation, one channel per thread, statistics fused with use.

Arrays arrive as (N, C, P) views: P = H*W (1 for (N, C) input), and channel
c holds the M = N*P values x[:, c, :]. A channel of a typical activation
(32 x 32 x 32 floats = 128 KB) fits in L2, so each kernel makes its passes
over a channel back to back and reads it from DRAM once.

forward (training): mean and biased variance, from sums of (x - x0) and
(x - x0)^2 with x0 the channel's first value (the shifted-data algorithm:
no cancellation when |mean| >> std), accumulated in float64; then
y = gamma (x - mean) inv_std + beta.

backward: dbeta = sum dy, dgamma = sum dy x_hat (x_hat recomputed from x,
mean, inv_std rather than cached), then
    training: dx = gamma inv_std / M (M dy - dbeta - x_hat dgamma)
    eval:     dx = gamma inv_std dy
gamma None acts as 1, beta None as 0. The kernels compile with FASTMATH: its
reassociation lets the float64 sums vectorise (as serial chains of adds they
ran at one element per add latency, and left the kernels at torch's speed).
Reference: fastnn/reference/batchnorm.py.
"""
import numpy as np
from numba import njit, prange

from ._math import FASTMATH


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def batch_norm_forward_train(x, gamma, beta, eps, y, mean, var, inv_std):
    """y <- normalised x with batch statistics; mean, var (biased), inv_std (C,) <- those statistics."""
    N, C, P = x.shape
    M = N * P
    for c in prange(C):
        x0 = x[0, c, 0]
        s = 0.0
        ss = 0.0
        for n in range(N):
            for p in range(P):
                d = x[n, c, p] - x0
                s += d
                ss += d * d
        mu = s / M
        m = x0 + mu
        v = max(ss / M - mu * mu, 0.0)
        inv = 1.0 / np.sqrt(v + eps)
        mean[c], var[c], inv_std[c] = m, v, inv
        scale = inv if gamma is None else gamma[c] * inv
        shift = x.dtype.type(-m * scale + (0.0 if beta is None else beta[c]))
        scale = x.dtype.type(scale)
        for n in range(N):
            for p in range(P):
                y[n, c, p] = x[n, c, p] * scale + shift


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def batch_norm_forward_eval(x, gamma, beta, mean, inv_std, y):
    """y <- normalised x with given per-channel mean and inv_std (C,)."""
    N, C, P = x.shape
    for c in prange(C):
        scale = inv_std[c] if gamma is None else gamma[c] * inv_std[c]
        shift = x.dtype.type(-mean[c] * scale + (0.0 if beta is None else beta[c]))
        scale = x.dtype.type(scale)
        for n in range(N):
            for p in range(P):
                y[n, c, p] = x[n, c, p] * scale + shift


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def batch_norm_backward(dy, x, gamma, mean, inv_std, training, dx, dgamma, dbeta):
    """dx, dgamma, dbeta (C,) <- the gradients of batch_norm for dy."""
    N, C, P = x.shape
    M = N * P
    for c in prange(C):
        m, inv = mean[c], inv_std[c]
        sb = 0.0
        sg = 0.0
        for n in range(N):
            for p in range(P):
                g = dy[n, c, p]
                sb += g
                sg += g * (x[n, c, p] - m)
        sg *= inv
        dbeta[c], dgamma[c] = sb, sg
        k = inv if gamma is None else gamma[c] * inv
        if training:
            a = k
            b = -k * (sb / M)
            e = -k * (sg / M) * inv
            for n in range(N):
                for p in range(P):
                    dx[n, c, p] = a * dy[n, c, p] + b + e * (x[n, c, p] - m)
        else:
            for n in range(N):
                for p in range(P):
                    dx[n, c, p] = k * dy[n, c, p]


@njit(cache=True)
def update_running_stats(running_mean, running_var, mean, var, momentum, M):
    """In place: running = (1 - momentum) running + momentum batch, with the
    batch variance made unbiased (times M / (M - 1)), as torch."""
    for c in range(running_mean.size):
        running_mean[c] = (1 - momentum) * running_mean[c] + momentum * mean[c]
        running_var[c] = (1 - momentum) * running_var[c] + momentum * var[c] * (M / (M - 1))


@njit(cache=True)
def running_inv_std(running_mean, running_var, eps, mean, inv_std):
    """mean, inv_std (C,) float64 <- the running statistics, for eval mode."""
    for c in range(running_mean.size):
        mean[c] = running_mean[c]
        inv_std[c] = 1.0 / np.sqrt(running_var[c] + eps)
