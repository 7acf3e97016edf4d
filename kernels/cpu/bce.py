"""Binary cross-entropy on logits, forward and backward in one fused pass (the
loss of logistic regression), as torch.nn.functional.binary_cross_entropy_with_logits
with its `weight` and `pos_weight`.

Per element, logit x, target y (a probability, usually 0 or 1), weight w and
positive-class weight p (both 1 when not given), with s = sigmoid(x):

    l = -w (p y log s + (1 - y) log(1 - s))
    dl/dx = w ((1 + (p - 1) y) s - p y)

Written with e = exp(-|x|) <= 1, so that nothing overflows, and split by the
sign of x so that no term cancels another: torch's (1 - y) x + (1 + (p - 1) y)
softplus(-x) loses log(1 + e) beside a large |x|, and x - y x loses (1 - y) x
for y near 1:

    l / w = (1 - y) x + (1 + (p - 1) y) log(1 + e)     x >= 0
          = -p y x    + (1 + (p - 1) y) log(1 + e)     x < 0

The mean divides by n, the number of elements, weighted or not (as torch's).

Reference: fastnn/reference/bce.py.
"""
import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from ._math import FASTMATH, exp_nonpositive, log1p_unit

# Elements a partial sum. A chunk is summed in the inputs' dtype (a float64
# accumulator would halve the vector width), ~64 terms a vector lane, then the
# chunks in float64, as kernels/cpu/_math.py's exp_and_sum does for softmax.
CHUNK = 1024


# Optional arrays (a weight not given, no per-element loss wanted) are None.
# These helpers pick their code by the argument's type as it is typed, so the
# None case costs nothing. (Numba prunes `if a is None` branches only on a
# function's own arguments, which an inlined helper's are not.)
def _at(a, i, one):
    """a[i], or 1 when a is None."""


def _weights_at(p, i, t, one):
    """(p[i], 1 + (p[i] - 1) t): the positive-class weight and log(1 + e)'s, or
    exactly (1, 1) when p is None, which LLVM then multiplies away."""


def _store(a, i, v):
    """a[i] = v, or nothing when a is None."""


def _part(a, lo, hi):
    """a.reshape(-1)[lo:hi] for a C-contiguous a, or None. (`None if a is None
    else ...` types as an optional array, which the parallel loop then checks
    at run time, and not always right.)"""


def _tile(a, n, I):
    """For an `a` constant over O and M (weights broadcast along each row, such
    as pos_weight (C,) against (N, C)): a's rows repeated over CHUNK + I
    elements, out of which any chunk's values are one slice. Otherwise (or
    None) an empty array."""


def _chunk_of(a, tile, lo, hi, shape):
    """a (O or 1, M or 1, I or 1), broadcast over `shape` (O, M, I), at flat
    elements lo:hi in C order, as a contiguous 1-D array: a slice of a itself
    or of its tile, else written out row by row into a new array (one a chunk
    costs ~15 %: only other patterns, such as per-sample weights (N, 1), take
    this path). None for None."""


@overload(_at, inline="always", jit_options={"cache": True})
def _at_overload(a, i, one):
    if isinstance(a, types.NoneType):
        return lambda a, i, one: one
    return lambda a, i, one: a[i]


@overload(_weights_at, inline="always", jit_options={"cache": True})
def _weights_at_overload(p, i, t, one):
    if isinstance(p, types.NoneType):
        return lambda p, i, t, one: (one, one)

    def weights_at(p, i, t, one):
        return p[i], one + (p[i] - one) * t
    return weights_at


@overload(_store, inline="always", jit_options={"cache": True})
def _store_overload(a, i, v):
    if isinstance(a, types.NoneType):
        return lambda a, i, v: None

    def store(a, i, v):
        a[i] = v
    return store


@overload(_part, inline="always", jit_options={"cache": True})
def _part_overload(a, lo, hi):
    if isinstance(a, types.NoneType):
        return lambda a, lo, hi: None
    return lambda a, lo, hi: a.reshape(a.size)[lo:hi]


@overload(_tile, jit_options={"cache": True})
def _tile_overload(a, n, I):
    if isinstance(a, types.NoneType):
        return lambda a, n, I: None

    def tile(a, n, I):
        if a.shape[0] * a.shape[1] > 1 or a.size == n:
            return np.empty(0, a.dtype)
        out = np.empty(CHUNK + I, a.dtype)
        for j in range(out.size):
            out[j] = a[0, 0, (j % I) if a.size > 1 else 0]
        return out
    return tile


@overload(_chunk_of, jit_options={"cache": True})
def _chunk_of_overload(a, tile, lo, hi, shape):
    if isinstance(a, types.NoneType):
        return lambda a, tile, lo, hi, shape: None

    def chunk_of(a, tile, lo, hi, shape):
        O, M, I = shape
        if a.size == O * M * I:
            return _part(a, lo, hi)
        if tile.size:
            start = lo % I
            return tile[start:start + hi - lo]
        out = np.empty(hi - lo, a.dtype)
        i = lo
        while i < hi:                       # row by row: (o, m, k) of element i
            r = i // I
            k = i - r * I
            stop = min(I, k + hi - i)
            row = a[min(r // M, a.shape[0] - 1), min(r % M, a.shape[1] - 1)]
            if row.size == 1:
                out[i - lo:i - lo + stop - k] = row[0]
            else:
                out[i - lo:i - lo + stop - k] = row[k:stop]
            i += stop - k
        return out
    return chunk_of


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _chunk(x, y, w, p, scale, loss, dx):
    """One chunk: dx <- scale * dl/dx, and loss <- l unless it is None; returns
    the chunk's sum of l in x's dtype."""
    one, zero = x.dtype.type(1), x.dtype.type(0)
    s = zero
    for i in range(x.size):
        v, t = x[i], y[i]
        pw, lw = _weights_at(p, i, t, one)
        e = exp_nonpositive(-abs(v))
        wi = _at(w, i, one)
        l = wi * ((one - t if v >= zero else -(pw * t)) * v + lw * log1p_unit(e))
        s += l
        _store(loss, i, l)
        sig = (one if v >= zero else e) / (one + e)     # NaN stays NaN
        dx[i] = (wi * scale) * (lw * sig - pw * t)
    return s


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def bce_with_logits_forward_backward(x, y, weight, pos_weight, grad_scale, partial, loss, dx):
    """x, y, dx (O, M, I), C-contiguous, n = O M I >= 1 elements; weight and
    pos_weight None, or C-contiguous (O or 1, M or 1, I or 1), broadcast over x;
    partial (ceil(n / CHUNK),) float64 <- the sum of l over each CHUNK elements
    (in C order); loss None, or like x <- l; dx <- grad_scale * dl/dx.

    Each chunk is one contiguous slice of every array, weights included (see
    _chunk_of), so that its loop vectorises whatever the weights' shapes.
    Slices, not range(lo, hi): over that Numba cannot prove the index
    non-negative, and the loop would stay scalar."""
    n = x.size
    xf, yf, df = x.reshape(n), y.reshape(n), dx.reshape(n)
    w_tile, p_tile = _tile(weight, n, x.shape[2]), _tile(pos_weight, n, x.shape[2])
    scale = x.dtype.type(grad_scale)
    for c in prange(partial.size):
        lo, hi = c * CHUNK, min(n, (c + 1) * CHUNK)
        w = _chunk_of(weight, w_tile, lo, hi, x.shape)
        p = _chunk_of(pos_weight, p_tile, lo, hi, x.shape)
        partial[c] = _chunk(xf[lo:hi], yf[lo:hi], w, p, scale, _part(loss, lo, hi), df[lo:hi])
