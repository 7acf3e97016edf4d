"""exp(x) for x <= 0, in a form LLVM vectorises.

Numba calls libm's scalar exp, one element at a time; without Intel's SVML
that leaves softmax and cross-entropy compute-bound (~10 cycles an element).
Every exp these kernels need has a non-positive argument (x - max(x) in
softmax and cross-entropy, -|x| in sigmoid), so this covers that domain:

    k = round(x / ln 2),   r = x - k ln 2   (Cody-Waite: ln 2 split hi + lo)
    exp(x) = 2^k * e^r,    e^r by Taylor's polynomial, |r| <= ln(2)/2

Degree 6 gives float32 to ~1 ulp (error r^7/7! < 1.2e-7); degree 13 gives
float64 to a few ulp (r^14/14! < 5e-18). 2^k is built by writing k + bias
into the exponent field (a bit-cast). Below the smallest normal number the
result is 0; -inf gives 0 and NaN gives NaN.

FASTMATH: the flags the kernels compile with. They allow reassociation (so
reductions vectorise) but not 'nnan'/'ninf': NaN in must give NaN out.
"""
import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

FASTMATH = {"contract", "reassoc", "nsz", "arcp", "afn"}


@intrinsic
def _bits_to_float(typingctx, bits):
    """Reinterpret an int32 as float32, or an int64 as float64."""
    if bits == types.int32:
        sig, ty = types.float32(types.int32), ir.FloatType()
    elif bits == types.int64:
        sig, ty = types.float64(types.int64), ir.DoubleType()
    else:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ty)
    return sig, codegen


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _exp_nonpositive_f32(x):
    k = np.floor(max(x * np.float32(1.4426950408889634), np.float32(-126.0)) + np.float32(0.5))
    r = x - k * np.float32(0.693359375) - k * np.float32(-2.12194440e-4)
    p = np.float32(1 / 720)
    p = p * r + np.float32(1 / 120)
    p = p * r + np.float32(1 / 24)
    p = p * r + np.float32(1 / 6)
    p = p * r + np.float32(0.5)
    p = p * r + np.float32(1)
    p = p * r + np.float32(1)
    y = p * _bits_to_float(np.int32((np.int32(k) + 127) << 23))
    return np.float32(0) if x < np.float32(-87.33654) else y


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _exp_nonpositive_f64(x):
    k = np.floor(max(x * 1.4426950408889634, -1022.0) + 0.5)
    r = x - k * 6.93147180369123816490e-01 - k * 1.90821492927058770002e-10
    p = 1 / 6227020800
    for c in (1 / 479001600, 1 / 39916800, 1 / 3628800, 1 / 362880, 1 / 40320, 1 / 5040, 1 / 720,
              1 / 120, 1 / 24, 1 / 6, 0.5, 1.0, 1.0):
        p = p * r + c
    y = p * _bits_to_float(np.int64((np.int64(k) + 1023) << 52))
    return 0.0 if x < -708.3964185322641 else y


def exp_nonpositive(x):
    """exp(x) for x <= 0 (and -inf, NaN), in x's precision. Callable from @njit code."""
    return np.exp(x)


@overload(exp_nonpositive, jit_options={"cache": True})
def _exp_nonpositive_overload(x):
    if x == types.float32:
        return lambda x: _exp_nonpositive_f32(x)
    if x == types.float64:
        return lambda x: _exp_nonpositive_f64(x)
    return None


@intrinsic
def maximum(typingctx, a, b):
    """IEEE 754-2019 maximum of two floats of one dtype: NaN if either is NaN.

    LLVM vectorises a running max only in this form (llvm.maximum): the usual
    `v if v > m else m` is order-dependent about NaN, so without the 'nnan'
    flag it stays scalar (3.4x slower on 1000-element rows here).
    """
    if a != b or a not in (types.float32, types.float64):
        return None

    def codegen(context, builder, signature, args):
        ty = args[0].type
        fn = builder.module.declare_intrinsic("llvm.maximum", [ty], ir.FunctionType(ty, [ty, ty]))
        return builder.call(fn, args)
    return a(a, b), codegen


@njit(cache=True, fastmath=FASTMATH, inline="always")
def row_max(row):
    """max of a non-empty 1-D array; NaN if it holds a NaN."""
    m = row[0]
    for j in range(1, row.size):
        m = maximum(m, row[j])
    return m


EXP_SUM_BLOCK = 1024


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _exp_and_sum_block(row, m, out):
    """Two loops, not one fused: a loop that reads row and writes out runs either
    vectorised or scalar, chosen at run time by whether the two arrays lie
    within a vector's reach of each other in memory, and the two sum in
    different orders. Summed apart, out's sum is the same wherever it lies."""
    for j in range(row.size):
        out[j] = exp_nonpositive(row[j] - m)
    s = row.dtype.type(0)
    for j in range(out.size):
        s += out[j]
    return s


@njit(cache=True, fastmath=FASTMATH, inline="always")
def exp_and_sum(row, m, out):
    """out[j] = exp(row[j] - m) for a row whose max is m; returns the sum in float64.

    Blocks of EXP_SUM_BLOCK are summed in the row's dtype, which keeps the
    loop at full vector width (a float64 accumulator halves it: 2x slower for
    float32), then added into a float64 total. A block's sum is spread over
    the vector lanes, ~64 terms each, so float32 rounding stays near 1e-6
    relative however long the row. Blocks are slices: with `range(lo, hi)`
    Numba cannot prove the index non-negative and the loop stays scalar.
    """
    total = 0.0
    for b in range(0, row.size, EXP_SUM_BLOCK):
        total += _exp_and_sum_block(row[b:b + EXP_SUM_BLOCK], m, out[b:b + EXP_SUM_BLOCK])
    return total


_EXPM1_F32 = tuple(np.float32(1 / math.factorial(k)) for k in range(9, 0, -1))


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _expm1_nonpositive_f32(x):
    # |x| < ln 2: Taylor to degree 10 (relative error < 1e-9), no cancellation;
    # otherwise exp(x) - 1 <= -1/2, so subtracting 1 at most doubles exp's
    # relative error (at ln(2)/2 and degree 8 it was 3.4x: tanh reached 4.9 ulp).
    p = np.float32(1 / 3628800)
    for c in _EXPM1_F32:
        p = p * x + c
    small = p * x
    big = _exp_nonpositive_f32(x) - np.float32(1)
    return small if x > np.float32(-0.6931472) else big


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _expm1_nonpositive_f64(x):
    p = 1 / 1307674368000
    for c in (1 / 87178291200, 1 / 6227020800, 1 / 479001600, 1 / 39916800, 1 / 3628800,
              1 / 362880, 1 / 40320, 1 / 5040, 1 / 720, 1 / 120, 1 / 24, 1 / 6, 0.5, 1.0):
        p = p * x + c
    small = p * x
    big = _exp_nonpositive_f64(x) - 1.0
    return small if x > -0.34657359027997264 else big


def expm1_nonpositive(x):
    """exp(x) - 1 for x <= 0, accurate relative to the result near 0. Callable from @njit code."""
    return np.expm1(x)


@overload(expm1_nonpositive, jit_options={"cache": True})
def _expm1_nonpositive_overload(x):
    if x == types.float32:
        return lambda x: _expm1_nonpositive_f32(x)
    if x == types.float64:
        return lambda x: _expm1_nonpositive_f64(x)
    return None


# log(1 + e) for e in [0, 1]: with s = e / (2 + e) <= 1/3,
#     log(1 + e) = 2 atanh(s) = 2 s (1 + s^2/3 + s^4/5 + ...),
# and s^2 <= 1/9, so 7 terms give float32 (error 9^-7/15 < 2e-8) and 16 float64
# (9^-16/33 < 2e-17), relative to the result even near 0 (1 + e is never rounded).
_ATANH_F32 = tuple(np.float32(1 / (2 * k + 1)) for k in range(6, -1, -1))
_ATANH_F64 = tuple(1 / (2 * k + 1) for k in range(15, -1, -1))
# LLVM leaves a loop of 16 unrolled steps rolled, and the element loop around
# it scalar: float64 BCE took 25 ms at 2^22 elements, against 0.6 for float32.
# Two loops of 8 unroll; the element loop vectorises again.
_ATANH_F64_HEAD, _ATANH_F64_TAIL = _ATANH_F64[:8], _ATANH_F64[8:]


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _log1p_unit_f32(e):
    s = e / (np.float32(2) + e)
    z = s * s
    p = np.float32(0)
    for c in _ATANH_F32:
        p = p * z + c
    return np.float32(2) * s * p


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _log1p_unit_f64(e):
    s = e / (2.0 + e)
    z = s * s
    p = 0.0
    for c in _ATANH_F64_HEAD:
        p = p * z + c
    for c in _ATANH_F64_TAIL:
        p = p * z + c
    return 2.0 * s * p


def log1p_unit(e):
    """log(1 + e) for e in [0, 1] (NaN stays NaN), in e's precision, vectorisable
    (Numba's np.log1p is a scalar libm call). Callable from @njit code."""
    return np.log1p(e)


# NumPy's error model: an overload compiles apart from the kernel calling it, and
# with Python's each division checks for a zero divisor (to raise), which keeps
# LLVM from vectorising the caller's loop (bce: 12 ms -> 0.6 ms at 4096x1000).
# Kernels' own prange bodies already compile with NumPy's model.
@overload(log1p_unit, jit_options={"cache": True, "error_model": "numpy"})
def _log1p_unit_overload(e):
    if e == types.float32:
        return lambda e: _log1p_unit_f32(e)
    if e == types.float64:
        return lambda e: _log1p_unit_f64(e)
    return None


@njit(cache=True, fastmath=FASTMATH, inline="always")
def sigmoid(v, one):
    """1 / (1 + e^-v) through e = exp(-|v|) <= 1, so nothing overflows.
    `one` is 1 in v's dtype, which keeps float32 math in float32."""
    e = exp_nonpositive(-abs(v))
    return one / (one + e) if v >= 0 else e / (one + e)


@njit(cache=True, fastmath=FASTMATH, inline="always")
def tanh(v, one):
    """tanh(v) = sign(v) * -m / (2 + m), m = expm1(-2|v|): vectorisable, and
    relatively accurate near 0 (no 1 - e cancellation). NaN stays NaN.
    2 is `one + one`: a bare 2 (an int) would lift float32 math to float64."""
    two = one + one
    m = expm1_nonpositive(-two * abs(v))
    t = -m / (two + m)
    return -t if v < 0 else t
