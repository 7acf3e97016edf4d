"""Binary cross-entropy on logits on the GPU, forward and backward in one pass:
one block a chunk of kernels/cpu/bce.py's CHUNK elements, whose float64 sum of
the per-element losses the block reduces in shared memory into partial[chunk].
Math, weights included, as in kernels/cpu/bce.py; reference:
fastnn/reference/bce.py.

A weight broadcast over the logits (O or 1, M or 1, I or 1) is read at the
element's (o, m, i) clamped to its extents: two integer divisions an element,
paid only when a weight is given."""
import math

from numba import cuda, float64

from ..cpu.bce import CHUNK
from ._device import THREADS, flat, view
from ._launch import kernel


@cuda.jit(device=True, inline=True)
def _broadcast_at(a, o, m, i):
    return a[min(o, a.shape[0] - 1), min(m, a.shape[1] - 1), min(i, a.shape[2] - 1)]


@kernel
def _forward_backward(x, y, M, I, w, has_w, p, has_p, grad_scale, partial, loss, keep_loss, dx):
    c, t = cuda.blockIdx.x, cuda.threadIdx.x
    n = x.size
    one, zero = dx.dtype.type(1), dx.dtype.type(0)
    scale = dx.dtype.type(grad_scale)
    s = 0.0
    for j in range(c * CHUNK + t, min(n, (c + 1) * CHUNK), THREADS):
        v, target = x[j], y[j]
        wj = pw = one
        if has_w or has_p:
            r = j // I
            o = r // M
            if has_w:
                wj = _broadcast_at(w, o, r - o * M, j - r * I)
            if has_p:
                pw = _broadcast_at(p, o, r - o * M, j - r * I)
        lw = one + (pw - one) * target
        e = math.exp(-abs(v))
        l = wj * ((one - target if v >= zero else -(pw * target)) * v + lw * math.log1p(e))
        s += l
        if keep_loss:
            loss[j] = l
        sig = (one if v >= zero else e) / (one + e)            # NaN stays NaN
        dx[j] = (wj * scale) * (lw * sig - pw * target)
    buf = cuda.shared.array(THREADS, float64)
    buf[t] = s
    cuda.syncthreads()
    half = THREADS // 2
    while half > 0:
        if t < half:
            buf[t] += buf[t + half]
        cuda.syncthreads()
        half //= 2
    if t == 0:
        partial[c] = buf[0]


def bce_with_logits_forward_backward(x, y, weight, pos_weight, grad_scale, partial, loss, dx):
    """As kernels/cpu/bce.py's: x, y, dx, loss (None or like x) (O, M, I);
    weight, pos_weight None or (O or 1, M or 1, I or 1)."""
    if not partial.size:
        return
    _, M, I = x.shape
    dummy = view(x, (1, 1, x.size))           # stands for a weight not given: never read
    _forward_backward[partial.size, THREADS](
        flat(x), flat(y), M, I, dummy if weight is None else weight, weight is not None,
        dummy if pos_weight is None else pos_weight, pos_weight is not None, float(grad_scale), partial,
        flat(dx if loss is None else loss), loss is not None, flat(dx))
