"""Binary cross-entropy on logits on the GPU, forward and backward in one pass:
one block a chunk of kernels/cpu/bce.py's CHUNK elements, whose float64 sum of
the per-element losses the block reduces in shared memory into partial[chunk].
Math as in kernels/cpu/bce.py; reference: fastnn/reference/bce.py."""
import math

from numba import cuda, float64

from ..cpu.bce import CHUNK
from ._device import THREADS
from ._launch import kernel


@kernel
def _forward_backward(x, y, partial, dx):
    c, t = cuda.blockIdx.x, cuda.threadIdx.x
    n = x.size
    one, zero = dx.dtype.type(1), dx.dtype.type(0)
    inv_n = dx.dtype.type(1.0 / n)
    s = 0.0
    for i in range(c * CHUNK + t, min(n, (c + 1) * CHUNK), THREADS):
        v, target = x[i], y[i]
        e = math.exp(-abs(v))
        s += max(v, zero) - v * target + math.log1p(e)
        dx[i] = ((one if v >= zero else e) / (one + e) - target) * inv_n     # sigmoid(v) from e
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


def bce_with_logits_forward_backward(x, y, partial, dx):
    if partial.size:
        _forward_backward[partial.size, THREADS](x, y, partial, dx)
