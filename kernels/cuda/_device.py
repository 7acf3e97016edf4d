"""Device arrays: allocation, contiguous copies, launch geometry.

Any object with __cuda_array_interface__ (Numba device arrays, CuPy arrays,
PyTorch CUDA tensors) is viewed zero-copy through numba.cuda.as_cuda_array;
results are Numba device arrays.
"""
import ctypes
import math

import numba
from numba import cuda

from ._launch import kernel
from ._memory import array_over

THREADS = 256
MAX_GRID_Y = 65535          # the y (and z) grid dimensions' limit; x goes to 2^31 - 1
ELEMENTS = 4                # a thread, in the elementwise kernels: see first_element


# Unsigned casts, for index arithmetic that Numba would otherwise do in signed
# 64 bits (see pool.py): u32 wraps a negative value past 2^31. The simulator
# runs kernels as Python, where the casts act on Python ints.
if numba.config.ENABLE_CUDASIM:
    def u32(v):
        return int(v) & 0xFFFFFFFF

    def u64(v):
        return int(v) & 0xFFFFFFFFFFFFFFFF
else:
    u32, u64 = numba.uint32, numba.uint64


def needs_64_bit(*arrays):
    """Whether a kernel over these arrays must index in 64 bits: one of them has
    2^31 elements or more. Those kernels use signed int64, not u64: Numba
    computes a mix of unsigned and signed 64-bit integers in floating point."""
    return max(a.size for a in arrays) >= 2**31


def blocks_for(n, threads=THREADS):
    return max(1, math.ceil(n / threads))


@cuda.jit(device=True)
def first_element():
    """The first of this thread's ELEMENTS elements in an elementwise kernel; the
    others follow THREADS apart, so each load instruction of a warp still reads
    32 consecutive elements. Four a thread instead of one put more loads in
    flight and cut the index arithmetic: on an H100, float32, 2^26 elements
    (bench/bench_cuda.py), relu went from 80 to 84 % of the copy bandwidth,
    sigmoid 71 -> 77 %, tanh 77 -> 84 %, dropout 74 -> 80 %."""
    return cuda.blockIdx.x * (THREADS * ELEMENTS) + cuda.threadIdx.x


@cuda.jit(device=True)
def butterfly_sum(v, width):
    """The sum of v over this lane's aligned group of `width` lanes (a power of
    two up to a warp), in every lane of the group: register shuffles. A real
    GPU only: the simulator has no shuffles."""
    step = width // 2
    while step:
        v += cuda.shfl_xor_sync(0xFFFFFFFF, v, step)
        step //= 2
    return v


def as_device(a):
    """A Numba device-array view of any CUDA array (no copy)."""
    return a if hasattr(a, "copy_to_host") else cuda.as_cuda_array(a)


if numba.config.ENABLE_CUDASIM:
    def device_empty(shape, dtype):
        return cuda.device_array(shape, dtype=dtype)
    _DeviceNDArray = None
else:
    from numba.cuda.cudadrv.devicearray import DeviceNDArray as _DeviceNDArray
    from ._memory import device_array as device_empty   # cached: see _memory.py


def step(a, t):
    """a[t], for a C-contiguous device array: the view built directly. Numba's
    __getitem__ slices in general and pushes the CUDA context; that cost about
    40 us a call on a slower H100 host. A recurrence takes about eleven of
    these a time step (forward and backward), so even the direct constructor
    and MemoryPointer.view were a large share of an LSTM step. The view now
    comes from a template per layout (_memory.array_over) over an _Offset:
    3.7 -> 0.9 us on a 2-core Zen 5 host, 10-15 -> 3-3.6 us on an H100's,
    where the LSTM over 50 steps, fwd + bwd, went from 16.1-17.4 to 11.0-13.4
    ms and the GRU from 18.1-21.5 to 12.4-16.3 (one process, two rounds).
    Subclasses (mapped or managed memory) and empty arrays (a null pointer)
    keep Numba's constructor."""
    if numba.config.ENABLE_CUDASIM:
        return a[t]
    n = a.strides[0]
    if a.size == 0 or type(a) is not _DeviceNDArray:
        return type(a)(a.shape[1:], a.strides[1:], a.dtype, stream=a.stream,
                       gpu_data=a.gpu_data.view(t * n, (t + 1) * n))
    return array_over(_Offset(a.gpu_data, t * n), a.shape[1:], a.dtype, a.strides[1:], a.stream)


class _Offset:
    """The memory of a view `offset` bytes into `base` (a MemoryPointer or
    another _Offset), as kernel launches and cuBLAS read it: a pointer and a
    context. It stands in for base.view(offset), whose ctypes work was most
    of a step's cost; it keeps base, and so the allocation, alive."""
    __slots__ = ("base", "offset", "context", "device_pointer")

    def __init__(self, base, offset):
        self.base, self.offset, self.context = base, offset, base.context
        self.device_pointer = (base.device_pointer_value or 0) + offset

    @property
    def device_ctypes_pointer(self):
        return ctypes.c_size_t(self.device_pointer)

    @property
    def device_pointer_value(self):
        return self.device_pointer or None

    @property
    def owner(self):
        return self.base.owner

    def view(self, start, stop=None):
        return self.base.view(self.offset + start, None if stop is None else self.offset + stop)


def rows(a, start, stop):
    """a[start:stop] along the first axis of a C-contiguous device array, built
    directly as in `step`. Numba's slicing takes an empty array's zero strides
    for lengths: a (4, 0, 2) array's [1:] came out (1, 0, 2) (the recurrences
    slice their states, and a batch may be empty)."""
    if numba.config.ENABLE_CUDASIM:
        return a[start:stop]
    n = a.strides[0]
    return type(a)((stop - start,) + a.shape[1:], a.strides, a.dtype, stream=a.stream,
                   gpu_data=a.gpu_data.view(start * n, stop * n))


def view(a, shape):
    """a seen as `shape` (as many elements), no copy. A C-contiguous Numba device
    array's view is built directly, as in `step`: DeviceNDArray.reshape goes
    through Numba's general reshape of a dummy array, 3.0 us a call against
    0.46 us here (a 2-core Zen 5 host; 1.2 us through Numba's constructor),
    and the GPU paths of fastnn.functional reshape a few arrays a call.
    Anything else (the simulator's arrays, other layouts) takes its own
    reshape."""
    if type(a) is _DeviceNDArray and a.is_c_contiguous():
        return direct_view(a, shape)
    return a.reshape(shape)


def direct_view(a, shape):
    """`view` on a real GPU (tests/test_cuda_views.py checks it on the host)."""
    return array_over(a.gpu_data, tuple(shape), a.dtype, stream=a.stream)


def flat(a):
    """The C-contiguous device array a as 1-D, no copy."""
    return view(a, (a.size,))


def device_zeros(shape, dtype):
    out = device_empty(shape, dtype)
    fill(flat(out), 0)
    return out


@kernel
def _fill(a, value):
    i = cuda.grid(1)
    if i < a.size:
        a[i] = value


def fill(flat, value):
    if flat.size:
        _fill[blocks_for(flat.size), THREADS](flat, value)


@kernel
def _copy1(src, dst):
    i = cuda.grid(1)
    if i < dst.shape[0]:
        dst[i] = src[i]


@kernel
def _copy2(src, dst):
    i = cuda.grid(1)
    if i < dst.size:
        a, b = i // dst.shape[1], i % dst.shape[1]
        dst[a, b] = src[a, b]


@kernel
def _copy3(src, dst):
    i = cuda.grid(1)
    if i < dst.size:
        s1, s2 = dst.shape[1], dst.shape[2]
        dst[i // (s1 * s2), (i // s2) % s1, i % s2] = src[i // (s1 * s2), (i // s2) % s1, i % s2]


@kernel
def _copy4(src, dst):
    i = cuda.grid(1)
    if i < dst.size:
        s1, s2, s3 = dst.shape[1], dst.shape[2], dst.shape[3]
        a, b, c, d = i // (s1 * s2 * s3), (i // (s2 * s3)) % s1, (i // s3) % s2, i % s3
        dst[a, b, c, d] = src[a, b, c, d]


_COPY = {1: _copy1, 2: _copy2, 3: _copy3, 4: _copy4}


def copy_into(src, dst):
    """dst (C-contiguous) <- src (any strides), same shape."""
    if dst.size == 0:
        return
    if src.ndim in _COPY:
        _COPY[src.ndim][blocks_for(dst.size), THREADS](src, dst)
    else:                                   # higher ranks: one lower-rank copy per leading index
        for i in range(src.shape[0]):
            copy_into(src[i], dst[i])


def as_contiguous(a):
    """A C-contiguous device array with a's values (a itself when it already is one)."""
    d = as_device(a)
    if d.is_c_contiguous():
        return d
    out = device_empty(d.shape, d.dtype)
    copy_into(d, out)
    return out


def device_copy(a):
    d = as_device(a)
    out = device_empty(d.shape, d.dtype)
    copy_into(d, out)
    return out


def to_host(a):
    return as_device(a).copy_to_host()


@kernel
def _add(a, b, out):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = a[i] + b[i]


def add(a, b, out):
    """out = a + b for same-shaped C-contiguous device arrays (out may be a or b)."""
    n = out.size
    if n:
        _add[blocks_for(n), THREADS](flat(a), flat(b), flat(out))


@kernel
def _scale(a, factor, out):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = a[i] * factor


@kernel
def _scale_lanes(a, s, middle, inner, out):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = a[i] * s[(i // (middle * inner)) * inner + i % inner]


def scale(a, s, out):
    """out = a * s for C-contiguous device arrays a, out (O, C, I): s a number,
    or a device array (O, I) spread along C (a loss's gradient per row)."""
    n = out.size
    if not n:
        return
    if isinstance(s, (int, float)):
        _scale[blocks_for(n), THREADS](flat(a), float(s), flat(out))
    else:
        _scale_lanes[blocks_for(n), THREADS](flat(a), flat(s), a.shape[1], a.shape[2], flat(out))
