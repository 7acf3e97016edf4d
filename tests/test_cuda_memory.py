"""kernels/cuda/_memory.py: the caching allocator. Its bookkeeping is tested on
the host (no GPU needed); its device arrays on a real GPU (the simulator's
arrays are NumPy arrays and bypass it)."""
import gc

import numba
import numpy as np
import pytest

from fastnn.kernels.cuda._memory import BlockCache, rounded_size


class Driver:
    """A stand-in for cuMemAlloc: counts allocations; fails past `capacity` bytes."""

    def __init__(self, capacity=1 << 40):
        self.capacity, self.used, self.calls = capacity, 0, 0

    def allocate(self, size):
        if self.used + size > self.capacity:
            raise MemoryError("full")
        self.used += size
        self.calls += 1
        return bytearray(size)


def test_sizes_round_to_512_bytes_then_to_2_mib():
    assert [rounded_size(n) for n in (0, 1, 512, 513)] == [512, 512, 512, 1024]
    assert rounded_size(1 << 20) == 1 << 20
    assert rounded_size((1 << 20) + 1) == 2 << 20
    assert rounded_size((5 << 20) + 3) == 6 << 20


def test_a_given_back_block_is_reused_and_a_held_one_never_is():
    drv = Driver()
    cache = BlockCache(drv.allocate)
    a, size = cache.take(1000)
    b, _ = cache.take(1000)
    assert a is not b and drv.calls == 2 and size == 1024
    cache.give_back(a, size)
    assert cache.cached_bytes == 1024
    c, _ = cache.take(900)                  # same rounded size: a comes back, no new allocation
    assert c is a and drv.calls == 2 and cache.cached_bytes == 0
    d, _ = cache.take(5000)                 # another size: a new block
    assert d is not a and d is not b and drv.calls == 3


def test_a_full_device_releases_the_cache_and_retries():
    drv = Driver(capacity=4096)
    cache = BlockCache(drv.allocate)
    a, size = cache.take(2048)
    cache.give_back(a, size)

    def allocate(n):                        # the driver frees what the cache released
        if cache.cached_bytes == 0 and drv.used > 0:
            drv.used = 0
        return drv.allocate(n)
    cache._allocate = allocate
    b, _ = cache.take(3000)                 # 2048 cached + 3072 new > 4096: release, retry
    assert len(b) == 3072 and cache.cached_bytes == 0


class Block:
    """Stands in for a driver allocation: an address, and no context."""
    context = None

    def __init__(self, size):
        self.device_pointer = 1 << 40


@pytest.mark.skipif(numba.config.ENABLE_CUDASIM, reason="the simulator's arrays are NumPy arrays")
def test_device_arrays_are_numba_arrays_that_give_their_block_back(monkeypatch):
    """device_array builds its arrays from a template per layout: they must be
    what Numba's constructor builds, and their block must come back to the cache
    when the last array over it (a step view, a flat view) is gone."""
    from numba.cuda.cudadrv.devicearray import DeviceNDArray

    from fastnn.kernels.cuda import _device, _memory
    cache = BlockCache(Block)
    monkeypatch.setattr(_memory, "_cache", cache)
    a = _memory.device_array((5, 3, 4), np.float32)
    want = DeviceNDArray((5, 3, 4), (48, 16, 4), np.float32, gpu_data=a.gpu_data)
    assert type(a) is DeviceNDArray and set(vars(a)) == set(vars(want))
    assert (a.shape, a.strides, a.dtype) == (want.shape, want.strides, want.dtype)
    assert (a.size, a.alloc_size) == (60, 240)
    assert a.gpu_data.size == 512 and a.device_ctypes_pointer.value == 1 << 40
    row, flat = _device.step(a, 2), _device.flat(a)
    assert row.device_ctypes_pointer.value == (1 << 40) + 2 * 48 and flat.shape == (60,)
    del a, want, row
    gc.collect()
    assert cache.cached_bytes == 0          # the flat view still holds the block
    del flat
    gc.collect()
    assert cache.cached_bytes == 512
    assert _memory.device_array([2, 3], np.float64).shape == (2, 3)
    assert _memory.device_array(7, np.float64).strides == (8,)


cuda = pytest.importorskip("numba.cuda")
real_gpu = pytest.mark.skipif(numba.config.ENABLE_CUDASIM or not cuda.is_available(),
                              reason="needs a real CUDA GPU")


@real_gpu
@pytest.mark.cuda
def test_device_arrays_come_back_to_the_cache_only_when_every_view_is_gone():
    from fastnn.kernels.cuda import _memory, cached_bytes, device_empty, empty_cache
    gc.collect()        # arrays of earlier tests held in reference cycles go back to the cache now,
    empty_cache()       # not in the middle of this test
    a = device_empty((1000, 3), np.float32)
    ptr = a.device_ctypes_pointer.value
    view = a[10:20]
    del a
    gc.collect()
    assert cached_bytes() == 0              # the view still holds the block
    b = device_empty((1000, 3), np.float32)
    assert b.device_ctypes_pointer.value != ptr
    del view
    gc.collect()
    assert cached_bytes() == rounded_size(12000)
    c = device_empty((3000,), np.float32)   # same rounded size: the same block
    assert c.device_ctypes_pointer.value == ptr and cached_bytes() == 0
    host = np.random.default_rng(0).standard_normal(3000).astype(np.float32)
    c.copy_to_device(host)
    np.testing.assert_array_equal(c.copy_to_host(), host)
    del b, c
    empty_cache()
    assert cached_bytes() == 0 and _memory._cache._free == {}
