"""fastnn: compiled-kernel neural-network layers for NumPy.

    import fastnn.functional as F      # one function per op, CPU or CUDA by array type
    import fastnn.reference as ref     # the same functions in plain NumPy (the oracle)
    from fastnn import nn, optim       # PyTorch-named modules and optimizers

The kernels themselves are in fastnn.kernels.cpu and fastnn.kernels.cuda.
Nothing is compiled at import: each kernel compiles on its first call and is
cached on disk (Numba's cache=True), so later processes load it instead.
"""
import os as _os

# Kernels alternate Numba parallel loops (OpenMP threads) with BLAS calls
# (OpenBLAS's threads), and each pool's idle threads spin by default, taking
# the two cores from the other: conv2d on workload A took 640 ms instead of
# 62 ms. Sleeping idle threads cost ~5 us a wake-up instead. Both variables
# are read when their library loads, so they only take effect when fastnn is
# imported before NumPy (as `python -m fastnn` does); a user's own setting
# always stands. See README, "Threads".
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numba as _numba  # noqa: E402

# Numba's fallback threading layer, workqueue, aborts the process when two
# Python threads call parallel kernels at once. "threadsafe" makes Numba load
# OpenMP or TBB and fail loudly instead of falling back. A layer the user
# chose explicitly is left alone.
if "NUMBA_THREADING_LAYER" not in _os.environ:
    _numba.config.THREADING_LAYER = "threadsafe"

from . import functional, nn, optim, reference  # noqa: E402
from .nn.init import manual_seed  # noqa: E402

__version__ = "0.1.0"
__all__ = ["functional", "reference", "nn", "optim", "manual_seed", "__version__"]
