"""kernels/cuda/_launch.py: launches through cuda.core give what the dispatcher gives,
for every argument kind it flattens, and fall back to the dispatcher for the rest;
compiled kernels are found in the disk cache by the next process."""
import os
import subprocess
import sys

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


# Every variant the kernel factories build, with a hash of what its closure
# captured: numba-cuda's disk-cache key for it, beside the argument types.
_CLOSURE_KEYS = r"""
import hashlib
import fastnn  # noqa: F401
import numpy as np
from numba.cuda.serialize import dumps
from fastnn.kernels.cuda import batchnorm, conv, gemm, pool, softmax

kernels = []
for wide in (False, True):
    kernels += batchnorm._pointwise(wide) + conv._per_element(wide)
for dtype in (np.dtype(np.float32), np.dtype(np.float64)):
    kernels += [gemm._tiled_kernel(dtype, R, ta, tb, wide) for R in (2, 4)
                for ta in (False, True) for tb in (False, True) for wide in (False, True)]
    for tile in ((32, 8, pool.ROWS_PER_THREAD), (8, 4, pool.ROWS_PER_THREAD)):
        for window in ((3, 3, 2, 2), (3, 3, 1, 1), (2, 2, 3, 3)):
            for avg in (False, True):
                kernels += [pool._tiled_forward(avg, dtype, *window, tile),
                            pool._tiled_backward(avg, dtype, *window, tile)]
        kernels += [pool._tiled_2x2(dtype, tile, backward) for backward in (False, True)]
    for L in (10, 1000, 100000):
        for which in range(len(softmax.LANE_ELEMENTS)):
            kernels.append(softmax._row_kernel(which, dtype, L)[0])
    kernels += softmax._lanes(dtype)
for k in kernels:
    f = k.py_func
    cells = tuple(c.cell_contents for c in f.__closure__ or ())
    print(f.__qualname__, hashlib.sha256(dumps(cells)).hexdigest())
"""


def _run(script, **env):
    done = subprocess.run([sys.executable, "-c", script], env=dict(os.environ, **env),
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_closure_kernels_have_the_same_cache_key_in_every_process():
    """A captured value that pickled differently from one process to the next (a
    set of strings, an id) would miss the cache in every new process and add an
    entry to its index each time."""
    first = _run(_CLOSURE_KEYS, PYTHONHASHSEED="1")
    assert len(first) > 100
    assert _run(_CLOSURE_KEYS, PYTHONHASHSEED="2") == first


# A few layers on the GPU; prints a hash of the result, how many kernels this
# process loaded from the disk cache and how many it compiled, and how many
# argument signatures launch through the dispatcher instead of cuda.core.
_LAYERS = r"""
import gc
import hashlib
import fastnn.functional as F
import numpy as np
from numba import cuda
from numba.cuda.dispatcher import CUDADispatcher
from fastnn.kernels.cuda._launch import FastKernel

rng = np.random.default_rng(0)
x = cuda.to_device(rng.standard_normal((4, 3, 9, 9)).astype(np.float32))
w = cuda.to_device(rng.standard_normal((5, 3, 3, 3)).astype(np.float32))
y = F.max_pool2d(F.relu(F.conv2d(x, w, None, 1, 1)), 2)
p = F.softmax(y.reshape(4, -1)).copy_to_host()
kernels = [d for d in gc.get_objects()
           if isinstance(d, CUDADispatcher) and not d.targetoptions.get("device")]
print(hashlib.sha256(p.tobytes()).hexdigest())
print(sum(sum(d.stats.cache_hits.values()) for d in kernels))
print(sum(sum(d.stats.cache_misses.values()) for d in kernels))
launchers = [k for k in gc.get_objects() if isinstance(k, FastKernel)]
print(sum(c is None for k in launchers for c in k._compiled.values()))
"""


@pytest.mark.skipif(not REAL_GPU, reason="the simulator compiles nothing")
def test_the_next_process_loads_the_kernels_from_the_disk_cache(tmp_path):
    result, hits, misses, slow = _run(_LAYERS, NUMBA_CACHE_DIR=str(tmp_path))
    assert (int(hits), int(misses) > 0, slow) == (0, True, "0")
    # all loaded, none compiled, and a loaded kernel launches through cuda.core too
    assert _run(_LAYERS, NUMBA_CACHE_DIR=str(tmp_path)) == [result, misses, "0", "0"]
