"""Binary cross-entropy on logits, forward and backward in one fused pass (the
loss of logistic regression), as torch.nn.functional.binary_cross_entropy_with_logits
with its default mean reduction.

Per element, logit x and target y (a probability, usually 0 or 1), written
with e = exp(-|x|) <= 1 so that nothing overflows:

    l = -(y log sigmoid(x) + (1 - y) log(1 - sigmoid(x)))
      = max(x, 0) - x y + log(1 + e)
    loss = (1/n) sum l,     dloss/dx = (sigmoid(x) - y) / n

Reference: fastnn/reference/bce.py.
"""
from numba import njit, prange

from ._math import FASTMATH, exp_nonpositive, log1p_unit

# Elements a partial sum. A chunk is summed in the inputs' dtype (a float64
# accumulator would halve the vector width), ~64 terms a vector lane, then the
# chunks in float64, as kernels/cpu/_math.py's exp_and_sum does for softmax.
CHUNK = 1024


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _chunk(x, y, inv_n, dx):
    """dx <- (sigmoid(x) - y) / n over one chunk; returns the chunk's sum of l."""
    one, zero = x.dtype.type(1), x.dtype.type(0)
    s = zero
    for i in range(x.size):
        v, t = x[i], y[i]
        e = exp_nonpositive(-abs(v))
        s += max(v, zero) - v * t + log1p_unit(e)
        dx[i] = ((one if v >= zero else e) / (one + e) - t) * inv_n    # sigmoid(v) from e; NaN stays NaN
    return s


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def bce_with_logits_forward_backward(x, y, partial, dx):
    """Flat x, y, dx (n,), n >= 1; partial (ceil(n / CHUNK),) float64 <- each chunk's
    sum of l; dx <- d(mean l)/dx. The loss is partial.sum() / n. Chunks are
    slices: over range(lo, hi) Numba cannot prove the index non-negative, and
    the loop would stay scalar."""
    inv_n = x.dtype.type(1.0 / x.size)
    for c in prange(partial.size):
        lo = c * CHUNK
        partial[c] = _chunk(x[lo:lo + CHUNK], y[lo:lo + CHUNK], inv_n, dx[lo:lo + CHUNK])
