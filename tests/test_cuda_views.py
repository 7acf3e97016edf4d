"""kernels/cuda's device arrays built without Numba's constructor: the views
of _device.py (instead of Numba's reshape, which costs three times as much)
and _memory.array_over (a template per layout) must describe the same array
as the constructor would. Checked on the host, no GPU needed: a device array
over a stand-in buffer has a shape, strides and a buffer, and no memory. On a
GPU and on the simulator the views are used by every test of
tests/test_cuda.py."""
import numba
import numpy as np
import pytest

devicearray = pytest.importorskip("numba.cuda.cudadrv.devicearray")

from fastnn.kernels.cuda._device import direct_view, view  # noqa: E402


class Buffer:
    """Stands in for device memory: a view keeps it and never reads it."""


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.bool_])
@pytest.mark.parametrize("shape, new", [
    ((2, 3, 4, 5), (120,)), ((2, 3, 4, 5), (6, 20)), ((2, 3, 4, 5), (2, 3, 20)),
    ((7,), (7, 1)), ((7, 1), (1, 7)), ((120,), (2, 3, 4, 5)),
])
def test_direct_views_are_numba_reshapes(shape, new, dtype):
    a = devicearray.DeviceNDArray(shape, np.empty(shape, dtype).strides, dtype, gpu_data=Buffer())
    want, got = a.reshape(*new), direct_view(a, new)
    assert type(got) is type(a)
    assert (got.shape, got.strides, got.dtype, got.size) == (want.shape, want.strides, want.dtype, want.size)
    assert got.gpu_data is a.gpu_data and got.stream == a.stream
    assert got.is_c_contiguous()


def test_other_layouts_take_numba_reshape():
    """A view of a non-contiguous array would read the wrong elements: it goes to
    Numba's reshape, which refuses what needs a copy."""
    a = devicearray.DeviceNDArray((4, 3), (48, 8), np.float32, gpu_data=Buffer())    # every other column
    with pytest.raises(NotImplementedError):
        view(a, (12,))


def assert_same_array(got, want):
    """got has every attribute of want (Numba's constructor's), equal, but its memory."""
    assert type(got) is type(want) and set(vars(got)) == set(vars(want))
    for name in vars(want):
        if name not in ("gpu_data", "_dummy"):
            assert getattr(got, name) == getattr(want, name), name
    assert (got._dummy.shape, got._dummy.strides) == (want._dummy.shape, want._dummy.strides)
    assert got.is_c_contiguous() == want.is_c_contiguous()
    assert got.is_f_contiguous() == want.is_f_contiguous()


@pytest.mark.skipif(numba.config.ENABLE_CUDASIM, reason="the simulator's arrays are NumPy arrays")
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.bool_, np.int64])
@pytest.mark.parametrize("shape, strides", [
    ((7,), None), ((3, 5), None), ((2, 3, 4, 5), None), ((1, 1), None),
    ((4, 3), "every other column"), ((3, 4), "transposed"),
])
def test_arrays_over_memory_are_numba_arrays(shape, strides, dtype):
    from fastnn.kernels.cuda._memory import array_over
    itemsize = np.dtype(dtype).itemsize
    strides = {None: None, "every other column": (6 * itemsize, 2 * itemsize),
               "transposed": (itemsize, 3 * itemsize)}[strides]
    memory = Buffer()
    for _ in range(2):          # the second from the template the first made
        got = array_over(memory, shape, dtype, strides, stream=5)
        want = devicearray.DeviceNDArray(shape, strides or np.empty(shape, dtype).strides, dtype, stream=5,
                                         gpu_data=memory)
        assert_same_array(got, want)
        assert got.gpu_data is memory and got.stream == 5


class Memory:
    """Stands in for a MemoryPointer at address 4096."""
    context = None
    device_pointer_value = 4096
    owner = "allocation"

    def view(self, start, stop=None):
        return ("view", start, stop)


@pytest.mark.skipif(numba.config.ENABLE_CUDASIM, reason="the simulator's step is NumPy's a[t]")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_steps_are_numba_views(dtype):
    """_device.step builds a[t] from a template and an offset pointer: it must
    have every attribute of the array Numba's constructor builds, and address
    a[t]'s memory, a step of a step too."""
    from fastnn.kernels.cuda._device import step
    a = devicearray.DeviceNDArray((5, 3, 4), np.empty((5, 3, 4), dtype).strides, dtype, gpu_data=Memory())
    got = step(a, 2)
    want = devicearray.DeviceNDArray((3, 4), a.strides[1:], dtype, gpu_data=Memory())
    assert_same_array(got, want)
    assert got.stream == a.stream
    row = 12 * np.dtype(dtype).itemsize
    assert got.device_ctypes_pointer.value == 4096 + 2 * row
    assert step(got, 1).device_ctypes_pointer.value == 4096 + 2 * row + row // 3
    assert got.gpu_data.view(8, 16) == ("view", 2 * row + 8, 2 * row + 16)
    assert got.gpu_data.owner == "allocation"
