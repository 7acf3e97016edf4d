"""2-D convolution (cross-correlation, as torch.nn.functional.conv2d), NCHW.

    y[n, k, i, j] = b[k] + sum_{c, r, s} w[k, c, r, s] * xp[n, c, i*sh + r, j*sw + s]

where xp is x zero-padded by (ph, pw). Written as one einsum per kernel tap
(r, s): each tap is a strided view of xp, which keeps the formula visible.
The backward is the same sum read the other way:

    dw[k, c, r, s] = sum_{n, i, j} dy[n, k, i, j] * xp[n, c, i*sh + r, j*sw + s]
    dxp[n, c, i*sh + r, j*sw + s] += sum_k w[k, c, r, s] * dy[n, k, i, j]
    db[k] = sum_{n, i, j} dy[n, k, i, j]
"""
import numpy as np

from .. import _checks


def _tap(xp, g, r, s):
    """The (N, C, OH, OW) view of padded input that kernel tap (r, s) sees."""
    return xp[:, :, r:r + g.sh * (g.OH - 1) + 1:g.sh, s:s + g.sw * (g.OW - 1) + 1:g.sw]


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """x (N, C, H, W), weight (K, C, R, S), bias (K,) -> y (N, K, OH, OW)."""
    dtype, _, g = _checks.conv2d_args("conv2d", x, weight, bias, stride, padding, allow_device=False)
    xp = np.pad(x, ((0, 0), (0, 0), (g.ph, g.ph), (g.pw, g.pw)))
    y = np.zeros((g.N, g.K, g.OH, g.OW), dtype)
    for r in range(g.R):
        for s in range(g.S):
            y += np.einsum("nchw,kc->nkhw", _tap(xp, g, r, s), weight[:, :, r, s])
    if bias is not None:
        y += bias[None, :, None, None]
    return y


def conv2d_backward(dy, x, weight, stride=1, padding=0):
    """dy (N, K, OH, OW) -> dx (N, C, H, W), dweight (K, C, R, S), dbias (K,)."""
    dtype, _, g = _checks.conv2d_backward_args("conv2d_backward", dy, x, weight, stride, padding,
                                               allow_device=False)
    xp = np.pad(x, ((0, 0), (0, 0), (g.ph, g.ph), (g.pw, g.pw)))
    dxp = np.zeros_like(xp)
    dw = np.zeros(weight.shape, dtype)
    for r in range(g.R):
        for s in range(g.S):
            dw[:, :, r, s] = np.einsum("nkhw,nchw->kc", dy, _tap(xp, g, r, s))
            _tap(dxp, g, r, s)[...] += np.einsum("nkhw,kc->nchw", dy, weight[:, :, r, s])
    dx = dxp[:, :, g.ph:g.ph + g.H, g.pw:g.pw + g.W].copy()
    return dx, dw, dy.sum(axis=(0, 2, 3))
