"""Max and average pooling, NCHW, as torch.nn.functional's (ceil_mode=False).

Each output sees a kh x kw window of the padded input, stepped by (sh, sw):

    max:  y[n, c, i, j] = max over the window of xp, xp padded with -inf
    avg:  y[n, c, i, j] = (sum over the window of xp, xp padded with 0) / (kh*kw)

(the avg divisor counts the padding: count_include_pad=True, torch's
default). Max's gradient goes to the first maximum of each window in
row-major order (np.argmax's rule; a NaN counts as the maximum); avg's is
spread evenly over the window. Windows are built with sliding_window_view.

Adaptive average pooling (torch's adaptive_avg_pool2d) fixes the output size
(OH, OW) instead: output (i, j) is the mean of rows floor(i*H/OH) ..
ceil((i+1)*H/OH) - 1 and of the columns likewise, so windows differ in size
by at most one and neighbours may share a row or column.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .. import _checks


def _windows(xp, g):
    """(N, C, OH, OW, kh*kw) view of the windows of the padded input."""
    w = sliding_window_view(xp, (g.kh, g.kw), axis=(2, 3))[:, :, ::g.sh, ::g.sw][:, :, :g.OH, :g.OW]
    return w.reshape(g.N, g.C, g.OH, g.OW, g.kh * g.kw)


def _pad(x, g, value):
    return np.pad(x, ((0, 0), (0, 0), (g.ph, g.ph), (g.pw, g.pw)), constant_values=value)


def _scatter_windows(dwin, g, dtype):
    """Sum per-window gradients dwin (N, C, OH, OW, kh, kw) back onto x's grid."""
    dxp = np.zeros((g.N, g.C, g.H + 2 * g.ph, g.W + 2 * g.pw), dtype)
    for r in range(g.kh):
        for s in range(g.kw):
            dxp[:, :, r:r + g.sh * (g.OH - 1) + 1:g.sh, s:s + g.sw * (g.OW - 1) + 1:g.sw] += dwin[..., r, s]
    return dxp[:, :, g.ph:g.ph + g.H, g.pw:g.pw + g.W].copy()


def _argmax(x, g):
    """Index in its window of each window's first maximum. A -inf input still
    beats the -inf padding (as in torch), so it is ranked as -max_float."""
    key = np.where(x == -np.inf, -np.finfo(np.float64).max, x.astype(np.float64))
    return _windows(_pad(key, g, -np.inf), g).argmax(axis=-1)


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """x (N, C, H, W) -> y (N, C, OH, OW)."""
    _, _, g = _checks.pool2d_args("max_pool2d", x, kernel_size, stride, padding, allow_device=False)
    win = _windows(_pad(x, g, -np.inf), g)
    return np.take_along_axis(win, _argmax(x, g)[..., None], axis=-1)[..., 0]


def max_pool2d_backward(dy, x, kernel_size, stride=None, padding=0):
    """dy (N, C, OH, OW) -> dx (N, C, H, W)."""
    dtype, _, g = _checks.pool2d_backward_args("max_pool2d_backward", dy, x, kernel_size, stride,
                                               padding, allow_device=False)
    onehot = np.arange(g.kh * g.kw) == _argmax(x, g)[..., None]
    dwin = (onehot * dy[..., None]).reshape(g.N, g.C, g.OH, g.OW, g.kh, g.kw)
    return _scatter_windows(dwin.astype(dtype), g, dtype)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """x (N, C, H, W) -> y (N, C, OH, OW)."""
    _, _, g = _checks.pool2d_args("avg_pool2d", x, kernel_size, stride, padding, allow_device=False)
    return _windows(_pad(x, g, 0), g).sum(axis=-1) / x.dtype.type(g.kh * g.kw)


def avg_pool2d_backward(dy, x, kernel_size, stride=None, padding=0):
    """dy (N, C, OH, OW) -> dx (N, C, H, W)."""
    dtype, _, g = _checks.pool2d_backward_args("avg_pool2d_backward", dy, x, kernel_size, stride,
                                               padding, allow_device=False)
    share = dy / dtype.type(g.kh * g.kw)
    dwin = np.broadcast_to(share[..., None, None], (g.N, g.C, g.OH, g.OW, g.kh, g.kw))
    return _scatter_windows(dwin, g, dtype)


def _adaptive_windows(n_in, n_out):
    """[start, end) of each of n_out windows along an axis of n_in elements."""
    return [(i * n_in // n_out, -(-(i + 1) * n_in // n_out)) for i in range(n_out)]


def adaptive_avg_pool2d(x, output_size):
    """x (N, C, H, W) -> y (N, C, OH, OW)."""
    _, _, g = _checks.adaptive_pool2d_args("adaptive_avg_pool2d", x, output_size, allow_device=False)
    y = np.empty((g.N, g.C, g.OH, g.OW), x.dtype)
    for i, (h0, h1) in enumerate(_adaptive_windows(g.H, g.OH)):
        for j, (w0, w1) in enumerate(_adaptive_windows(g.W, g.OW)):
            y[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return y


def adaptive_avg_pool2d_backward(dy, x, output_size):
    """dy (N, C, OH, OW) -> dx (N, C, H, W)."""
    dtype, _, g = _checks.adaptive_pool2d_backward_args("adaptive_avg_pool2d_backward", dy, x, output_size,
                                                        allow_device=False)
    dx = np.zeros((g.N, g.C, g.H, g.W), dtype)
    for i, (h0, h1) in enumerate(_adaptive_windows(g.H, g.OH)):
        for j, (w0, w1) in enumerate(_adaptive_windows(g.W, g.OW)):
            dx[:, :, h0:h1, w0:w1] += (dy[:, :, i, j] / dtype.type((h1 - h0) * (w1 - w0)))[:, :, None, None]
    return dx
