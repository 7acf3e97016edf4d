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
Reference: fastnn/reference/conv.py.
"""
import numpy as np
from numba import njit, prange

from ._scratch import scratch

# Elements of the column buffer per chunk (16 MiB of float32: L3-sized).
CHUNK_ELEMENTS = 1 << 22


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

@njit(parallel=True, cache=True)
def im2col(x, n0, R, S, sh, sw, ph, pw, OH, OW, cols):
    """cols (C*R*S, b*OH*OW) <- the receptive fields of images n0 .. n0+b-1 of x (N, C, H, W)."""
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    b = cols.shape[1] // (OH * OW)
    zero = cols.dtype.type(0)
    for bc in prange(b * C):
        n, c = bc // C, bc % C
        plane = x[n0 + n, c]
        for r in range(R):
            i0, i1 = _valid_range(OH, H, r, sh, ph)
            for s in range(S):
                j0, j1 = _valid_range(OW, W, s, sw, pw)
                field = cols[(c * R + r) * S + s, n * OH * OW:(n + 1) * OH * OW].reshape(OH, OW)
                for i in range(OH):
                    out = field[i]
                    if i < i0 or i >= i1:
                        out[:] = zero
                        continue
                    src = plane[np.uintp(i * sh + r - ph)]
                    for j in range(j0):
                        out[j] = zero
                    for j in range(j0, j1):
                        out[np.uintp(j)] = src[np.uintp(j * sw + s - pw)]
                    for j in range(j1, OW):
                        out[j] = zero


@njit(parallel=True, cache=True)
def col2im(dcols, n0, R, S, sh, sw, ph, pw, OH, OW, dx):
    """dx[n0 .. n0+b-1] (C, H, W) <- the sum, over receptive fields, of dcols (C*R*S, b*OH*OW)."""
    C, H, W = dx.shape[1], dx.shape[2], dx.shape[3]
    b = dcols.shape[1] // (OH * OW)
    for bc in prange(b * C):
        n, c = bc // C, bc % C
        plane = dx[n0 + n, c]
        plane[:] = 0
        for r in range(R):
            i0, i1 = _valid_range(OH, H, r, sh, ph)
            for s in range(S):
                j0, j1 = _valid_range(OW, W, s, sw, pw)
                field = dcols[(c * R + r) * S + s, n * OH * OW:(n + 1) * OH * OW].reshape(OH, OW)
                for i in range(i0, i1):
                    src, dst = field[np.uintp(i)], plane[np.uintp(i * sh + r - ph)]
                    for j in range(j0, j1):
                        dst[np.uintp(j * sw + s - pw)] += src[np.uintp(j)]


@njit(parallel=True, cache=True)
def unfold_rows(Yc, bias, y, n0):
    """y[n0 + n, k, p] = Yc[k, n*P + p] (+ bias[k]): GEMM output back to NCHW, bias fused."""
    K, P = y.shape[1], y.shape[2] * y.shape[3]
    b = Yc.shape[1] // P
    for nk in prange(b * K):
        n, k = nk // K, nk % K
        src = Yc[k, n * P:(n + 1) * P]
        dst = y[n0 + n, k].reshape(P)
        if bias is None:
            dst[:] = src
        else:
            dst[:] = src + bias[k]


@njit(parallel=True, cache=True)
def fold_rows(dy, n0, b, dYc):
    """dYc[k, n*P + p] = dy[n0 + n, k, p]: the inverse layout change of unfold_rows."""
    K, P = dy.shape[1], dy.shape[2] * dy.shape[3]
    for nk in prange(b * K):
        n, k = nk // K, nk % K
        dYc[k, n * P:(n + 1) * P] = dy[n0 + n, k].reshape(P)


@njit(parallel=True, cache=True)
def add_channel_bias(y, bias):
    """y (N, K, H, W) += bias[k], in place."""
    N, K = y.shape[0], y.shape[1]
    for nk in prange(N * K):
        y[nk // K, nk % K] += bias[nk % K]


@njit(parallel=True, cache=True)
def channel_sum(dy, out):
    """out[k] = sum over n, i, j of dy (N, K, H, W), accumulated in float64."""
    N, K = dy.shape[0], dy.shape[1]
    for k in prange(K):
        acc = 0.0
        for n in range(N):
            plane = dy[n, k]
            for i in range(plane.shape[0]):
                for j in range(plane.shape[1]):
                    acc += plane[i, j]
        out[k] = acc


def _chunk(N, CRS, P):
    return max(1, min(N, CHUNK_ELEMENTS // (CRS * P)))


def conv2d_forward(x, weight, bias, sh, sw, ph, pw, y):
    """y (N, K, OH, OW) <- conv2d(x (N, C, H, W), weight (K, C, R, S), bias (K,) or None)."""
    N, (K, C, R, S), (OH, OW) = x.shape[0], weight.shape, y.shape[2:]
    CRS, P = C * R * S, OH * OW
    W2 = weight.reshape(K, CRS)
    B = _chunk(N, CRS, P)
    for n0 in range(0, N, B):
        b = min(B, N - n0)
        cols = scratch("cols", (CRS, b * P), x.dtype)
        im2col(x, n0, R, S, sh, sw, ph, pw, OH, OW, cols)
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
    CRS, P = C * R * S, OH * OW
    W2 = weight.reshape(K, CRS)
    dW2 = dweight.reshape(K, CRS)
    as_convolution = sh == 1 and sw == 1 and ph < R and pw < S and C >= K
    B = _chunk(N, CRS, P)
    for n0 in range(0, N, B):
        b = min(B, N - n0)
        cols = scratch("cols", (CRS, b * P), x.dtype)
        im2col(x, n0, R, S, sh, sw, ph, pw, OH, OW, cols)
        if b == 1:
            dYc = dy[n0].reshape(K, P)
        else:
            dYc = scratch("dYc", (K, b * P), x.dtype)
            fold_rows(dy, n0, b, dYc)
        if n0 == 0:
            np.matmul(dYc, cols.T, out=dW2)
        else:
            dW_part = scratch("dW", (K, CRS), x.dtype)
            np.matmul(dYc, cols.T, out=dW_part)
            dW2 += dW_part
        if not as_convolution:
            dcols = scratch("dcols", (CRS, b * P), x.dtype)
            np.matmul(W2.T, dYc, out=dcols)
            col2im(dcols, n0, R, S, sh, sw, ph, pw, OH, OW, dx)
    if as_convolution:
        w_flipped = np.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        conv2d_forward(dy, w_flipped, None, 1, 1, R - 1 - ph, S - 1 - pw, dx)
    channel_sum(dy, dbias)
