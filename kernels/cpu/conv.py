"""2-D convolution by im2col + GEMM (Chellapilla, Puri & Simard 2006), NCHW.

im2col lays every receptive field of a chunk of b images out as a column:

    cols[(c*R + r)*S + s, n*OH*OW + i*OW + j] = xp[n, c, i*sh + r, j*sw + s]

(xp: x zero-padded by (ph, pw)), so the convolution is one GEMM per chunk:

    Y (K, b*OH*OW) = W (K, C*R*S) @ cols          forward
    dW            += dY (K, b*OH*OW) @ cols^T      backward, weights
    dcols          = W^T @ dY;  dx = col2im(dcols) backward, input (col2im sums
                                                    overlapping fields back)
    stride 1: dx = conv2d(dy, flip(W)^T, padding R-1-p), a forward-shaped GEMM

The GEMMs run in BLAS (NumPy's matmul with out=). Chunks of b images keep
the column buffer near L2/L3 size: big images go one at a time and their
GEMM writes straight into y[n]; small images (LeNet's 8x8 digits) fold the
whole batch into one GEMM instead of many tiny ones.

3x3 stride-1 layers with channels and tiles enough take Winograd's F(4x4, 3x3)
instead (winograd.py: 4x fewer multiplies); see _winograd_pays.
Reference: fastnn/reference/conv.py.
"""
import numpy as np
from numba import njit, prange

from . import winograd
from ._math import FASTMATH
from ._scratch import scratch
from ._stores import store_nontemporal

# Elements of the column buffer per chunk (16 MiB of float32: L3-sized).
CHUNK_ELEMENTS = 1 << 22
# 3x3 stride-1 layers take Winograd (winograd.py) where it pays. Measured
# forward + backward against im2col: it needs channels enough for the GEMMs to
# outweigh the transforms (C*K = 512: 0.8-1.3x, 1024: 1.0-1.3x, 4096:
# 1.1-2.0x); tiles (N * 4x4 output tiles) enough to amortise the filter
# transforms, whose cost grows with C*K, and for GEMMs that are not too
# skinny (256x256 channels: 0.27x at 4 tiles, 0.78x at 32, 1.39x at 64; so
# C*K / 1024 tiles at least; 32 tiles of 4x4 images: 0.8-1.05x, 64: 1.0-1.3x);
# and outputs that fill at least half of each tile (2x2 outputs: 0.75-0.9x).
# (The thresholds were 512 and 32 until im2col_narrow sped up small images.)
WINOGRAD_MIN_CHANNEL_PRODUCT = 1024
WINOGRAD_MIN_TILES = 64


@njit(cache=True, inline="always")
def _valid_range(n_out, n_in, k, stride, pad):
    """The range [o0, o1) of output positions o whose input position o*stride + k - pad
    is inside [0, n_in): the rest of the field at kernel offset k lies in the padding."""
    o0 = 0 if pad - k <= 0 else (pad - k + stride - 1) // stride
    o1 = min(n_out, (n_in - 1 + pad - k) // stride + 1)
    return o0, max(o0, o1)


# Inside the loops below, indices are cast to unsigned (np.uintp): they are in
# range by construction, and Numba wraps negative signed indices with a
# compare and select per access, which keeps the copy loops scalar (im2col on
# workload A: 1.7 ms a chunk signed, 0.54 ms unsigned).
# im2col writes the column buffer with non-temporal stores: the GEMM reads it
# next on both cores, and refilling lines the other core still shares waited
# on a probe per line (0.43 -> 0.77 ms a chunk; see _stores.py).
# Views are made outside the loops, or as rows of a 2-D array: Numba's reshape
# calls a C helper (about 10 ns), which made per-field views cost im2col 40 %
# on small planes (32x16x4x4, one thread: 109 -> 64 us) and unfold_rows 4x.

@njit(parallel=True, cache=True)
def im2col(x, n0, R, S, sh, sw, ph, pw, OH, OW, cols):
    """cols (C*R*S, b*OH*OW) <- the receptive fields of images n0 .. n0+b-1 of x (N, C, H, W)."""
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    P = OH * OW
    b = cols.shape[1] // P
    zero = cols.dtype.type(0)
    for bc in prange(b * C):
        n, c = bc // C, bc % C
        plane = x[n0 + n, c]
        for r in range(R):
            i0, i1 = _valid_range(OH, H, r, sh, ph)
            for s in range(S):
                j0, j1 = _valid_range(OW, W, s, sw, pw)
                row = (c * R + r) * S + s
                for i in range(OH):
                    q = n * P + i * OW      # field (r, s)'s output row i starts at cols[row, q]
                    if i < i0 or i >= i1:
                        for j in range(OW):
                            store_nontemporal(cols, row, np.uintp(q + j), zero)
                        continue
                    src = plane[np.uintp(i * sh + r - ph)]
                    for j in range(j0):
                        store_nontemporal(cols, row, np.uintp(q + j), zero)
                    for j in range(j0, j1):
                        store_nontemporal(cols, row, np.uintp(q + j), src[np.uintp(j * sw + s - pw)])
                    for j in range(j1, OW):
                        store_nontemporal(cols, row, np.uintp(q + j), zero)


# Narrow outputs (LeNet's 8x8 digits, a ResNet's last stages) make im2col's
# rows a handful of elements long, and its three loops a row cost more than
# the copying. im2col_narrow instead copies each plane once into a zero-padded
# buffer, after which field (r, s) is a gather along a fixed table of offsets,
# one loop of OH*OW with no edge cases: on one thread, 32x16x4x4 109 -> 24 us,
# 32x16x8x8 168 -> 73 us. From 12-wide outputs on, the rows are faster (two
# threads, 16x32x12x12: 105 us against 160). col2im_narrow is its adjoint: the
# fields are added into a padded plane along the same offsets (32x16x4x4
# 102 -> 35 us, 3x3/2 on 32x16x8x8 110 -> 37 us).
NARROW_OW = 8
# Planes one padded buffer serves in turn, so that a block allocates it once.
NARROW_BLOCK = 16


def _narrow(H, W, R, S, ph, pw, OH, OW):
    """The narrow kernels pay: short output rows, and a padded plane no larger than the
    columns it meets (a stride past the kernel would copy mostly unused elements)."""
    return OW <= NARROW_OW and (H + 2 * ph) * (W + 2 * pw) <= R * S * OH * OW


@njit(cache=True)
def _window_starts(OH, OW, sh, sw, Wp):
    """Where output p = i*OW + j's window starts in a padded plane Wp wide, row-major."""
    at = np.empty(OH * OW, np.intp)
    for i in range(OH):
        for j in range(OW):
            at[i * OW + j] = i * sh * Wp + j * sw
    return at


@njit(parallel=True, cache=True)
def im2col_narrow(x, n0, R, S, sh, sw, ph, pw, OH, OW, cols):
    """im2col, through a zero-padded copy of each plane (see _narrow)."""
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    P = OH * OW
    b = cols.shape[1] // P
    Wp = W + 2 * pw
    at = _window_starts(OH, OW, sh, sw, Wp)
    xs = x.reshape(x.shape[0] * C, H * W)
    for blk in prange((b * C + NARROW_BLOCK - 1) // NARROW_BLOCK):
        padded = np.zeros((H + 2 * ph) * Wp, cols.dtype)   # only the interior is rewritten
        for bc in range(blk * NARROW_BLOCK, min(b * C, (blk + 1) * NARROW_BLOCK)):
            n, c = bc // C, bc % C
            src = xs[(n0 + n) * C + c]
            for h in range(H):
                for w in range(W):
                    padded[np.uintp((h + ph) * Wp + pw + w)] = src[np.uintp(h * W + w)]
            for r in range(R):
                for s in range(S):
                    row, o = (c * R + r) * S + s, r * Wp + s
                    for p in range(P):
                        store_nontemporal(cols, row, np.uintp(n * P + p), padded[np.uintp(o + at[p])])


@njit(parallel=True, cache=True)
def col2im(dcols, n0, R, S, sh, sw, ph, pw, OH, OW, dx):
    """dx[n0 .. n0+b-1] (C, H, W) <- the sum, over receptive fields, of dcols (C*R*S, b*OH*OW)."""
    C, H, W = dx.shape[1], dx.shape[2], dx.shape[3]
    P = OH * OW
    b = dcols.shape[1] // P
    for bc in prange(b * C):
        n, c = bc // C, bc % C
        plane = dx[n0 + n, c]
        plane[:] = 0
        for r in range(R):
            i0, i1 = _valid_range(OH, H, r, sh, ph)
            for s in range(S):
                j0, j1 = _valid_range(OW, W, s, sw, pw)
                field = dcols[(c * R + r) * S + s]
                for i in range(i0, i1):
                    q, dst = n * P + i * OW, plane[np.uintp(i * sh + r - ph)]
                    for j in range(j0, j1):
                        dst[np.uintp(j * sw + s - pw)] += field[np.uintp(q + j)]


@njit(parallel=True, cache=True)
def col2im_narrow(dcols, n0, R, S, sh, sw, ph, pw, OH, OW, dx):
    """col2im, through a zero-padded plane that gathers each field's sums (see _narrow)."""
    C, H, W = dx.shape[1], dx.shape[2], dx.shape[3]
    P = OH * OW
    b = dcols.shape[1] // P
    Wp = W + 2 * pw
    at = _window_starts(OH, OW, sh, sw, Wp)
    dxs = dx.reshape(dx.shape[0] * C, H * W)
    for blk in prange((b * C + NARROW_BLOCK - 1) // NARROW_BLOCK):
        padded = np.empty((H + 2 * ph) * Wp, dx.dtype)
        for bc in range(blk * NARROW_BLOCK, min(b * C, (blk + 1) * NARROW_BLOCK)):
            n, c = bc // C, bc % C
            padded[:] = 0
            for r in range(R):
                for s in range(S):
                    field, o = dcols[(c * R + r) * S + s], r * Wp + s
                    for p in range(P):
                        padded[np.uintp(o + at[p])] += field[np.uintp(n * P + p)]
            dst = dxs[(n0 + n) * C + c]
            for h in range(H):
                for w in range(W):
                    dst[np.uintp(h * W + w)] = padded[np.uintp((h + ph) * Wp + pw + w)]


@njit(parallel=True, cache=True)
def unfold_rows(Yc, bias, y, n0):
    """y[n0 + n, k, p] = Yc[k, n*P + p] (+ bias[k]): GEMM output back to NCHW, bias fused."""
    K, P = y.shape[1], y.shape[2] * y.shape[3]
    b = Yc.shape[1] // P
    ys = y.reshape(y.shape[0] * K, P)
    for nk in prange(b * K):
        n, k = nk // K, nk % K
        src, dst = Yc[k], ys[(n0 + n) * K + k]
        if bias is None:
            for p in range(P):
                dst[p] = src[np.uintp(n * P + p)]
        else:
            for p in range(P):
                dst[p] = src[np.uintp(n * P + p)] + bias[k]


@njit(parallel=True, cache=True)
def fold_rows(dy, n0, b, dYc):
    """dYc[k, n*P + p] = dy[n0 + n, k, p]: the inverse layout change of unfold_rows."""
    K, P = dy.shape[1], dy.shape[2] * dy.shape[3]
    dys = dy.reshape(dy.shape[0] * K, P)
    for nk in prange(b * K):
        n, k = nk // K, nk % K
        src = dys[(n0 + n) * K + k]
        for p in range(P):   # non-temporal, as im2col's: the GEMM reads dYc next
            store_nontemporal(dYc, k, n * P + p, src[p])


@njit(parallel=True, cache=True)
def add_channel_bias(y, bias):
    """y (N, K, H, W) += bias[k], in place."""
    N, K = y.shape[0], y.shape[1]
    for nk in prange(N * K):
        y[nk // K, nk % K] += bias[nk % K]


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def channel_sum(dy, out):
    """out[k] = sum over n, p of dy (N, K, P): the planes flat, accumulated in
    float64. FASTMATH's reassociation lets the sum vectorise (a serial chain
    of float64 adds ran at 14 GB/s). Flat planes keep the vector loop long:
    summed as (H, W) rows, small planes ran at the rows' latency, 0.59 ns an
    element on 8x8 planes against 0.16 (one thread), and 32x64x32x32 took 228
    us against 62 (two threads)."""
    N, K = dy.shape[0], dy.shape[1]
    for k in prange(K):
        acc = 0.0
        for n in range(N):
            plane = dy[n, k]
            for p in range(plane.shape[0]):
                acc += plane[p]
        out[k] = acc


def _chunk(N, CRS, P):
    return max(1, min(N, CHUNK_ELEMENTS // (CRS * P)))


def _layout_kernels(x, R, S, ph, pw, OH, OW):
    """(im2col, col2im) for x's geometry: the narrow pair for narrow outputs."""
    if _narrow(x.shape[2], x.shape[3], R, S, ph, pw, OH, OW):
        return im2col_narrow, col2im_narrow
    return im2col, col2im


def _winograd_pays(N, C, K, R, S, sh, sw, OH, OW):
    if not winograd.applies(R, S, sh, sw):
        return False
    tiles = -(-OH // 4) * -(-OW // 4)
    return (C * K >= WINOGRAD_MIN_CHANNEL_PRODUCT
            and N * tiles >= max(WINOGRAD_MIN_TILES, C * K // 1024)
            and 16 * tiles <= 2 * OH * OW)


def conv2d_forward(x, weight, bias, sh, sw, ph, pw, y):
    """y (N, K, OH, OW) <- conv2d(x (N, C, H, W), weight (K, C, R, S), bias (K,) or None)."""
    N, (K, C, R, S), (OH, OW) = x.shape[0], weight.shape, y.shape[2:]
    if not (_winograd_pays(N, C, K, R, S, sh, sw, OH, OW)
            and winograd.conv2d_forward(x, weight, bias, ph, pw, y)):
        _im2col_forward(x, weight, bias, sh, sw, ph, pw, y)


def _im2col_forward(x, weight, bias, sh, sw, ph, pw, y):
    N, (K, C, R, S), (OH, OW) = x.shape[0], weight.shape, y.shape[2:]
    CRS, P = C * R * S, OH * OW
    W2 = weight.reshape(K, CRS)
    to_columns = _layout_kernels(x, R, S, ph, pw, OH, OW)[0]
    B = _chunk(N, CRS, P)
    for n0 in range(0, N, B):
        b = min(B, N - n0)
        cols = scratch("cols", (CRS, b * P), x.dtype)
        to_columns(x, n0, R, S, sh, sw, ph, pw, OH, OW, cols)
        if b == 1:   # the GEMM's (K, P) output already is y[n0]'s layout
            np.matmul(W2, cols, out=y[n0].reshape(K, P))
            if bias is not None:
                add_channel_bias(y[n0:n0 + 1], bias)
        else:
            Yc = scratch("Yc", (K, b * P), x.dtype)
            np.matmul(W2, cols, out=Yc)
            unfold_rows(Yc, bias, y, n0)


def conv2d_backward(dy, x, weight, sh, sw, ph, pw, dx, dweight, dbias):
    """dx, dweight, dbias <- the gradients of conv2d for dy (N, K, OH, OW).

    3x3 stride 1 takes Winograd (winograd.py) for dweight and, with padding
    <= 2, for dx; the rest, and any Winograd result that is not finite, comes
    from im2col below.

    With stride 1 (and padding < kernel size) dx is itself a convolution: of dy
    with the kernel flipped in space and transposed in channels, padded by
    (R - 1 - ph, S - 1 - pw). That is one forward-shaped GEMM, but over an
    im2col of dy, which has K*R*S rows to the general path's C*R*S: it pays
    when C >= K. On workload A (C = K = 64) the general path's W^T dY product
    (inner dimension only K) and col2im took 2.5x as long; on LeNet's first
    layer (C = 1, K = 16) the convolution path made a training epoch 40 %
    slower.
    """
    N, (K, C, R, S), (OH, OW) = x.shape[0], weight.shape, dy.shape[2:]
    if N == 0:      # an empty batch (torch allows one): dweight and dbias are sums over no images
        dweight[...] = 0
        dbias[...] = 0
        return
    need_dw = need_dx = True
    if _winograd_pays(N, C, K, R, S, sh, sw, OH, OW):
        need_dw = not winograd.conv2d_weight_grad(dy, x, ph, pw, dweight)
        need_dx = not (ph <= 2 and pw <= 2 and winograd.conv2d_input_grad(dy, weight, ph, pw, dx))
    as_convolution = sh == 1 and sw == 1 and ph < R and pw < S and C >= K
    if need_dw or (need_dx and not as_convolution):
        _im2col_backward(dy, x, weight, sh, sw, ph, pw, dx if need_dx and not as_convolution else None,
                         dweight if need_dw else None)
    if need_dx and as_convolution:
        w_flipped = np.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        _im2col_forward(dy, w_flipped, None, 1, 1, R - 1 - ph, S - 1 - pw, dx)
    channel_sum(dy.reshape(N, K, OH * OW), dbias)


def _im2col_backward(dy, x, weight, sh, sw, ph, pw, dx, dweight):
    """dweight (unless None) by dY @ cols^T, dx (unless None) by col2im(W^T @ dY)."""
    N, (K, C, R, S), (OH, OW) = x.shape[0], weight.shape, dy.shape[2:]
    CRS, P = C * R * S, OH * OW
    to_columns, from_columns = _layout_kernels(x, R, S, ph, pw, OH, OW)
    B = _chunk(N, CRS, P)
    for n0 in range(0, N, B):
        b = min(B, N - n0)
        cols = scratch("cols", (CRS, b * P), x.dtype)
        to_columns(x, n0, R, S, sh, sw, ph, pw, OH, OW, cols)
        if b == 1:
            dYc = dy[n0].reshape(K, P)
        else:
            dYc = scratch("dYc", (K, b * P), x.dtype)
            fold_rows(dy, n0, b, dYc)
        if dweight is not None:
            dW2 = dweight.reshape(K, CRS)
            if n0 == 0:
                np.matmul(dYc, cols.T, out=dW2)
            else:
                dW_part = scratch("dW", (K, CRS), x.dtype)
                np.matmul(dYc, cols.T, out=dW_part)
                dW2 += dW_part
        if dx is not None:
            dcols = scratch("dcols", (CRS, b * P), x.dtype)
            np.matmul(weight.reshape(K, CRS).T, dYc, out=dcols)
            from_columns(dcols, n0, R, S, sh, sw, ph, pw, OH, OW, dx)
