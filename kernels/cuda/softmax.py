"""Softmax, log-softmax, backward and fused cross-entropy on the GPU.

One block per lane (row): the block's threads stride over the row, then
combine their partial max / sum through a shared-memory tree (float64), so a
row of any length costs one block and rows are read with coalesced loads.
Math as in kernels/cpu/softmax.py; reference: fastnn/reference/softmax.py.
"""
import math

from numba import cuda, float64

from ._device import THREADS


@cuda.jit(device=True)
def _block_reduce(buf, value, is_max):
    """Combine one value per thread into buf[0] (max or sum); all threads get the result."""
    t = cuda.threadIdx.x
    buf[t] = value
    cuda.syncthreads()
    step = cuda.blockDim.x // 2
    while step > 0:
        if t < step:
            buf[t] = max(buf[t], buf[t + step]) if is_max else buf[t] + buf[t + step]
        cuda.syncthreads()
        step //= 2
    out = buf[0]
    cuda.syncthreads()
    return out


@cuda.jit(device=True)
def _row_max(x, o, i, L, buf):
    m = -math.inf
    for j in range(cuda.threadIdx.x, L, cuda.blockDim.x):
        v = x[o, j, i]
        if v > m or v != v:
            m = v
    return _block_reduce(buf, m, True)


@cuda.jit
def _softmax_forward(x, log, y):
    lane = cuda.blockIdx.x
    O, L, I = x.shape
    o, i = lane // I, lane % I
    buf = cuda.shared.array(THREADS, float64)
    m = _row_max(x, o, i, L, buf)
    s = 0.0
    for j in range(cuda.threadIdx.x, L, cuda.blockDim.x):
        s += math.exp(x[o, j, i] - m)
    s = _block_reduce(buf, s, False)
    shift = m + math.log(s)
    for j in range(cuda.threadIdx.x, L, cuda.blockDim.x):
        y[o, j, i] = x[o, j, i] - shift if log else math.exp(x[o, j, i] - m) / s


@cuda.jit
def _softmax_backward(dy, y, dx):
    lane = cuda.blockIdx.x
    O, L, I = y.shape
    o, i = lane // I, lane % I
    buf = cuda.shared.array(THREADS, float64)
    dot = 0.0
    for j in range(cuda.threadIdx.x, L, cuda.blockDim.x):
        dot += dy[o, j, i] * y[o, j, i]
    dot = _block_reduce(buf, dot, False)
    for j in range(cuda.threadIdx.x, L, cuda.blockDim.x):
        dx[o, j, i] = y[o, j, i] * (dy[o, j, i] - dot)


@cuda.jit
def _cross_entropy(logits, target, row_loss, dlogits):
    """logits as (N, C, 1): the lane layout _row_max reads."""
    n = cuda.blockIdx.x
    N, C = dlogits.shape
    buf = cuda.shared.array(THREADS, float64)
    m = _row_max(logits, n, 0, C, buf)
    s = 0.0
    for j in range(cuda.threadIdx.x, C, cuda.blockDim.x):
        s += math.exp(logits[n, j, 0] - m)
    s = _block_reduce(buf, s, False)
    t = target[n]
    for j in range(cuda.threadIdx.x, C, cuda.blockDim.x):
        d = math.exp(logits[n, j, 0] - m) / s
        if j == t:
            d -= 1.0
        dlogits[n, j] = d / N
    if cuda.threadIdx.x == 0:
        row_loss[n] = m + math.log(s) - logits[n, t, 0]


def softmax_forward(x, log, y):
    O, L, I = x.shape
    _softmax_forward[O * I, THREADS](x, log, y)


def softmax_backward(dy, y, dx):
    O, L, I = y.shape
    _softmax_backward[O * I, THREADS](dy, y, dx)


def cross_entropy_forward_backward(logits, target, row_loss, dlogits):
    N, C = logits.shape
    _cross_entropy[N, THREADS](logits.reshape(N, C, 1), target, row_loss, dlogits)
