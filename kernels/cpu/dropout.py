"""Inverted dropout on a counter-based random stream.

Element i is kept when u_i >= p, where u_i in [0, 1) is the top 53 bits of
SplitMix64's finaliser applied to seed + (i + 1) * golden (Steele, Lea &
Flood, OOPSLA 2014). Each element's draw depends on (seed, i) alone, so
every thread, the CUDA kernel and the NumPy reference produce the same mask.

    y = x * (keep ? scale : 0),     dx = dy * (keep ? scale : 0),    scale = 1/(1-p)

A multiply, not a select, as torch: NaN or inf in a dropped unit gives NaN.

Reference: fastnn/reference/dropout.py (uniform_stream).
"""
import numpy as np
from numba import njit, prange

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MIX1 = np.uint64(0xBF58476D1CE4E5B9)
MIX2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True, inline="always")
def uniform(seed, i):
    """The i-th uniform in [0, 1) of the stream `seed` (both uint64)."""
    z = seed + (i + np.uint64(1)) * GOLDEN
    z = (z ^ (z >> np.uint64(30))) * MIX1
    z = (z ^ (z >> np.uint64(27))) * MIX2
    z = z ^ (z >> np.uint64(31))
    return np.float64(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(parallel=True, cache=True)
def dropout_forward(x, seed, p, scale, y, mask):
    """Flat x, y (float), mask (bool); seed uint64; scale = 1/(1-p), or 0 when p = 1."""
    s = np.uint64(seed)
    zero = x.dtype.type(0)
    k = x.dtype.type(scale)
    for i in prange(x.size):
        keep = uniform(s, np.uint64(i)) >= p
        mask[i] = keep
        y[i] = x[i] * (k if keep else zero)


@njit(parallel=True, cache=True)
def dropout_backward(dy, mask, scale, dx):
    zero = dy.dtype.type(0)
    k = dy.dtype.type(scale)
    for i in prange(dy.size):
        dx[i] = dy[i] * (k if mask[i] else zero)
