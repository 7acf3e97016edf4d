"""Max, average and adaptive average pooling, forward and backward, NCHW
(ceil_mode=False).

Output (i, j) of plane (n, c) pools the window of rows i*sh - ph .. + kh and
columns j*sw - pw .. + kw. Max treats the padding as -inf. Its backward
gives each window's gradient to the first maximum in row-major order (a NaN
beats every number and the first NaN stays); its forward gives that maximum,
NaN if the window holds one. (For zeros of both signs the 2x2 path gives the
first, as torch does, and the general path +0, as llvm.maximum does.) Avg
divides the in-bounds sum by kh*kw, counting padding as zeros as torch's
count_include_pad=True does.

One prange iteration per (n, c) plane: planes are independent, so the
backward's scatter-add needs no atomics. Every array must be C-contiguous
(the functional layer makes it so): planes come from a reshaped view. The
max backward recomputes the argmax from x instead of storing int64 indices
as torch does: a second read of x costs less memory traffic than writing and
reading an index array.
Non-overlapping 2x2 windows (the common 2x2 stride-2 pool) get their own
kernels, which write every dx element exactly once without zeroing first.
Reference: fastnn/reference/pool.py.
"""
import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from ._math import FASTMATH, maximum
from .conv import _valid_range


@njit(cache=True, inline="always")
def _beats(p, q):
    """p ranks strictly above q: greater, or NaN against a number (NaN is the top)."""
    return (p > q) | ((p != p) & (q == q))


@njit(cache=True, inline="always")
def _planes(a):
    """(N, C, H, W) -> the (N*C, H, W) view, C-contiguous a only. Planes are taken as
    _planes(a)[nc], not a[nc // C, nc % C]: two divisions and a view a plane
    show on LeNet's planes (2x2 backward on 32x32x4x4, one core: 56 -> 51 us)."""
    return a.reshape(a.shape[0] * a.shape[1], a.shape[2], a.shape[3])


# The general max pool is separable too. The forward goes column first: per
# output row, a column pass takes the maximum over the window's rows for every
# input column, then each window takes the maximum of its kw column maxima.
# Both passes are maxima of unit-stride runs, which LLVM vectorises (as
# llvm.maximum: NaN wins), so the padded row of column maxima is first split
# into its sw column phases, as the backward's rows are (below). On 3x3/2 pad 1,
# 8x64x64x64, one thread of a Zen 1 (AVX2): 2.1-2.6 ms, against 4.4 for the
# strided loads and _beats selects this replaced, and 4.4 for those selects
# over the phases.

@njit(cache=True, inline="always")
def _column_maxima(plane, r0, r1, best):
    """best[s] <- the maximum of plane[r0:r1, s] (NaN if one is)."""
    best[:] = plane[r0]
    for r in range(r0 + 1, r1):
        src = plane[r]
        for s in range(best.shape[0]):
            best[s] = maximum(best[s], src[s])


@njit(parallel=True, cache=True)
def max_pool2d_forward(x, kh, kw, sh, sw, ph, pw, y):
    N, C, OH, OW = y.shape
    H, W = x.shape[2], x.shape[3]
    L = -(-max((OW - 1) * sw + kw, pw + W) // sw)   # entries of each phase the windows reach
    xs, ys = _planes(x), _planes(y)
    for nc in prange(N * C):
        plane, out = xs[nc], ys[nc]
        best = np.full(L * sw, -np.inf, y.dtype)      # padded columns; the padding stays -inf
        phases = np.empty((sw, L), y.dtype)           # phase p: padded columns p, p + sw, ...
        for i in range(OH):
            _column_maxima(plane, max(i * sh - ph, 0), min(i * sh - ph + kh, H), best[pw:pw + W])
            for p in range(sw):
                phase = phases[p]
                for q in range(L):
                    phase[q] = best[q * sw + p]
            o = out[i]
            o[:] = phases[0, :OW]
            for t in range(1, kw):                    # window column t of output j: phase t % sw
                src = phases[t % sw, t // sw:]
                for j in range(OW):
                    o[j] = maximum(o[j], src[j])


# The backward needs where each window's first maximum lies, and goes row
# first: per input row, each window's first maximum over its columns and its
# column (a row pass); then per window, the first of its rows' winners that
# no later row beats (a column pass). Both passes keep a candidate until a
# later one beats it strictly, which is "first in row-major order" with no tie
# rule on rows. (Column first needs one, and its selects turned into branches
# that random data mispredicts: 3x3/2 on 32x64x64x64 took 12.3 ms, against
# the forward's 2.3; row first takes 5.7-6.5 ms.) So that the row pass loads
# at unit stride and LLVM vectorises it, the padded plane is split into its sw
# column phases: phase p holds padded columns p, p + sw, p + 2 sw, ..., and
# column t of window j is entry j + t // sw of phase t % sw. A plane's rows
# are laid end to end, L entries each, so a pass is one long loop.

@njit(cache=True, inline="always")
def _row_winners(plane, kw, sw, pw, L, win, at):
    """win[r*L + j], at[r*L + j] <- in row r of `plane`, the first maximum over
    the kw columns of window column j, and which of them (0 .. kw - 1) holds it;
    for j < OW = L - (kw - 1) // sw (the entries past OW hold junk)."""
    H, W = plane.shape
    OW = L - (kw - 1) // sw
    n = (H - 1) * L + OW                            # through the last row's last window
    reach = min(W, L * sw - pw)                     # columns past the last window are never read
    phases = np.empty((sw, H * L), win.dtype)
    for p in range(sw):                             # entry q: padded column q*sw + p, plane column - pw
        q0, q1 = _valid_range(L, reach, p, sw, pw)  # entries [q0, q1) lie on the plane, the rest -inf
        for r in range(H):
            src, phase = plane[r], phases[p, r * L:(r + 1) * L]
            phase[:q0] = -np.inf
            for q in range(q0, q1):
                phase[q] = src[q * sw + p - pw]
            phase[q1:] = -np.inf
    win[:n] = phases[0, :n]
    at[:n] = 0
    for t in range(1, kw):
        col = phases[t % sw, t // sw:]
        for q in range(n):
            v = col[q]
            take = _beats(v, win[q])
            at[q] = np.int32(t) if take else at[q]
            win[q] = maximum(win[q], v)
    # A window whose real columns in a row all hold -inf kept a padding column
    # (the first, never beaten); the first real column ties it and comes first.
    for r in range(H):
        for j in range(min(-(-pw // sw), OW)):
            at[r * L + j] = max(at[r * L + j], np.int32(pw - j * sw))


@njit(parallel=True, cache=True)
def max_pool2d_backward(dy, x, kh, kw, sh, sw, ph, pw, dx):
    N, C, OH, OW = dy.shape
    H, W = x.shape[2], x.shape[3]
    L = OW + (kw - 1) // sw           # a row's entries in each phase that the windows read
    xs, dys, dxs = _planes(x), _planes(dy), _planes(dx)
    for nc in prange(N * C):
        plane, g, d = xs[nc], dys[nc], dxs[nc]
        win, at = np.empty(H * L, dx.dtype), np.empty(H * L, np.int32)
        _row_winners(plane, kw, sw, pw, L, win, at)
        top, top_at, top_row = np.empty(OW, dx.dtype), np.empty(OW, np.int32), np.empty(OW, np.int32)
        flat = d.reshape(H * W)
        flat[:] = 0
        for i in range(OH):
            r0, r1 = max(i * sh - ph, 0), min(i * sh - ph + kh, H)
            top[:] = win[r0 * L:r0 * L + OW]
            top_at[:] = at[r0 * L:r0 * L + OW]
            top_row[:] = r0
            for r in range(r0 + 1, r1):
                v, c = win[r * L:r * L + OW], at[r * L:r * L + OW]
                for j in range(OW):
                    take = _beats(v[j], top[j])
                    top_at[j] = c[j] if take else top_at[j]
                    top_row[j] = np.int32(r) if take else top_row[j]
                    top[j] = maximum(top[j], v[j])
            gi = g[i]
            for j in range(OW):   # the winner's column is >= 0: no wraparound check
                flat[np.uintp(top_row[j] * W + j * sw - pw + top_at[j])] += gi[j]


# The 2x2 kernels run scalar on rows too short for LLVM's vector loop (on
# AVX2, planes under 64 columns: LeNet's all), and a scalar float
# select whose condition joins two compares compiles to a branch, which
# random data mispredicts half the time. _first_max keeps each select to one
# compare, which x86 does without a branch (maxss, a blend).

@njit(cache=True, inline="always")
def _first_max(a, b):
    """a, unless b ranks strictly above it (_beats): the first maximum of (a, b).

    `b if _beats(b, a) else a` compiles to a branch, and LLVM merges `b if
    b != b else (b if b > a else a)` into that same select. Here the two
    selects are maxss with their operands swapped (maxss returns its second
    operand when either is NaN), so each keeps the NaN of one; the blend
    takes b's if b is NaN."""
    keeps_nan_of_a = b if b > a else a
    keeps_nan_of_b = a if a > b else b
    return keeps_nan_of_b if keeps_nan_of_b != keeps_nan_of_b else keeps_nan_of_a


@njit(parallel=True, cache=True)
def max_pool2d_2x2_forward(x, y):
    """kernel 2, stride 2, no padding. Branch-free: one core of a Zen 1 (AVX2),
    float32, 32x16x8x8 107 -> 22 us, 32x16x32x32 4.7 -> 0.26 ns an element."""
    N, C, OH, OW = y.shape
    xs, ys = _planes(x), _planes(y)
    for nc in prange(N * C):
        plane, out = xs[nc], ys[nc]
        for i in range(OH):
            top, bot, o = plane[2 * i], plane[2 * i + 1], out[i]
            for j in range(OW):
                o[j] = _first_max(_first_max(top[2 * j], top[2 * j + 1]),
                                  _first_max(bot[2 * j], bot[2 * j + 1]))


def _as_bits(a):
    """The float array a viewed as integers of its width (int32 or int64)."""
    return a.view(np.int32 if a.itemsize == 4 else np.int64)


@overload(_as_bits, jit_options={"cache": True})
def _as_bits_overload(a):
    bits = np.int32 if a.dtype == types.float32 else np.int64
    return lambda a: a.view(bits)


@njit(cache=True, inline="always")
def _loses(v, m):
    """1 if v is not the window maximum m (a NaN m is matched by any NaN), else 0."""
    return np.int32((v != m) & (v == v))


@njit(parallel=True, cache=True)
def max_pool2d_2x2_backward(dy, x, dx):
    """kernel 2, stride 2, no padding: each dx element lies in at most one window.

    Two passes per pair of rows: the first finds each window's winner (0..3:
    a b / c e in row-major order) from stride-2 loads into a row of codes; the
    second writes both dx rows with unit stride. One pass writing a b c e's
    gradients at stride 2 stayed at 0.88 ns an element on one core, against
    0.40 (8x64x64x64 float32, AVX-512). Nothing branches on the data (random
    data makes every max a coin flip): the winner is the first element equal
    to the window's maximum, found in integer arithmetic; the second pass
    masks dy's bits with integer ANDs (a float select on an integer compare
    is a branch). The bit views are taken once, as views made per row cost
    reference-counting calls.
    One core of a Zen 1, float32: 32x16x8x8 244 -> 92 us, 32x32x4x4 161 -> 66.
    """
    N, C, OH, OW = dy.shape
    H, W = x.shape[2], x.shape[3]
    xs, dys, dxs = _planes(x), _planes(_as_bits(dy)), _planes(_as_bits(dx))
    for nc in prange(N * C):
        plane, g, d = xs[nc], dys[nc], dxs[nc]
        winner = np.empty(OW, np.int32)
        for i in range(OH):
            top, bot = plane[2 * i], plane[2 * i + 1]
            for j in range(OW):
                a, b, c, e = top[2 * j], top[2 * j + 1], bot[2 * j], bot[2 * j + 1]
                m = _first_max(_first_max(a, b), _first_max(c, e))
                # 0 if a is the maximum, else 1 if b is, else 2 if c is, else 3
                winner[j] = _loses(a, m) * (1 + _loses(b, m) * (1 + _loses(c, m)))
            gi, dtop, dbot = g[i], d[2 * i], d[2 * i + 1]
            for s in range(2 * OW):   # all ones where the winner sits, else zero
                k, v = winner[s >> 1], gi[s >> 1]
                dtop[s] = v & -(k == (s & 1))
                dbot[s] = v & -(k == (s & 1) + 2)
            if W > 2 * OW:            # an odd last column no window covers
                dtop[W - 1] = 0
                dbot[W - 1] = 0
        if H > 2 * OH:                # an odd last row
            d[H - 1, :] = 0


# Average pooling is separable: a window's sum is the sum over its kh rows of
# the sum over its kw columns. Per output row, the kh input rows are added
# into one zero-padded row buffer, then kw shifted copies of that buffer into
# the output row; every loop runs along a row, so LLVM vectorises it (the
# per-window loops this replaced ran scalar: 3x3/1 on 32x64x32x32, fwd+bwd,
# 15.7 ms against torch's 13.8). The backward is the same two steps in
# reverse: scatter each dy row into a padded row, add it into kh dx rows.

@njit(parallel=True, cache=True, fastmath=FASTMATH)
def avg_pool2d_forward(x, kh, kw, sh, sw, ph, pw, y):
    N, C, OH, OW = y.shape
    H, W = x.shape[2], x.shape[3]
    inv = y.dtype.type(1 / (kh * kw))
    width = max((OW - 1) * sw + kw, pw + W)   # padded columns the windows reach
    xs, ys = _planes(x), _planes(y)
    for nc in prange(N * C):
        plane, out = xs[nc], ys[nc]
        rows = np.zeros(width, y.dtype)       # padding columns stay 0
        inside = rows[pw:pw + W]
        for i in range(OH):
            inside[:] = 0
            for r in range(max(i * sh - ph, 0), min(i * sh - ph + kh, H)):
                src = plane[r]
                for s in range(W):
                    inside[s] += src[s]
            o = out[i]
            o[:] = 0
            for t in range(kw):
                for j in range(OW):
                    o[j] += rows[j * sw + t]
            for j in range(OW):
                o[j] *= inv


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def avg_pool2d_backward(dy, kh, kw, sh, sw, ph, pw, dx):
    N, C, OH, OW = dy.shape
    H, W = dx.shape[2], dx.shape[3]
    inv = dx.dtype.type(1 / (kh * kw))
    width = max((OW - 1) * sw + kw, pw + W)
    dys, dxs = _planes(dy), _planes(dx)
    for nc in prange(N * C):
        g, d = dys[nc], dxs[nc]
        flat = d.reshape(H * W)
        flat[:] = 0
        cols = np.empty(width, dx.dtype)      # cols[pw + s]: what column s gets from row i's windows
        inside = cols[pw:pw + W]
        for i in range(OH):
            cols[:] = 0
            gi = g[i]
            for t in range(kw):
                for j in range(OW):
                    cols[j * sw + t] += gi[j]
            for r in range(max(i * sh - ph, 0), min(i * sh - ph + kh, H)):
                dst = d[r]
                for s in range(W):
                    dst[s] += inside[s] * inv


# Adaptive average pooling (torch's adaptive_avg_pool2d) fixes the output
# size instead of the window: output (i, j) averages rows floor(i*H/OH) ..
# ceil((i+1)*H/OH) - 1 and the columns likewise, so windows differ in size by
# at most one, neighbours share at most a row or column, and OH > H repeats
# rows. With so little overlap each window is summed on its own. Planes are
# often tiny (a ResNet head pools 7x7 to 1x1), so per-plane costs dominate:
# the windows' bounds come from a table made once a call (four divisions
# each), and planes are rows of an (N*C, H*W) view, read by flat spans.
# Indices are unsigned (np.uintp), as in conv.py: Numba wraps a signed index
# that might be negative with a compare and select per access, and the sums
# stay scalar. Global pooling of 128x512x7x7: forward 1.05 -> 0.19 ms.

@njit(cache=True)
def _adaptive_windows(n_in, n_out):
    """(n_out, 2): [start, end) of each window along an axis of n_in elements."""
    bounds = np.empty((n_out, 2), np.int64)
    for i in range(n_out):
        bounds[i, 0] = i * n_in // n_out
        bounds[i, 1] = ((i + 1) * n_in + n_out - 1) // n_out
    return bounds


@njit(cache=True, inline="always")
def _row_spans(h0, h1, w0, w1, W):
    """The window [h0, h1) x [w0, w1) of a flat plane of width W as spans
    [r*W + c0, r*W + c1) for r in [r0, r1): one span when it covers whole rows."""
    if w1 - w0 == W:
        return 0, 1, h0 * W, h1 * W
    return h0, h1, w0, w1


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def adaptive_avg_pool2d_forward(x, y):
    """x (N, C, H, W) and y (N, C, OH, OW), both C-contiguous."""
    N, C, OH, OW = y.shape
    H, W = x.shape[2], x.shape[3]
    rows, cols = _adaptive_windows(H, OH), _adaptive_windows(W, OW)
    xs, ys = x.reshape(N * C, H * W), y.reshape(N * C, OH * OW)
    for p in prange(N * C):
        for i in range(OH):
            h0, h1 = rows[i, 0], rows[i, 1]
            for j in range(OW):
                w0, w1 = cols[j, 0], cols[j, 1]
                acc = y.dtype.type(0)
                r0, r1, c0, c1 = _row_spans(h0, h1, w0, w1, W)
                for r in range(r0, r1):
                    for q in range(np.uintp(r * W + c0), np.uintp(r * W + c1)):
                        acc += xs[p, q]
                ys[p, i * OW + j] = acc / y.dtype.type((h1 - h0) * (w1 - w0))


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def adaptive_avg_pool2d_backward(dy, dx):
    """dy (N, C, OH, OW) and dx (N, C, H, W), both C-contiguous. Windows that
    tile the plane (H a multiple of OH, W of OW) write their share straight into
    dx; overlapping ones add it onto zeros."""
    N, C, OH, OW = dy.shape
    H, W = dx.shape[2], dx.shape[3]
    rows, cols = _adaptive_windows(H, OH), _adaptive_windows(W, OW)
    tiled = OH > 0 and OW > 0 and H % OH == 0 and W % OW == 0
    gs, ds = dy.reshape(N * C, OH * OW), dx.reshape(N * C, H * W)
    for p in prange(N * C):
        if not tiled:
            ds[p, :] = 0
        for i in range(OH):
            h0, h1 = rows[i, 0], rows[i, 1]
            for j in range(OW):
                w0, w1 = cols[j, 0], cols[j, 1]
                share = gs[p, i * OW + j] / dx.dtype.type((h1 - h0) * (w1 - w0))
                r0, r1, c0, c1 = _row_spans(h0, h1, w0, w1, W)
                for r in range(r0, r1):
                    for q in range(np.uintp(r * W + c0), np.uintp(r * W + c1)):
                        ds[p, q] = share if tiled else ds[p, q] + share
