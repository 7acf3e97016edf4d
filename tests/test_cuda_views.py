"""kernels/cuda/_device.py's views: built directly instead of through Numba's
reshape (which costs three times as much), they must describe the same array.
Checked on the host, no GPU needed: a device array over a stand-in buffer has
a shape, strides and a buffer, and no memory. On a GPU and on the simulator
the views are used by every test of tests/test_cuda.py."""
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
