"""fastnn: compiled-kernel neural-network layers for NumPy.

    import fastnn.functional as F      # one function per op, CPU or CUDA by array type
    import fastnn.reference as ref     # the same functions in plain NumPy (the oracle)
    from fastnn import nn, optim       # PyTorch-named modules and optimizers

The kernels themselves are in fastnn.kernels.cpu and fastnn.kernels.cuda.
Nothing is compiled at import: each kernel compiles on its first call and is
cached on disk (Numba's cache=True), so later processes load it instead.
"""
import os as _os

import numba as _numba

# Numba's fallback threading layer, workqueue, aborts the process when two
# Python threads call parallel kernels at once. "threadsafe" makes Numba load
# OpenMP or TBB and fail loudly instead of falling back. A layer the user
# chose explicitly is left alone.
if "NUMBA_THREADING_LAYER" not in _os.environ:
    _numba.config.THREADING_LAYER = "threadsafe"

from . import functional, reference  # noqa: E402

__version__ = "0.1.0"
__all__ = ["functional", "reference", "__version__"]
