"""Output allocation for the functional layer.

Every array that `fastnn.functional` hands to a kernel to fill comes from
`empty()`, on the host or the GPU. The test suite sets `POISON = True` (see
tests/conftest.py), so these arrays start full of NaN and an element that a
kernel forgets to write cannot pass a comparison with the reference. On the
GPU that matters twice: the caching allocator hands back blocks that still
hold an earlier call's results.
"""
import functools

import numpy as np

POISON = False


def empty(shape, dtype, on_device=False):
    if on_device:
        cuda = _cuda_kernels()
        out = cuda.device_empty(shape, dtype)
        if POISON and out.size:
            cuda.fill(cuda.flat(out), _poison(dtype))
        return out
    if POISON:
        return np.full(shape, _poison(dtype), dtype=dtype)
    return np.empty(shape, dtype)


def _poison(dtype):
    return np.nan if np.dtype(dtype).kind == "f" else 0xA5


@functools.cache
def _cuda_kernels():
    """fastnn.kernels.cuda, imported on first GPU use (an import statement
    per call cost about 1 us of a GPU call's 8)."""
    from .kernels import cuda
    return cuda
