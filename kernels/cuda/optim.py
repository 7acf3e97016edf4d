"""Optimizer steps on the GPU: the rules of kernels/cpu/optim.py, one thread
per element. Numba's CUDA kernels cannot take a list of arrays, so the GPU
step launches once per tensor (the CPU step is one call for all of them);
state buffers are the same flat buffers, passed as per-tensor slices."""
import math

from numba import cuda

from ._device import THREADS, blocks_for


@cuda.jit
def _adam(p, g, m, v, b1, b2, eps, l2, shrink, step_size, bc2_sqrt):
    i = cuda.grid(1)
    if i < p.size:
        pi = p[i] * shrink
        gi = g[i] + l2 * pi if l2 != 0 else g[i]
        mi = m[i] + b1 * (gi - m[i])
        vi = v[i] * b2 + (1 - b2) * gi * gi
        m[i], v[i] = mi, vi
        p[i] = pi - step_size * mi / (math.sqrt(vi) / bc2_sqrt + eps)


@cuda.jit
def _sgd(p, g, buf, lr, mu, damp, nesterov, wd, first):
    i = cuda.grid(1)
    if i < p.size:
        d = g[i] + wd * p[i] if wd != 0 else g[i]
        if mu != 0:
            b = d if first else mu * buf[i] + damp * d
            buf[i] = b
            d = d + mu * b if nesterov else b
        p[i] = p[i] - lr * d


@cuda.jit
def _rmsprop(p, g, sq, buf, lr, alpha, eps, wd, mu):
    i = cuda.grid(1)
    if i < p.size:
        d = g[i] + wd * p[i] if wd != 0 else g[i]
        v = alpha * sq[i] + (1 - alpha) * d * d
        sq[i] = v
        avg = math.sqrt(v) + eps
        if mu > 0:
            b = mu * buf[i] + d / avg
            buf[i] = b
            p[i] = p[i] - lr * b
        else:
            p[i] = p[i] - lr * d / avg


def _tensors(params, grads, active, offsets):
    for k in range(len(params)):
        if active[k] and params[k].size:
            yield k, params[k], grads[k], slice(int(offsets[k]), int(offsets[k + 1]))


def adam_step(params, grads, active, exp_avg, exp_avg_sq, offsets, lr, beta1, beta2, eps,
              weight_decay, decoupled, step_size, bc2_sqrt):
    shrink = 1 - lr * weight_decay if decoupled else 1.0
    l2 = 0.0 if decoupled else weight_decay
    for k, p, g, s in _tensors(params, grads, active, offsets):
        _adam[blocks_for(p.size), THREADS](p, g, exp_avg[s], exp_avg_sq[s], 1 - beta1, beta2, eps,
                                           l2, shrink, step_size, bc2_sqrt)


def sgd_step(params, grads, active, momentum_buffer, offsets, lr, momentum, dampening, nesterov,
             weight_decay, first_step):
    for k, p, g, s in _tensors(params, grads, active, offsets):
        _sgd[blocks_for(p.size), THREADS](p, g, momentum_buffer[s], lr, momentum, 1 - dampening,
                                          nesterov, weight_decay, bool(first_step[k]))


def rmsprop_step(params, grads, active, square_avg, momentum_buffer, offsets, lr, alpha, eps,
                 weight_decay, momentum):
    for k, p, g, s in _tensors(params, grads, active, offsets):
        _rmsprop[blocks_for(p.size), THREADS](p, g, square_avg[s], momentum_buffer[s], lr, alpha,
                                              eps, weight_decay, momentum)
