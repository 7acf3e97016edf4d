"""Batch normalisation (Ioffe & Szegedy 2015), as torch.nn.functional.batch_norm.

Per channel c, over the M = N (or N*H*W, or N*L) values of the batch,
x (N, C, *):

    mean = (1/M) sum x,   var = (1/M) sum (x - mean)^2        (biased)
    x_hat = (x - mean) / sqrt(var + eps),   y = gamma * x_hat + beta

Training uses the batch statistics and updates the running ones in place:

    running_mean = (1 - momentum) running_mean + momentum mean
    running_var  = (1 - momentum) running_var  + momentum var * M/(M - 1)   (unbiased)

Eval uses the running statistics. The training backward in closed form:

    dbeta = sum dy,   dgamma = sum dy x_hat
    dx = gamma / (M sqrt(var + eps)) * (M dy - dbeta - x_hat dgamma)

In eval the statistics are constants: dx = gamma dy / sqrt(running_var + eps).
gamma or beta None means 1 or 0, and the gradient returned for it is None.
An empty batch, as in torch, leaves the running statistics alone and gets
zero gradients for gamma and beta.
"""
from typing import NamedTuple, Optional

import numpy as np

from .. import _checks


class BatchNormCache(NamedTuple):
    x_hat: np.ndarray         # like x
    inv_std: Optional[np.ndarray]   # (C,); None for an empty batch
    gamma: Optional[np.ndarray]
    has_beta: bool
    training: bool


def _axes(x):
    return (0,) + tuple(range(2, x.ndim))


def _per_channel(v, x):
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


def batch_norm(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
    """x (N, C, *); gamma, beta, running stats (C,) -> (y, cache)."""
    _checks.batch_norm_args("batch_norm", x, gamma, beta, running_mean, running_var, training,
                            momentum, eps, allow_device=False)
    if x.size == 0:     # an empty batch, as in torch: nothing to normalise, no statistics to update
        return x.copy(), BatchNormCache(x.copy(), None, gamma, beta is not None, bool(training))
    dt = x.dtype.type
    axes = _axes(x)
    if training:
        M = x.size // x.shape[1]
        mean = x.mean(axis=axes)
        var = ((x - _per_channel(mean, x)) ** 2).mean(axis=axes)
        if running_mean is not None:
            running_mean *= dt(1 - momentum)
            running_mean += dt(momentum) * mean
            running_var *= dt(1 - momentum)
            running_var += dt(momentum) * var * dt(M / (M - 1))
    else:
        mean, var = running_mean, running_var
    inv_std = (1 / np.sqrt(var + dt(eps))).astype(x.dtype)
    x_hat = (x - _per_channel(mean, x)) * _per_channel(inv_std, x)
    y = x_hat if gamma is None else x_hat * _per_channel(gamma, x)
    if beta is not None:
        y = y + _per_channel(beta, x)
    return y.astype(x.dtype, copy=False), BatchNormCache(x_hat, inv_std, gamma, beta is not None,
                                                         bool(training))


def batch_norm_backward(dy, cache):
    """dy like x -> (dx, dgamma (C,) or None, dbeta (C,) or None)."""
    x_hat, inv_std, gamma, has_beta, training = cache
    _checks.elementwise_args("batch_norm_backward", allow_device=False, dy=dy, x_hat=x_hat)
    if dy.size == 0:    # an empty batch: sums over no values are zero
        zeros = np.zeros(dy.shape[1], dy.dtype)
        return dy.copy(), None if gamma is None else zeros, zeros.copy() if has_beta else None
    axes = _axes(dy)
    M = dy.size // dy.shape[1]
    dbeta = dy.sum(axis=axes)
    dgamma = (dy * x_hat).sum(axis=axes)
    scale = inv_std if gamma is None else gamma * inv_std
    if training:
        dx = _per_channel(scale / M, dy) * (M * dy - _per_channel(dbeta, dy)
                                            - x_hat * _per_channel(dgamma, dy))
    else:
        dx = _per_channel(scale, dy) * dy
    return (dx.astype(dy.dtype, copy=False), None if gamma is None else dgamma,
            dbeta if has_beta else None)
