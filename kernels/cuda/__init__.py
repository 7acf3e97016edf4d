"""fastnn.kernels.cuda: numba.cuda kernels, mirroring fastnn.kernels.cpu name
for name, so that fastnn.functional runs the same code on either device.

They take preallocated device outputs and check nothing. This package is
imported on first GPU use only; importing fastnn needs no GPU or toolkit.
Tested on a real GPU when one is present and on Numba's simulator
(NUMBA_ENABLE_CUDASIM=1) otherwise.
"""
from ._device import as_contiguous, device_copy, device_empty, device_zeros, mean_of, to_host
