"""How many threads a kernel call gets.

Waking Numba's second worker costs ~10 us (idle workers sleep: see
fastnn/__init__.py), more than it saves on small arrays: a relu over 32K
floats took 12.6 us on two threads and 3.7 us on one. Below PARALLEL_MIN
elements the functional layer runs the kernel on the calling thread.
Numba's thread count is per calling thread, so concurrent callers do not
interfere.
"""
import numba

PARALLEL_MIN = 1 << 16


class serial_if_small:
    """Context manager: run the Numba kernels inside on one thread when work <
    PARALLEL_MIN. work None: no CPU kernel runs inside (a GPU call), so the
    thread count is left alone; setting it costs microseconds a call."""

    __slots__ = ("serial", "prev")

    def __init__(self, work):
        self.serial = work is not None and work < PARALLEL_MIN

    def __enter__(self):
        if self.serial:
            self.prev = numba.get_num_threads()
            numba.set_num_threads(1)

    def __exit__(self, *exc):
        if self.serial:
            numba.set_num_threads(self.prev)
