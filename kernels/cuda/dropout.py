"""Inverted dropout on the GPU, ELEMENTS elements a thread, drawing from the same
counter-based stream as kernels/cpu/dropout.py (SplitMix64's finaliser of
seed + (i + 1) * golden), so a seed gives the same mask on either device."""
from numba import cuda, uint64

from ..cpu.dropout import GOLDEN, MIX1, MIX2
from ._device import ELEMENTS, THREADS, blocks_for, first_element
from ._launch import kernel

_GOLDEN, _MIX1, _MIX2 = int(GOLDEN), int(MIX1), int(MIX2)


@cuda.jit(device=True)
def _uniform(seed, i):
    z = seed + (i + uint64(1)) * uint64(_GOLDEN)
    z = (z ^ (z >> uint64(30))) * uint64(_MIX1)
    z = (z ^ (z >> uint64(27))) * uint64(_MIX2)
    z = z ^ (z >> uint64(31))
    return (z >> uint64(11)) * (1.0 / 9007199254740992.0)


# The draw and its comparison with p are in float64, as on the CPU, so that a seed
# gives the same mask; the scaling is in the array's dtype (scale rounded to it
# once, as on the CPU), so that the outputs match too.

@kernel
def _forward(x, seed, p, scale, y, mask):
    k, zero = y.dtype.type(scale), y.dtype.type(0)
    i = first_element()
    for _ in range(ELEMENTS):
        if i < x.size:
            keep = _uniform(seed, uint64(i)) >= p
            mask[i] = keep
            y[i] = x[i] * (k if keep else zero)    # a multiply: NaN stays NaN, as on the CPU
        i += THREADS


@kernel
def _backward(dy, mask, scale, dx):
    k, zero = dx.dtype.type(scale), dx.dtype.type(0)
    i = first_element()
    for _ in range(ELEMENTS):
        if i < dy.size:
            dx[i] = dy[i] * (k if mask[i] else zero)
        i += THREADS


def dropout_forward(x, seed, p, scale, y, mask):
    if x.size:
        _forward[blocks_for(x.size, THREADS * ELEMENTS), THREADS](x, seed, p, scale, y, mask)


def dropout_backward(dy, mask, scale, dx):
    if dy.size:
        _backward[blocks_for(dy.size, THREADS * ELEMENTS), THREADS](dy, mask, scale, dx)
