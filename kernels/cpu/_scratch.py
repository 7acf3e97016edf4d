"""Per-thread scratch buffers, reused across calls.

Convolution needs column buffers of a few MB on every call; taking them from
here instead of np.empty avoids paying for fresh pages (and their first-touch
faults) each time. Buffers are per thread, so concurrent callers never share.
The test suite sets POISON (as fastnn._alloc's), so every buffer handed out
starts full of NaN: a kernel that skips an element cannot pass on what the
previous call left there.
"""
import math
import threading

import numpy as np

_local = threading.local()
POISON = False


def scratch(name, shape, dtype):
    """An uninitialised array of `shape`, backed by this thread's buffer `name`."""
    dtype = np.dtype(dtype)
    n = int(math.prod(shape))            # np.prod of a tuple costs ~9 us, this 0.2
    pool = _local.__dict__.setdefault("pool", {})
    buf = pool.get((name, dtype))
    if buf is None or buf.size < n:
        buf = pool[(name, dtype)] = np.empty(n, dtype)
    out = buf[:n].reshape(shape)
    if POISON:
        out.fill(np.nan if dtype.kind == "f" else 0xA5)
    return out
