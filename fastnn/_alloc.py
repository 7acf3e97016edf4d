"""Output allocation for the functional layer.

Every array that `fastnn.functional` hands to a kernel to fill comes from
`empty()`. The test suite sets `POISON = True` (see tests/conftest.py), so
these arrays start full of NaN and an element that a kernel forgets to write
cannot pass a comparison with the reference.
"""
import numpy as np

POISON = False


def empty(shape, dtype):
    if POISON:
        return np.full(shape, np.nan if np.dtype(dtype).kind == "f" else 0xA5, dtype=dtype)
    return np.empty(shape, dtype)
