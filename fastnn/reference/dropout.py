"""Inverted dropout with a counter-based random stream.

Training keeps each unit with probability 1 - p and scales it by 1/(1 - p),
so the expectation is unchanged and eval is the identity:

    y = x * mask / (1 - p),   mask_i = [u_i >= p],   dx = dy * mask / (1 - p)

A multiply, as torch's, not a select: NaN or inf in a dropped unit gives NaN
(0 * NaN), so NaN in gives NaN out even where the unit is dropped. p = 1
drops everything: y = x * 0, dx = dy * 0. The uniform u_i in [0, 1) is a
hash of (seed, i) -- SplitMix64's finaliser (Steele, Lea & Flood, "Fast
splittable pseudorandom number generators", OOPSLA 2014) on
seed + (i + 1) * golden -- taking the top 53 bits. Every element is
independent of the others, so the CPU kernel, the CUDA kernel and this
reference draw the same mask for the same seed, in any order, on any number
of threads. seed=None draws a seed from NumPy's global generator, so
np.random.seed() makes a run reproducible.
"""
import numpy as np

from .. import _checks

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MIX1 = np.uint64(0xBF58476D1CE4E5B9)
MIX2 = np.uint64(0x94D049BB133111EB)


def uniform_stream(seed, n):
    """The n uniforms in [0, 1) of `seed` (float64)."""
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + (np.arange(1, n + 1, dtype=np.uint64) * GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * MIX1
        z = (z ^ (z >> np.uint64(27))) * MIX2
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def draw_seed():
    return int(np.random.randint(0, 2 ** 63, dtype=np.int64))


def dropout(x, p, training=True, seed=None):
    """x (any shape) -> (y like x, mask: bool array like x)."""
    _, _, p = _checks.dropout_args("dropout", x, p, allow_device=False)
    seed = _checks.dropout_seed("dropout", seed)
    if not training or p == 0:
        return x.copy(), np.ones(x.shape, bool)
    seed = draw_seed() if seed is None else seed
    mask = (uniform_stream(seed, x.size) >= p).reshape(x.shape)
    with np.errstate(invalid="ignore"):     # inf * 0 = NaN, as documented above
        return x * _kept_scale(mask, p, x.dtype), mask


def dropout_backward(dy, mask, p):
    """dy, mask (from dropout) -> dx."""
    _, _, p = _checks.dropout_backward_args("dropout_backward", dy, mask, p, allow_device=False)
    with np.errstate(invalid="ignore"):
        return dy * _kept_scale(mask, p, dy.dtype)


def _kept_scale(mask, p, dtype):
    """mask / (1 - p) in `dtype`: 1/(1-p) where kept, 0 where dropped (everywhere for p = 1)."""
    return np.where(mask, dtype.type(0 if p == 1 else 1 / (1 - p)), dtype.type(0))
