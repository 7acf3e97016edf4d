"""Kernel launches at cuda.core's cost instead of numba-cuda's dispatcher's.

The dispatcher types every argument and rebuilds the launch parameters in
Python on every call. Measured on an H100 host, that took 35 us to launch a
relu over two device arrays, and 150 us for softmax's (array, float32,
array). cuda.core launched the same compiled kernel in 6 us. Every fastnn
function pays the launch cost for each kernel it runs: batch norm runs four,
an LSTM step more. So the dispatcher was most of the time of any GPU call on
a small or medium array.

`kernel` replaces `cuda.jit` for this package's kernels (device functions
keep `cuda.jit(device=True)`). The first launch with a new argument
signature goes through the dispatcher, which compiles the kernel, or loads
it from the disk cache (below). The compiled kernel is then remembered
under a key that is cheap to compute: for each argument, its dtype, ndim
and layout if it is an array, or its Python type if it is a scalar. Later
launches with that key flatten the arguments the way numba-cuda's
`_Kernel._prepare_args` does and call cuda.core's `launch` directly. For an
array, that is `(meminfo, parent, nitems, itemsize, data, *shape,
*strides)`; for a scalar, a ctypes value of its Numba type.

The dispatcher is used on every call in these cases:
- arguments this module does not flatten: anything but Numba device arrays
  and int, float or bool scalars;
- debug or cooperative kernels;
- launch configurations with a stream or dynamic shared memory;
- the simulator, where `kernel` is plain `cuda.jit`.
It is also used when numba-cuda's internals differ from what this module
expects: the first launch then finds no compiled kernel to remember.

Compiled kernels are cached on disk, as the CPU kernels are (`cache=True`).
Compiling one to PTX (Numba's typing, then NVVM) takes 0.2-0.3 s on a
2-core host, before the link to a cubin, and without the cache every
process pays that for each kernel it runs. numba-cuda keys an entry on the
argument types, the device's compute capability, the function's bytecode
and, for the kernels built by a factory (a closure, as in pool.py or
gemm.py), a hash of the pickled values it captured. So each variant gets
its own entry, and a variant built again in a new process finds it: the
captured values pickle the same way in every process
(tests/test_cuda_launch.py checks that).
"""
import ctypes
import functools

import numba
from numba import cuda

SIMULATOR = numba.config.ENABLE_CUDASIM

if not SIMULATOR:
    from cuda.core import LaunchConfig, launch as _core_launch
    from numba.core import types as _nb_types
    from numba.cuda.cudadrv.devicearray import DeviceNDArray
    from numba.cuda.cudadrv.driver import _to_core_stream


def kernel(fn):
    """`cuda.jit` for a kernel, cached on disk, with launches through cuda.core
    on a real GPU."""
    dispatcher = cuda.jit(fn, cache=True)
    return dispatcher if SIMULATOR else FastKernel(dispatcher)


def _array_key(a):
    # Numba types an array C or F when it is contiguous that way and not
    # broadcast (a zero stride), A otherwise; the compiled code differs.
    if a.size and 0 in a.strides:
        layout = "A"
    elif a.is_c_contiguous():
        layout = "C"
    elif a.is_f_contiguous():
        layout = "F"
    else:
        layout = "A"
    return (a.dtype, a.ndim, layout, id(a.gpu_data.context))   # the context: one kernel per GPU


def _key(args):
    return tuple(_array_key(a) if type(a) is DeviceNDArray else type(a) for a in args)


def _flatten_array(a, out):
    out += (0, 0, a.size, a.dtype.itemsize, a.device_ctypes_pointer.value or 0)
    out += a.shape
    out += a.strides


def _scalar_packer(nbtype):
    """How numba-cuda passes a scalar of this Numba type, or None for types not handled here."""
    if isinstance(nbtype, _nb_types.Integer):
        return getattr(ctypes, f"c_{nbtype}")
    if nbtype == _nb_types.float64:
        return ctypes.c_double
    if nbtype == _nb_types.float32:
        return ctypes.c_float
    if nbtype == _nb_types.boolean:
        return bool
    return None


class _Compiled:
    """A compiled kernel and how to flatten the arguments of its signature."""

    __slots__ = ("kernel", "packers")

    def __init__(self, kernel, packers):
        self.kernel, self.packers = kernel, packers


class FastKernel:
    """A numba.cuda kernel: kernel[grid, block](*args) launches it, and other
    attributes are the dispatcher's (get_regs_per_thread, overloads, ...)."""

    def __init__(self, dispatcher):
        self.dispatcher = dispatcher
        self._compiled = {}      # _key(args) -> _Compiled, or None: use the dispatcher
        functools.update_wrapper(self, dispatcher.py_func)

    def __getattr__(self, name):
        return getattr(self.dispatcher, name)

    def __getitem__(self, config):
        if len(config) != 2:     # a stream or dynamic shared memory: numba-cuda's launch
            return self.dispatcher[config]
        return functools.partial(self._launch, config[0], config[1])

    def _launch(self, grid, block, *args):
        key = _key(args)
        compiled = self._compiled.get(key, False)
        if compiled is False:    # first launch with this signature: compile it there
            self.dispatcher[grid, block](*args)
            self._compiled[key] = self._remember(args)
            return
        if compiled is None:
            self.dispatcher[grid, block](*args)
            return
        params = []
        for pack, a in zip(compiled.packers, args):
            if pack is None:
                _flatten_array(a, params)
            else:
                params.append(pack(a))
        _core_launch(_default_stream(), _config(grid, block), compiled.kernel, *params)

    def _remember(self, args):
        """The compiled kernel for args' signature and their packers, or None."""
        try:
            return self._compiled_for(args)
        except AttributeError:   # numba-cuda's internals are not what this module knows
            return None

    def _compiled_for(self, args):
        d = self.dispatcher
        argtypes = tuple(d.typeof_pyval(a) for a in args)
        overload = d.overloads.get(argtypes)
        if overload is None or overload.debug or overload.cooperative or overload.extensions:
            return None
        packers = []
        for a, t in zip(args, argtypes):
            if type(a) is DeviceNDArray and isinstance(t, _nb_types.Array):
                packers.append(None)
            elif type(a) in (int, float, bool) or hasattr(a, "dtype"):
                pack = _scalar_packer(t)
                if pack is None:
                    return None
                packers.append(pack)
            else:
                return None
        return _Compiled(overload._codelibrary.get_cufunc().kernel, packers)


@functools.cache
def _config(grid, block):
    return LaunchConfig(grid=grid, block=block)


@functools.cache
def _default_stream():
    return _to_core_stream(0)
