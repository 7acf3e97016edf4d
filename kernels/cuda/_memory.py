"""A caching allocator for the device arrays fastnn returns and uses as scratch.

cuMemAlloc and cuMemFree are synchronous and slow (measured on an H100: 29 us
for 4 KB, 190 us for 256 MB, and Numba frees in batches that stall a later
allocation), which made a 1024-element relu cost 130 us against torch's 14 us.
So, like PyTorch's CUDA allocator, blocks are kept after their array dies and
handed to the next request of the same rounded size: a training loop that
repeats its shapes stops talking to the driver after its first step.

How: each block is a real Numba allocation, kept alive by the cache. A request
gets a MemoryPointer *view* of a free block whose finalizer puts the block back
on its free list; Numba's arrays and their slices hold that pointer, so the
block returns only when the last of them is gone.

Stream ordering: every fastnn kernel runs on the default stream, so work on a
reused block is queued after all earlier work that touched it. Memory shared
with other streams (a torch tensor on a side stream, say) is the caller's to
synchronise, as it is with torch's allocator.
"""
import threading
from collections import defaultdict

import numpy as np

SMALL = 1 << 20        # requests up to 1 MiB round to 512 B, larger ones to 2 MiB,
SMALL_ROUND = 512      # as torch's allocator: few distinct sizes, little waste
LARGE_ROUND = 2 << 20


def rounded_size(nbytes):
    step = SMALL_ROUND if nbytes <= SMALL else LARGE_ROUND
    return max(step, -(-nbytes // step) * step)


class BlockCache:
    """Free blocks by size. `allocate(size)` makes a new block when none is free
    (raising MemoryError when the device is full); `release()` drops every free
    block, so that the driver frees it. Pure bookkeeping: tested on the host."""

    def __init__(self, allocate):
        self._allocate = allocate
        self._free = defaultdict(list)
        self._lock = threading.Lock()
        self.cached_bytes = 0        # held in free lists, not in use

    def take(self, nbytes):
        """-> (block, size): a free block of at least nbytes, or a new one."""
        size = rounded_size(nbytes)
        with self._lock:
            if self._free[size]:
                self.cached_bytes -= size
                return self._free[size].pop(), size
        try:
            return self._allocate(size), size
        except MemoryError:                     # device full: give the cache back, retry once
            self.release()
            return self._allocate(size), size

    def give_back(self, block, size):
        with self._lock:
            self._free[size].append(block)
            self.cached_bytes += size

    def release(self):
        with self._lock:
            self._free.clear()
            self.cached_bytes = 0


def _new_block(size):
    from numba import cuda
    from numba.cuda.cudadrv.driver import CudaAPIError
    try:
        return cuda.current_context().memalloc(size)
    except CudaAPIError as e:
        raise MemoryError(f"cannot allocate {size} bytes on the GPU: {e}") from e


_cache = BlockCache(_new_block)


def c_strides(shape, itemsize):
    """The strides, in bytes, of a C-contiguous array of `shape`."""
    strides, step = [], itemsize
    for s in reversed(shape):
        strides.append(step)
        step *= s
    return tuple(reversed(strides))


def device_array(shape, dtype):
    """An uninitialised C-contiguous device array, from the cache (a real GPU only:
    the simulator's arrays are NumPy arrays)."""
    from numba.cuda.cudadrv.devicearray import DeviceNDArray
    from numba.cuda.cudadrv.driver import MemoryPointer
    dtype = np.dtype(dtype)
    shape = tuple(int(s) for s in (shape if isinstance(shape, tuple) else (shape,)))
    nbytes = dtype.itemsize
    for s in shape:
        nbytes *= s
    block, size = _cache.take(nbytes)
    mem = MemoryPointer(block.context, block.device_pointer, size,
                        finalizer=lambda: _cache.give_back(block, size))
    return DeviceNDArray(shape, c_strides(shape, dtype.itemsize), dtype, gpu_data=mem)


def empty_cache():
    """Return every cached free block to the driver (as torch.cuda.empty_cache)."""
    _cache.release()


def cached_bytes():
    """Bytes held by the cache in free blocks."""
    return _cache.cached_bytes
