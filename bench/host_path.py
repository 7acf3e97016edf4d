"""What fastnn.functional's GPU path costs on the host, without a GPU.

A GPU call's host side is fastnn's own Python (checks, views, dispatch), the
allocation, and the launch. This script times the first two: device arrays
over stand-in memory (Numba's DeviceNDArray, no memory behind it), the
caching allocator handing out stand-in blocks, and the kernels replaced by
stubs. On a GPU, bench/bench_cuda.py's "call" workload times the whole call.

Run: python bench/host_path.py [name]   (a name also prints a profile)
"""
import cProfile
import pstats
import sys
import timeit

import fastnn  # noqa: F401  (before NumPy: sets up Numba's threading)
import numpy as np
from numba.cuda.cudadrv.devicearray import DeviceNDArray

import fastnn.functional as F
import fastnn.kernels.cuda as K
from fastnn import nn, optim
from fastnn.kernels.cuda import _device, _memory
from fastnn.kernels.cuda import optim as optim_kernels
from fastnn.kernels.cuda._memory import c_strides


class _Block:
    """Stands in for an allocation on the device: an address, and no context."""
    context = None

    def __init__(self, size):
        self.device_pointer = 1 << 40


def _device_array(shape, dtype=np.float32):
    dtype = np.dtype(dtype)
    return DeviceNDArray(shape, c_strides(shape, dtype.itemsize), dtype, gpu_data=_Block(0))


class _NoLaunch:
    """Stands in for a kernel: kernel[grid, block](*args) does nothing."""

    def __getitem__(self, config):
        return lambda *args: None


def _stub():
    _memory._cache = _memory.BlockCache(_Block)
    _device.fill = lambda *args: None
    for name in ("relu_forward", "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward",
                 "softmax_forward"):
        setattr(K, name, lambda *args: None)
    optim_kernels._adam = _NoLaunch()


def _adam_step():
    """Adam over a small CNN's 10 tensors, with their gradients: the launches stubbed, not the loop."""
    shapes = [(32, 3, 3, 3), (32,), (64, 32, 3, 3), (64,), (64,), (64,), (128, 1024), (128,),
              (10, 128), (10,)]
    params = [nn.Parameter(_device_array(s)) for s in shapes]
    for p in params:
        p.grad = _device_array(p.data.shape)
    return optim.Adam(params).step


def cases():
    x, dy, rows = _device_array((32, 64, 32, 32)), _device_array((32, 64, 16, 16)), _device_array((64, 1000))
    return {
        "relu": lambda: F.relu(x),
        "max_pool2d": lambda: F.max_pool2d(x, 3, 2, 1),
        "max_pool2d_backward": lambda: F.max_pool2d_backward(dy, x, 3, 2, 1),
        "avg_pool2d": lambda: F.avg_pool2d(x, 3, 1, 1),
        "softmax": lambda: F.softmax(rows),
        "adam_step": _adam_step(),
    }


if __name__ == "__main__":
    _stub()
    calls = cases()
    print("fastnn.functional on stand-in device memory, kernels stubbed: host us a call")
    for name, fn in calls.items():
        fn()
        print(f"  {name:20s} {min(timeit.repeat(fn, number=5000, repeat=3)) / 5000 * 1e6:6.1f}")
    if len(sys.argv) > 1:
        cProfile.run(f"for _ in range(3000): calls[{sys.argv[1]!r}]()", "/tmp/host_path.prof")
        pstats.Stats("/tmp/host_path.prof").sort_stats("tottime").print_stats(15)
