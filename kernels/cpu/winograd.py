"""3x3 stride-1 convolution by Winograd's minimal filtering F(4x4, 3x3), NCHW.

Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (CVPR 2016).
Each 4x4 tile of output is computed from the 6x6 window d of input under it:

    Y = A^T [ U (.) V ] A,    U = G g G^T  (6x6, per filter g),    V = B^T d B  (6x6, per window)

(.) is the elementwise product, so over channels it becomes 36 independent
GEMMs, one per position xi of the 6x6 transformed tile:

    M[xi] (P, K) = V[xi] (P, C) @ U[xi] (C, K)        P: tiles of a chunk of images

36 products of C*K per 16 outputs, against 9*16 for im2col: 4x fewer
multiplies, which is what this machine's GEMM throughput needs (issue #3).

The weight gradient is the adjoint of the same formula (Y is linear in g):

    dg = G^T [ sum over tiles of (A dY A^T) (.) V ] G
    Mw[xi] (K, C) = Z[xi]^T (K, P) @ V[xi] (P, C),    Z = A dY A^T

and the input gradient of a stride-1 convolution is itself a convolution (of
dy with the kernel flipped and channels swapped, padded by 2 - p), so it
takes the forward path.

Interpolation points 0, 1, -1, 2, -1/2 and infinity, not Lavin's 0, +-1,
+-2: their transforms are smaller, and the float32 error on 64-channel
layers halves (max 2.2e-6 against 5.9e-6 of the output's scale, in a NumPy
model of the algorithm; im2col's is ~5e-7), as Barabasz et al. found ("Error analysis and improving the accuracy
of Winograd convolution", ACM TOMS 2020). Rows of B^T and columns of A^T are
scaled by powers of 2 (G takes the inverse) so both are integer matrices:

    B^T = [ 2  3 -4 -3  2  0 ]   A^T = [ 1  1  1  1  8  0 ]   G = [  1/2    0     0   ]
          [ 0 -2 -5 -1  2  0 ]         [ 0  1 -1  2 -4  0 ]       [ -1/6  -1/6  -1/6  ]
          [ 0  2  1 -5  2  0 ]         [ 0  1  1  4  2  0 ]       [  1/6  -1/6   1/6  ]
          [ 0 -1 -2  1  2  0 ]         [ 0  1 -1  8 -1  1 ]       [  1/30  1/15  2/15 ]
          [ 0  2 -1 -2  1  0 ]                                    [ -2/15  1/15 -1/30 ]
          [ 0  2  3 -4 -3  2 ]                                    [  0     0     1/2  ]

Transforms mix every element of a window, so a NaN or infinity in the input
spreads to its whole tile (and a huge finite value can overflow). Each entry
point therefore reports whether everything it wrote is finite; when not, the
caller recomputes with im2col, whose NaN lands exactly where the definition
puts it.

Layout: the transforms work on strips (one row of tiles of one image) turned
channel-minor, so that every transform is a loop over channels that LLVM
vectorises, and the GEMMs take the (P, C) @ (C, K) orientation, which
OpenBLAS runs ~35 % faster here than (K, C) @ (C, P).
Reference: fastnn/reference/conv.py (direct convolution).
"""
import numpy as np
from numba import njit, prange

from ._math import FASTMATH
from ._scratch import scratch
from ._stores import store_nontemporal

# Elements of V and M together per chunk of images: 12 Mi (48 MiB of float32),
# the whole of workload A in one chunk. V and M go through memory anyway (V
# is written non-temporally), so fitting L3 buys nothing, while fewer, longer
# GEMMs do: fwd+bwd on workload A took 22.2 ms in chunks of 11 images, 21.4 in
# chunks of 16 and 20.6 in one.
CHUNK_ELEMENTS = 12 << 20


def applies(R, S, sh, sw):
    return R == 3 and S == 3 and sh == 1 and sw == 1


# ------------------------------------------------------- 1-D transforms
# Each maps a few rows of channel vectors to a few rows, for all channels at
# once: d, out are 2-D views (rows, channels); the loop over channels is the
# one LLVM vectorises. put(out, i, c, v) stores: _keep for a result read again
# soon from this core's cache, _stream for V and Z, which the GEMM reads next
# (non-temporal stores: see _stores.py).
#
# _bt and _a write their output one row at a time, so that the non-temporal
# stores form one stream: a loop that stores the six rows side by side keeps
# six lines half-written at once, more than a core's write-combining buffers
# hold on some CPUs. On an AMD Zen 1 that made the input transform of
# workload A 10x slower (51 ms against 5), and Winograd slower than im2col.
# The rows re-read d, which is a few KB in L1.

@njit(cache=True, inline="always")
def _keep(out, i, c, v):
    out[i, c] = v


@njit(cache=True, inline="always")
def _stream(out, i, c, v):
    store_nontemporal(out, i, c, v)


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _bt(d, out, put):
    """out (6, C) <- B^T d, d (6, C)."""
    f = out.dtype.type
    two, three, four, five = f(2), f(3), f(4), f(5)
    d0, d1, d2, d3, d4, d5 = d[0], d[1], d[2], d[3], d[4], d[5]
    for c in range(d.shape[1]):
        put(out, 0, c, two * (d0[c] + d4[c]) + three * (d1[c] - d3[c]) - four * d2[c])
    for c in range(d.shape[1]):
        put(out, 1, c, two * (d4[c] - d1[c]) - five * d2[c] - d3[c])
    for c in range(d.shape[1]):
        put(out, 2, c, two * (d1[c] + d4[c]) + d2[c] - five * d3[c])
    for c in range(d.shape[1]):
        put(out, 3, c, two * (d4[c] - d2[c]) + d3[c] - d1[c])
    for c in range(d.shape[1]):
        put(out, 4, c, two * (d1[c] - d3[c]) - d2[c] + d4[c])
    for c in range(d.shape[1]):
        put(out, 5, c, two * (d1[c] + d5[c]) + three * (d2[c] - d4[c]) - four * d3[c])


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _at(m, out):
    """out (4, K) <- A^T m, m (6, K)."""
    f = out.dtype.type
    two, four, eight = f(2), f(4), f(8)
    for k in range(m.shape[1]):
        m0, m1, m2, m3, m4, m5 = m[0, k], m[1, k], m[2, k], m[3, k], m[4, k], m[5, k]
        a, b = m1 + m2, m1 - m2
        out[0, k] = m0 + a + m3 + eight * m4
        out[1, k] = b + two * m3 - four * m4
        out[2, k] = a + four * m3 + two * m4
        out[3, k] = b + eight * m3 - m4 + m5


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _a(d, out, put):
    """out (6, K) <- A d = (A^T)^T d, d (4, K)."""
    f = out.dtype.type
    two, four, eight = f(2), f(4), f(8)
    d0, d1, d2, d3 = d[0], d[1], d[2], d[3]
    for k in range(d.shape[1]):
        put(out, 0, k, d0[k])
    for k in range(d.shape[1]):
        put(out, 1, k, (d0[k] + d2[k]) + (d1[k] + d3[k]))
    for k in range(d.shape[1]):
        put(out, 2, k, (d0[k] + d2[k]) - (d1[k] + d3[k]))
    for k in range(d.shape[1]):
        put(out, 3, k, d0[k] + two * d1[k] + four * d2[k] + eight * d3[k])
    for k in range(d.shape[1]):
        put(out, 4, k, eight * d0[k] - four * d1[k] + two * d2[k] - d3[k])
    for k in range(d.shape[1]):
        put(out, 5, k, d3[k])


# G's entries, as factors to multiply by (a float64 division costs several
# multiplications). The filter transforms run in float64 and are cast once.
_HALF, _SIXTH, _THIRTIETH = 1 / 2, 1 / 6, 1 / 30


@njit(cache=True, inline="always")
def _g(g, out):
    """out (6, n) <- G g, g (3, n): 3-tap filters to the 6 points."""
    for i in range(g.shape[1]):
        g0, g1, g2 = g[0, i], g[1, i], g[2, i]
        out[0, i] = g0 * _HALF
        out[1, i] = -(g0 + g1 + g2) * _SIXTH
        out[2, i] = (g0 - g1 + g2) * _SIXTH
        out[3, i] = (g0 + 2 * g1 + 4 * g2) * _THIRTIETH
        out[4, i] = (-4 * g0 + 2 * g1 - g2) * _THIRTIETH
        out[5, i] = g2 * _HALF


@njit(cache=True, inline="always")
def _gt(m, out):
    """out (3, n) <- G^T m, m (6, n): the adjoint of _g, 6 points back to 3 taps."""
    for i in range(m.shape[1]):
        m0, m1, m2, m3, m4, m5 = m[0, i], m[1, i], m[2, i], m[3, i], m[4, i], m[5, i]
        out[0, i] = m0 * _HALF - (m1 - m2) * _SIXTH + (m3 - 4 * m4) * _THIRTIETH
        out[1, i] = -(m1 + m2) * _SIXTH + (m3 + m4) * (2 * _THIRTIETH)
        out[2, i] = -(m1 - m2) * _SIXTH + (4 * m3 - m4) * _THIRTIETH + m5 * _HALF


# ------------------------------------------------------------- kernels

@njit(parallel=True, cache=True)
def weight_transform(weight, flipped, U):
    """U[6*mu + nu, c, k] <- (G g G^T)[mu, nu] for each filter g = weight[k, c] (3, 3),
    in float64. flipped: U[6*mu + nu, k, c] for g = weight[k, c, ::-1, ::-1] instead,
    the filters of the input gradient (a convolution from K channels to C).
    One line U[:, o, :] at a time, its filters side by side."""
    outer, inner = U.shape[1], U.shape[2]
    for o in prange(outer):
        g = np.empty((3, 3, inner))
        for i in range(inner):
            for r in range(3):
                for s in range(3):
                    g[r, s, i] = weight[o, i, 2 - r, 2 - s] if flipped else weight[i, o, r, s]
        Gg = np.empty((6, 3, inner))
        for s in range(3):
            _g(g[:, s], Gg[:, s])
        u = np.empty((6, 6, inner))
        for mu in range(6):
            _g(Gg[mu], u[mu])   # (G g G^T)[mu] = G applied to row mu of G g
        for xi in range(36):
            U[xi, o] = u[xi // 6, xi % 6]


@njit(parallel=True, cache=True)
def weight_grad_transform(Mw, dweight):
    """dweight[k, c] (3, 3) <- G^T m G for m = Mw[:, k, c] (36,) as 6x6, in float64."""
    K, C = dweight.shape[0], dweight.shape[1]
    for k in prange(K):
        m = np.empty((6, 6, C))
        for xi in range(36):
            m[xi // 6, xi % 6] = Mw[xi, k]
        mG = np.empty((6, 3, C))
        for mu in range(6):
            _gt(m[mu], mG[mu])
        dg = np.empty((3, 3, C))
        for s in range(3):
            _gt(mG[:, s], dg[:, s])
        for c in range(C):
            for r in range(3):
                for s in range(3):
                    dweight[k, c, r, s] = dg[r, s, c]


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def input_transform(x, n0, ph, pw, TH, TW, V):
    """V (36, b*TH*TW*C) <- B^T d B for the 6x6 window d under each tile of images
    n0 .. n0+b-1 of x (N, C, H, W), padded by (ph, pw) with zeros:
    V[6*mu + nu, ((n*TH + ty)*TW + tx)*C + c]."""
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    b = V.shape[1] // (TH * TW * C)
    WS = 4 * TW + 2
    j0, j1 = min(pw, WS), max(min(pw, WS), min(WS, W + pw))   # strip columns inside x
    for nt in prange(b * TH):
        n, ty = nt // TH, nt % TH
        strip = np.zeros((6, WS, C), V.dtype)   # strip[i, j, c] = xpad[n, c, 4*ty + i, j]
        for i in range(6):
            row = 4 * ty - ph + i
            if 0 <= row < H:
                dst = strip[i]   # 8 KB: stays in L1 while the channels' rows go through it
                for c in range(C):
                    src = x[n0 + n, c, row]
                    for j in range(j0, j1):
                        dst[np.uintp(j), c] = src[np.uintp(j - pw)]
        dB = np.empty((6, 6, TW * C), V.dtype)   # dB[i, nu, tx*C + c] = (d B)[i, nu] of tile tx
        for i in range(6):
            for tx in range(TW):
                _bt(strip[i, 4 * tx:4 * tx + 6], dB[i, :, tx * C:(tx + 1) * C], _keep)
        for nu in range(6):   # B^T (d B), the whole strip at once
            _bt(dB[:, nu], V[nu::6, nt * TW * C:(nt + 1) * TW * C], _stream)


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def grad_output_transform(dy, n0, TH, TW, Z):
    """Z (36, b*TH*TW*K) <- A t A^T for each 4x4 tile t of images n0 .. n0+b-1 of
    dy (N, K, OH, OW), zero past its edges: Z[6*mu + nu, ((n*TH + ty)*TW + tx)*K + k]."""
    K, OH, OW = dy.shape[1], dy.shape[2], dy.shape[3]
    b = Z.shape[1] // (TH * TW * K)
    for nt in prange(b * TH):
        n, ty = nt // TH, nt % TH
        strip = np.zeros((4, 4 * TW, K), Z.dtype)   # strip[i, j, k] = dy[n, k, 4*ty + i, j]
        for i in range(min(4, OH - 4 * ty)):
            dst = strip[i]
            for k in range(K):
                src = dy[n0 + n, k, 4 * ty + i]
                for j in range(OW):
                    dst[j, k] = src[j]
        tA = np.empty((4, 6, TW * K), Z.dtype)   # tA[i, nu, tx*K + k] = (t A^T)[i, nu] of tile tx
        for i in range(4):
            for tx in range(TW):
                _a(strip[i, 4 * tx:4 * tx + 4], tA[i, :, tx * K:(tx + 1) * K], _keep)
        for nu in range(6):
            _a(tA[:, nu], Z[nu::6, nt * TW * K:(nt + 1) * TW * K], _stream)


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def output_transform(M, bias, n0, TH, TW, y):
    """y[n0 + n, :, 4*ty:4*ty + 4, 4*tx:4*tx + 4] <- A^T m A (+ bias) for each tile's
    m = M[:, ((n*TH + ty)*TW + tx)*K:][:, :K] (36, K), clipped to y (N, K, OH, OW).
    Returns how many strips held a non-finite value."""
    K, OH, OW = y.shape[1], y.shape[2], y.shape[3]
    b = M.shape[1] // (TH * TW * K)
    nonfinite = 0
    for nt in prange(b * TH):
        n, ty = nt // TH, nt % TH
        mA = np.empty((6, 4, TW * K), y.dtype)   # mA[mu, j, tx*K + k] = (m A)[mu, j] of tile tx
        for mu in range(6):
            _at(M[6 * mu:6 * mu + 6, nt * TW * K:(nt + 1) * TW * K], mA[mu])
        strip = np.empty((4, 4 * TW, K), y.dtype)   # strip[i, j, k] = y[n, k, 4*ty + i, j]
        for j in range(4):
            for tx in range(TW):
                _at(mA[:, j, tx * K:(tx + 1) * K], strip[:, 4 * tx + j])
        if not np.isfinite(strip.sum()):
            nonfinite += 1
        for i in range(min(4, OH - 4 * ty)):
            src = strip[i]
            for k in range(K):
                bk = y.dtype.type(0) if bias is None else bias[k]
                dst = y[n0 + n, k, 4 * ty + i]
                for j in range(OW):
                    dst[j] = src[j, k] + bk
    return nonfinite


# ------------------------------------------------------------- drivers

# Non-finite values inside the transforms are this module's business (the
# caller falls back to im2col), not NumPy warnings for the user.
def _quiet():
    return np.errstate(invalid="ignore", over="ignore")


def _chunk(N, tiles, channels):
    """Images per chunk so that 36 * P * channels elements fit CHUNK_ELEMENTS, balanced."""
    b = max(1, min(N, CHUNK_ELEMENTS // (36 * tiles * channels)))
    chunks = -(-N // b)
    return -(-N // chunks)


def _planes(name, P, C, dtype):
    """36 planes of (P, C) from this thread's scratch, as the transforms take them
    (36, P*C) and as the GEMMs do (36, P, C)."""
    rows = scratch(name, (36, P * C), dtype)
    return rows, rows.reshape(36, P, C)


def _chunks(x, OH, OW, K):
    """For each chunk of the images of x (N, C, H, W) whose outputs are (K, OH, OW):
    n0, the tile counts TH, TW, and scratch planes for V (C channels) and M or Z (K)."""
    N, C = x.shape[:2]
    TH, TW = -(-OH // 4), -(-OW // 4)
    B = _chunk(N, TH * TW, C + K)
    for n0 in range(0, N, B):
        P = min(B, N - n0) * TH * TW
        yield n0, TH, TW, _planes("wino_V", P, C, x.dtype), _planes("wino_M", P, K, x.dtype)


def _forward(x, U, bias, ph, pw, y):
    """y (N, K, OH, OW) <- the convolution of x (N, C, H, W) whose transformed filters
    are U (36, C, K), + bias (K,) or None. False if some output is not finite."""
    nonfinite = 0
    with _quiet():
        for n0, TH, TW, (V, V3), (M, M3) in _chunks(x, *y.shape[2:], y.shape[1]):
            input_transform(x, n0, ph, pw, TH, TW, V)
            np.matmul(V3, U, out=M3)
            nonfinite += output_transform(M, bias, n0, TH, TW, y)
    return nonfinite == 0


def conv2d_forward(x, weight, bias, ph, pw, y):
    """y (N, K, OH, OW) <- conv2d(x (N, C, H, W), weight (K, C, 3, 3), bias (K,) or None),
    stride 1. Returns False if some output is not finite: y then holds Winograd's values,
    which may smear a NaN over its tile."""
    K, C = weight.shape[:2]
    U = scratch("wino_U", (36, C, K), x.dtype)
    weight_transform(weight, False, U)
    return _forward(x, U, bias, ph, pw, y)


def conv2d_input_grad(dy, weight, ph, pw, dx):
    """dx (N, C, H, W) <- the input gradient for dy (N, K, OH, OW), stride 1, padding <= 2:
    the convolution of dy with weight flipped in space and transposed in channels, padded
    by 2 - padding. False if some element is not finite."""
    K, C = weight.shape[:2]
    U = scratch("wino_U", (36, K, C), dy.dtype)
    weight_transform(weight, True, U)
    return _forward(dy, U, None, 2 - ph, 2 - pw, dx)


def conv2d_weight_grad(dy, x, ph, pw, dweight):
    """dweight (K, C, 3, 3) <- the sum over images and tiles of the adjoint of the tile
    formula, for dy (N, K, OH, OW) and x (N, C, H, W). False if it is not finite."""
    K, C = dy.shape[1], x.shape[1]
    Mw = np.zeros((36, K, C), np.float64)
    with _quiet():
        for n0, TH, TW, (V, V3), (Z, Z3) in _chunks(x, *dy.shape[2:], K):
            input_transform(x, n0, ph, pw, TH, TW, V)
            grad_output_transform(dy, n0, TH, TW, Z)
            part = scratch("wino_Mw", (36, K, C), x.dtype)
            np.matmul(Z3.transpose(0, 2, 1), V3, out=part)
            Mw += part
        finite = bool(np.isfinite(Mw.sum()))
    weight_grad_transform(Mw, dweight)
    return finite
