"""2-D convolution by im2col + GEMM on the GPU (the CPU file's algorithm).

im2col: one thread per (column, channel), writing the channel's R*S rows
    cols[(c*R + r)*S + s, n*P + i*OW + j] = xp[n0 + n, c, i*sh + r, j*sw + s]
col2im: one thread per input element, gathering every (r, s, i, j) whose
window covers it, so the sum needs no atomics and is deterministic. It and
the moves between the GEMM's layout and (N, K, OH, OW) split a flat index
with unsigned 32-bit divisions (_per_element): they made three to five
signed 64-bit divisions an element, with 64-bit arithmetic around them
(SASS outside the division subroutine: unfold 398 -> 104, fold 268 -> 99).
Reference: fastnn/reference/conv.py; CPU twin: kernels/cpu/conv.py.

The batch is cut in chunks only to bound the column buffer's memory (device
memory is plentiful and there is no cache to fit): one chunk means one GEMM
of the largest size per product, which is what keeps the GPU busy.
"""
import functools

import numba
from numba import cuda

from ._device import MAX_GRID_Y, THREADS, blocks_for, device_empty, fill, flat, needs_64_bit, u32, view
from ._launch import kernel
from .gemm import matmul
from .reduce import channel_sum

CHUNK_ELEMENTS = 1 << 25      # column-matrix elements per chunk: 128 MiB in float32


@kernel
def _im2col(x, n0, R, S, sh, sw, ph, pw, OH, OW, cols, c0):
    """Grid (column blocks, channels c0, c0 + 1, ...): a thread splits its column
    index once (64-bit division is dozens of instructions) and writes that
    column's R*S rows of its channel; each written row is coalesced."""
    col = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    c = c0 + cuda.blockIdx.y
    if col >= cols.shape[1]:
        return
    P = OH * OW
    n = col // P
    i = (col - n * P) // OW
    j = col - n * P - i * OW
    for r in range(R):
        ih = i * sh + r - ph
        inside_h = 0 <= ih < x.shape[2]
        for s in range(S):
            iw = j * sw + s - pw
            row = (c * R + r) * S + s
            if inside_h and 0 <= iw < x.shape[3]:
                cols[row, col] = x[n0 + n, c, ih, iw]
            else:
                cols[row, col] = 0


@functools.cache
def _per_element(wide):
    """(col2im, unfold_rows, fold_rows): the passes with a thread per element,
    which split its flat index into coordinates: unsigned 32-bit divisions, or
    signed 64-bit ones when `wide` (_device.needs_64_bit)."""
    index = numba.int64 if wide else u32

    @cuda.jit(device=True)
    def split(a, b):
        """divmod(a, b), in index's width."""
        q = index(a // index(b))
        return q, index(a - q * index(b))

    @kernel
    def col2im(dcols, n0, b, R, S, sh, sw, ph, pw, OH, OW, dx):
        """dx[n0 + n, c, ih, iw] = the sum of dcols over every (r, s, i, j) whose
        window covers (ih, iw)."""
        C, H, W = dx.shape[1], dx.shape[2], dx.shape[3]
        idx = index(cuda.grid(1))
        if idx >= b * C * H * W:
            return
        t, iw = split(idx, W)
        t, ih = split(t, H)
        n, c = split(t, C)
        acc = 0.0
        for r in range(R):
            ti = ih + ph - r
            if ti < 0:
                continue
            oi = ti if sh == 1 else index(index(ti) // index(sh))   # stride 1, the common case: no division
            if oi >= OH or oi * sh != ti:
                continue
            for s in range(S):
                tj = iw + pw - s
                if tj < 0:
                    continue
                oj = tj if sw == 1 else index(index(tj) // index(sw))
                if oj >= OW or oj * sw != tj:
                    continue
                acc += dcols[(c * R + r) * S + s, n * (OH * OW) + oi * OW + oj]
        dx[n0 + n, c, ih, iw] = acc

    @kernel
    def unfold_rows(Yc, bias, has_bias, K, P, y, y0):
        """y (flat, from y0 = n0*K*P) [(n*K + k)*P + p] = Yc[k, n*P + p] (+ bias[k])."""
        idx = index(cuda.grid(1))
        if idx < Yc.size:
            t, p = split(idx, P)
            n, k = split(t, K)
            v = Yc[k, n * P + p]
            if has_bias:
                v += bias[k]
            y[y0 + idx] = v

    @kernel
    def fold_rows(dy, K, P, dYc, y0):
        """dYc[k, n*P + p] = dy (flat, from y0 = n0*K*P) [(n*K + k)*P + p]."""
        idx = index(cuda.grid(1))
        if idx < dYc.size:
            k, col = split(idx, dYc.shape[1])
            n, p = split(col, P)
            dYc[k, col] = dy[y0 + (n * K + k) * P + p]
    return col2im, unfold_rows, fold_rows


def _chunk(N, CRS, P):
    return max(1, min(N, CHUNK_ELEMENTS // (CRS * P)))


def im2col(x, n0, R, S, sh, sw, ph, pw, OH, OW, cols):
    C, blocks = x.shape[1], blocks_for(cols.shape[1])
    for c0 in range(0, C, MAX_GRID_Y):
        _im2col[(blocks, min(MAX_GRID_Y, C - c0)), THREADS](x, n0, R, S, sh, sw, ph, pw, OH, OW, cols, c0)


def col2im(dcols, n0, R, S, sh, sw, ph, pw, OH, OW, dx):
    b = dcols.shape[1] // (OH * OW)
    C, H, W = dx.shape[1:]
    kernel = _per_element(needs_64_bit(dcols, dx))[0]
    kernel[blocks_for(b * C * H * W), THREADS](dcols, n0, b, R, S, sh, sw, ph, pw, OH, OW, dx)


def conv2d_forward(x, weight, bias, sh, sw, ph, pw, y):
    N, (K, C, R, S), (OH, OW) = x.shape[0], weight.shape, y.shape[2:]
    CRS, P = C * R * S, OH * OW
    W2 = view(weight, (K, CRS))
    B = _chunk(N, CRS, P)
    has_bias = bias is not None
    bias = bias if has_bias else device_empty((1,), x.dtype)
    for n0 in range(0, N, B):
        b = min(B, N - n0)
        cols = device_empty((CRS, b * P), x.dtype)
        im2col(x, n0, R, S, sh, sw, ph, pw, OH, OW, cols)
        Yc = device_empty((K, b * P), x.dtype)
        matmul(W2, cols, Yc)
        unfold_rows = _per_element(needs_64_bit(Yc, y))[1]
        unfold_rows[blocks_for(Yc.size), THREADS](Yc, bias, has_bias, K, P, flat(y), n0 * K * P)


def conv2d_backward(dy, x, weight, sh, sw, ph, pw, dx, dweight, dbias):
    N, (K, C, R, S), (OH, OW) = x.shape[0], weight.shape, dy.shape[2:]
    if N == 0:      # an empty batch (torch allows one): dweight and dbias are sums over no images
        fill(flat(dweight), 0.0)
        fill(dbias, 0.0)
        return
    CRS, P = C * R * S, OH * OW
    W2, dW2 = view(weight, (K, CRS)), view(dweight, (K, CRS))
    B = _chunk(N, CRS, P)
    for n0 in range(0, N, B):
        b = min(B, N - n0)
        cols = device_empty((CRS, b * P), x.dtype)
        im2col(x, n0, R, S, sh, sw, ph, pw, OH, OW, cols)
        dYc = device_empty((K, b * P), x.dtype)
        fold_rows = _per_element(needs_64_bit(dYc, dy))[2]
        fold_rows[blocks_for(dYc.size), THREADS](flat(dy), K, P, dYc, n0 * K * P)
        matmul(dYc, cols, dW2, tb=True, accumulate=n0 > 0)
        dcols = device_empty((CRS, b * P), x.dtype)
        matmul(W2, dYc, dcols, ta=True)
        col2im(dcols, n0, R, S, sh, sw, ph, pw, OH, OW, dx)
    channel_sum(view(dy, (N, K, P)), dbias)
