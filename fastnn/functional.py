"""fastnn.functional: one function per op, as in ../shared/API.md.

Each function checks its arguments (fastnn._checks, shared with
fastnn.reference), allocates the outputs, and calls the kernels of the
device the inputs live on: fastnn.kernels.cpu for NumPy arrays,
fastnn.kernels.cuda for CUDA arrays. The kernel modules mirror each other
name for name, so every function here is written once for both.
"""
import numpy as np

from . import _alloc
from . import _checks as chk
from .kernels import cpu as _cpu

__all__ = [
    "conv2d", "conv2d_backward", "max_pool2d", "max_pool2d_backward", "avg_pool2d",
    "avg_pool2d_backward",
]


# ----------------------------------------------------------------- plumbing

def _kernels(on_device):
    if on_device:
        from .kernels import cuda
        return cuda
    return _cpu


def _contig(a, on_device):
    """C-contiguous view or copy (non-contiguous inputs give the same results)."""
    if a is None:
        return None
    if on_device:
        from .kernels.cuda import as_contiguous
        return as_contiguous(a)
    return np.ascontiguousarray(a)


def _empty(shape, dtype, on_device):
    if on_device:
        from .kernels.cuda import device_empty
        return device_empty(shape, dtype)
    return _alloc.empty(shape, dtype)


# --------------------------------------------------------- convolution / pool

def conv2d(x, weight, bias=None, stride=1, padding=0):
    """2-D convolution (cross-correlation), as torch.nn.functional.conv2d.

    x (N, C, H, W), weight (K, C, R, S), bias (K,) or None -> y (N, K, OH, OW),
    OH = (H + 2*ph - R) // sh + 1, OW likewise.
    """
    dtype, dev, g = chk.conv2d_args("conv2d", x, weight, bias, stride, padding)
    y = _empty((g.N, g.K, g.OH, g.OW), dtype, dev)
    _kernels(dev).conv2d_forward(_contig(x, dev), _contig(weight, dev), _contig(bias, dev),
                                 g.sh, g.sw, g.ph, g.pw, y)
    return y


def conv2d_backward(dy, x, weight, stride=1, padding=0):
    """dy (N, K, OH, OW) -> (dx (N, C, H, W), dweight (K, C, R, S), dbias (K,))."""
    dtype, dev, g = chk.conv2d_backward_args("conv2d_backward", dy, x, weight, stride, padding)
    dx = _empty((g.N, g.C, g.H, g.W), dtype, dev)
    dw = _empty((g.K, g.C, g.R, g.S), dtype, dev)
    db = _empty((g.K,), dtype, dev)
    _kernels(dev).conv2d_backward(_contig(dy, dev), _contig(x, dev), _contig(weight, dev),
                                  g.sh, g.sw, g.ph, g.pw, dx, dw, db)
    return dx, dw, db


def _is_2x2(g):
    return (g.kh, g.kw, g.sh, g.sw, g.ph, g.pw) == (2, 2, 2, 2, 0, 0)


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """x (N, C, H, W) -> y (N, C, OH, OW); stride None means kernel_size, padding is -inf."""
    dtype, dev, g = chk.pool2d_args("max_pool2d", x, kernel_size, stride, padding)
    y, k, x = _empty((g.N, g.C, g.OH, g.OW), dtype, dev), _kernels(dev), _contig(x, dev)
    if _is_2x2(g):
        k.max_pool2d_2x2_forward(x, y)
    else:
        k.max_pool2d_forward(x, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, y)
    return y


def max_pool2d_backward(dy, x, kernel_size, stride=None, padding=0):
    """dy (N, C, OH, OW) -> dx (N, C, H, W); each window's gradient goes to its first maximum."""
    dtype, dev, g = chk.pool2d_backward_args("max_pool2d_backward", dy, x, kernel_size, stride, padding)
    dx, k = _empty((g.N, g.C, g.H, g.W), dtype, dev), _kernels(dev)
    dy, x = _contig(dy, dev), _contig(x, dev)
    if _is_2x2(g):
        k.max_pool2d_2x2_backward(dy, x, dx)
    else:
        k.max_pool2d_backward(dy, x, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, dx)
    return dx


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """x (N, C, H, W) -> y (N, C, OH, OW); padding counts in the divisor (count_include_pad)."""
    dtype, dev, g = chk.pool2d_args("avg_pool2d", x, kernel_size, stride, padding)
    y = _empty((g.N, g.C, g.OH, g.OW), dtype, dev)
    _kernels(dev).avg_pool2d_forward(_contig(x, dev), g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, y)
    return y


def avg_pool2d_backward(dy, x, kernel_size, stride=None, padding=0):
    """dy (N, C, OH, OW) -> dx (N, C, H, W)."""
    dtype, dev, g = chk.pool2d_backward_args("avg_pool2d_backward", dy, x, kernel_size, stride, padding)
    dx = _empty((g.N, g.C, g.H, g.W), dtype, dev)
    _kernels(dev).avg_pool2d_backward(_contig(dy, dev), g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, dx)
    return dx
