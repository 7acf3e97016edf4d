"""Output allocation for the functional layer.

Every array that `fastnn.functional` hands to a kernel to fill comes from
`empty()`, on the host or the GPU. The test suite sets `POISON = True` (see
tests/conftest.py), so these arrays start full of NaN and an element that a
kernel forgets to write cannot pass a comparison with the reference. On the
GPU that matters twice: the caching allocator hands back blocks that still
hold an earlier call's results.
"""
import numpy as np

POISON = False


def empty(shape, dtype, on_device=False):
    poison = np.nan if np.dtype(dtype).kind == "f" else 0xA5
    if on_device:
        from .kernels.cuda import device_empty, fill, flat
        out = device_empty(shape, dtype)
        if POISON and out.size:
            fill(flat(out), poison)
        return out
    if POISON:
        return np.full(shape, poison, dtype=dtype)
    return np.empty(shape, dtype)
