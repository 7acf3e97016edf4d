"""Max and average pooling on the GPU: one thread per output (forward) and
one thread per input element (backward, gathering from every window that
covers it: no atomics). The common 2x2 / stride 2 max pooling has its own
pair, one thread per window both ways. Max keeps the first maximum in row-major order, NaN
ranking above every number, as the CPU kernels and the reference.
Reference: fastnn/reference/pool.py; CPU twin: kernels/cpu/pool.py.
"""
from numba import cuda

from ._device import MAX_GRID_Y, THREADS, blocks_for
from ._launch import kernel


@cuda.jit(device=True)
def _window_argmax(x, n, c, i0, j0, kh, kw):
    H, W = x.shape[2], x.shape[3]
    bi, bj = -1, -1
    m = x[n, c, max(i0, 0), max(j0, 0)]
    for r in range(max(i0, 0), min(i0 + kh, H)):
        for s in range(max(j0, 0), min(j0 + kw, W)):
            v = x[n, c, r, s]
            if bi < 0 or v > m or (v != v and m == m):
                m, bi, bj = v, r, s
    return bi, bj


@cuda.jit(device=True)
def _nchw(idx, shape):
    """The (n, c, h, w) index of flat element idx of a C-contiguous (N, C, H, W) array."""
    C, H, W = shape[1], shape[2], shape[3]
    return idx // (C * H * W), (idx // (H * W)) % C, (idx // W) % H, idx % W


@cuda.jit(device=True)
def _covering(h, p, k, s, out_size):
    """The range [lo, hi) of windows i (rows or columns) with i*s - p <= h < i*s - p + k."""
    return max(0, (h + p - k) // s + 1), min(out_size, (h + p) // s + 1)


@kernel
def _max_forward(x, kh, kw, sh, sw, ph, pw, y):
    idx = cuda.grid(1)
    N, C, OH, OW = y.shape
    if idx >= N * C * OH * OW:
        return
    n, c, i, j = _nchw(idx, y.shape)
    bi, bj = _window_argmax(x, n, c, i * sh - ph, j * sw - pw, kh, kw)
    y[n, c, i, j] = x[n, c, bi, bj]


@kernel
def _max_backward(dy, x, kh, kw, sh, sw, ph, pw, dx):
    idx = cuda.grid(1)
    N, C, H, W = dx.shape
    if idx >= N * C * H * W:
        return
    n, c, h, w = _nchw(idx, dx.shape)
    i0, i1 = _covering(h, ph, kh, sh, dy.shape[2])
    j0, j1 = _covering(w, pw, kw, sw, dy.shape[3])
    acc = 0.0
    for i in range(i0, i1):
        for j in range(j0, j1):
            bi, bj = _window_argmax(x, n, c, i * sh - ph, j * sw - pw, kh, kw)
            if bi == h and bj == w:
                acc += dy[n, c, i, j]
    dx[n, c, h, w] = acc


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
    """(n, c, i, j, inside) of this thread on a grid (output-plane blocks, planes
    nc0, nc0 + 1, ...): the plane comes from blockIdx.y, so a thread divides
    once, not four times."""
    p = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    nc = nc0 + cuda.blockIdx.y
    C, OW = y.shape[1], y.shape[3]
    i = p // OW
    return nc // C, nc % C, i, p - i * OW, p < y.shape[2] * OW



def _per_planes(kernel, y, *args):
    """Launch kernel(*args, nc0) over y's N*C output planes, at most MAX_GRID_Y a launch."""
    planes, blocks = y.shape[0] * y.shape[1], blocks_for(y.shape[2] * y.shape[3])
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


@kernel
def _avg_forward(x, kh, kw, sh, sw, ph, pw, y):
    idx = cuda.grid(1)
    N, C, OH, OW = y.shape
    if idx >= N * C * OH * OW:
        return
    n, c, i, j = _nchw(idx, y.shape)
    H, W = x.shape[2], x.shape[3]
    i0, j0 = i * sh - ph, j * sw - pw
    acc = 0.0
    for r in range(max(i0, 0), min(i0 + kh, H)):
        for s in range(max(j0, 0), min(j0 + kw, W)):
            acc += x[n, c, r, s]
    y[n, c, i, j] = acc / (kh * kw)


@kernel
def _avg_backward(dy, kh, kw, sh, sw, ph, pw, dx):
    idx = cuda.grid(1)
    N, C, H, W = dx.shape
    if idx >= N * C * H * W:
        return
    n, c, h, w = _nchw(idx, dx.shape)
    i0, i1 = _covering(h, ph, kh, sh, dy.shape[2])
    j0, j1 = _covering(w, pw, kw, sw, dy.shape[3])
    acc = 0.0
    for i in range(i0, i1):
        for j in range(j0, j1):
            acc += dy[n, c, i, j]
    dx[n, c, h, w] = acc / (kh * kw)


def max_pool2d_forward(x, kh, kw, sh, sw, ph, pw, y):
    _max_forward[blocks_for(y.size), THREADS](x, kh, kw, sh, sw, ph, pw, y)


def max_pool2d_backward(dy, x, kh, kw, sh, sw, ph, pw, dx):
    _max_backward[blocks_for(dx.size), THREADS](dy, x, kh, kw, sh, sw, ph, pw, dx)


def max_pool2d_2x2_forward(x, y):
    if y.size:
        _per_planes(_max_2x2_forward, y, x, y)


def max_pool2d_2x2_backward(dy, x, dx):
    if dy.size:
        _per_planes(_max_2x2_backward, dy, dy, x, dx)


def avg_pool2d_forward(x, kh, kw, sh, sw, ph, pw, y):
    _avg_forward[blocks_for(y.size), THREADS](x, kh, kw, sh, sw, ph, pw, y)


def avg_pool2d_backward(dy, kh, kw, sh, sw, ph, pw, dx):
    _avg_backward[blocks_for(dx.size), THREADS](dy, kh, kw, sh, sw, ph, pw, dx)
