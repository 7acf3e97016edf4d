"""Fused multi-tensor optimizer steps: SGD, RMSprop, Adam/AdamW.

One call updates every parameter of a model. Parameters and gradients come
as typed lists of flat arrays (the user's own arrays, updated in place);
optimizer state lives in flat buffers with offsets[k] the start of tensor k.
The flat index space is cut into equal blocks, one prange iteration each,
so the work is balanced whatever the tensor sizes. Each element is read
once and written once: Adam moves p, g, m, v in and p, m, v out, 28 bytes
per float32 element, the minimum for an unfused-state optimizer.

The math is torch.optim's, term for term (see fastnn/reference/optim.py);
scalars that depend only on the step (bias corrections) are computed once
by the caller. active[k] = False skips tensor k (its gradient is None).

Each block is handled as contiguous slices indexed from 0: indexing the
flat state as m[base + i] instead kept LLVM from vectorising, 5x slower.
"""
import numpy as np
from numba import njit, prange

BLOCK = 1 << 16


@njit(cache=True, inline="always")
def _segment(params, grads, offsets, blk, k):
    """The part of block `blk` that lies in tensor k: (p, g, lo, hi), p and g the
    contiguous slices of tensor k's parameter and gradient, [lo, hi) the same
    elements' flat indices into the state buffers (lo == hi: none)."""
    total = offsets[-1]
    lo = max(blk * BLOCK, offsets[k])
    hi = min(min(total, (blk + 1) * BLOCK), offsets[k + 1])
    hi = max(lo, hi)
    base = offsets[k]
    return params[k][lo - base:hi - base], grads[k][lo - base:hi - base], lo, hi


@njit(cache=True, inline="always")
def _tensors_of_block(offsets, blk):
    """The range [k0, k1) of tensors that block `blk` touches."""
    total = offsets[-1]
    start, end = blk * BLOCK, min(total, (blk + 1) * BLOCK)
    k0 = np.searchsorted(offsets, start, side="right") - 1
    k1 = np.searchsorted(offsets, end - 1, side="right")
    return k0, k1


@njit(parallel=True, cache=True)
def adam_step(params, grads, active, exp_avg, exp_avg_sq, offsets, lr, beta1, beta2, eps,
              weight_decay, decoupled, step_size, bc2_sqrt):
    """Adam (decoupled=False, L2 in the gradient) or AdamW (decoupled=True) on every tensor."""
    dt = exp_avg.dtype.type
    b1, b2, e, wd = dt(1 - beta1), dt(beta2), dt(eps), dt(weight_decay)
    one_b2, ss, bc = dt(1 - beta2), dt(step_size), dt(bc2_sqrt)
    shrink = dt(1 - lr * weight_decay) if decoupled else dt(1)
    l2 = dt(0) if decoupled else wd
    for blk in prange((offsets[-1] + BLOCK - 1) // BLOCK):
        k0, k1 = _tensors_of_block(offsets, blk)
        for k in range(k0, k1):
            if not active[k]:
                continue
            p, g, lo, hi = _segment(params, grads, offsets, blk, k)
            m, v = exp_avg[lo:hi], exp_avg_sq[lo:hi]
            for i in range(p.size):
                pi = p[i] * shrink
                gi = g[i] + l2 * pi if l2 != 0 else g[i]   # skip, not add 0 * p: p may be inf
                mi = m[i] + b1 * (gi - m[i])                 # torch's lerp_(grad, 1 - beta1)
                vi = v[i] * b2 + one_b2 * gi * gi
                m[i], v[i] = mi, vi
                p[i] = pi - ss * mi / (np.sqrt(vi) / bc + e)


@njit(parallel=True, cache=True)
def sgd_step(params, grads, active, momentum_buffer, offsets, lr, momentum, dampening, nesterov,
             weight_decay, first_step):
    """SGD with optional momentum (first step: buffer = gradient), dampening, Nesterov, L2."""
    dt = momentum_buffer.dtype.type
    lr_, mu, damp, wd = dt(lr), dt(momentum), dt(1 - dampening), dt(weight_decay)
    for blk in prange((offsets[-1] + BLOCK - 1) // BLOCK):
        k0, k1 = _tensors_of_block(offsets, blk)
        for k in range(k0, k1):
            if not active[k]:
                continue
            p, g, lo, hi = _segment(params, grads, offsets, blk, k)
            buf = momentum_buffer[lo:hi]
            first = first_step[k]
            for i in range(p.size):
                d = g[i] + wd * p[i] if weight_decay != 0 else g[i]
                if momentum != 0:
                    b = d if first else mu * buf[i] + damp * d
                    buf[i] = b
                    d = d + mu * b if nesterov else b
                p[i] = p[i] - lr_ * d


@njit(parallel=True, cache=True)
def rmsprop_step(params, grads, active, square_avg, momentum_buffer, offsets, lr, alpha, eps,
                 weight_decay, momentum):
    """RMSprop (uncentred) with optional momentum and L2."""
    dt = square_avg.dtype.type
    lr_, a, one_a, e, wd, mu = dt(lr), dt(alpha), dt(1 - alpha), dt(eps), dt(weight_decay), dt(momentum)
    for blk in prange((offsets[-1] + BLOCK - 1) // BLOCK):
        k0, k1 = _tensors_of_block(offsets, blk)
        for k in range(k0, k1):
            if not active[k]:
                continue
            p, g, lo, hi = _segment(params, grads, offsets, blk, k)
            sq, buf = square_avg[lo:hi], momentum_buffer[lo:hi]
            for i in range(p.size):
                d = g[i] + wd * p[i] if weight_decay != 0 else g[i]
                v = a * sq[i] + one_a * d * d
                sq[i] = v
                avg = np.sqrt(v) + e
                if momentum > 0:
                    b = mu * buf[i] + d / avg
                    buf[i] = b
                    p[i] = p[i] - lr_ * b
                else:
                    p[i] = p[i] - lr_ * d / avg
