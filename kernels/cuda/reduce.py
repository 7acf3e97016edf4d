"""Deterministic sums over every axis of an array but one, on the GPU: the
bias gradients (conv's over N, OH, OW; linear's and the RNNs' over the
batch), and the slicing that batch norm's statistics share.

One block per output value would leave most of the GPU idle (64 channels
against the 132 SMs of an H100), and atomics would make the result depend on
the order the blocks run in. So each value's elements are cut into S slices:

  1. a block per (value or group of values, slice) writes the slice's
     partial sums, in float64 as on the CPU, to parts (S, values);
  2. a thread per value adds its S partials in a fixed order (add_slices,
     which also adds the split-K partial products of gemm.py).

Before, the bias gradients were GEMMs with a ones vector: one output column,
so one block row of 16 values of which a sixteenth did work, each running
the whole batch (conv on 32x64x32x32: 4 blocks for 64 channels).

CPU twins: kernels/cpu/conv.py channel_sum, kernels/cpu/linear.py column_sum.
"""
import numpy as np
from numba import cuda, float64

from ._device import THREADS, blocks_for, device_empty, u64
from ._launch import kernel

BLOCKS_WANTED = 1024      # a few waves on the largest GPUs
COLUMNS = 32              # column_sum: a warp reads 32 adjacent columns of a row...
ROW_LANES = THREADS // COLUMNS   # ...and a block this many rows at a time


def slices(groups, M, lanes=THREADS):
    """Slices per group of M elements read by `lanes` threads: enough blocks
    to fill the GPU, at least 8 elements a thread."""
    return max(1, min(-(-BLOCKS_WANTED // groups), -(-M // (lanes * 8))))


@cuda.jit(device=True)
def slice_range(b, S, M):
    """[k0, k1): slice b of S of range(M)."""
    chunk = (M + S - 1) // S
    return b * chunk, min(M, (b + 1) * chunk)


@cuda.jit(device=True)
def block_sum(buf, value):
    """The sum of one value per thread (a shared-memory tree); all threads get it."""
    t = cuda.threadIdx.x
    buf[t] = value
    cuda.syncthreads()
    step = cuda.blockDim.x // 2
    while step > 0:
        if t < step:
            buf[t] += buf[t + step]
        cuda.syncthreads()
        step //= 2
    out = buf[0]
    cuda.syncthreads()
    return out


@cuda.jit(device=True)
def channel_walk(k, step, P):
    """(n, p, dn, dp): element k of a channel's N*P at (n, p), and a step of
    dn * P + dp elements; unsigned, so that indexing with them wraps nothing."""
    return u64(k // P), u64(k % P), u64(step // P), u64(step % P)


@cuda.jit(device=True)
def advance(n, p, dn, dp, P):
    """(n, p) moved on by dn * P + dp elements (dp < P): a carry, not a division.
    All unsigned: Numba would compute a mix of unsigned and signed 64-bit
    integers in floating point."""
    n, p = n + dn, p + dp
    if p >= P:
        n, p = n + u64(1), p - P
    return n, p


@cuda.jit(device=True)
def channel_slice(S, N, P):
    """A block of grid (C, S) over an (N, C, P) array: its channel c, and this
    thread's walk of the block's slice of c's (n, p): elements k, k + step, ...
    below k1, the first at (n, p), each step dn * P + dp further (advance).
    Returns (c, k, k1, step, n, p, dn, dp)."""
    k0, k1 = slice_range(cuda.blockIdx.y, S, N * P)
    k, step = k0 + cuda.threadIdx.x, cuda.blockDim.x
    n, p, dn, dp = channel_walk(k, step, P)
    return cuda.blockIdx.x, k, k1, step, n, p, dn, dp


@kernel
def _channel_partial(x, parts):
    """parts[b, c] = the sum of x[n, c, p] over slice b of channel c's (n, p)."""
    N, C, P = x.shape
    c, k, k1, step, n, p, dn, dp = channel_slice(parts.shape[0], N, P)
    buf = cuda.shared.array(THREADS, float64)
    s = 0.0
    while k < k1:
        s += x[n, c, p]
        n, p = advance(n, p, dn, dp, u64(P))
        k += step
    s = block_sum(buf, s)
    if cuda.threadIdx.x == 0:
        parts[cuda.blockIdx.y, c] = s


@kernel
def _column_partial(x, parts):
    """parts[b, c] = the sum of x[n, c] over slice b of the rows. Block
    (COLUMNS, ROW_LANES): a warp reads adjacent columns, so each load is one
    coalesced row segment; the ROW_LANES row partials are added in order."""
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    c, b = cuda.blockIdx.x * COLUMNS + tx, cuda.blockIdx.y
    n0, n1 = slice_range(b, parts.shape[0], x.shape[0])
    buf = cuda.shared.array((ROW_LANES, COLUMNS), float64)
    s = 0.0
    if c < x.shape[1]:
        n = n0 + ty
        while n < n1:
            s += x[n, c]
            n += ROW_LANES
    buf[ty, tx] = s
    cuda.syncthreads()
    if ty == 0 and c < x.shape[1]:
        for r in range(1, ROW_LANES):
            s += buf[r, tx]
        parts[b, c] = s


@kernel
def _add_slices(parts, out, accumulate):
    """out[c] (+)= the sum of parts[:, c], top to bottom, in float64."""
    c = cuda.grid(1)
    if c < out.size:
        s = out[c] if accumulate else 0.0
        for b in range(parts.shape[0]):
            s += parts[b, c]
        out[c] = s


def add_slices(parts, out, accumulate=False):
    """out (n,) <- the sum of parts (S, n) over its first axis, or out += that."""
    _add_slices[blocks_for(out.size), THREADS](parts, out, accumulate)


def channel_sum(x, out):
    """out (C,) <- the sum of x (N, C, P) over n and p."""
    N, C, P = x.shape
    if C == 0:
        return
    S = slices(C, N * P)
    parts = device_empty((S, C), np.float64)
    _channel_partial[(C, S), THREADS](x, parts)
    add_slices(parts, out)


def column_sum(x, out):
    """out (C,) <- the sum of x (N, C) over its rows."""
    N, C = x.shape
    if C == 0:
        return
    groups = -(-C // COLUMNS)
    S = slices(groups, N, ROW_LANES)
    parts = device_empty((S, C), np.float64)
    _column_partial[(groups, S), (COLUMNS, ROW_LANES)](x, parts)
    add_slices(parts, out)
