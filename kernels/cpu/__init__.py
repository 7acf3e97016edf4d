"""fastnn.kernels.cpu: the Numba kernels for the CPU, one family per file.

They take preallocated, C-contiguous outputs and check nothing; use
fastnn.functional for validated calls. Each compiles on first use and is
cached on disk (cache=True).
"""
from .conv import conv2d_backward, conv2d_forward, col2im, im2col
from .pool import (avg_pool2d_backward, avg_pool2d_forward, max_pool2d_2x2_backward,
                   max_pool2d_2x2_forward, max_pool2d_backward, max_pool2d_forward)
