"""A caching allocator for the device arrays fastnn returns and uses as scratch,
and the cheap construction of device arrays over given memory.

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

Construction: Numba's DeviceNDArray constructor checks its arguments and
builds a dummy array for the layout on every call, 1.8 us on a 2-core Zen 5
host and about three times that on an H100's, and a GPU call builds a few
arrays (its outputs, and flat or reshaped views of its inputs). array_over
copies the attributes the constructor gives a layout from a template made
once per layout instead. On the 2-core host (bench/host_path.py): an array
from the cache, made and dropped, 5.7 -> 2.8 us; F.relu's host side 11.3 ->
6.8 us.
"""
import functools
import threading
from collections import defaultdict

import numba
import numpy as np

if not numba.config.ENABLE_CUDASIM:      # the simulator's arrays are NumPy arrays: none of this
    from numba.cuda.cudadrv.devicearray import DeviceNDArray
    from numba.cuda.cudadrv.driver import MemoryPointer

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


@functools.lru_cache(maxsize=512)
def _layout(shape, strides, dtype):
    """The attributes Numba's DeviceNDArray constructor gives a non-empty array of
    this layout but its memory and stream (shape, strides, dtype, size, the dummy
    array, ..., whatever they are in the installed version), or None for an empty
    layout. strides None: C-contiguous."""
    dtype = np.dtype(dtype)
    if strides is None:
        strides = c_strides(shape, dtype.itemsize)
    a = DeviceNDArray(shape, strides, dtype, gpu_data=object())     # the memory is never read
    if a.size == 0:
        return None
    attrs = dict(vars(a))
    del attrs["gpu_data"], attrs["stream"]
    return attrs


def array_over(memory, shape, dtype, strides=None, stream=0):
    """A Numba DeviceNDArray of `shape` (a tuple) and dtype over `memory` (a
    MemoryPointer, or anything with its device_ctypes_pointer, context, view and
    owner), C-contiguous unless `strides` are given: what
    DeviceNDArray(shape, strides, dtype, stream, memory) builds. An empty array
    takes that constructor, which gives it a null pointer (a real GPU only)."""
    attrs = _layout(shape, strides, dtype)
    if attrs is None:
        dtype = np.dtype(dtype)
        return DeviceNDArray(shape, c_strides(shape, dtype.itemsize) if strides is None else strides, dtype,
                             stream=stream)
    a = object.__new__(DeviceNDArray)
    a.__dict__.update(attrs)
    a.gpu_data, a.stream = memory, stream
    return a


def device_array(shape, dtype):
    """An uninitialised C-contiguous device array, from the cache (a real GPU only:
    the simulator's arrays are NumPy arrays). An empty one takes no block."""
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    attrs = _layout(shape, None, dtype)
    if attrs is None:
        return array_over(None, shape, dtype)
    block, size = _cache.take(attrs["size"] * attrs["dtype"].itemsize)
    mem = MemoryPointer(block.context, block.device_pointer, size,
                        finalizer=lambda: _cache.give_back(block, size))
    return array_over(mem, shape, dtype)


def empty_cache():
    """Return every cached free block to the driver (as torch.cuda.empty_cache)."""
    _cache.release()


def cached_bytes():
    """Bytes held by the cache in free blocks."""
    return _cache.cached_bytes
