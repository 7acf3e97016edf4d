"""Softmax, log-softmax, backward and fused cross-entropy on the GPU.

Contiguous rows (the softmax axis is the last one, inner == 1, and every
cross-entropy): `warps` warps per row (1 to MAX_ROW_WARPS), a block of
BLOCK_WARPS warps. A row is read in chunks of per_lane * 32 * warps elements,
each lane holding per_lane of them in registers (lane l of the row's threads
gets elements l, l + 32 warps, ...: every load coalesced, per_lane independent
loads in flight). Rows that fit in one chunk (up to 1024-8192 float32, by
kernel: LANE_ELEMENTS) are read from memory once, and every pass after the
first runs on registers. Longer rows take the max and the sum in one streamed
pass (the online softmax) and are read again to write. The lanes combine
their partial max / sum by register shuffles (on Numba's simulator, which has
none, through a shared buffer), the warps of a row through shared memory.
Per-element math runs in the input's precision; chunk sums are added up in
float64.

Measured on an H100, kernel time, float32, % of the device's copy bandwidth
(bytes: each array read or written once):

| rows          | softmax | log_softmax | backward | cross-entropy |
| 32768 x 1000  | 96 %    | 91 %        | 103 %    | 95 %          |
| 4096 x 8000   | 94 %    | 83 %        | 59 %     | 88 %          |
| 2048 x 20000  | 64 %    | 65 %        | 56 %     | 63 %          |

torch.softmax: 97 %, 61 %, 74 %; its backward: 50 %, 51 %, 43 %.

(The cross-entropy figures predate its options. Against labels, the kernel
without label smoothing is the one measured, at 63 registers a thread instead
of 56: the same occupancy. Smoothing and probability targets get kernels of
their own, each with a pass more over the row, untimed on a GPU so far.)

Other axes (inner > 1, and cross-entropy's (N, C, d1, ...)): each thread takes
one (outer, inner) lane, or a 1/SLICES share of it, so that neighbouring
threads read neighbouring inner positions (coalesced); see _lanes.

Math as in kernels/cpu/softmax.py; reference: fastnn/reference/softmax.py.
"""
import math

import numba
import numpy as np
from numba import cuda, float64

from ._device import butterfly_sum, flat, view
from ._launch import kernel


WARP = 32
BLOCK_WARPS = 8            # row kernels: warps per block
MAX_ROW_WARPS = 8          # warps that may share one row
SLICES = 8                 # other axes: threads sharing one lane's L elements

# The row kernels, and the float32 elements of a row each lane holds per chunk:
# (rows that fit in registers, longer rows read in chunks); float64 holds half.
# Chosen on an H100 (figures in the header), where registers set the speed:
# - log_softmax at 16 or 32 a lane took 72-141 registers a thread (44-80 %), at 8, 40;
# - the backward at 16 of each of y and dy took 84 registers (50 %, as torch's
#   backward), at 4, 32 (full occupancy, 103 %).
SOFTMAX, LOG_SOFTMAX, BACKWARD, CROSS_ENTROPY, CROSS_ENTROPY_SMOOTHED, CROSS_ENTROPY_PROBS = range(6)
LANE_ELEMENTS = ((32, 16), (8, 16), (4, 4), (32, 16), (32, 16), (32, 16))
_compiled = {}             # (dtype, layout) -> kernels, compiled on first use


@cuda.jit(device=True)
def _nanmax(a, b):
    """max(a, b) where NaN wins."""
    return b if b > a or b != b else a


@cuda.jit(device=True)
def _class_weight(weight, has_weight, c):
    """weight[c], or 1 without class weights (a dummy array then stands in)."""
    return weight[c] if has_weight else weight.dtype.type(1)


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
    # The simulator has no shuffles: the warp's lanes meet in the shared buffer.
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
        return butterfly_sum(v, WARP)


def _row_layout(L, itemsize, which):
    """(per_lane, warps, one_chunk) for kernel `which` on rows of L elements: the
    fewest elements a lane (a power of two: few kernels to compile), up to
    LANE_ELEMENTS, then the fewest warps, up to MAX_ROW_WARPS, that hold the
    whole row; past that, chunks of the streamed LANE_ELEMENTS a lane."""
    cached, streamed = (max(1, n * 4 // itemsize) for n in LANE_ELEMENTS[which])
    p, w = 1, 1
    while p * w * WARP < L and p < cached:
        p *= 2
    while p * w * WARP < L and w < MAX_ROW_WARPS:
        w *= 2
    if p * w * WARP >= L:
        return p, w, True
    return streamed, MAX_ROW_WARPS, False


def _rows(dtype, per_lane, warps, one_chunk):
    """The contiguous-row kernels (softmax, log_softmax, backward, cross-entropy)
    for one dtype and row layout: `warps` warps share a row, each lane holding
    per_lane of its elements per chunk. All are compile-time constants: the
    chunk's loops unroll so that it lives in registers, and a one-chunk kernel
    has no chunk loop at all.

    Register count decides the speed here. Measured on an H100: a runtime log
    flag cost 79 registers a thread, and combining the lanes through a shared
    buffer (the compiler keeps its 31 loads in flight) 43 more; each halved the
    occupancy and the speed. Hence log is a constant too, the lanes meet by
    shuffles, and each pass leaves in v only what the next one reads.

    A block is BLOCK_WARPS warps, BLOCK_WARPS / warps rows. Warps past the last
    row redo it and write nothing: whole rows, so every shuffle finds its
    partners and every thread reaches the barriers of a multi-warp row."""
    key = (dtype, per_lane, warps, one_chunk)
    if key in _compiled:
        return _compiled[key]
    nbt = numba.from_dtype(dtype)
    ROWS = BLOCK_WARPS // warps         # rows per block
    STRIDE = WARP * warps               # between a lane's elements
    CHUNK = per_lane * STRIDE

    @cuda.jit(device=True)
    def row_of(rows):
        """(row, real): this thread's row, clamped to the last, and whether it is one."""
        row = cuda.blockIdx.x * ROWS + cuda.threadIdx.y // warps
        return min(row, rows - 1), row < rows

    @cuda.jit(device=True)
    def n_chunks(L):
        return 1 if one_chunk else (L + CHUNK - 1) // CHUNK

    @cuda.jit(device=True)
    def column(c, k):
        """The column of the row that this lane holds in slot k of chunk c."""
        return c * CHUNK + cuda.threadIdx.y % warps * WARP + cuda.threadIdx.x + k * STRIDE

    @cuda.jit(device=True)
    def load(v, x, row, c, L, pad):
        """v[k] <- x[row, column(c, k)], pad past the row's end."""
        for k in range(per_lane):
            j = column(c, k)
            v[k] = x[row, j] if j < L else pad

    def row_reduction(warp_reduce, group_reduce, acc):
        """The reduction over the row of every thread's partial v (in type acc), to
        every thread of the row: across the warp, then across the row's warps."""
        @cuda.jit(device=True)
        def reduce(v):
            wbuf = cuda.shared.array((BLOCK_WARPS, WARP), acc)
            gbuf = cuda.shared.array((ROWS, warps), acc)
            v = warp_reduce(wbuf, v)
            return group_reduce(gbuf, cuda.threadIdx.y // warps, cuda.threadIdx.y % warps, v) if warps > 1 else v
        return reduce

    row_max = row_reduction(_warp_max, _group_max, nbt)         # NaN wins
    row_sum = row_reduction(_warp_sum, _group_sum, float64)
    # The same reduction again, for kernels that also reach row_sum through stats:
    # NVVM rejects a module in which one device function's shared arrays are
    # defined twice, as they are when it is linked in by two callers.
    row_total = row_reduction(_warp_sum, _group_sum, float64)

    def make_shift(log):
        """v <- x - m for log_softmax, exp(x - m) for softmax (and cross-entropy), in
        place: what the write pass reads, and the only array that stays live.
        Also refill: chunk c of that for the write pass, reloaded when the row is
        streamed (one chunk: v holds it already)."""
        @cuda.jit(device=True)
        def shift(v, m):
            for k in range(per_lane):
                v[k] = v[k] - m if log else math.exp(v[k] - m)

        @cuda.jit(device=True)
        def refill(v, x, row, c, lowest, m):
            if not one_chunk:
                load(v, x, row, c, x.shape[1], lowest)
                shift(v, m)
        return shift, refill

    def make_stats(log, shift):
        @cuda.jit(device=True)
        def stats(v, x, row, lowest):
            """(m, s): the max of row `row` of x (rows, L), NaN winning, and the float64
            sum of exp(x - m); exp(-inf - m) = 0 pads the tail.

            One chunk: the max, then the sum over the registers, leaving shift(v).
            Longer rows: each lane keeps a running max m_l and sum s_l, rescaled by
            exp(m_l - m_new) when the max grows (Milakov & Gimelshein, "Online
            normalizer calculation for softmax", 2018), and the lanes combine as
            s = sum_l s_l exp(m_l - m): one read of the row instead of two. A lane
            rescales only once its max is above -inf, where exp(-inf - -inf) would
            be NaN. Each chunk is summed in the row's precision, the chunks in float64."""
            L = x.shape[1]
            if one_chunk:
                load(v, x, row, 0, L, lowest)
                m = lowest
                for k in range(per_lane):
                    m = _nanmax(m, v[k])
                m = row_max(m)
                shift(v, m)
                part = nbt(0)
                for k in range(per_lane):
                    part += math.exp(v[k]) if log else v[k]
                return m, row_sum(float64(part))
            m, s = lowest, 0.0
            for c in range(n_chunks(L)):
                load(v, x, row, c, L, lowest)
                grown = m
                for k in range(per_lane):
                    grown = _nanmax(grown, v[k])
                if grown > lowest:
                    part = nbt(0)
                    for k in range(per_lane):
                        part += math.exp(v[k] - grown)
                    s = s * math.exp(m - grown) + part
                m = grown
            row_m = row_max(m)
            return row_m, row_sum(s * math.exp(m - row_m))
        return stats

    (shift_log, refill_log), (shift_exp, refill_exp) = make_shift(True), make_shift(False)
    stats_log, stats_exp = make_stats(True, shift_log), make_stats(False, shift_exp)

    def make_forward(log):
        refill, stats = (refill_log, stats_log) if log else (refill_exp, stats_exp)

        @kernel
        def forward(x, lowest, y):
            row, real = row_of(x.shape[0])
            v = cuda.local.array(per_lane, nbt)
            m, s = stats(v, x, row, lowest)
            L = x.shape[1]
            # log and 1/s in the row's precision: float64's take registers the
            # cached row needs (log_softmax, 32 a lane: 93 -> 79 on an H100).
            s = nbt(s)
            log_s, inv = math.log(s), nbt(1) / s
            for c in range(n_chunks(L)):
                refill(v, x, row, c, lowest, m)
                for k in range(per_lane):
                    j = column(c, k)
                    if real and j < L:
                        y[row, j] = v[k] - log_s if log else v[k] * inv
        return forward

    @kernel
    def backward(dy, y, dx):
        row, real = row_of(y.shape[0])
        p = cuda.local.array(per_lane, nbt)
        g = cuda.local.array(per_lane, nbt)
        L = y.shape[1]
        dot = 0.0
        for c in range(n_chunks(L)):
            load(p, y, row, c, L, 0)
            load(g, dy, row, c, L, 0)
            part = nbt(0)
            for k in range(per_lane):
                part += p[k] * g[k]
            dot += part
        dot = nbt(row_sum(dot))
        for c in range(n_chunks(L)):
            if not one_chunk:
                load(p, y, row, c, L, 0)
                load(g, dy, row, c, L, 0)
            for k in range(per_lane):
                j = column(c, k)
                if real and j < L:
                    dx[row, j] = p[k] * (g[k] - dot)

    @cuda.jit(device=True)
    def first_of_row():
        return cuda.threadIdx.x == 0 and cuda.threadIdx.y % warps == 0

    def make_cross_entropy(smoothed):
        """Against labels. Label smoothing (its pass over the row and its term in
        every element) is compiled in only where asked: the kernel without it
        keeps the registers of the plain cross-entropy."""
        @kernel
        def cross_entropy(logits, target, weight, has_weight, weight_sum, ignore_index, smoothing, grad_scale,
                          lowest, loss, dlogits):
            n, real = row_of(logits.shape[0])
            v = cuda.local.array(per_lane, nbt)
            m, s = stats_exp(v, logits, n, lowest)
            C = logits.shape[1]
            t = target[n]
            kept = t != ignore_index
            # An ignored row: q = 0, so its gradient is 0 exp(x - m), NaN where x is, as torch's.
            # Per-row factors in the row's precision: a float64 division costs 16 registers a thread.
            t = t if kept else 0
            hit = nbt(1.0 - smoothing) * _class_weight(weight, has_weight, t) if kept else nbt(0)
            spread = nbt(smoothing) / nbt(C) if kept else nbt(0)
            dist = 0.0                              # sum_c w_c (m - x_c), for the smoothing's share
            if smoothed:
                for c in range(n_chunks(C)):
                    for k in range(per_lane):
                        j = column(c, k)
                        if real and j < C:
                            dist += _class_weight(weight, has_weight, j) * (m - logits[n, j])
                dist = row_total(dist)
            g = nbt(grad_scale)
            scale, off, on_target = g * (hit + spread * nbt(weight_sum)) / nbt(s), g * spread, g * hit
            for c in range(n_chunks(C)):
                refill_exp(v, logits, n, c, lowest, m)
                for k in range(per_lane):
                    j = column(c, k)
                    if real and j < C:
                        d = v[k] * scale
                        if smoothed:
                            d -= off * _class_weight(weight, has_weight, j)
                        dlogits[n, j] = d - on_target if j == t else d
            if real and first_of_row():     # last: its float64 log would take registers the row needs
                log_s = math.log(s)
                row_loss = float64(hit) * ((m - logits[n, t]) + log_s)
                if smoothed:
                    row_loss += float64(spread) * (weight_sum * log_s + dist)
                loss[n] = row_loss if kept else 0
        return cross_entropy

    @kernel
    def cross_entropy_probs(logits, target, weight, has_weight, smoothing, grad_scale, lowest, loss, dlogits):
        n, real = row_of(logits.shape[0])
        v = cuda.local.array(per_lane, nbt)
        m, s = stats_exp(v, logits, n, lowest)
        C = logits.shape[1]
        keep, spread = nbt(1.0 - smoothing), nbt(smoothing) / nbt(C)
        mass, dist = 0.0, 0.0                       # sum_c q_c, sum_c q_c (m - x_c)
        for c in range(n_chunks(C)):
            for k in range(per_lane):
                j = column(c, k)
                if real and j < C:
                    q = _class_weight(weight, has_weight, j) * (keep * target[n, j] + spread)
                    mass += q
                    dist += q * (m - logits[n, j])
        mass, dist = row_total(mass), row_total(dist)
        scale, g = nbt(grad_scale * mass) / nbt(s), nbt(grad_scale)
        for c in range(n_chunks(C)):
            refill_exp(v, logits, n, c, lowest, m)
            for k in range(per_lane):
                j = column(c, k)
                if real and j < C:
                    q = _class_weight(weight, has_weight, j) * (keep * target[n, j] + spread)
                    dlogits[n, j] = v[k] * scale - g * q
        if real and first_of_row():
            loss[n] = mass * math.log(s) + dist

    _compiled[key] = kernels = (make_forward(False), make_forward(True), backward, make_cross_entropy(False),
                                make_cross_entropy(True), cross_entropy_probs)
    return kernels


def _rows_launch(rows, warps):
    per_block = BLOCK_WARPS // warps
    return (rows + per_block - 1) // per_block, (WARP, BLOCK_WARPS)


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

    @cuda.jit(device=True)
    def stats(x, o, i, lowest):
        """(m, s): the max of lane (o, :, i) of x, NaN winning, and the float64 sum of
        exp(x - m), to every thread of the lane."""
        mbuf = cuda.shared.array((WARP, SLICES), nbt)
        sbuf = cuda.shared.array((WARP, SLICES), float64)
        m = lowest
        for j in range(cuda.threadIdx.y, x.shape[1], SLICES):
            m = _nanmax(m, x[o, j, i])
        m = _group_max(mbuf, cuda.threadIdx.x, cuda.threadIdx.y, m)
        s = 0.0
        for j in range(cuda.threadIdx.y, x.shape[1], SLICES):
            s += math.exp(x[o, j, i] - m)
        return m, _group_sum(sbuf, cuda.threadIdx.x, cuda.threadIdx.y, s)

    @cuda.jit(device=True)
    def lane_sum(v):
        """The float64 sum over the lane's slices of each thread's v."""
        sbuf = cuda.shared.array((WARP, SLICES), float64)
        return _group_sum(sbuf, cuda.threadIdx.x, cuda.threadIdx.y, v)

    @kernel
    def forward(x, log, lowest, y):
        o, i, real = lane_of(x.shape)
        m, s = stats(x, o, i, lowest)
        if not real:
            return
        log_s, inv = nbt(math.log(s)), nbt(1.0 / s)
        for j in range(cuda.threadIdx.y, x.shape[1], SLICES):
            y[o, j, i] = (x[o, j, i] - m) - log_s if log else math.exp(x[o, j, i] - m) * inv

    @kernel
    def backward(dy, y, dx):
        o, i, real = lane_of(y.shape)
        dot = 0.0
        for j in range(cuda.threadIdx.y, y.shape[1], SLICES):
            dot += dy[o, j, i] * y[o, j, i]
        dot = nbt(lane_sum(dot))
        if not real:
            return
        for j in range(cuda.threadIdx.y, y.shape[1], SLICES):
            dx[o, j, i] = y[o, j, i] * (dy[o, j, i] - dot)

    @kernel
    def cross_entropy(logits, target, weight, has_weight, weight_sum, ignore_index, smoothing, grad_scale,
                      lowest, loss, dlogits):
        o, i, real = lane_of(logits.shape)
        m, s = stats(logits, o, i, lowest)
        C = logits.shape[1]
        t = target[o, i]
        kept = t != ignore_index
        t = t if kept else 0                        # an ignored lane: q = 0, as in the row kernel
        hit = (1.0 - smoothing) * _class_weight(weight, has_weight, t) if kept else 0.0
        spread = smoothing / C if kept else 0.0
        dist = 0.0
        if smoothing != 0:
            for j in range(cuda.threadIdx.y, C, SLICES):
                dist += _class_weight(weight, has_weight, j) * (m - logits[o, j, i])
            dist = lane_sum(dist)
        if not real:
            return
        scale = nbt(grad_scale * (hit + spread * weight_sum) / s)
        off, on_target = nbt(grad_scale * spread), nbt(grad_scale * hit)
        for j in range(cuda.threadIdx.y, C, SLICES):
            d = math.exp(logits[o, j, i] - m) * scale - off * _class_weight(weight, has_weight, j)
            dlogits[o, j, i] = d - on_target if j == t else d
        if cuda.threadIdx.y == 0:
            log_s = math.log(s)
            row_loss = hit * ((m - logits[o, t, i]) + log_s) + spread * (weight_sum * log_s + dist)
            loss[o, i] = row_loss if kept else 0

    @kernel
    def cross_entropy_probs(logits, target, weight, has_weight, smoothing, grad_scale, lowest, loss, dlogits):
        o, i, real = lane_of(logits.shape)
        m, s = stats(logits, o, i, lowest)
        C = logits.shape[1]
        keep, spread = nbt(1.0 - smoothing), nbt(smoothing) / nbt(C)
        mass, dist = 0.0, 0.0
        for j in range(cuda.threadIdx.y, C, SLICES):
            q = _class_weight(weight, has_weight, j) * (keep * target[o, j, i] + spread)
            mass += q
            dist += q * (m - logits[o, j, i])
        mass, dist = lane_sum(mass), lane_sum(dist)
        if not real:
            return
        scale, g = nbt(grad_scale * mass) / nbt(s), nbt(grad_scale)
        for j in range(cuda.threadIdx.y, C, SLICES):
            q = _class_weight(weight, has_weight, j) * (keep * target[o, j, i] + spread)
            dlogits[o, j, i] = math.exp(logits[o, j, i] - m) * scale - g * q
        if cuda.threadIdx.y == 0:
            loss[o, i] = mass * math.log(s) + dist

    _compiled[key] = kernels = (forward, backward, cross_entropy, cross_entropy_probs)
    return kernels


def _lanes_launch(O, I):
    return O * ((I + WARP - 1) // WARP), (WARP, SLICES)


def _row_kernel(which, dtype, L):
    """(kernel, warps a row): row kernel `which` for rows of L elements."""
    per_lane, warps, one_chunk = _row_layout(L, dtype.itemsize, which)
    return _rows(dtype, per_lane, warps, one_chunk)[which], warps


def softmax_forward(x, log, y):
    O, L, I = x.shape
    if I == 1:
        kernel, warps = _row_kernel(LOG_SOFTMAX if log else SOFTMAX, x.dtype, L)
        grid, block = _rows_launch(O, warps)
        kernel[grid, block](view(x, (O, L)), _lowest(x), view(y, (O, L)))
    else:
        grid, block = _lanes_launch(O, I)
        _lanes(x.dtype)[0][grid, block](x, log, _lowest(x), y)


def softmax_backward(dy, y, dx):
    O, L, I = y.shape
    if I == 1:
        kernel, warps = _row_kernel(BACKWARD, y.dtype, L)
        grid, block = _rows_launch(O, warps)
        kernel[grid, block](view(dy, (O, L)), view(y, (O, L)), view(dx, (O, L)))
    else:
        grid, block = _lanes_launch(O, I)
        _lanes(y.dtype)[1][grid, block](dy, y, dx)


def _weights(weight, like):
    """(weight, has_weight): any 1-D array of the dtype stands in for no weights
    (the kernels then read none)."""
    return (flat(like), False) if weight is None else (weight, True)


def cross_entropy_forward_backward(logits, target, weight, weight_sum, ignore_index, smoothing, grad_scale,
                                   loss, dlogits):
    O, C, I = logits.shape
    weight, has_weight = _weights(weight, logits)
    args = (weight, has_weight, weight_sum, ignore_index, smoothing, grad_scale, _lowest(logits))
    if I == 1:
        kernel, warps = _row_kernel(CROSS_ENTROPY_SMOOTHED if smoothing else CROSS_ENTROPY, logits.dtype, C)
        grid, block = _rows_launch(O, warps)
        kernel[grid, block](view(logits, (O, C)), view(target, (O,)), *args, view(loss, (O,)),
                            view(dlogits, (O, C)))
    else:
        grid, block = _lanes_launch(O, I)
        _lanes(logits.dtype)[2][grid, block](logits, target, *args, loss, dlogits)


def cross_entropy_probs_forward_backward(logits, target, weight, smoothing, grad_scale, loss, dlogits):
    O, C, I = logits.shape
    weight, has_weight = _weights(weight, logits)
    args = (weight, has_weight, smoothing, grad_scale, _lowest(logits))
    if I == 1:
        kernel, warps = _row_kernel(CROSS_ENTROPY_PROBS, logits.dtype, C)
        grid, block = _rows_launch(O, warps)
        kernel[grid, block](view(logits, (O, C)), view(target, (O, C)), *args, view(loss, (O,)),
                            view(dlogits, (O, C)))
    else:
        grid, block = _lanes_launch(O, I)
        _lanes(logits.dtype)[3][grid, block](logits, target, *args, loss, dlogits)
