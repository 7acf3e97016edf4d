"""Optimizer update rules, one tensor at a time, exactly as torch.optim's
single-tensor (foreach=False) implementations. Each function updates
`param` and its state arrays in place and returns nothing.

SGD (torch.optim.SGD), with weight decay wd, momentum mu, dampening d:
    g = grad + wd p
    buf = g                                  on the first step (no dampening)
    buf = mu buf + (1 - d) g                 afterwards
    g = g + mu buf  (nesterov)  or  g = buf
    p = p - lr g

RMSprop (torch.optim.RMSprop, centered=False; Tieleman & Hinton 2012):
    g = grad + wd p
    v = alpha v + (1 - alpha) g^2
    buf = mu buf + g / (sqrt(v) + eps),  p = p - lr buf     (mu > 0)
    p = p - lr g / (sqrt(v) + eps)                           (mu = 0)

Adam (torch.optim.Adam; Kingma & Ba 2015), step t counted from 1:
    g = grad + wd p                                          (L2, coupled)
    m = b1 m + (1 - b1) g,   v = b2 v + (1 - b2) g^2
    p = p - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)

AdamW (torch.optim.AdamW; Loshchilov & Hutter 2019): p = p (1 - lr wd)
first, then Adam's update without the L2 term.
"""
import numpy as np


def sgd_update(param, grad, momentum_buffer, *, lr, momentum=0.0, dampening=0.0,
               nesterov=False, weight_decay=0.0, first_step=False):
    """momentum_buffer is like param (unused when momentum == 0)."""
    dt = param.dtype.type
    g = grad + dt(weight_decay) * param if weight_decay else grad.copy()
    if momentum:
        if first_step:
            momentum_buffer[...] = g
        else:
            momentum_buffer *= dt(momentum)
            momentum_buffer += dt(1 - dampening) * g
        g = g + dt(momentum) * momentum_buffer if nesterov else momentum_buffer
    param -= dt(lr) * g


def rmsprop_update(param, grad, square_avg, momentum_buffer, *, lr, alpha=0.99, eps=1e-8,
                   weight_decay=0.0, momentum=0.0):
    dt = param.dtype.type
    g = grad + dt(weight_decay) * param if weight_decay else grad
    square_avg *= dt(alpha)
    square_avg += dt(1 - alpha) * g * g
    avg = np.sqrt(square_avg) + dt(eps)
    if momentum > 0:
        momentum_buffer *= dt(momentum)
        momentum_buffer += g / avg
        param -= dt(lr) * momentum_buffer
    else:
        param -= dt(lr) * g / avg


def adam_update(param, grad, exp_avg, exp_avg_sq, step, *, lr, beta1=0.9, beta2=0.999, eps=1e-8,
                weight_decay=0.0, decoupled=False):
    """step: the step number, counted from 1. decoupled=True is AdamW."""
    dt = param.dtype.type
    if decoupled:
        param *= dt(1 - lr * weight_decay)
        g = grad
    else:
        g = grad + dt(weight_decay) * param if weight_decay else grad
    exp_avg *= dt(beta1)
    exp_avg += dt(1 - beta1) * g
    exp_avg_sq *= dt(beta2)
    exp_avg_sq += dt(1 - beta2) * g * g
    step_size = lr / (1 - beta1 ** step)
    denom = np.sqrt(exp_avg_sq) / dt(np.sqrt(1 - beta2 ** step)) + dt(eps)
    param -= dt(step_size) * exp_avg / denom
