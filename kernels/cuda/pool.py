"""Max and average pooling on the GPU: one thread per output (forward) and
one thread per input element (backward, gathering from every window that
covers it: no atomics, the same sums on every run). The max backward first
finds each window's argmax once, into scratch. The common 2x2 / stride 2 max
pooling has its own pair, one thread per window both ways. Max keeps the
first maximum in row-major order, NaN ranking above every number, as the CPU
kernels and the reference. Average pooling divides by the whole window
(count_include_pad).

The general kernels see each (n, c) plane as a row of a (N*C, H*W) view and
take the plane from blockIdx.y, so a thread divides once for its (i, j) and
indexes with one offset. Their window loops are while loops: Numba's range()
with bounds known only at run time computes its length with a division per
loop. Measured on an H100, kernel time on 32x64x64x64 float32:
- avg pool 3x3/1 pad 1: forward 272 -> 143 us, backward 349 -> 196 us;
  forward + backward as torch's (346 us), 13 % of the copy bandwidth;
- max pool 3x3/2 pad 1: forward 259 -> 45 us, backward (argmax scratch,
  non-negative divisions) 220 us; 0.55x torch's 146 us, 15 % of copy.
Reference: fastnn/reference/pool.py; CPU twin: kernels/cpu/pool.py.
"""
import numpy as np
from numba import cuda

from ._device import MAX_GRID_Y, THREADS, blocks_for, device_empty
from ._launch import kernel


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


@cuda.jit(device=True)
def _argmax_2x2(x, n, c, r, s):
    """Index 0..3 of the first maximum of the window x[n, c, r:r+2, s:s+2] in
    row-major order (NaN first)."""
    v0, v1 = x[n, c, r, s], x[n, c, r, s + 1]
    v2, v3 = x[n, c, r + 1, s], x[n, c, r + 1, s + 1]
    m, k = v0, 0
    if v1 > m or (v1 != v1 and m == m):
        m, k = v1, 1
    if v2 > m or (v2 != v2 and m == m):
        m, k = v2, 2
    if v3 > m or (v3 != v3 and m == m):
        k = 3
    return k


@cuda.jit(device=True)
def _plane_index(y, nc0):
    """(n, c, i, j, inside) of this thread in the 4-D y, on _per_planes' grid."""
    nc, i, j, p = _pixel(y.shape[3], nc0)
    C = y.shape[1]
    return nc // C, nc % C, i, j, p < y.shape[2] * y.shape[3]


def _per_planes(kernel, planes, pixels, *args):
    """Launch kernel(*args, nc0) with a thread per pixel of each of `planes`
    planes (blockIdx.y: the plane), at most MAX_GRID_Y planes a launch."""
    blocks = blocks_for(pixels)
    for nc0 in range(0, planes, MAX_GRID_Y):
        kernel[(blocks, min(MAX_GRID_Y, planes - nc0)), THREADS](*args, nc0)


@kernel
def _max_2x2_forward(x, y, nc0):
    """The 2x2 / stride 2 case: one thread per output reads its four inputs."""
    n, c, i, j, inside = _plane_index(y, nc0)
    if not inside:
        return
    r, s = 2 * i, 2 * j
    k = _argmax_2x2(x, n, c, r, s)
    y[n, c, i, j] = x[n, c, r + k // 2, s + k % 2]


@kernel
def _max_2x2_backward(dy, x, dx, nc0):
    """The 2x2 / stride 2 case: the windows tile the input without overlap, so one
    thread per window writes all four of its gradients (dy at the first max, 0
    elsewhere), and the row / column that no window covers (odd H, W) with 0."""
    n, c, i, j, inside = _plane_index(dy, nc0)
    if not inside:
        return
    r, s = 2 * i, 2 * j
    k = _argmax_2x2(x, n, c, r, s)
    g = dy[n, c, i, j]
    for q in range(4):
        dx[n, c, r + q // 2, s + q % 2] = g if q == k else 0
    H, W = dx.shape[2], dx.shape[3]
    last_i, last_j = i == dy.shape[2] - 1 and H % 2 == 1, j == dy.shape[3] - 1 and W % 2 == 1
    if last_i:
        dx[n, c, H - 1, s] = 0
        dx[n, c, H - 1, s + 1] = 0
    if last_j:
        dx[n, c, r, W - 1] = 0
        dx[n, c, r + 1, W - 1] = 0
    if last_i and last_j:
        dx[n, c, H - 1, W - 1] = 0


def _planes(a):
    """(N, C, H, W) -> the (N * C, H * W) view: one row per plane."""
    N, C, H, W = a.shape
    return a.reshape(N * C, H * W)


def _launch(kernel, out, *args):
    """kernel(*args) over the pixels of out (N, C, H, W)."""
    if out.size:
        _per_planes(kernel, out.shape[0] * out.shape[1], out.shape[2] * out.shape[3], *args)


def max_pool2d_forward(x, kh, kw, sh, sw, ph, pw, y):
    _launch(_max_forward, y, _planes(x), x.shape[2], x.shape[3], kh, kw, sh, sw, ph, pw, y.shape[3], _planes(y))


def max_pool2d_backward(dy, x, kh, kw, sh, sw, ph, pw, dx):
    """Each window's argmax once (into scratch, as the indices torch's forward
    saves), then a gather over them: recomputing the argmax of every window
    covering an input costs kh * kw loads per window per input it covers."""
    N, C, H, W = x.shape
    if dx.size == 0:
        return
    arg = device_empty((N * C, dy.shape[2] * dy.shape[3]), np.int32 if H * W <= 2**31 - 1 else np.int64)
    _launch(_window_argmaxes, dy, _planes(x), H, W, kh, kw, sh, sw, ph, pw, dy.shape[3], arg)
    _launch(_max_backward, dx, _planes(dy), arg, W, kh, kw, sh, sw, ph, pw, dy.shape[2], dy.shape[3], _planes(dx))


def max_pool2d_2x2_forward(x, y):
    _launch(_max_2x2_forward, y, x, y)


def max_pool2d_2x2_backward(dy, x, dx):
    _launch(_max_2x2_backward, dy, dy, x, dx)


def avg_pool2d_forward(x, kh, kw, sh, sw, ph, pw, y):
    inv = x.dtype.type(1 / (kh * kw))
    _launch(_avg_forward, y, _planes(x), x.shape[2], x.shape[3], kh, kw, sh, sw, ph, pw, inv, y.shape[3],
            _planes(y))


def avg_pool2d_backward(dy, kh, kw, sh, sw, ph, pw, dx):
    inv = dx.dtype.type(1 / (kh * kw))
    _launch(_avg_backward, dx, _planes(dy), dy.shape[2], dy.shape[3], kh, kw, sh, sw, ph, pw, inv,
            dx.shape[3], _planes(dx))
