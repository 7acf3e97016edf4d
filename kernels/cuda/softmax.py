"""Softmax, log-softmax, backward and fused cross-entropy on the GPU.

Contiguous rows (the softmax axis is the last one, inner == 1, and every
cross-entropy): one warp per row, ROWS_PER_BLOCK rows per block. The 32
lanes stride over the row with coalesced loads and combine their partial
max / sum through a small shared buffer (shuffles would save the barrier,
but Numba's simulator, where CI tests these kernels, has none); the row
stays in L1 between its passes, so DRAM sees one read and one write per
element. exp runs in the input's precision (the max is kept in it), sums
accumulate in float64.

Other axes (inner > 1): one block per (outer, inner) lane, its threads
striding over the lane and combining through a shared-memory tree.

Math as in kernels/cpu/softmax.py; reference: fastnn/reference/softmax.py.
"""
import math

import numba
import numpy as np
from numba import cuda, float64

from ._device import THREADS

WARP = 32
ROWS_PER_BLOCK = 8
UNROLL = 4                 # row elements each lane loads per loop trip (_load4)
_row_kernels = {}


@cuda.jit(device=True)
def _nanmax(a, b):
    """max(a, b) where NaN wins."""
    return b if b > a or b != b else a


@cuda.jit(device=True)
def _load4(x, row, j, L, pad):
    """x[row, j + k*WARP] for k = 0..3 (pad past the row's end): four independent
    loads in flight per lane, instead of one load's latency per loop trip."""
    a = x[row, j] if j < L else pad
    b = x[row, j + WARP] if j + WARP < L else pad
    c = x[row, j + 2 * WARP] if j + 2 * WARP < L else pad
    d = x[row, j + 3 * WARP] if j + 3 * WARP < L else pad
    return a, b, c, d


@cuda.jit(device=True)
def _store4(y, row, j, L, a, b, c, d):
    """y[row, j + k*WARP] = (a, b, c, d)[k], within the row."""
    if j < L:
        y[row, j] = a
    if j + WARP < L:
        y[row, j + WARP] = b
    if j + 2 * WARP < L:
        y[row, j + 2 * WARP] = c
    if j + 3 * WARP < L:
        y[row, j + 3 * WARP] = d


def _rows(dtype):
    """The contiguous-row kernels for one dtype (their shared buffer for the max
    is typed like the input, so that exp runs in the input's precision)."""
    if dtype in _row_kernels:
        return _row_kernels[dtype]
    nbt = numba.from_dtype(dtype)

    @cuda.jit(device=True)
    def warp_reduce(buf, v, is_max):
        """Combine the 32 lanes' values of each row of the block through buf
        (ROWS_PER_BLOCK, WARP): every lane gets its row's max (NaN wins) or sum."""
        r, lane = cuda.threadIdx.y, cuda.threadIdx.x
        buf[r, lane] = v
        cuda.syncthreads()
        out = buf[r, 0]
        for k in range(1, WARP):
            out = _nanmax(out, buf[r, k]) if is_max else out + buf[r, k]
        cuda.syncthreads()          # buf is written again by the next reduction
        return out

    @cuda.jit(device=True)
    def max_and_sum(x, row, lowest):
        """(max, sum of exp(x - max)) of row `row` of x (rows, L); every thread of
        the block calls it (the barriers), lanes past the last row with nothing."""
        mbuf = cuda.shared.array((ROWS_PER_BLOCK, WARP), nbt)
        sbuf = cuda.shared.array((ROWS_PER_BLOCK, WARP), float64)
        lane, L = cuda.threadIdx.x, x.shape[1] if row < x.shape[0] else 0
        m = lowest
        for j in range(lane, L, UNROLL * WARP):
            a, b, c, d = _load4(x, row, j, L, lowest)
            m = _nanmax(_nanmax(m, a), _nanmax(_nanmax(b, c), d))
        m = warp_reduce(mbuf, m, True)
        s = 0.0
        for j in range(lane, L, UNROLL * WARP):
            a, b, c, d = _load4(x, row, j, L, lowest)      # exp(-inf - m) = 0 pads the tail
            s += (math.exp(a - m) + math.exp(b - m)) + (math.exp(c - m) + math.exp(d - m))
        return m, warp_reduce(sbuf, s, False)

    @cuda.jit
    def softmax_rows(x, log, lowest, y):
        row = cuda.blockIdx.x * ROWS_PER_BLOCK + cuda.threadIdx.y
        m, s = max_and_sum(x, row, lowest)
        if row >= x.shape[0]:
            return
        L = x.shape[1]
        shift = m + math.log(s)
        inv = 1.0 / s
        for j in range(cuda.threadIdx.x, L, UNROLL * WARP):
            a, b, c, d = _load4(x, row, j, L, lowest)
            if log:
                _store4(y, row, j, L, a - shift, b - shift, c - shift, d - shift)
            else:
                _store4(y, row, j, L, math.exp(a - m) * inv, math.exp(b - m) * inv,
                        math.exp(c - m) * inv, math.exp(d - m) * inv)

    @cuda.jit
    def softmax_backward_rows(dy, y, dx):
        sbuf = cuda.shared.array((ROWS_PER_BLOCK, WARP), float64)
        row = cuda.blockIdx.x * ROWS_PER_BLOCK + cuda.threadIdx.y
        L = y.shape[1] if row < y.shape[0] else 0
        dot = 0.0
        for j in range(cuda.threadIdx.x, L, UNROLL * WARP):
            a, b, c, d = _load4(y, row, j, L, 0.0)
            p, q, r, t = _load4(dy, row, j, L, 0.0)
            dot += (a * p + b * q) + (c * r + d * t)
        dot = warp_reduce(sbuf, dot, False)
        for j in range(cuda.threadIdx.x, L, UNROLL * WARP):
            a, b, c, d = _load4(y, row, j, L, 0.0)
            p, q, r, t = _load4(dy, row, j, L, 0.0)
            _store4(dx, row, j, L, a * (p - dot), b * (q - dot), c * (r - dot), d * (t - dot))

    @cuda.jit
    def cross_entropy(logits, target, lowest, row_loss, dlogits):
        n = cuda.blockIdx.x * ROWS_PER_BLOCK + cuda.threadIdx.y
        N, C = logits.shape
        m, s = max_and_sum(logits, n, lowest)
        if n >= N:
            return
        t = target[n]
        scale = 1.0 / (s * N)
        for j in range(cuda.threadIdx.x, C, UNROLL * WARP):
            a, b, c, d = _load4(logits, n, j, C, lowest)
            _store4(dlogits, n, j, C, math.exp(a - m) * scale, math.exp(b - m) * scale,
                    math.exp(c - m) * scale, math.exp(d - m) * scale)
        if cuda.threadIdx.x == t % WARP:     # the lane that wrote e_t / (s N) above: (e_t / s - 1) / N
            dlogits[n, t] = math.exp(logits[n, t] - m) * scale - 1.0 / N
            row_loss[n] = m + math.log(s) - logits[n, t]

    _row_kernels[dtype] = kernels = (softmax_rows, softmax_backward_rows, cross_entropy)
    return kernels


def _rows_launch(rows):
    return (rows + ROWS_PER_BLOCK - 1) // ROWS_PER_BLOCK, (WARP, ROWS_PER_BLOCK)


def _lowest(a):
    return a.dtype.type(-np.inf)


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


def softmax_forward(x, log, y):
    O, L, I = x.shape
    if I == 1:
        grid, block = _rows_launch(O)
        _rows(x.dtype)[0][grid, block](x.reshape(O, L), log, _lowest(x), y.reshape(O, L))
    else:
        _softmax_forward[O * I, THREADS](x, log, y)


def softmax_backward(dy, y, dx):
    O, L, I = y.shape
    if I == 1:
        grid, block = _rows_launch(O)
        _rows(y.dtype)[1][grid, block](dy.reshape(O, L), y.reshape(O, L), dx.reshape(O, L))
    else:
        _softmax_backward[O * I, THREADS](dy, y, dx)


def cross_entropy_forward_backward(logits, target, row_loss, dlogits):
    grid, block = _rows_launch(logits.shape[0])
    _rows(logits.dtype)[2][grid, block](logits, target, _lowest(logits), row_loss, dlogits)
