"""Batch normalisation on the GPU, on (N, C, P) views.

A channel's statistics, and the backward's two sums, are reductions over its
M = N*P elements, cut into slices as the bias gradients' sums are
(reduce.py):

  1. a block per (channel, slice) writes the slice's partial sums (float64,
     shifted by the channel's first value as on the CPU);
  2. a thread per channel adds its S partials in a fixed order (deterministic,
     no atomics) and derives the per-channel constants;
  3. one thread per element applies them.

Few divisions per element: the slices walk a channel's (n, p) with a carry
(reduce.advance), and the elementwise passes find an element's channel with two
unsigned 32-bit divisions when the array allows (_pointwise). They made two
to four signed 64-bit divisions an element, with 64-bit index arithmetic
around them. (Numba's 64-bit division tests whether both values fit in 32
bits and then takes an inline 32-bit path; a subroutine otherwise.) SASS a
thread (bench/sass_counts.py, sm_90, float32): normalize 585 -> 98
instructions (424 outside the division subroutine), the input gradient
638 -> 113 (383). Not yet timed on a GPU; before, on an H100, fwd+bwd of
32x64x64x64 ran at 0.53-0.85x torch.

    forward:  mean, var (biased) -> y = (x - mean) * inv_std * gamma + beta
    backward: sb = sum dy, sg = sum dy (x - mean) * inv_std  (= dbeta, dgamma)
              dx = k dy - k sb / M - k sg inv_std (x - mean) / M,  k = gamma inv_std
              (training; in eval mode the statistics are constants: dx = k dy)

Math as in kernels/cpu/batchnorm.py; reference: fastnn/reference/batchnorm.py.
"""
import functools
import math

import numba
import numpy as np
from numba import cuda, float64

from ._device import THREADS, blocks_for, device_empty, flat, needs_64_bit, u32, u64
from ._launch import kernel
from .reduce import advance, block_sum, channel_slice, slices


@kernel
def _stats_partial(x, parts):
    """parts[c, b] = (sum d, sum d^2) over slice b of channel c, d = x - x[0, c, 0]."""
    N, C, P = x.shape
    c, k, k1, step, n, p, dn, dp = channel_slice(parts.shape[1], N, P)
    buf = cuda.shared.array(THREADS, float64)
    x0 = x[0, c, 0]
    s = 0.0
    ss = 0.0
    while k < k1:
        d = x[n, c, p] - x0
        s += d
        ss += d * d
        n, p = advance(n, p, dn, dp, u64(P))
        k += step
    s = block_sum(buf, s)
    ss = block_sum(buf, ss)
    if cuda.threadIdx.x == 0:
        parts[c, cuda.blockIdx.y, 0], parts[c, cuda.blockIdx.y, 1] = s, ss


@kernel
def _stats_final(x, parts, eps, mean, var, inv_std):
    c = cuda.grid(1)
    if c >= mean.size:
        return
    N, C, P = x.shape
    M = N * P
    s = 0.0
    ss = 0.0
    for b in range(parts.shape[1]):
        s += parts[c, b, 0]
        ss += parts[c, b, 1]
    mu = s / M
    v = max(ss / M - mu * mu, 0.0)
    mean[c], var[c], inv_std[c] = x[0, c, 0] + mu, v, 1.0 / math.sqrt(v + eps)


@kernel
def _grad_partial(dy, x, mean, parts):
    """parts[c, b] = (sum dy, sum dy (x - mean)) over slice b of channel c."""
    N, C, P = x.shape
    c, k, k1, step, n, p, dn, dp = channel_slice(parts.shape[1], N, P)
    buf = cuda.shared.array(THREADS, float64)
    m = mean[c]
    sb = 0.0
    sg = 0.0
    while k < k1:
        g = dy[n, c, p]
        sb += g
        sg += g * (x[n, c, p] - m)
        n, p = advance(n, p, dn, dp, u64(P))
        k += step
    sb = block_sum(buf, sb)
    sg = block_sum(buf, sg)
    if cuda.threadIdx.x == 0:
        parts[c, cuda.blockIdx.y, 0], parts[c, cuda.blockIdx.y, 1] = sb, sg


@kernel
def _grad_final(parts, inv_std, sums, dgamma, dbeta):
    """sums[c] = (sb, sg) with sg scaled by inv_std; dbeta = sb, dgamma = sg."""
    c = cuda.grid(1)
    if c >= inv_std.size:
        return
    sb = 0.0
    sg = 0.0
    for b in range(parts.shape[1]):
        sb += parts[c, b, 0]
        sg += parts[c, b, 1]
    sg *= inv_std[c]
    sums[c, 0], sums[c, 1] = sb, sg
    dbeta[c], dgamma[c] = sb, sg


@functools.cache
def _pointwise(wide):
    """(normalize, grad_input): the elementwise passes over flat (N*C*P) arrays,
    a thread per element, whose channel is (i // P) % C: two unsigned 32-bit
    divisions, or signed 64-bit ones when `wide` (_device.needs_64_bit)."""
    index = numba.int64 if wide else u32

    @kernel
    def normalize(x, C, P, gamma, beta, has_gamma, has_beta, mean, inv_std, y):
        i = index(cuda.grid(1))
        if i < x.size:
            c = index(index(i // index(P)) % index(C))
            scale = gamma[c] * inv_std[c] if has_gamma else inv_std[c]
            shift = (beta[c] if has_beta else 0.0) - mean[c] * scale
            y[i] = x[i] * scale + shift

    @kernel
    def grad_input(dy, x, C, P, gamma, has_gamma, mean, inv_std, sums, training, inv_m, dx):
        """inv_m = 1 / M: a float64 division is a subroutine call."""
        i = index(cuda.grid(1))
        if i < x.size:
            c = index(index(i // index(P)) % index(C))
            inv = inv_std[c]
            k = gamma[c] * inv if has_gamma else inv
            v = k * dy[i]
            if training:
                v -= k * (sums[c, 0] + sums[c, 1] * inv * (x[i] - mean[c])) * inv_m
            dx[i] = v
    return normalize, grad_input


@kernel
def _update_running(running_mean, running_var, mean, var, momentum, M):
    c = cuda.grid(1)
    if c < running_mean.size:
        running_mean[c] = (1 - momentum) * running_mean[c] + momentum * mean[c]
        running_var[c] = (1 - momentum) * running_var[c] + momentum * var[c] * (M / (M - 1))


@kernel
def _running_inv_std(running_mean, running_var, eps, mean, inv_std):
    c = cuda.grid(1)
    if c < running_mean.size:
        mean[c] = running_mean[c]
        inv_std[c] = 1.0 / math.sqrt(running_var[c] + eps)


def _or_dummy(a, like):
    return (a, True) if a is not None else (like, False)


def _partials(x):
    N, C, P = x.shape
    S = slices(C, N * P)
    return device_empty((C, S, 2), np.float64), (C, S)


def batch_norm_forward_train(x, gamma, beta, eps, y, mean, var, inv_std):
    parts, grid = _partials(x)
    _stats_partial[grid, THREADS](x, parts)
    _stats_final[blocks_for(mean.size), THREADS](x, parts, eps, mean, var, inv_std)
    batch_norm_forward_eval(x, gamma, beta, mean, inv_std, y)


def batch_norm_forward_eval(x, gamma, beta, mean, inv_std, y):
    (gamma, hg), (beta, hb) = _or_dummy(gamma, mean), _or_dummy(beta, mean)
    N, C, P = x.shape
    normalize = _pointwise(needs_64_bit(x, y))[0]
    normalize[blocks_for(x.size), THREADS](flat(x), C, P, gamma, beta, hg, hb, mean, inv_std, flat(y))


def batch_norm_backward(dy, x, gamma, mean, inv_std, training, dx, dgamma, dbeta):
    parts, grid = _partials(x)
    sums = device_empty((mean.size, 2), np.float64)
    _grad_partial[grid, THREADS](dy, x, mean, parts)
    _grad_final[blocks_for(mean.size), THREADS](parts, inv_std, sums, dgamma, dbeta)
    gamma, hg = _or_dummy(gamma, mean)
    N, C, P = x.shape
    grad_input = _pointwise(needs_64_bit(x, dx))[1]
    grad_input[blocks_for(x.size), THREADS](flat(dy), flat(x), C, P, gamma, hg, mean, inv_std, sums, training,
                                             1.0 / (N * P), flat(dx))


def update_running_stats(running_mean, running_var, mean, var, momentum, M):
    _update_running[blocks_for(mean.size), THREADS](running_mean, running_var, mean, var, momentum, M)


def running_inv_std(running_mean, running_var, eps, mean, inv_std):
    _running_inv_std[blocks_for(mean.size), THREADS](running_mean, running_var, eps, mean, inv_std)
