"""Max and average pooling on the GPU, forward and backward.

Windows that fit in shared memory (every common pooling: 2x2, 3x3, 5x5, any
stride up to the window) run tiled. A block of 256 threads owns a tile of
one (n, c) plane: 32 (or 16, 8 on narrow maps) columns by 8 * ROWS_PER_THREAD
rows of outputs (forward) or of input gradients (backward). It copies the
part of the plane its tile reads into shared memory, coalesced and once,
padding included (-inf for max, 0 for avg), then each thread computes its
ROWS_PER_THREAD results from there. The kernels are compiled per window
shape (kh, kw, sh, sw), so the window loops unroll and the divisions are by
constants.

- forward: y at (i, j) from the window at (i*sh - ph, j*sw - pw) of the tile.
- avg backward: dx at h is (1 / (kh*kw)) * the sum of dy over the windows
  covering h, at most ceil(kh/sh) x ceil(kw/sw) of them; the tile holds
  those windows' dy (0 for windows past the edge).
- max backward: the tile holds the x that the covering windows see; each
  window's first maximum is found once, into shared memory beside its dy,
  and dx at h sums the dy of the covering windows whose maximum is h. No
  atomics: the same sums on every run.

Larger windows fall back to one thread per output or input element reading
global memory directly, the max backward through a scratch array of window
argmaxes. Adaptive average pooling (windows of varying size; global pooling)
has its own pair, compiled per geometry (see its section below).

Max keeps the first maximum in row-major order, NaN ranking above every
number and every input above the padding, as the CPU kernels and the
reference. Average pooling divides by the whole window (count_include_pad).
The 2x2 / stride 2 max pooling has its own pair on the tiles' grid, a thread
per window reading global memory directly: its windows do not overlap.

Measured on H100s, raw kernels on 32x64x64x64 float32 (share of the copy
bandwidth for the bytes each pass must move, copy at 2970 GB/s), before the
32-bit indexing and after it (bench/bench_cuda.py, best of several machines;
the same code measured up to 35 % slower on another H100 of the pool):
- max pool 3x3/2 pad 1, fwd + bwd: 263 us untiled (15 %), 126-139 us tiled
  (28-32 %) -> 78-80 us (49-51 %); torch 146-151 us end to end.
- avg pool 3x3/1 pad 1 (32x64x32x32), fwd + bwd: 338 us (13 %) -> 120 us
  (37 %) -> 45-60 us (19-25 %); torch 91-161 us.
- max pool 2x2/2, fwd + bwd: 56 us (70 %) -> 53-76 us (52-74 %) by machine.
What limits the tiles is instruction issue, not memory (see "index
arithmetic" below). Masking the thread and block indices took the avg
forward from 78 to 53 us and the max backward from 149 to 92. Instructions a
thread since then, SASS for sm_90 (ptxas 13.0, bench/sass_counts.py), float32,
two results a thread (one in the old 2x2 pair):

    kernel (window)          before   32-bit, walked
    avg forward (3x3/1)         299        178
    max forward (3x3/2)         617        328
    avg backward (3x3/1)        404        192
    max backward (3x3/2)        671        379
    max forward (2x2/2)     381 (297)      140
    max backward (2x2/2)    485 (401)      326

"Walked": the block loads its tile as one row-major walk (_walk), so fewer
warps issue the partial last rows and columns, and these counts understate
the gain. The old 2x2 pair found its window with three signed 64-bit
divisions (in parentheses: its count outside the division subroutine, which
runs only for values past 32 bits). The "after" times above are this step's.
Reference: fastnn/reference/pool.py; CPU twin: kernels/cpu/pool.py.
"""
import functools

import numba
import numpy as np
from numba import cuda

from ._device import (ELEMENTS, MAX_GRID_Y, THREADS, blocks_for, butterfly_sum, device_empty, fill, flat,
                      u32 as _u32, u64 as _u64, view)
from ._launch import kernel

TILE_THREADS = THREADS     # a tile's block; the tests shrink it
ROWS_PER_THREAD = 2
TILE_BYTES = 32 * 1024      # shared memory a tiled block may use; larger windows fall back
PLANE_LIMIT = 2**31         # tiles index within a plane in 32 bits; larger planes fall back
NO_WINDOW = 0xFFFFFFFF      # the max backward's argmax of a window past the edge: matches no input


# ------------------------------------------------------------------ tiled
def _tile(kind, itemsize, kh, kw, sh, sw, height, width, plane):
    """(tx, ty, rows): the block shape and results a thread for tiles of `kind`
    ("forward", "avg_backward", "max_backward", "2x2") over results (height, width),
    or None when they need more than TILE_BYTES of shared memory or more tile
    rows than a grid has, or the larger of the input and output planes has
    `plane` >= PLANE_LIMIT elements. tx is the narrowest of 8, 16, 32 that
    covers the width: few threads idle on small maps."""
    if plane >= PLANE_LIMIT:
        return None
    tx = 8 if width <= 8 else 16 if width <= 16 else 32
    tile = (tx, TILE_THREADS // tx, ROWS_PER_THREAD)
    g = _geometry(tile, kh, kw, sh, sw)
    nbytes = {"forward": g["XH"] * g["XW"] * itemsize,
              "avg_backward": g["DH"] * g["DW"] * itemsize,
              "max_backward": g["BH"] * g["BW"] * itemsize + g["DH"] * g["DW"] * (itemsize + 4),
              "2x2": 0}[kind]
    return tile if nbytes <= TILE_BYTES and -(-height // g["TH"]) <= MAX_GRID_Y else None


def _geometry(tile, kh, kw, sh, sw):
    """The shapes of a tile: results (TH, TW); for the backward, the windows
    covering them (DH, DW); the input that the tile's outputs (forward) or
    covering windows (backward) read, (XH, XW) or (BH, BW)."""
    tx, ty, rows = tile
    TH, TW = ty * rows, tx
    DH, DW = (TH - 1 + kh) // sh + 1, (TW - 1 + kw) // sw + 1
    return dict(TH=TH, TW=TW, XH=(TH - 1) * sh + kh, XW=(TW - 1) * sw + kw, DH=DH, DW=DW,
                BH=(DH - 1) * sh + kh, BW=(DW - 1) * sw + kw)


# ------------------------------------------------------- index arithmetic
# The tile kernels are instruction-bound, and Numba does all integer arithmetic
# in 64 bits (two instructions an add, more a multiply) and wraps every signed
# index as if it might be negative. So their indices are kept narrow and
# unsigned wherever that is exact:
# - thread and block indices are masked to their ranges (_thread, _tile_origin):
#   every index built from them and constants is then known small and >= 0;
# - offsets within a plane are 32-bit (_u32, from _device): tiles run only on
#   planes of fewer than PLANE_LIMIT = 2^31 elements, so a negative row or
#   column wraps past every size and 0 <= i < n is one unsigned compare
#   (_below);
# - a plane's first element is an unsigned 64-bit index (_plane): nothing built
#   on it is wrapped.


@cuda.jit(device=True)
def _thread(tx, ty):
    """(x, y): this thread in its (tx, ty) block, both powers of two."""
    return cuda.threadIdx.x & (tx - 1), cuda.threadIdx.y & (ty - 1)


@cuda.jit(device=True)
def _tile_origin(TH, TW, nc0):
    """(plane, i0, j0): this block's plane (nc0 + blockIdx.z) and the first row
    and column of its tile (blockIdx.y, blockIdx.x)."""
    return (nc0 + (cuda.blockIdx.z & 0xFFFF), (cuda.blockIdx.y & 0xFFFF) * TH,
            (cuda.blockIdx.x & 0x7FFFFFFF) * TW)


@cuda.jit(device=True)
def _plane(nc, size):
    """The flat index of plane nc's first element."""
    return _u64(nc * size)


@cuda.jit(device=True)
def _below(i, n):
    """0 <= i < n, for |i| and n under 2^31."""
    return _u32(i) < _u32(n)


@cuda.jit(device=True)
def _at(base, i, j, width):
    """The flat index of (i, j) in the plane at base."""
    return base + _u32(i * width + j)


@cuda.jit(device=True)
def _nonneg(v):
    """v, known to be >= 0, said so to the compiler: divisions by constants then
    take no sign fix-ups, and indices no wrapping."""
    return v & 0x3FFFFFFFFFFFFFFF


@cuda.jit(device=True)
def _first_window(h, p, k, s):
    """The first window (row or column) that covers h: floor((h + p - k) / s) + 1,
    the division kept non-negative."""
    return _nonneg(h + p - k + s * k) // s + 1 - k


@cuda.jit(device=True)
def _walk(k, cols, tx, ty):
    """(e, r, c): the k-th element e of this thread when a (tx, ty) block walks a
    row-major array of `cols` columns a block at a time; its row r and column c.

    Each warp takes 32 consecutive elements, in at most two runs of a row.
    Walking rows and columns separately would leave most threads idle on the
    last partial rows and columns (a 3x3 / stride 2 tile is 65 columns wide),
    and an idle thread still issues its warp's instructions."""
    x, y = _thread(tx, ty)
    e = _u32(y * tx + x + k * (tx * ty))
    r = _u32(e // cols)
    return e, r, _u32(e - r * cols)


@cuda.jit(device=True)
def _padding_before(top, p):
    """max(0, -top): the rows (or columns) of padding before the first input of a
    window that starts at top >= -p."""
    n = _u32(-top)
    return n if n <= p else 0


def _loader(rows, cols, tx, ty):
    """load(t, a, base, r0, c0, H, W, pad): t (rows, cols) <- the (H, W) plane
    at a[base:] (a flat) from (r0, c0), pad outside the plane; the block walks
    t (_walk)."""
    n = rows * cols

    @cuda.jit(device=True)
    def load(t, a, base, r0, c0, H, W, pad):
        for k in range(-(-n // (tx * ty))):
            e, r, c = _walk(k, cols, tx, ty)
            if e < n:
                h, w = r0 + r, c0 + c
                inside = _below(h, H) and _below(w, W)
                # Padding reads the plane's first element, not past its edge: no
                # branch around the load, so the plane's base is computed once.
                v = a[_at(base, h if inside else 0, w if inside else 0, W)]
                t[r, c] = v if inside else pad
    return load


def _tile_argmax(kh, kw, width):
    @cuda.jit(device=True)
    def argmax(t, a, b, r, s):
        """(m, q): the first maximum m (NaN first) of the window t[a:a+kh,
        b:b+kw] of t (width columns), and where it is, q = row * width + column.
        (r, s): the window's first element in the plane: every element before it
        in row-major order is padding."""
        m, q = t[a + r, b + s], (a + r) * width + b + s
        for u in range(kh):
            for v in range(kw):
                e = t[a + u, b + v]
                # e > m, or e NaN and m not: as m == m and not e <= m, two compares
                if m == m and not e <= m:
                    m, q = e, (a + u) * width + b + v
        return m, q
    return argmax


def _tile_sum(kh, kw):
    @cuda.jit(device=True)
    def window_sum(t, a, b, acc):
        for u in range(kh):
            for v in range(kw):
                acc += t[a + u, b + v]
        return acc
    return window_sum


def _covering_sum(dtype, kh, kw, sh, sw, matched):
    """gather(d, arg, me, lr, lc): the sum of d[a, b] over the windows (a, b) of
    a tile that cover the input (lr, lc), counted from window (0, 0)'s top left:
    a*sh <= lr < a*sh + kh, b likewise. With `matched`, only the windows whose
    arg[a, b] == me.

    lr >= kh - sh: window -1 ends before the tile's first input. So with
    sr = lr + sh - kh >= 0, the first window that might cover the input is
    a0 = sr // sh, and a0 + u covers it when (a0 + u + 1) * sh <= sr + kh, that
    is when sr % sh >= (u + 1) * sh - kh: a compare with a constant, true for
    every u < KI when the stride divides the window. At most KI x KJ windows
    cover an input."""
    KI, KJ, nbt = -(-kh // sh), -(-kw // sw), numba.from_dtype(dtype)

    @cuda.jit(device=True)
    def gather(d, arg, me, lr, lc):
        sr, sc = _u32(lr + (sh - kh)), _u32(lc + (sw - kw))
        a0, b0 = _u32(sr // sh), _u32(sc // sw)
        mr, mc = _u32(sr - a0 * sh), _u32(sc - b0 * sw)
        acc = nbt(0)
        for u in range(KI):
            if mr >= (u + 1) * sh - kh:
                for v in range(KJ):
                    if mc >= (v + 1) * sw - kw and (not matched or arg[a0 + u, b0 + v] == me):
                        acc += d[a0 + u, b0 + v]
        return acc
    return gather


@functools.cache
def _tiled_forward(avg, dtype, kh, kw, sh, sw, tile):
    """y <- the max or average of each window of x; x (N*C*H*W) and y (N*C*OH*OW) flat."""
    tx, ty, rows = tile
    g = _geometry(tile, kh, kw, sh, sw)
    TH, TW, XH, XW = g["TH"], g["TW"], g["XH"], g["XW"]
    nbt = numba.from_dtype(dtype)
    load, argmax, window_sum = _loader(XH, XW, tx, ty), _tile_argmax(kh, kw, XW), _tile_sum(kh, kw)

    @kernel
    def forward(x, H, W, ph, pw, OH, OW, pad, inv, y, nc0):
        """pad: -inf (max) or 0 (avg); inv: 1 / (kh * kw)."""
        t = cuda.shared.array((XH, XW), nbt)
        nc, i0, j0 = _tile_origin(TH, TW, nc0)
        r0, c0 = i0 * sh - ph, j0 * sw - pw
        load(t, x, _plane(nc, H * W), r0, c0, H, W, pad)
        cuda.syncthreads()
        lx, ly = _thread(tx, ty)
        j, b = j0 + lx, lx * sw
        for k in range(rows):
            a = (ly + k * ty) * sh
            i = i0 + ly + k * ty
            if _below(i, OH) and _below(j, OW):
                if avg:
                    v = window_sum(t, a, b, nbt(0)) * inv
                else:
                    v = argmax(t, a, b, 0, 0)[0]     # the value alone: padding (-inf) may start the scan
                y[_at(_plane(nc, OH * OW), i, j, OW)] = v
    return forward


@functools.cache
def _tiled_backward(avg, dtype, kh, kw, sh, sw, tile):
    """dx <- the sum of dy over the windows covering each input: times 1 / (kh *
    kw) for avg; for max, over the windows whose first maximum in x it is.
    dy, x and dx flat (x unused for avg)."""
    tx, ty, rows = tile
    g = _geometry(tile, kh, kw, sh, sw)
    TH, TW, DH, DW = g["TH"], g["TW"], g["DH"], g["DW"]
    BH, BW = (1, 1) if avg else (g["BH"], g["BW"])      # no x tile, no argmaxes for avg
    AH, AW = (1, 1) if avg else (DH, DW)
    nbt = numba.from_dtype(dtype)
    load_dy, load_x, argmax = _loader(DH, DW, tx, ty), _loader(BH, BW, tx, ty), _tile_argmax(kh, kw, BW)
    gather = _covering_sum(dtype, kh, kw, sh, sw, not avg)

    @kernel
    def backward(dy, x, OH, OW, ph, pw, H, W, lowest, inv, dx, nc0):
        """lowest: -inf, the max's padding; inv: 1 / (kh * kw), for avg."""
        d = cuda.shared.array((DH, DW), nbt)                # the covering windows' dy
        t = cuda.shared.array((BH, BW), nbt)                # max: the x they see
        arg = cuda.shared.array((AH, AW), numba.uint32)     # max: r * BW + s of each window's max in t
        nc, h0, w0 = _tile_origin(TH, TW, nc0)
        bi, bj = _first_window(h0, ph, kh, sh), _first_window(w0, pw, kw, sw)
        r0, c0 = bi * sh - ph, bj * sw - pw                 # window (bi, bj)'s top left
        load_dy(d, dy, _plane(nc, OH * OW), bi, bj, OH, OW, nbt(0))
        if not avg:
            load_x(t, x, _plane(nc, H * W), r0, c0, H, W, lowest)
        cuda.syncthreads()
        if not avg:
            for k in range(-(-(DH * DW) // (tx * ty))):
                e, a, b = _walk(k, DW, tx, ty)
                if e < DH * DW:
                    i, j = bi + a, bj + b
                    if _below(i, OH) and _below(j, OW):
                        top, left = r0 + a * sh, c0 + b * sw
                        arg[a, b] = argmax(t, a * sh, b * sw, _padding_before(top, ph),
                                           _padding_before(left, pw))[1]
                    else:
                        arg[a, b] = NO_WINDOW
            cuda.syncthreads()
        lx, ly = _thread(tx, ty)
        w = w0 + lx
        for k in range(rows):
            h = h0 + ly + k * ty
            if _below(h, H) and _below(w, W):
                lr, lc = h - r0, w - c0
                # me < 2^31 when compared: an input that a window covers is in t
                v = gather(d, arg, _u32(lr * BW + lc), lr, lc)
                dx[_at(_plane(nc, H * W), h, w, W)] = v * inv if avg else v
    return backward


@cuda.jit(device=True)
def _argmax_2x2(x, base, r, s, W):
    """(m, q): the first maximum m (NaN first) of the 2x2 window at (r, s) of the
    plane of width W at x[base:], and its place q = 0..3 in row-major order."""
    m, q = x[_at(base, r, s, W)], 0
    for k in range(1, 4):
        e = x[_at(base, r + k // 2, s + k % 2, W)]
        if m == m and not e <= m:
            m, q = e, k
    return m, q


@functools.cache
def _tiled_2x2(dtype, tile, backward):
    """The 2x2 / stride 2 max pooling, forward or backward, a thread per window
    on the tiles' grid. The windows do not overlap: nothing to share, so each
    thread reads its window from global memory directly."""
    tx, ty, rows = tile
    TH, TW = ty * rows, tx
    nbt = numba.from_dtype(dtype)
    zero = nbt(0)

    @kernel
    def max_2x2(dy, x, H, W, OH, OW, out, nc0):
        """forward: out = y, dy unused. backward: out = dx, dy at the window's
        first maximum, 0 at its other three inputs, and 0 on the row and column
        that no window covers (odd H, W), from the last windows."""
        nc, i0, j0 = _tile_origin(TH, TW, nc0)
        lx, ly = _thread(tx, ty)
        xb, yb, j = _plane(nc, H * W), _plane(nc, OH * OW), j0 + lx
        # Every window's loads before any store: as far as the compiler knows,
        # out may alias x, so a store would hold back the next window's loads.
        m, at = cuda.local.array(rows, nbt), cuda.local.array(rows, numba.int32)
        g = cuda.local.array(rows, nbt)
        for k in range(rows):
            i = i0 + ly + k * ty
            if _below(i, OH) and _below(j, OW):
                m[k], at[k] = _argmax_2x2(x, xb, 2 * i, 2 * j, W)
                if backward:
                    g[k] = dy[_at(yb, i, j, OW)]
        for k in range(rows):
            i = i0 + ly + k * ty
            if not (_below(i, OH) and _below(j, OW)):
                continue
            if not backward:
                out[_at(yb, i, j, OW)] = m[k]
                continue
            r, s = 2 * i, 2 * j
            for q in range(4):
                out[_at(xb, r + q // 2, s + q % 2, W)] = g[k] if q == at[k] else zero
            last_i, last_j = i == OH - 1 and H % 2 == 1, j == OW - 1 and W % 2 == 1
            if last_i:
                out[_at(xb, H - 1, s, W)] = zero
                out[_at(xb, H - 1, s + 1, W)] = zero
            if last_j:
                out[_at(xb, r, W - 1, W)] = zero
                out[_at(xb, r + 1, W - 1, W)] = zero
            if last_i and last_j:
                out[_at(xb, H - 1, W - 1, W)] = zero
    return max_2x2


def _tiled_launch(kernel, out, tile, *args):
    """kernel(*args, nc0) over the tiles of out (N, C, H, W): blockIdx.x and y the
    tile's column and row, blockIdx.z the plane, at most MAX_GRID_Y planes a launch."""
    N, C, H, W = out.shape
    if out.size == 0:
        return
    tx, ty, rows = tile
    tiles = (-(-W // tx), -(-H // (ty * rows)))
    for nc0 in range(0, N * C, MAX_GRID_Y):
        kernel[(*tiles, min(MAX_GRID_Y, N * C - nc0)), (tx, ty)](*args, nc0)


# ------------------------------------------- per thread (windows too large to tile)
@cuda.jit(device=True)
def _pixel(width, nc0):
    """(plane, i, j, p): this thread's plane nc0 + blockIdx.y, its position p
    within the plane (which may be past the end), and (i, j) = divmod(p, width)."""
    p = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    i = p // width
    return nc0 + cuda.blockIdx.y, i, p - i * width, p


@cuda.jit(device=True)
def _covering(h, p, k, s, out_size):
    """The range [lo, hi) of windows i (rows or columns) with i*s - p <= h < i*s - p + k.
    Only non-negative numbers are divided: a 64-bit division of values that fit
    in 32 bits takes the GPU's 32-bit path, a negative one the slow 64-bit one."""
    lo = 0 if h + p < k else (h + p - k) // s + 1
    return lo, min(out_size, (h + p) // s + 1)


@cuda.jit(device=True)
def _window_argmax(x, nc, W, i0, j0, kh, kw, H):
    """The offset r * W + s in plane nc of x (planes, H * W) of the first maximum
    (NaN first) of the window at (i0, j0), clipped to the plane (never empty:
    padding is at most half the window)."""
    r0, r1, s0, s1 = max(i0, 0), min(i0 + kh, H), max(j0, 0), min(j0 + kw, W)
    best = r0 * W + s0
    m = x[nc, best]
    r = r0
    while r < r1:
        q = r * W + s0
        while q < r * W + s1:
            v = x[nc, q]
            if v > m or (v != v and m == m):
                m, best = v, q
            q += 1
        r += 1
    return best


@kernel
def _max_forward(x, H, W, kh, kw, sh, sw, ph, pw, OW, y, nc0):
    nc, i, j, p = _pixel(OW, nc0)
    if p < y.shape[1]:
        y[nc, p] = x[nc, _window_argmax(x, nc, W, i * sh - ph, j * sw - pw, kh, kw, H)]


@kernel
def _window_argmaxes(x, H, W, kh, kw, sh, sw, ph, pw, OW, arg, nc0):
    """arg[nc, p] <- the offset in plane nc of x of window p's first maximum."""
    nc, i, j, p = _pixel(OW, nc0)
    if p < arg.shape[1]:
        arg[nc, p] = _window_argmax(x, nc, W, i * sh - ph, j * sw - pw, kh, kw, H)


@kernel
def _max_backward(dy, arg, W, kh, kw, sh, sw, ph, pw, OH, OW, dx, nc0):
    """dx at input p: the sum of dy over the windows covering p whose argmax is p."""
    nc, h, w, p = _pixel(W, nc0)
    if p >= dx.shape[1]:
        return
    i0, i1 = _covering(h, ph, kh, sh, OH)
    j0, j1 = _covering(w, pw, kw, sw, OW)
    acc = 0.0
    i = i0
    while i < i1:
        q = i * OW + j0
        while q < i * OW + j1:
            if arg[nc, q] == p:
                acc += dy[nc, q]
            q += 1
        i += 1
    dx[nc, p] = acc


@cuda.jit(device=True)
def _box_sum(a, nc, width, r0, r1, c0, c1, acc):
    """acc + the sum over rows [r0, r1) and columns [c0, c1) of plane nc of a
    (planes, rows * width)."""
    r = r0
    while r < r1:
        q = r * width + c0
        while q < r * width + c1:
            acc += a[nc, q]
            q += 1
        r += 1
    return acc


@kernel
def _avg_forward(x, H, W, kh, kw, sh, sw, ph, pw, inv, OW, y, nc0):
    """inv = 1 / (kh * kw) in x's dtype, which the sum runs in."""
    nc, i, j, p = _pixel(OW, nc0)
    if p < y.shape[1]:
        i0, j0 = i * sh - ph, j * sw - pw
        y[nc, p] = _box_sum(x, nc, W, max(i0, 0), min(i0 + kh, H), max(j0, 0), min(j0 + kw, W), inv * 0) * inv


@kernel
def _avg_backward(dy, OH, OW, kh, kw, sh, sw, ph, pw, inv, W, dx, nc0):
    nc, h, w, p = _pixel(W, nc0)
    if p < dx.shape[1]:
        i0, i1 = _covering(h, ph, kh, sh, OH)
        j0, j1 = _covering(w, pw, kw, sw, OW)
        dx[nc, p] = _box_sum(dy, nc, OW, i0, i1, j0, j1, inv * 0) * inv


# Adaptive average pooling: output (i, j) averages rows floor(i*H/OH) ..
# ceil((i+1)*H/OH) - 1 and the columns likewise (kernels/cpu/pool.py). The
# backward is a gather: input row h lies in windows floor(h*OH/H) ..
# ceil((h+1)*OH/H) - 1, each dividing by its own size.
#
# The kernels are compiled per geometry (H, W, OH, OW), as the tiles are per
# window shape: every division above is then by a constant, and in 32 bits
# (`n` truncates each product and quotient, which lets the compiler narrow
# them). Threads run over the flat arrays. The forward gives each output a
# group of `lanes` threads (a power of two up to a warp) that walk its window
# together, so that a group's loads are consecutive, then add their sums by
# shuffles; the backward, ELEMENTS inputs a thread. Sizes are cast to the
# dtype: a float32 divided by an integer is float64.
#
# Measured on an H100, 256x2048x7x7 -> 1x1 float32 (a ResNet-50 head), raw
# kernels, fwd + bwd: 2.56 ms when these kernels ran a block of threads per
# plane (255 of 256 threads idle on a 1x1 output), 154 us with the threads
# over the flat arrays, 91 us (77 % of the copy bandwidth) with the loads of
# a thread unrolled and in flight together; torch 193 us. 64x256x56x56 -> 7x7:
# 150 us (92 %).

@functools.cache
def adaptive_lanes(H, W, OH, OW):
    """(lanes, steps): threads per output in the forward, and the most elements
    one of them adds. Four or more elements a thread where the windows allow
    (the largest power of two up to 32 no larger than a quarter of the largest
    window): a thread's loads, unrolled, are in flight together, and one load
    at a time a thread left the 7x7 -> 1x1 forward at 44 % of the copy
    bandwidth on an H100."""
    def longest(n_in, n_out):
        return max((-(-(i + 1) * n_in // n_out)) - i * n_in // n_out for i in range(n_out)) if n_out else 1
    area = longest(H, OH) * longest(W, OW)
    lanes = min(32, 1 << (max(1, area // 4).bit_length() - 1))
    return lanes, -(-area // lanes)


if numba.config.ENABLE_CUDASIM:
    # The simulator has no shuffles: the group's first lane adds the others' sums.
    @cuda.jit(device=True)
    def _group_sum(v, lanes, me):
        """The sum of v over this thread's aligned group of `lanes` lanes, in its first lane."""
        partial = cuda.shared.array(THREADS, numba.float64)
        partial[me] = v
        cuda.syncthreads()
        if me % lanes == 0:
            for m in range(1, lanes):
                v += partial[me + m]
        return v
else:
    @cuda.jit(device=True)
    def _group_sum(v, lanes, me):
        """The sum of v over this thread's aligned group of `lanes` lanes, in every lane."""
        return butterfly_sum(v, lanes)


def _adaptive_axis(n_in, n_out, n):
    """(window, covering) device functions along an axis of n_in inputs and n_out
    outputs, indices cast by n: window(i) is output i's [start, end) of inputs,
    covering(h) the [first, end) of the windows holding input h. When n_out
    divides n_in (global pooling, 56 -> 7), the windows have one size k, and
    input h lies in window h // k alone: no loop bounds to compute."""
    if n_out and n_in % n_out == 0:
        k = n_in // n_out

        @cuda.jit(device=True)
        def window(i):
            start = n(i * k)
            return start, start + k         # end - start folds to the constant k

        @cuda.jit(device=True)
        def covering(h):
            return n(h // k), n(h // k + 1)
    else:
        @cuda.jit(device=True)
        def window(i):
            return n(n(i * n_in) // n_out), n(n((i + 1) * n_in + n_out - 1) // n_out)

        @cuda.jit(device=True)
        def covering(h):
            return n(n(h * n_out) // n_in), n(n((h + 1) * n_out + n_in - 1) // n_in)
    return window, covering


@functools.cache
def _adaptive_avg(dtype, H, W, OH, OW, wide):
    """(forward, backward) over flat arrays of dtype: x (N*C*H*W), y (N*C*OH*OW).
    Indices are unsigned 32-bit, or signed 64-bit when `wide`."""
    nbt = numba.from_dtype(np.dtype(dtype))
    lanes, steps = adaptive_lanes(H, W, OH, OW)
    n = numba.int64 if wide else _u32
    row_window, rows_covering = _adaptive_axis(H, OH, n)
    col_window, cols_covering = _adaptive_axis(W, OW, n)

    @kernel
    def forward(x, y):
        me = n(cuda.threadIdx.x)
        out = n(n(n(cuda.blockIdx.x) * THREADS + me) // lanes)
        nc = n(out // (OH * OW))
        ij = n(out - nc * (OH * OW))
        i = n(ij // OW)
        h0, h1 = row_window(i)
        w0, w1 = col_window(n(ij - i * OW))
        width, area = n(w1 - w0), n(n(h1 - h0) * n(w1 - w0))
        acc = nbt(0)
        if out < y.shape[0]:
            # the group walks the window row-major, `lanes` elements a step:
            # element k at row r, column c, without a division a step
            lane = n(me % lanes)
            r = n(lane // width)
            c, dr = n(lane - r * width), n(lanes // width)
            dc = n(lanes - dr * width)
            k, at = lane, n(n(nc * (H * W)) + n((h0 + r) * W) + w0)
            for _ in range(steps):
                if k < area:
                    acc += x[n(at + c)]
                k, r, c, at = n(k + lanes), n(r + dr), n(c + dc), n(at + dr * W)
                if c >= width:
                    c, at = n(c - width), n(at + W)
        acc = _group_sum(acc, lanes, me)
        if me % lanes == 0 and out < y.shape[0]:
            y[out] = acc / nbt(area)

    @kernel
    def backward(dy, dx):
        # ELEMENTS inputs a thread, THREADS apart (as the elementwise kernels),
        # their loads in flight together: no branch before the stores (a
        # thread past the end computes the last input's gradient, unstored).
        first = n(n(cuda.blockIdx.x) * (THREADS * ELEMENTS) + n(cuda.threadIdx.x))
        last = n(dx.shape[0] - 1)
        acc = cuda.local.array(ELEMENTS, nbt)
        for e in range(ELEMENTS):
            t = min(n(first + e * THREADS), last)
            nc = n(t // (H * W))
            hw = n(t - nc * (H * W))
            h = n(hw // W)
            acc[e] = nbt(0)
            i, i1 = rows_covering(h)
            while i < i1:
                h0, h1 = row_window(i)
                j, j1 = cols_covering(n(hw - h * W))
                while j < j1:
                    w0, w1 = col_window(j)
                    acc[e] += dy[n(n(nc * (OH * OW)) + n(i * OW) + j)] / nbt(n(h1 - h0) * n(w1 - w0))
                    j = n(j + 1)
                i = n(i + 1)
        for e in range(ELEMENTS):
            t = n(first + e * THREADS)
            if t < dx.shape[0]:
                dx[t] = acc[e]

    return forward, backward


def _per_planes(kernel, planes, pixels, *args):
    """Launch kernel(*args, nc0) with a thread per pixel of each of `planes`
    planes (blockIdx.y: the plane), at most MAX_GRID_Y planes a launch."""
    blocks = blocks_for(pixels)
    for nc0 in range(0, planes, MAX_GRID_Y):
        kernel[(blocks, min(MAX_GRID_Y, planes - nc0)), THREADS](*args, nc0)


def _planes(a):
    """(N, C, H, W) -> the (N * C, H * W) view: one row per plane."""
    N, C, H, W = a.shape
    return view(a, (N * C, H * W))


def _launch(kernel, out, *args):
    """kernel(*args) over the pixels of out (N, C, H, W)."""
    if out.size:
        _per_planes(kernel, out.shape[0] * out.shape[1], out.shape[2] * out.shape[3], *args)


def max_pool2d_forward(x, kh, kw, sh, sw, ph, pw, y):
    H, W, OH, OW = x.shape[2], x.shape[3], y.shape[2], y.shape[3]
    tile = _tile("forward", x.dtype.itemsize, kh, kw, sh, sw, OH, OW, max(H * W, OH * OW))
    if tile:
        _tiled_launch(_tiled_forward(False, x.dtype, kh, kw, sh, sw, tile), y, tile, flat(x), H, W, ph, pw,
                      OH, OW, x.dtype.type(-np.inf), x.dtype.type(1), flat(y))
    else:
        _launch(_max_forward, y, _planes(x), H, W, kh, kw, sh, sw, ph, pw, OW, _planes(y))


def max_pool2d_backward(dy, x, kh, kw, sh, sw, ph, pw, dx):
    N, C, H, W = x.shape
    OH, OW = dy.shape[2], dy.shape[3]
    tile = _tile("max_backward", x.dtype.itemsize, kh, kw, sh, sw, H, W, max(H * W, OH * OW))
    if tile:
        _tiled_launch(_tiled_backward(False, x.dtype, kh, kw, sh, sw, tile), dx, tile, flat(dy), flat(x),
                      OH, OW, ph, pw, H, W, x.dtype.type(-np.inf), x.dtype.type(1), flat(dx))
    elif dx.size:
        # Each window's argmax once, into scratch (as the indices torch's forward
        # saves), then a gather over them: recomputing the argmax of every window
        # covering an input costs kh * kw loads per window per input it covers.
        arg = device_empty((N * C, OH * OW), np.int32 if H * W <= 2**31 - 1 else np.int64)
        _launch(_window_argmaxes, dy, _planes(x), H, W, kh, kw, sh, sw, ph, pw, OW, arg)
        _launch(_max_backward, dx, _planes(dy), arg, W, kh, kw, sh, sw, ph, pw, OH, OW, _planes(dx))


def max_pool2d_2x2_forward(x, y):
    H, W, OH, OW = x.shape[2], x.shape[3], y.shape[2], y.shape[3]
    tile = _tile("2x2", x.dtype.itemsize, 2, 2, 2, 2, OH, OW, H * W)
    if tile:
        fx = flat(x)
        _tiled_launch(_tiled_2x2(x.dtype, tile, False), y, tile, fx, fx, H, W, OH, OW, flat(y))
    else:
        max_pool2d_forward(x, 2, 2, 2, 2, 0, 0, y)


def max_pool2d_2x2_backward(dy, x, dx):
    H, W, OH, OW = x.shape[2], x.shape[3], dy.shape[2], dy.shape[3]
    tile = _tile("2x2", x.dtype.itemsize, 2, 2, 2, 2, OH, OW, H * W)
    if tile:
        _tiled_launch(_tiled_2x2(x.dtype, tile, True), dy, tile, flat(dy), flat(x), H, W, OH, OW, flat(dx))
    else:
        max_pool2d_backward(dy, x, 2, 2, 2, 2, 0, 0, dx)


def avg_pool2d_forward(x, kh, kw, sh, sw, ph, pw, y):
    inv = x.dtype.type(1 / (kh * kw))
    H, W, OH, OW = x.shape[2], x.shape[3], y.shape[2], y.shape[3]
    tile = _tile("forward", x.dtype.itemsize, kh, kw, sh, sw, OH, OW, max(H * W, OH * OW))
    if tile:
        _tiled_launch(_tiled_forward(True, x.dtype, kh, kw, sh, sw, tile), y, tile, flat(x), H, W, ph, pw,
                      OH, OW, x.dtype.type(0), inv, flat(y))
    else:
        _launch(_avg_forward, y, _planes(x), H, W, kh, kw, sh, sw, ph, pw, inv, OW, _planes(y))


def avg_pool2d_backward(dy, kh, kw, sh, sw, ph, pw, dx):
    inv = dx.dtype.type(1 / (kh * kw))
    OH, OW, H, W = dy.shape[2], dy.shape[3], dx.shape[2], dx.shape[3]
    tile = _tile("avg_backward", dx.dtype.itemsize, kh, kw, sh, sw, H, W, max(H * W, OH * OW))
    if tile:
        fdy = flat(dy)
        _tiled_launch(_tiled_backward(True, dx.dtype, kh, kw, sh, sw, tile), dx, tile, fdy, fdy, OH, OW,
                      ph, pw, H, W, dx.dtype.type(0), inv, flat(dx))
    else:
        _launch(_avg_backward, dx, _planes(dy), OH, OW, kh, kw, sh, sw, ph, pw, inv, W, _planes(dx))


def _adaptive_kernels(x_shape, y_shape, dtype):
    """(forward, backward, lanes) for inputs of x_shape pooled to y_shape."""
    (N, C, H, W), (OH, OW) = x_shape, y_shape[2:]
    lanes, _ = adaptive_lanes(H, W, OH, OW)
    wide = max(N * C * H * W, N * C * OH * OW * lanes) >= 2**31
    return (*_adaptive_avg(np.dtype(dtype), H, W, OH, OW, wide), lanes)


def adaptive_avg_pool2d_forward(x, y):
    forward, _, lanes = _adaptive_kernels(x.shape, y.shape, x.dtype)
    if y.size:
        forward[blocks_for(y.size * lanes), THREADS](flat(x), flat(y))


def adaptive_avg_pool2d_backward(dy, dx):
    if dy.size == 0 or dx.size == 0:    # no windows (or no inputs): nothing flows back
        fill(flat(dx), 0)
        return
    _, backward, _ = _adaptive_kernels(dx.shape, dy.shape, dx.dtype)
    backward[blocks_for(dx.size, THREADS * ELEMENTS), THREADS](flat(dy), flat(dx))
