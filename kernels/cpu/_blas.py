"""Map OpenBLAS's packing buffers before the first real GEMM.

In a fresh process, float32 GEMMs whose packed panels are small run at about
half speed until a GEMM with larger panels has run once. Fresh processes on a
Zen 1 (OpenBLAS 0.3.31, Haswell kernels, two threads), GFLOP/s before -> after:

    64x512 by 512x2048 (an LSTM step)          35 -> 67
    64x2048 by 2048x512 (its backward)         42 -> 67
    64x64 by 64x2048 (a Winograd product)      28 -> 59
    64x1024 by 1024x1024                       47 -> 68

The cause, as far as it can be seen without hardware counters: OpenBLAS packs
panels into buffers that each of its threads maps once and keeps, and pages
of them that small GEMMs never write stay unmapped. The slow GEMMs take no page
faults, mlockall() (which maps every page) gives the fast figures from the
start, and only a GEMM that packs panels of 256 KB or more ends the slow
phase. That fits the kernels' prefetches reaching into those pages: a
prefetch into an unmapped page is dropped after a full page walk, on every
pass. float64 GEMMs showed no gap. The GEMM below packs full panels in every
OpenBLAS thread (~0.6 ms at import), and the pages stay mapped.
"""
import numpy as np


def map_packing_buffers():
    a, b = np.ones((256, 256), np.float32), np.ones((256, 64), np.float32)
    np.matmul(a, b)
