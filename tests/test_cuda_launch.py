"""kernels/cuda/_launch.py: launches through cuda.core give what the dispatcher gives,
for every argument kind it flattens, and fall back to the dispatcher for the rest."""
import numba
import numpy as np
import pytest

cuda = pytest.importorskip("numba.cuda")
pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not cuda.is_available(),
                                 reason="no CUDA GPU (set NUMBA_ENABLE_CUDASIM=1 for the simulator)")]
REAL_GPU = not numba.config.ENABLE_CUDASIM


def _axpb_kernel():
    from fastnn.kernels.cuda._launch import kernel

    @kernel
    def axpb(x, a, b, n, flip, out):
        """out[i, j] = a * x[i, j] + b + n, negated where flip; for any layout of x."""
        i, j = cuda.grid(2)
        if i < out.shape[0] and j < out.shape[1]:
            v = a * x[i, j] + b + n
            out[i, j] = -v if flip else v
    return axpb


def _expected(x, a, b, n, flip):
    v = a * x.astype(np.float64) + b + n
    return (-v if flip else v).astype(np.float32)


@pytest.mark.parametrize("layout", ["C", "F", "A"])
def test_fast_launch_matches_numpy_for_every_argument_kind(rng, layout):
    axpb = _axpb_kernel()
    base = rng.standard_normal((7, 10)).astype(np.float32)
    x = {"C": base, "F": np.asfortranarray(base), "A": base[:, ::2]}[layout]
    dx = cuda.to_device(x) if layout != "A" else cuda.to_device(base)[:, ::2]
    # Several launches of one signature, each with new scalar values and a fresh
    # output poisoned with NaN: the second and later go through cuda.core.
    for a, b, n, flip in [(np.float32(1.5), 0.25, 3, False), (np.float32(-2.0), -1.0, -7, True),
                          (np.float32(0.5), 4.0, 0, True)]:
        out = cuda.to_device(np.full(x.shape, np.nan, np.float32))
        axpb[(1, 2), (8, 8)](dx, a, b, n, flip, out)
        np.testing.assert_allclose(out.copy_to_host(), _expected(x, a, b, n, flip), rtol=1e-6)
    if REAL_GPU:
        (compiled,) = axpb._compiled.values()
        assert compiled is not None, "the launches did not go through cuda.core"


@pytest.mark.skipif(not REAL_GPU, reason="the simulator launches through the dispatcher only")
def test_arguments_it_does_not_flatten_take_the_dispatcher(rng):
    axpb = _axpb_kernel()
    x = rng.standard_normal((3, 4)).astype(np.float32)
    for _ in range(2):      # a host array argument: numba-cuda copies it over and back
        out = cuda.to_device(np.full(x.shape, np.nan, np.float32))
        axpb[1, (8, 8)](x, np.float32(2), 1.0, 1, False, out)
        np.testing.assert_allclose(out.copy_to_host(), _expected(x, 2, 1.0, 1, False), rtol=1e-6)
    assert list(axpb._compiled.values()) == [None]


@pytest.mark.skipif(not REAL_GPU, reason="the simulator launches through the dispatcher only")
def test_kernel_keeps_the_dispatcher_interface(rng):
    axpb = _axpb_kernel()
    x = cuda.to_device(rng.standard_normal((2, 2)).astype(np.float32))
    axpb[1, (2, 2)](x, np.float32(1), 0.0, 0, False, cuda.device_array((2, 2), np.float32))
    assert axpb.__name__ == "axpb" and "negated" in axpb.__doc__
    assert min(axpb.get_regs_per_thread().values()) > 0
