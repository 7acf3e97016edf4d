"""How many threads a kernel call gets.

Waking Numba's second worker costs ~10 us (idle workers sleep: see
fastnn/__init__.py), more than it saves on small arrays: a relu over 32K
floats took 12.6 us on two threads and 3.7 us on one. Below PARALLEL_MIN
elements the functional layer runs the kernel on the calling thread.
Numba's thread count is per calling thread, so concurrent callers do not
interfere.

The switch goes through the functions under numba.get_num_threads and
set_num_threads: those check their argument and take a lock on every call,
2.2 us a switch and back, more than a relu of 2K floats takes (1.0 us); the
functions under them, 0.5 us. Numba binds them when it starts its threads;
a Numba that names them otherwise gets the public pair.
"""
import numba
from numba.np.ufunc import parallel as _parallel

PARALLEL_MIN = 1 << 16
_get_num_threads = _set_num_threads = None


def _bind_setters():
    global _get_num_threads, _set_num_threads
    numba.get_num_threads()          # starts Numba's threads, which binds the two below
    _get_num_threads = getattr(_parallel, "_get_num_threads", numba.get_num_threads)
    _set_num_threads = getattr(_parallel, "_set_num_threads", numba.set_num_threads)


class serial_if_small:
    """Context manager: run the Numba kernels inside on one thread when work <
    PARALLEL_MIN. work None: no CPU kernel runs inside (a GPU call), so the
    thread count is left alone."""

    __slots__ = ("serial", "prev")

    def __init__(self, work):
        self.serial = work is not None and work < PARALLEL_MIN

    def __enter__(self):
        if self.serial:
            if _set_num_threads is None:
                _bind_setters()
            self.prev = _get_num_threads()
            _set_num_threads(1)

    def __exit__(self, *exc):
        if self.serial:
            _set_num_threads(self.prev)
