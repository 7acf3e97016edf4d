"""Softmax, log-softmax, backward and fused cross-entropy on the GPU.

Contiguous rows (the softmax axis is the last one, inner == 1, and every
cross-entropy): one warp per row, ROWS_PER_BLOCK rows per block. A row is
read in chunks of per_lane * 32 elements, each lane holding per_lane of them
in registers (lane l gets elements l, l + 32, ...: every load coalesced, and
per_lane independent loads in flight). Rows of up to MAX_PER_LANE * 32
elements fit in one chunk, so they are read from memory once and every pass
after the first runs on registers; longer rows are re-read per pass. The
lanes combine their partial max / sum by register shuffles (on Numba's
simulator, which has none, through a shared buffer). Per-element math runs in
the input's precision; each lane's chunk sums are added up in float64.

Measured on an H100 (kernel time, 32768 x 1000 float32): softmax 95 us, as
torch.softmax and 96 % of the copy bandwidth (re-reading the row per pass
through L1/L2 took 186 us); cross-entropy forward + backward 96 us.

Other axes (inner > 1): each thread takes one (outer, inner) lane, or a
1/SLICES share of it, so that neighbouring threads read neighbouring inner
positions (coalesced); see _lanes.

Math as in kernels/cpu/softmax.py; reference: fastnn/reference/softmax.py.
"""
import math

import numba
import numpy as np
from numba import cuda, float64

from ._launch import kernel


WARP = 32
ROWS_PER_BLOCK = 8
MAX_PER_LANE = 32          # row elements a lane keeps in registers (32 float32: 32 of its 255)
STREAM_PER_LANE = 8        # longer rows: elements per lane per chunk (loads in flight)
SLICES = 8                 # other axes: threads sharing one lane's L elements
_compiled = {}               # (dtype, layout) -> kernels, compiled on first use


@cuda.jit(device=True)
def _nanmax(a, b):
    """max(a, b) where NaN wins."""
    return b if b > a or b != b else a


@cuda.jit(device=True)
def _group_max(buf, g, k, v):
    """The max (NaN wins) of the values of the threads of group g, each thread
    being member k: through buf (groups, members), to every member. Every thread
    of the block calls it (the barriers)."""
    buf[g, k] = v
    cuda.syncthreads()
    out = buf[g, 0]
    for i in range(1, buf.shape[1]):
        out = _nanmax(out, buf[g, i])
    cuda.syncthreads()          # buf is written again by the next reduction
    return out


@cuda.jit(device=True)
def _group_sum(buf, g, k, v):
    """The sum over group g, likewise."""
    buf[g, k] = v
    cuda.syncthreads()
    out = buf[g, 0]
    for i in range(1, buf.shape[1]):
        out += buf[g, i]
    cuda.syncthreads()
    return out


if numba.config.ENABLE_CUDASIM:
    # The simulator has no shuffles: the row's lanes meet in the shared buffer.
    @cuda.jit(device=True)
    def _warp_max(buf, v):
        return _group_max(buf, cuda.threadIdx.y, cuda.threadIdx.x, v)

    @cuda.jit(device=True)
    def _warp_sum(buf, v):
        return _group_sum(buf, cuda.threadIdx.y, cuda.threadIdx.x, v)
else:
    # On a GPU, a butterfly of register shuffles: every lane ends with the
    # result, and buf (which the simulator needs) goes unused.
    @cuda.jit(device=True)
    def _warp_max(buf, v):
        step = WARP // 2
        while step:
            v = _nanmax(v, cuda.shfl_xor_sync(0xFFFFFFFF, v, step))
            step //= 2
        return v

    @cuda.jit(device=True)
    def _warp_sum(buf, v):
        step = WARP // 2
        while step:
            v += cuda.shfl_xor_sync(0xFFFFFFFF, v, step)
            step //= 2
        return v


def _row_layout(L):
    """(per_lane, one_chunk) for rows of L elements: the fewest register slots per
    lane (a power of two: few kernels to compile) that hold the whole row, or,
    past MAX_PER_LANE * 32 elements, chunks of STREAM_PER_LANE * 32 re-read per pass."""
    p = 1
    while p * WARP < L and p < MAX_PER_LANE:
        p *= 2
    return (p, True) if p * WARP >= L else (min(STREAM_PER_LANE, MAX_PER_LANE), False)


def _rows(dtype, per_lane, one_chunk):
    """The contiguous-row kernels (softmax, log_softmax, backward, cross-entropy)
    for one dtype and row layout, which are compile-time constants: the chunk's
    loops unroll so that it lives in registers, and a one-chunk kernel has no
    chunk loop at all.

    Register count decides the speed here. Measured on an H100: a runtime log
    flag cost 79 registers a thread, and combining the lanes through a shared
    buffer (the compiler keeps its 31 loads in flight) 43 more; each halved the
    occupancy and the speed. Hence log is a constant too, and the lanes meet
    by shuffles. Warps past the last row exit at once: whole warps, so no
    shuffle misses a partner (the simulator's barriers release without them)."""
    key = (dtype, per_lane, one_chunk)
    if key in _compiled:
        return _compiled[key]
    nbt = numba.from_dtype(dtype)
    CHUNK = per_lane * WARP

    @cuda.jit(device=True)
    def n_chunks(L):
        return 1 if one_chunk else (L + CHUNK - 1) // CHUNK

    @cuda.jit(device=True)
    def load(v, x, row, c, L, pad):
        """v[k] <- x[row, c * CHUNK + lane + 32 k], pad past the row's end."""
        for k in range(per_lane):
            j = c * CHUNK + cuda.threadIdx.x + k * WARP
            v[k] = x[row, j] if j < L else pad

    @cuda.jit(device=True)
    def max_and_sum(x, row, v, lowest):
        """(max, float64 sum of exp(x - max)) of row `row` of x (rows, L), leaving
        the row in v when it is one chunk."""
        mbuf = cuda.shared.array((ROWS_PER_BLOCK, WARP), nbt)
        sbuf = cuda.shared.array((ROWS_PER_BLOCK, WARP), float64)
        L = x.shape[1]
        m = lowest
        for c in range(n_chunks(L)):
            load(v, x, row, c, L, lowest)
            for k in range(per_lane):
                m = _nanmax(m, v[k])
        m = _warp_max(mbuf, m)
        s = 0.0
        for c in range(n_chunks(L)):
            if not one_chunk:
                load(v, x, row, c, L, lowest)      # exp(-inf - m) = 0 pads the tail
            part = nbt(0)
            for k in range(per_lane):
                part += math.exp(v[k] - m)
            s += part
        return m, _warp_sum(sbuf, s)

    def make_forward(log):
        @kernel
        def forward(x, lowest, y):
            row = cuda.blockIdx.x * ROWS_PER_BLOCK + cuda.threadIdx.y
            if row >= x.shape[0]:
                return
            v = cuda.local.array(per_lane, nbt)
            m, s = max_and_sum(x, row, v, lowest)
            L = x.shape[1]
            log_s, inv = nbt(math.log(s)), nbt(1.0 / s)
            for c in range(n_chunks(L)):
                if not one_chunk:
                    load(v, x, row, c, L, lowest)
                for k in range(per_lane):
                    j = c * CHUNK + cuda.threadIdx.x + k * WARP
                    if j < L:
                        y[row, j] = (v[k] - m) - log_s if log else math.exp(v[k] - m) * inv
        return forward

    @kernel
    def backward(dy, y, dx):
        row = cuda.blockIdx.x * ROWS_PER_BLOCK + cuda.threadIdx.y
        if row >= y.shape[0]:
            return
        p = cuda.local.array(per_lane, nbt)
        g = cuda.local.array(per_lane, nbt)
        sbuf = cuda.shared.array((ROWS_PER_BLOCK, WARP), float64)
        L = y.shape[1]
        dot = 0.0
        for c in range(n_chunks(L)):
            load(p, y, row, c, L, 0)
            load(g, dy, row, c, L, 0)
            part = nbt(0)
            for k in range(per_lane):
                part += p[k] * g[k]
            dot += part
        dot = nbt(_warp_sum(sbuf, dot))
        for c in range(n_chunks(L)):
            if not one_chunk:
                load(p, y, row, c, L, 0)
                load(g, dy, row, c, L, 0)
            for k in range(per_lane):
                j = c * CHUNK + cuda.threadIdx.x + k * WARP
                if j < L:
                    dx[row, j] = p[k] * (g[k] - dot)

    @kernel
    def cross_entropy(logits, target, lowest, row_loss, dlogits):
        n = cuda.blockIdx.x * ROWS_PER_BLOCK + cuda.threadIdx.y
        if n >= logits.shape[0]:
            return
        v = cuda.local.array(per_lane, nbt)
        m, s = max_and_sum(logits, n, v, lowest)
        N, C = logits.shape
        t = target[n]
        scale, inv_n = nbt(1.0 / (s * N)), nbt(1.0 / N)
        for c in range(n_chunks(C)):
            if not one_chunk:
                load(v, logits, n, c, C, lowest)
            for k in range(per_lane):
                j = c * CHUNK + cuda.threadIdx.x + k * WARP
                if j < C:
                    d = math.exp(v[k] - m) * scale
                    dlogits[n, j] = d - inv_n if j == t else d
        if cuda.threadIdx.x == 0:
            row_loss[n] = m + math.log(s) - logits[n, t]

    _compiled[key] = kernels = (make_forward(False), make_forward(True), backward, cross_entropy)
    return kernels


def _rows_launch(rows):
    return (rows + ROWS_PER_BLOCK - 1) // ROWS_PER_BLOCK, (WARP, ROWS_PER_BLOCK)


def _lowest(a):
    return a.dtype.type(-np.inf)


def _lanes(dtype):
    """The kernels for a softmax axis that is not the last one: x is (outer, L,
    inner) with inner > 1. A block covers WARP neighbouring inner positions of
    one outer index (threadIdx.x: coalesced loads) and cuts their L axis into
    SLICES strided slices (threadIdx.y: parallelism when L is long and the
    lanes are few), combined through shared memory."""
    key = (dtype, "lanes")
    if key in _compiled:
        return _compiled[key]
    nbt = numba.from_dtype(dtype)

    @cuda.jit(device=True)
    def lane_of(shape):
        """(o, i, real): this thread's outer index and inner position, and whether
        it is one (threads past the last position redo it and write nothing)."""
        O, L, I = shape
        per_outer = (I + WARP - 1) // WARP
        i = cuda.blockIdx.x % per_outer * WARP + cuda.threadIdx.x
        return cuda.blockIdx.x // per_outer, min(i, I - 1), i < I

    @kernel
    def forward(x, log, lowest, y):
        mbuf = cuda.shared.array((WARP, SLICES), nbt)
        sbuf = cuda.shared.array((WARP, SLICES), float64)
        o, i, real = lane_of(x.shape)
        L = x.shape[1]
        m = lowest
        for j in range(cuda.threadIdx.y, L, SLICES):
            m = _nanmax(m, x[o, j, i])
        m = _group_max(mbuf, cuda.threadIdx.x, cuda.threadIdx.y, m)
        s = 0.0
        for j in range(cuda.threadIdx.y, L, SLICES):
            s += math.exp(x[o, j, i] - m)
        s = _group_sum(sbuf, cuda.threadIdx.x, cuda.threadIdx.y, s)
        if not real:
            return
        log_s, inv = nbt(math.log(s)), nbt(1.0 / s)
        for j in range(cuda.threadIdx.y, L, SLICES):
            y[o, j, i] = (x[o, j, i] - m) - log_s if log else math.exp(x[o, j, i] - m) * inv

    @kernel
    def backward(dy, y, dx):
        sbuf = cuda.shared.array((WARP, SLICES), float64)
        o, i, real = lane_of(y.shape)
        L = y.shape[1]
        dot = 0.0
        for j in range(cuda.threadIdx.y, L, SLICES):
            dot += dy[o, j, i] * y[o, j, i]
        dot = nbt(_group_sum(sbuf, cuda.threadIdx.x, cuda.threadIdx.y, dot))
        if not real:
            return
        for j in range(cuda.threadIdx.y, L, SLICES):
            dx[o, j, i] = y[o, j, i] * (dy[o, j, i] - dot)

    _compiled[key] = kernels = (forward, backward)
    return kernels


def _lanes_launch(O, I):
    return O * ((I + WARP - 1) // WARP), (WARP, SLICES)


def softmax_forward(x, log, y):
    O, L, I = x.shape
    if I == 1:
        grid, block = _rows_launch(O)
        _rows(x.dtype, *_row_layout(L))[int(log)][grid, block](x.reshape(O, L), _lowest(x), y.reshape(O, L))
    else:
        grid, block = _lanes_launch(O, I)
        _lanes(x.dtype)[0][grid, block](x, log, _lowest(x), y)


def softmax_backward(dy, y, dx):
    O, L, I = y.shape
    if I == 1:
        grid, block = _rows_launch(O)
        _rows(y.dtype, *_row_layout(L))[2][grid, block](dy.reshape(O, L), y.reshape(O, L), dx.reshape(O, L))
    else:
        grid, block = _lanes_launch(O, I)
        _lanes(y.dtype)[1][grid, block](dy, y, dx)


def cross_entropy_forward_backward(logits, target, row_loss, dlogits):
    grid, block = _rows_launch(logits.shape[0])
    kernel = _rows(logits.dtype, *_row_layout(logits.shape[1]))[3]
    kernel[grid, block](logits, target, _lowest(logits), row_loss, dlogits)
