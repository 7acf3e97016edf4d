"""Optimizer steps on the GPU: the rules of kernels/cpu/optim.py, one thread
per element. Numba's CUDA kernels cannot take a list of arrays, so the GPU
step launches once per tensor (the CPU step is one call for all of them).
The launches are asynchronous, so the GPU stays busy as long as one tensor's
update takes longer than one launch (~25 us of Python); the state buffers
are passed whole with the tensor's offset, since slicing a Numba device array
costs as much as a launch."""
import math

from numba import cuda

from ._device import THREADS, blocks_for
from ._launch import kernel


@kernel
def _adam(p, g, m, v, off, b1, b2, eps, l2, shrink, step_size, bc2_sqrt):
    i = cuda.grid(1)
    if i < p.size:
        pi = p[i] * shrink
        gi = g[i] + l2 * pi if l2 != 0 else g[i]
        j = off + i
        mi = m[j] + b1 * (gi - m[j])
        vi = v[j] * b2 + (1 - b2) * gi * gi
        m[j], v[j] = mi, vi
        p[i] = pi - step_size * mi / (math.sqrt(vi) / bc2_sqrt + eps)


@kernel
def _sgd(p, g, buf, off, lr, mu, damp, nesterov, wd, first):
    i = cuda.grid(1)
    if i < p.size:
        d = g[i] + wd * p[i] if wd != 0 else g[i]
        if mu != 0:
            b = d if first else mu * buf[off + i] + damp * d
            buf[off + i] = b
            d = d + mu * b if nesterov else b
        p[i] = p[i] - lr * d


@kernel
def _rmsprop(p, g, sq, buf, off, lr, alpha, eps, wd, mu):
    i = cuda.grid(1)
    if i < p.size:
        d = g[i] + wd * p[i] if wd != 0 else g[i]
        j = off + i
        v = alpha * sq[j] + (1 - alpha) * d * d
        sq[j] = v
        avg = math.sqrt(v) + eps
        if mu > 0:
            b = mu * buf[j] + d / avg
            buf[j] = b
            p[i] = p[i] - lr * b
        else:
            p[i] = p[i] - lr * d / avg


def _tensors(params, grads, active, offsets):
    for k in range(len(params)):
        if active[k] and params[k].size:
            yield k, params[k], grads[k], int(offsets[k])


def adam_step(params, grads, active, exp_avg, exp_avg_sq, offsets, lr, beta1, beta2, eps,
              weight_decay, decoupled, step_size, bc2_sqrt):
    shrink = 1 - lr * weight_decay if decoupled else 1.0
    l2 = 0.0 if decoupled else weight_decay
    for k, p, g, off in _tensors(params, grads, active, offsets):
        _adam[blocks_for(p.size), THREADS](p, g, exp_avg, exp_avg_sq, off, 1 - beta1, beta2, eps,
                                           l2, shrink, step_size, bc2_sqrt)


def sgd_step(params, grads, active, momentum_buffer, offsets, lr, momentum, dampening, nesterov,
             weight_decay, first_step):
    for k, p, g, off in _tensors(params, grads, active, offsets):
        _sgd[blocks_for(p.size), THREADS](p, g, momentum_buffer, off, lr, momentum, 1 - dampening,
                                          nesterov, weight_decay, bool(first_step[k]))


def rmsprop_step(params, grads, active, square_avg, momentum_buffer, offsets, lr, alpha, eps,
                 weight_decay, momentum):
    for k, p, g, off in _tensors(params, grads, active, offsets):
        _rmsprop[blocks_for(p.size), THREADS](p, g, square_avg, momentum_buffer, off, lr, alpha,
                                              eps, weight_decay, momentum)
