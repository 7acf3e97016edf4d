"""fastnn.functional: one function per op, as in ../shared/API.md.

Each function checks its arguments (fastnn._checks, shared with
fastnn.reference), allocates the outputs, and calls the kernels of the
device the inputs live on: fastnn.kernels.cpu for NumPy arrays,
fastnn.kernels.cuda for CUDA arrays. The kernel modules mirror each other
name for name, so every function here is written once for both.
"""
import functools
import math
from typing import NamedTuple, Optional

import numpy as np

from . import _alloc
from . import _checks as chk
from .kernels import cpu as _cpu
from .kernels.cpu.bce import CHUNK as _BCE_CHUNK
from .kernels.cpu._threads import serial_if_small

__all__ = [
    "conv2d", "conv2d_backward", "max_pool2d", "max_pool2d_backward", "avg_pool2d",
    "avg_pool2d_backward", "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward", "softmax",
    "log_softmax", "softmax_backward", "cross_entropy", "binary_cross_entropy_with_logits", "linear",
    "linear_backward", "relu", "relu_backward", "sigmoid", "sigmoid_backward", "tanh", "tanh_backward",
    "leaky_relu", "leaky_relu_backward", "batch_norm", "batch_norm_backward", "dropout",
    "dropout_backward", "rnn_cell", "rnn_cell_backward", "lstm_cell", "lstm_cell_backward", "gru_cell",
    "gru_cell_backward", "rnn", "rnn_backward", "lstm", "lstm_backward", "gru", "gru_backward",
]


# ----------------------------------------------------------------- plumbing

_cuda = None


def _kernels(on_device):
    """fastnn.kernels.cuda or .cpu. The CUDA kernels are imported on first GPU
    use (importing fastnn needs no GPU), then kept: an import statement costs
    about a microsecond a call, and a GPU call made several."""
    global _cuda
    if not on_device:
        return _cpu
    if _cuda is None:
        from .kernels import cuda
        _cuda = cuda
    return _cuda


def _contig(a, on_device, shape=None):
    """C-contiguous view or copy (non-contiguous inputs give the same results),
    seen as `shape` when one is given."""
    if a is None:
        return None
    a = _kernels(True).as_contiguous(a) if on_device else np.ascontiguousarray(a)
    return a if shape is None else _view(a, shape, on_device)


def _view(a, shape, on_device):
    """A C-contiguous array seen as `shape` (as many elements), no copy."""
    return _kernels(True).view(a, shape) if on_device else a.reshape(shape)


def _zeros(shape, dtype, on_device):
    return _kernels(True).device_zeros(shape, dtype) if on_device else np.zeros(shape, dtype)


def _copy(a, on_device):
    return _kernels(True).device_copy(a) if on_device else a.copy()


def _steps(states, on_device):
    """states[1:]: the outputs of a recurrence whose states are (T + 1, N, H)."""
    T = states.shape[0] - 1
    return _kernels(True).rows(states, 1, T + 1) if on_device else states[1:]


def _sized_by_first_array(fn):
    """Small calls run on one thread (kernels/cpu/_threads.py); the work is
    taken to be the size of the first array argument."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        first = next((a for a in args if isinstance(a, np.ndarray)), None)
        if first is None:
            return fn(*args, **kwargs)
        with serial_if_small(first.size):
            return fn(*args, **kwargs)
    return wrapper


# --------------------------------------------------------- convolution / pool

def conv2d(x, weight, bias=None, stride=1, padding=0):
    """2-D convolution (cross-correlation), as torch.nn.functional.conv2d.

    x (N, C, H, W), weight (K, C, R, S), bias (K,) or None -> y (N, K, OH, OW),
    OH = (H + 2*ph - R) // sh + 1, OW likewise.
    """
    dtype, dev, g = chk.conv2d_args("conv2d", x, weight, bias, stride, padding)
    y = _alloc.empty((g.N, g.K, g.OH, g.OW), dtype, dev)
    with serial_if_small(None if dev else _conv_work(g)):
        _kernels(dev).conv2d_forward(_contig(x, dev), _contig(weight, dev), _contig(bias, dev),
                                     g.sh, g.sw, g.ph, g.pw, y)
    return y


def _conv_work(g):
    """Elements of the column matrix: what im2col writes and col2im reads."""
    return g.C * g.R * g.S * g.N * g.OH * g.OW


def conv2d_backward(dy, x, weight, stride=1, padding=0):
    """dy (N, K, OH, OW) -> (dx (N, C, H, W), dweight (K, C, R, S), dbias (K,))."""
    dtype, dev, g = chk.conv2d_backward_args("conv2d_backward", dy, x, weight, stride, padding)
    dx = _alloc.empty((g.N, g.C, g.H, g.W), dtype, dev)
    dw = _alloc.empty((g.K, g.C, g.R, g.S), dtype, dev)
    db = _alloc.empty((g.K,), dtype, dev)
    with serial_if_small(None if dev else _conv_work(g)):
        _kernels(dev).conv2d_backward(_contig(dy, dev), _contig(x, dev), _contig(weight, dev),
                                      g.sh, g.sw, g.ph, g.pw, dx, dw, db)
    return dx, dw, db


def _is_2x2(g):
    return (g.kh, g.kw, g.sh, g.sw, g.ph, g.pw) == (2, 2, 2, 2, 0, 0)


@_sized_by_first_array
def max_pool2d(x, kernel_size, stride=None, padding=0):
    """x (N, C, H, W) -> y (N, C, OH, OW); stride None means kernel_size, padding is -inf."""
    dtype, dev, g = chk.pool2d_args("max_pool2d", x, kernel_size, stride, padding)
    y, k, x = _alloc.empty((g.N, g.C, g.OH, g.OW), dtype, dev), _kernels(dev), _contig(x, dev)
    if _is_2x2(g):
        k.max_pool2d_2x2_forward(x, y)
    else:
        k.max_pool2d_forward(x, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, y)
    return y


@_sized_by_first_array
def max_pool2d_backward(dy, x, kernel_size, stride=None, padding=0):
    """dy (N, C, OH, OW) -> dx (N, C, H, W); each window's gradient goes to its first maximum."""
    dtype, dev, g = chk.pool2d_backward_args("max_pool2d_backward", dy, x, kernel_size, stride, padding)
    dx, k = _alloc.empty((g.N, g.C, g.H, g.W), dtype, dev), _kernels(dev)
    dy, x = _contig(dy, dev), _contig(x, dev)
    if _is_2x2(g):
        k.max_pool2d_2x2_backward(dy, x, dx)
    else:
        k.max_pool2d_backward(dy, x, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, dx)
    return dx


@_sized_by_first_array
def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """x (N, C, H, W) -> y (N, C, OH, OW); padding counts in the divisor (count_include_pad)."""
    dtype, dev, g = chk.pool2d_args("avg_pool2d", x, kernel_size, stride, padding)
    y = _alloc.empty((g.N, g.C, g.OH, g.OW), dtype, dev)
    _kernels(dev).avg_pool2d_forward(_contig(x, dev), g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, y)
    return y


@_sized_by_first_array
def avg_pool2d_backward(dy, x, kernel_size, stride=None, padding=0):
    """dy (N, C, OH, OW) -> dx (N, C, H, W)."""
    dtype, dev, g = chk.pool2d_backward_args("avg_pool2d_backward", dy, x, kernel_size, stride, padding)
    dx = _alloc.empty((g.N, g.C, g.H, g.W), dtype, dev)
    _kernels(dev).avg_pool2d_backward(_contig(dy, dev), g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, dx)
    return dx


@_sized_by_first_array
def adaptive_avg_pool2d(x, output_size):
    """x (N, C, H, W) -> y (N, C, OH, OW), as torch's: y[..., i, j] is the mean of
    rows floor(i*H/OH) .. ceil((i+1)*H/OH) - 1 and of the columns likewise.
    output_size: an int or an (OH, OW) pair, None keeping that axis's size;
    1 is global average pooling."""
    dtype, dev, g = chk.adaptive_pool2d_args("adaptive_avg_pool2d", x, output_size)
    y = _alloc.empty((g.N, g.C, g.OH, g.OW), dtype, dev)
    _kernels(dev).adaptive_avg_pool2d_forward(_contig(x, dev), y)
    return y


@_sized_by_first_array
def adaptive_avg_pool2d_backward(dy, x, output_size):
    """dy (N, C, OH, OW) -> dx (N, C, H, W): each window's dy spread evenly over it."""
    dtype, dev, g = chk.adaptive_pool2d_backward_args("adaptive_avg_pool2d_backward", dy, x, output_size)
    dx = _alloc.empty((g.N, g.C, g.H, g.W), dtype, dev)
    _kernels(dev).adaptive_avg_pool2d_backward(_contig(dy, dev), dx)
    return dx


# -------------------------------------------------------- softmax and loss

def _lanes(shape, axis):
    """(outer, L, inner): the shape as seen by the softmax kernels."""
    return math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:])


@_sized_by_first_array
def _softmax(fn, x, axis, log):
    dtype, dev, axis = chk.softmax_args(fn, x, axis)
    shape = chk.shape_of(x)
    y = _alloc.empty(shape, dtype, dev)
    if 0 not in shape:
        lanes = _lanes(shape, axis)
        _kernels(dev).softmax_forward(_contig(x, dev, lanes), log, _view(y, lanes, dev))
    return y


def softmax(x, axis=-1):
    """x (any shape) -> softmax along `axis`, numerically stable (max subtracted)."""
    return _softmax("softmax", x, axis, False)


def log_softmax(x, axis=-1):
    """x (any shape) -> log(softmax(x)) along `axis`, without forming softmax."""
    return _softmax("log_softmax", x, axis, True)


@_sized_by_first_array
def softmax_backward(dy, y, axis=-1):
    """dy, y = softmax(x) (same shape) -> dx = y * (dy - sum(dy * y, axis))."""
    dtype, dev, axis = chk.softmax_backward_args("softmax_backward", dy, y, axis)
    shape = chk.shape_of(y)
    dx = _alloc.empty(shape, dtype, dev)
    if 0 not in shape:
        lanes = _lanes(shape, axis)
        _kernels(dev).softmax_backward(_contig(dy, dev, lanes), _contig(y, dev, lanes), _view(dx, lanes, dev))
    return dx


@_sized_by_first_array
def cross_entropy(logits, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy and its gradient in one fused pass, as torch's
    F.cross_entropy with the same arguments.

    logits (N, C), or (N, C, d1, ..., dk) with classes on axis 1, or (C,);
    target: integer labels of logits' shape without C, each in [0, C) or
    ignore_index (whose rows count for nothing), or class probabilities of
    logits' shape and dtype; weight: None or (C,) class weights.
    -> (loss, dlogits): loss a float ('mean': divided by the summed weight of the
    labels kept, or by the number of rows for probabilities; 'sum'), or for
    reduction='none' an array of logits' shape without C, in logits' dtype;
    dlogits = d(loss)/d(logits) (of the summed losses, for 'none')."""
    a = chk.cross_entropy_args("cross_entropy", logits, target, weight, ignore_index, reduction,
                               label_smoothing)
    dev, (O, C, I) = a.dev, a.lanes
    k = _kernels(dev)
    if a.probs:
        divisor = O * I
    elif weight is None:
        divisor, weight_sum = a.kept.size, C
    else:           # mean's divisor and the smoothing's total weight, from a host copy of the C weights
        weight_host = k.to_host(weight) if dev else weight
        divisor = weight_host[a.kept].sum(dtype=np.float64)
        weight_sum = float(weight_host.sum(dtype=np.float64))
    grad_scale = _divide(1.0, divisor) if a.reduction == "mean" else 1.0
    loss = _alloc.empty((O, I), a.dtype if a.reduction == "none" else np.float64, dev)
    dlogits = _alloc.empty(chk.shape_of(logits), a.dtype, dev)
    if O * I:
        x, w = _contig(logits, dev, a.lanes), _contig(weight, dev)
        if a.probs:
            k.cross_entropy_probs_forward_backward(x, _contig(target, dev, a.lanes), w, a.smoothing,
                                                   grad_scale, loss, _view(dlogits, a.lanes, dev))
        else:
            if not dev and not target.dtype.isnative:    # any integer dtype, byte-swapped ones too
                target = target.astype(target.dtype.newbyteorder("="))
            k.cross_entropy_forward_backward(x, _contig(target, dev, (O, I)), w, weight_sum, ignore_index,
                                             a.smoothing, grad_scale, loss, _view(dlogits, a.lanes, dev))
    if a.reduction == "none":
        return _view(loss, a.loss_shape, dev), dlogits
    total = float((k.to_host(loss) if dev else loss).sum())
    return _divide(total, divisor) if a.reduction == "mean" else total, dlogits


def _divide(a, b):
    """a / b for Python floats in IEEE arithmetic: over zero, inf or NaN (an average
    of nothing is NaN, as torch's), not an exception."""
    if b:
        return a / b
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(a) / b)


@_sized_by_first_array
def binary_cross_entropy_with_logits(logits, target, weight=None, reduction="mean", pos_weight=None):
    """Binary cross-entropy on logits and its gradient in one fused pass, as
    torch's F.binary_cross_entropy_with_logits with the same arguments (the
    loss of logistic regression, and of multi-label classification).

    logits, target: any shape, the same (targets are probabilities, usually 0
    or 1); weight: None or an array broadcastable to logits' shape, scaling
    each element's loss; pos_weight: None or broadcastable to logits' shape,
    weighting the positive term (p y log sigmoid(x)): for (N, C) logits,
    (C,), one weight a class.
    -> (loss, dlogits): loss a float ('mean': over every element, weighted or
    not; 'sum'), or for reduction='none' an array like logits;
    dlogits = d(loss)/d(logits) (of the summed losses, for 'none')."""
    fn = "binary_cross_entropy_with_logits"
    dtype, dev, reduction = chk.bce_args(fn, logits, target, weight, reduction, pos_weight)
    shape = chk.shape_of(logits)
    n = math.prod(shape)
    dlogits = _alloc.empty(shape, dtype, dev)
    loss = _alloc.empty(shape, dtype, dev) if reduction == "none" else None
    if n == 0:      # no elements: the mean is NaN, the sum 0, as torch's
        return (loss if loss is not None else float("nan") if reduction == "mean" else 0.0), dlogits
    k = _kernels(dev)
    lanes, weight, pos_weight = _broadcast_lanes(shape, weight, pos_weight, dev=dev)
    partial = _alloc.empty((-(-n // _BCE_CHUNK),), np.float64, dev)
    grad_scale = 1.0 / n if reduction == "mean" else 1.0
    k.bce_with_logits_forward_backward(_contig(logits, dev, lanes), _contig(target, dev, lanes), weight, pos_weight,
                                       grad_scale, partial, None if loss is None else _view(loss, lanes, dev),
                                       _view(dlogits, lanes, dev))
    if loss is not None:
        return loss, dlogits
    total = float((k.to_host(partial) if dev else partial).sum())
    return total / n if reduction == "mean" else total, dlogits


def _broadcast_lanes(shape, *operands, dev):
    """Split `shape` into lanes (O, M, I) over which each operand (None, or an
    array broadcastable to shape) is (O or 1, M or 1, I or 1): consecutive axes
    along which every operand is either broadcast or not merge into one lane.
    Returns the lanes and the operands, C-contiguous, seen that way. Operands
    needing more than three lanes (such as (N, 1, H, 1) against (N, C, H, W))
    are written out in full first: on the GPU through the host, a slow path."""
    given = [chk.shape_of(a) for a in operands if a is not None]
    lanes, full = [], []                    # [extent, which operands vary along it]
    for axis, size in enumerate(shape):
        if size == 1:
            continue
        pad = [len(shape) - len(s) for s in given]     # an operand's axes align with shape's last ones
        varies = tuple(axis >= p and s[axis - p] != 1 for s, p in zip(given, pad))
        if lanes and full[-1] == varies:
            lanes[-1] *= size
        else:
            lanes.append(size)
            full.append(varies)
    if len(lanes) > 3:
        lanes = (1, 1, math.prod(shape))
        return lanes, *(None if a is None else _view(_broadcast_copy(a, shape, dev), lanes, dev) for a in operands)
    lanes = [1] * (3 - len(lanes)) + lanes
    full = [(False,) * len(given)] * (3 - len(full)) + full
    out, j = [], 0
    for a in operands:
        if a is not None:
            a = _contig(a, dev, tuple(size if f[j] else 1 for size, f in zip(lanes, full)))
            j += 1
        out.append(a)
    return tuple(lanes), *out


def _broadcast_copy(a, shape, on_device):
    """a written out to `shape` (from a broadcastable shape), C-contiguous."""
    out = np.ascontiguousarray(np.broadcast_to(_kernels(True).to_host(a) if on_device else a, shape))
    if not on_device:
        return out
    from numba import cuda
    return cuda.to_device(out)


# ---------------------------------------------------------------- linear

@_sized_by_first_array
def linear(x, weight, bias=None):
    """x (*, in), weight (out, in), bias (out,) or None -> y = x @ weight.T + bias (*, out).
    Leading dimensions are batch dimensions, as in torch: (T, N, in) -> (T, N, out)."""
    dtype, dev, (N, I, O) = chk.linear_args("linear", x, weight, bias)
    y = _alloc.empty(chk.shape_of(x)[:-1] + (O,), dtype, dev)
    _kernels(dev).linear_forward(_contig(x, dev, (N, I)), _contig(weight, dev), _contig(bias, dev),
                                 _view(y, (N, O), dev))
    return y


@_sized_by_first_array
def linear_backward(dy, x, weight):
    """dy (*, out) -> (dx (*, in), dweight (out, in), dbias (out,)); the weight and
    bias gradients sum over every leading dimension."""
    dtype, dev, (N, I, O) = chk.linear_backward_args("linear_backward", dy, x, weight)
    dx, dw, db = _alloc.empty(chk.shape_of(x), dtype, dev), _alloc.empty((O, I), dtype, dev), _alloc.empty((O,), dtype, dev)
    _kernels(dev).linear_backward(_contig(dy, dev, (N, O)), _contig(x, dev, (N, I)), _contig(weight, dev),
                                  _view(dx, (N, I), dev), dw, db)
    return dx, dw, db


# ----------------------------------------------------------- activations

def _elementwise(fn, kernel, inputs, *scalars):
    """Run a flat elementwise kernel over same-shaped inputs; returns the output."""
    dtype, dev = chk.elementwise_args(fn, **inputs)
    shape = chk.shape_of(next(iter(inputs.values())))
    out = _alloc.empty(shape, dtype, dev)
    n = (out.size,)
    flat = [_contig(a, dev, n) for a in inputs.values()]
    with serial_if_small(None if dev else out.size):
        getattr(_kernels(dev), kernel)(*flat, *scalars, _view(out, n, dev))
    return out


def relu(x):
    """max(x, 0), elementwise; NaN stays NaN."""
    return _elementwise("relu", "relu_forward", {"x": x})


def relu_backward(dy, x):
    """dy * (x > 0)."""
    return _elementwise("relu_backward", "relu_backward", {"dy": dy, "x": x})


def leaky_relu(x, negative_slope=0.01):
    """x if x > 0 else negative_slope * x."""
    a = chk.real("leaky_relu", "negative_slope", negative_slope)
    return _elementwise("leaky_relu", "leaky_relu_forward", {"x": x}, a)


def leaky_relu_backward(dy, x, negative_slope=0.01):
    """dy if x > 0 else negative_slope * dy."""
    a = chk.real("leaky_relu_backward", "negative_slope", negative_slope)
    return _elementwise("leaky_relu_backward", "leaky_relu_backward", {"dy": dy, "x": x}, a)


def sigmoid(x):
    """1 / (1 + exp(-x)), stable for any x."""
    return _elementwise("sigmoid", "sigmoid_forward", {"x": x})


def sigmoid_backward(dy, y):
    """dy * y * (1 - y), with y = sigmoid(x)."""
    return _elementwise("sigmoid_backward", "sigmoid_backward", {"dy": dy, "y": y})


def tanh(x):
    return _elementwise("tanh", "tanh_forward", {"x": x})


def tanh_backward(dy, y):
    """dy * (1 - y^2), with y = tanh(x)."""
    return _elementwise("tanh_backward", "tanh_backward", {"dy": dy, "y": y})


# ------------------------------------------------------------ batch norm

class BatchNormCache(NamedTuple):
    """What batch_norm_backward needs: x itself (x_hat is recomputed from it)
    and the per-channel statistics the forward used."""
    x: object                 # (N, C, P) view of the input
    mean: object              # (C,)
    inv_std: object           # (C,)
    gamma: Optional[object]
    has_beta: bool
    training: bool


@_sized_by_first_array
def batch_norm(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
    """x (N, C, *): (N, C), (N, C, L), (N, C, H, W), ...; gamma, beta, running_mean,
    running_var (C,) or None -> (y like x, cache). Training normalises with the batch
    statistics and updates running_mean / running_var in place (unbiased variance), as torch."""
    dtype, dev = chk.batch_norm_args("batch_norm", x, gamma, beta, running_mean, running_var,
                                     training, momentum, eps)
    shape = chk.shape_of(x)
    N, C = shape[:2]
    P = math.prod(shape[2:])
    k = _kernels(dev)
    x3 = _contig(x, dev, (N, C, P))
    y = _alloc.empty(shape, dtype, dev)
    gamma, beta = _contig(gamma, dev), _contig(beta, dev)
    mean, var, inv_std = (_alloc.empty((C,), np.float64, dev) for _ in range(3))
    if x3.size == 0:
        pass        # an empty batch, as in torch: nothing to normalise, no statistics to update
    elif training:
        k.batch_norm_forward_train(x3, gamma, beta, float(eps), _view(y, (N, C, P), dev), mean, var, inv_std)
        if running_mean is not None:
            k.update_running_stats(running_mean, running_var, mean, var, float(momentum), N * P)
    else:
        k.running_inv_std(running_mean, running_var, float(eps), mean, inv_std)
        k.batch_norm_forward_eval(x3, gamma, beta, mean, inv_std, _view(y, (N, C, P), dev))
    return y, BatchNormCache(x3, mean, inv_std, gamma, beta is not None, bool(training))


@_sized_by_first_array
def batch_norm_backward(dy, cache):
    """dy like x -> (dx, dgamma (C,) or None, dbeta (C,) or None)."""
    x3 = cache.x
    shape = chk.shape_of(dy)
    dtype, dev = chk.float_arrays("batch_norm_backward", dy=dy, x=x3)
    if math.prod(shape) != x3.size or shape[:2] != chk.shape_of(x3)[:2]:
        raise ValueError(f"batch_norm_backward: dy has shape {shape}, expected the shape of "
                         f"batch_norm's input")
    C = shape[1]
    dx = _alloc.empty(shape, dtype, dev)
    if x3.size == 0:    # an empty batch: sums over no values are zero
        dgamma, dbeta = _zeros((C,), dtype, dev), _zeros((C,), dtype, dev)
    else:
        dgamma, dbeta = _alloc.empty((C,), dtype, dev), _alloc.empty((C,), dtype, dev)
        x3_shape = chk.shape_of(x3)
        _kernels(dev).batch_norm_backward(_contig(dy, dev, x3_shape), x3, cache.gamma, cache.mean, cache.inv_std,
                                          cache.training, _view(dx, x3_shape, dev), dgamma, dbeta)
    return dx, dgamma if cache.gamma is not None else None, dbeta if cache.has_beta else None


# --------------------------------------------------------------- dropout

@_sized_by_first_array
def dropout(x, p, training=True, seed=None):
    """Inverted dropout -> (y, mask): y = x * mask / (1 - p), mask a bool array like x; a
    multiply, as torch: NaN in a dropped unit stays NaN.
    training=False or p = 0 return x's values and an all-True mask. The same
    seed gives the same mask, on any device (seed=None draws from np.random)."""
    from .reference.dropout import draw_seed
    dtype, dev, p = chk.dropout_args("dropout", x, p)
    seed = chk.dropout_seed("dropout", seed)
    shape = chk.shape_of(x)
    y, mask = _alloc.empty(shape, dtype, dev), _alloc.empty(shape, np.bool_, dev)
    if not training or p == 0:
        seed, p = 0, 0.0          # keeps everything: u >= 0 always
    elif seed is None:
        seed = draw_seed()
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    # np.uint64: a Python int >= 2**63 would not fit the int64 Numba infers for it
    n = (y.size,)
    _kernels(dev).dropout_forward(_contig(x, dev, n), np.uint64(seed), p, scale, _view(y, n, dev),
                                  _view(mask, n, dev))
    return y, mask


@_sized_by_first_array
def dropout_backward(dy, mask, p):
    """dy, mask (from dropout) -> dx = dy * mask / (1 - p): dy * 0 where dropped (everywhere
    for p = 1)."""
    dtype, dev, p = chk.dropout_backward_args("dropout_backward", dy, mask, p)
    dx = _alloc.empty(chk.shape_of(dy), dtype, dev)
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    n = (dx.size,)
    _kernels(dev).dropout_backward(_contig(dy, dev, n), _contig(mask, dev, n), scale, _view(dx, n, dev))
    return dx


# ------------------------------------------------------------------- RNNs
#
# Caches keep references to the inputs (not copies), as torch's autograd
# saves tensors: modifying x, h, c or the weights in place between a forward
# and its backward changes the gradients.

class RNNCellCache(NamedTuple):
    x: object
    h: object
    weight_ih: object
    weight_hh: object
    has_bias_ih: bool
    has_bias_hh: bool
    relu: bool               # the nonlinearity: relu, or tanh
    h_new: object            # the output, from which the backward takes the activation's slope


class LSTMCellCache(NamedTuple):
    x: object
    h: object
    c: object
    weight_ih: object
    weight_hh: object
    has_bias_ih: bool
    has_bias_hh: bool
    gates: object            # (N, 4H): i, f, g, o after their nonlinearities
    tanh_c: object           # tanh(c_new)


class GRUCellCache(NamedTuple):
    x: object
    h: object
    weight_ih: object
    weight_hh: object
    has_bias_ih: bool
    has_bias_hh: bool
    gates: object            # (N, 3H): r, z, n after their nonlinearities
    gh_n: object             # h W_hn^T + b_hn


class RNNCache(NamedTuple):
    x: object                # (T, N, I)
    weight_ih: object
    weight_hh: object
    has_bias_ih: bool
    has_bias_hh: bool
    relu: bool
    hs: object               # (T+1, N, H): h0, then the output of every step


class LSTMCache(NamedTuple):
    x: object                # (T, N, I)
    weight_ih: object
    weight_hh: object
    has_bias_ih: bool
    has_bias_hh: bool
    hs: object               # (T+1, N, H): h0, then the output of every step
    cs: object               # (T+1, N, H)
    gates: object            # (T, N, 4H)
    tanh_c: object           # (T, N, H)


class GRUCache(NamedTuple):
    x: object
    weight_ih: object
    weight_hh: object
    has_bias_ih: bool
    has_bias_hh: bool
    hs: object
    gates: object            # (T, N, 3H)
    gh_n: object             # (T, N, H)


def _grad_or_zeros(fn, name, g, shape, dtype, dev):
    chk.grad_like(fn, name, g, shape, dtype, dev)
    return _zeros(shape, dtype, dev) if g is None else _contig(g, dev)


def _cell_backward_args(fn, cache, **grads):
    """A cell backward's checks -> (dtype, dev, (N, I, H), grads), the incoming
    gradients given, contiguous (zeros for None)."""
    dtype, dev = chk.float_arrays(fn, x=cache.x)
    (N, I), H = chk.shape_of(cache.x), chk.shape_of(cache.h)[1]
    return dtype, dev, (N, I, H), [_grad_or_zeros(fn, name, g, (N, H), dtype, dev) for name, g in grads.items()]


def _sequence_backward_args(fn, cache, dout, **final_grads):
    """A sequence backward's checks -> (dtype, dev, (T, N, I, H), dout, states): states
    are fresh copies of the final-state gradients given (zeros for None), which the
    kernels overwrite with the initial states' gradients: never the caller's arrays."""
    x = cache.x
    dtype, dev = chk.float_arrays(fn, x=x)
    T, N, I = chk.shape_of(x)
    H = chk.shape_of(cache.hs)[2]
    chk.grad_like(fn, "dout", dout, (T, N, H), dtype, dev)
    states = [_copy(_grad_or_zeros(fn, name, g, (N, H), dtype, dev), dev) for name, g in final_grads.items()]
    return dtype, dev, (T, N, I, H), _contig(dout, dev), states


def _init_state(a, dev, out):
    """out <- an initial state, or zeros for None."""
    if dev:
        k = _kernels(True)
        k.fill(k.flat(out), 0) if a is None else k.copy_into(_contig(a, dev), out)
    else:
        out[...] = 0 if a is None else a


def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    """One Elman RNN step, h' = tanh (or relu) of x W_ih^T + b_ih + h W_hh^T + b_hh, as
    torch.nn.RNNCell. x (N, I), h (N, H), weight_ih (H, I), weight_hh (H, H), biases (H,)
    or None -> (h_new (N, H), cache)."""
    dtype, dev, (N, I, H) = chk.rnn_cell_args("rnn_cell", 1, x, h, None, weight_ih, weight_hh,
                                              bias_ih, bias_hh)
    relu = chk.nonlinearity("rnn_cell", nonlinearity) == "relu"
    x, h, w_ih, w_hh, b_ih, b_hh = (_contig(a, dev) for a in
                                    (x, h, weight_ih, weight_hh, bias_ih, bias_hh))
    h_new = _alloc.empty((N, H), dtype, dev)
    _kernels(dev).rnn_cell_forward(x, h, w_ih, w_hh, b_ih, b_hh, relu, h_new,
                                   _alloc.empty((N, H), dtype, dev))
    return h_new, RNNCellCache(x, h, w_ih, w_hh, b_ih is not None, b_hh is not None, relu, h_new)


def rnn_cell_backward(dh_new, cache):
    """dh_new (N, H) or None -> (dx, dh, dweight_ih, dweight_hh, dbias_ih, dbias_hh)."""
    dtype, dev, (N, I, H), (dh_new,) = _cell_backward_args("rnn_cell_backward", cache, dh_new=dh_new)
    dx, dh = _alloc.empty((N, I), dtype, dev), _alloc.empty((N, H), dtype, dev)
    dw_ih, dw_hh = _alloc.empty((H, I), dtype, dev), _alloc.empty((H, H), dtype, dev)
    db = _alloc.empty((H,), dtype, dev)
    _kernels(dev).rnn_cell_backward(dh_new, cache.x, cache.h, cache.weight_ih, cache.weight_hh, cache.h_new,
                                    cache.relu, dx, dh, dw_ih, dw_hh, db, _alloc.empty((N, H), dtype, dev))
    return (dx, dh, dw_ih, dw_hh, _copy_if(db, cache.has_bias_ih, dev),
            _copy_if(db, cache.has_bias_hh, dev))


def lstm_cell(x, h, c, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One LSTM step (gates i, f, g, o as torch.nn.LSTMCell).
    x (N, I), h, c (N, H), weight_ih (4H, I), weight_hh (4H, H), biases (4H,) or None
    -> (h_new (N, H), c_new (N, H), cache)."""
    dtype, dev, (N, I, H) = chk.rnn_cell_args("lstm_cell", 4, x, h, c, weight_ih, weight_hh,
                                              bias_ih, bias_hh)
    x, h, c, w_ih, w_hh, b_ih, b_hh = (_contig(a, dev) for a in
                                       (x, h, c, weight_ih, weight_hh, bias_ih, bias_hh))
    gates = _alloc.empty((N, 4 * H), dtype, dev)
    c_new, tanh_c, h_new = (_alloc.empty((N, H), dtype, dev) for _ in range(3))
    _kernels(dev).lstm_cell_forward(x, h, c, w_ih, w_hh, b_ih, b_hh, gates, c_new, tanh_c, h_new,
                                    _alloc.empty((N, 4 * H), dtype, dev))
    return h_new, c_new, LSTMCellCache(x, h, c, w_ih, w_hh, b_ih is not None, b_hh is not None,
                                       gates, tanh_c)


def lstm_cell_backward(dh_new, dc_new, cache):
    """dh_new, dc_new (N, H) or None (zero)
    -> (dx, dh, dc, dweight_ih, dweight_hh, dbias_ih, dbias_hh); a bias that was None gets None."""
    dtype, dev, (N, I, H), (dh_new, dc_new) = _cell_backward_args("lstm_cell_backward", cache,
                                                                   dh_new=dh_new, dc_new=dc_new)
    dx, dh, dc = _alloc.empty((N, I), dtype, dev), _alloc.empty((N, H), dtype, dev), _alloc.empty((N, H), dtype, dev)
    dw_ih, dw_hh = _alloc.empty((4 * H, I), dtype, dev), _alloc.empty((4 * H, H), dtype, dev)
    db = _alloc.empty((4 * H,), dtype, dev)
    _kernels(dev).lstm_cell_backward(dh_new, dc_new, cache.x, cache.h, cache.c, cache.weight_ih,
                                     cache.weight_hh, cache.gates, cache.tanh_c, dx, dh, dc, dw_ih,
                                     dw_hh, db, _alloc.empty((N, 4 * H), dtype, dev))
    return (dx, dh, dc, dw_ih, dw_hh, _copy_if(db, cache.has_bias_ih, dev),
            _copy_if(db, cache.has_bias_hh, dev))


def _copy_if(a, wanted, dev):
    """A bias gradient: None if that bias was None; its own copy otherwise, so the
    two bias gradients of a cell never alias."""
    return _copy(a, dev) if wanted else None


def gru_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One GRU step (gates r, z, n as torch.nn.GRUCell).
    x (N, I), h (N, H), weight_ih (3H, I), weight_hh (3H, H), biases (3H,) or None
    -> (h_new (N, H), cache)."""
    dtype, dev, (N, I, H) = chk.rnn_cell_args("gru_cell", 3, x, h, None, weight_ih, weight_hh,
                                              bias_ih, bias_hh)
    x, h, w_ih, w_hh, b_ih, b_hh = (_contig(a, dev) for a in
                                    (x, h, weight_ih, weight_hh, bias_ih, bias_hh))
    gates = _alloc.empty((N, 3 * H), dtype, dev)
    gh_n, h_new = _alloc.empty((N, H), dtype, dev), _alloc.empty((N, H), dtype, dev)
    _kernels(dev).gru_cell_forward(x, h, w_ih, w_hh, b_ih, b_hh, gates, gh_n, h_new,
                                   _alloc.empty((N, 3 * H), dtype, dev), _alloc.empty((N, 3 * H), dtype, dev))
    return h_new, GRUCellCache(x, h, w_ih, w_hh, b_ih is not None, b_hh is not None, gates, gh_n)


def gru_cell_backward(dh_new, cache):
    """dh_new (N, H) or None -> (dx, dh, dweight_ih, dweight_hh, dbias_ih, dbias_hh)."""
    dtype, dev, (N, I, H), (dh_new,) = _cell_backward_args("gru_cell_backward", cache, dh_new=dh_new)
    dx, dh = _alloc.empty((N, I), dtype, dev), _alloc.empty((N, H), dtype, dev)
    dw_ih, dw_hh = _alloc.empty((3 * H, I), dtype, dev), _alloc.empty((3 * H, H), dtype, dev)
    db_ih, db_hh = _alloc.empty((3 * H,), dtype, dev), _alloc.empty((3 * H,), dtype, dev)
    _kernels(dev).gru_cell_backward(dh_new, cache.x, cache.h, cache.weight_ih, cache.weight_hh, cache.gates,
                                    cache.gh_n, dx, dh, dw_ih, dw_hh, db_ih, db_hh,
                                    _alloc.empty((N, 3 * H), dtype, dev), _alloc.empty((N, 3 * H), dtype, dev),
                                    _alloc.empty((N, H), dtype, dev))
    return (dx, dh, dw_ih, dw_hh, db_ih if cache.has_bias_ih else None,
            db_hh if cache.has_bias_hh else None)


def rnn(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    """A one-layer Elman RNN over a sequence.
    x (T, N, I), h0 (N, H) or None (zeros), weights and biases as rnn_cell
    -> (out (T, N, H), h_n (N, H), cache). `out` is a view into the cache."""
    dtype, dev, (T, N, I, H) = chk.rnn_seq_args("rnn", 1, x, h0, None, weight_ih, weight_hh,
                                                bias_ih, bias_hh)
    relu = chk.nonlinearity("rnn", nonlinearity) == "relu"
    x, w_ih, w_hh, b_ih, b_hh = (_contig(a, dev) for a in (x, weight_ih, weight_hh, bias_ih, bias_hh))
    hs = _alloc.empty((T + 1, N, H), dtype, dev)
    _init_state(h0, dev, hs[0])
    _kernels(dev).rnn_forward(x, w_ih, w_hh, b_ih, b_hh, relu, hs, _alloc.empty((N, H), dtype, dev))
    cache = RNNCache(x, w_ih, w_hh, b_ih is not None, b_hh is not None, relu, hs)
    return _steps(hs, dev), _copy(hs[T], dev), cache


def rnn_backward(dout, dh_n, cache):
    """dout (T, N, H); dh_n (N, H) or None -> (dx, dh0, dweight_ih, dweight_hh, dbias_ih, dbias_hh)."""
    dtype, dev, (T, N, I, H), dout, (dh,) = _sequence_backward_args("rnn_backward", cache, dout, dh_n=dh_n)
    dx = _alloc.empty((T, N, I), dtype, dev)
    dw_ih, dw_hh, db = _alloc.empty((H, I), dtype, dev), _alloc.empty((H, H), dtype, dev), _alloc.empty((H,), dtype, dev)
    _kernels(dev).rnn_backward(dout, dh, cache.x, cache.weight_ih, cache.weight_hh, cache.hs,
                               cache.relu, dx, dw_ih, dw_hh, db, _alloc.empty((T, N, H), dtype, dev))
    return (dx, dh, dw_ih, dw_hh, _copy_if(db, cache.has_bias_ih, dev),
            _copy_if(db, cache.has_bias_hh, dev))


def lstm(x, h0, c0, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """A one-layer LSTM over a sequence.
    x (T, N, I), h0, c0 (N, H) or None (zeros), weights and biases as lstm_cell
    -> (out (T, N, H), h_n (N, H), c_n (N, H), cache). `out` is a view into the cache."""
    dtype, dev, (T, N, I, H) = chk.rnn_seq_args("lstm", 4, x, h0, c0, weight_ih, weight_hh,
                                                bias_ih, bias_hh)
    x, w_ih, w_hh, b_ih, b_hh = (_contig(a, dev) for a in (x, weight_ih, weight_hh, bias_ih, bias_hh))
    hs, cs = _alloc.empty((T + 1, N, H), dtype, dev), _alloc.empty((T + 1, N, H), dtype, dev)
    _init_state(h0, dev, hs[0])
    _init_state(c0, dev, cs[0])
    gates, tanh_c = _alloc.empty((T, N, 4 * H), dtype, dev), _alloc.empty((T, N, H), dtype, dev)
    _kernels(dev).lstm_forward(x, w_ih, w_hh, b_ih, b_hh, hs, cs, gates, tanh_c,
                               _alloc.empty((N, 4 * H), dtype, dev))
    cache = LSTMCache(x, w_ih, w_hh, b_ih is not None, b_hh is not None, hs, cs, gates, tanh_c)
    return _steps(hs, dev), _copy(hs[T], dev), _copy(cs[T], dev), cache


def lstm_backward(dout, dh_n, dc_n, cache):
    """dout (T, N, H); dh_n, dc_n (N, H) or None
    -> (dx, dh0, dc0, dweight_ih, dweight_hh, dbias_ih, dbias_hh)."""
    dtype, dev, (T, N, I, H), dout, (dh, dc) = _sequence_backward_args("lstm_backward", cache, dout,
                                                                       dh_n=dh_n, dc_n=dc_n)
    dx = _alloc.empty((T, N, I), dtype, dev)
    dw_ih, dw_hh = _alloc.empty((4 * H, I), dtype, dev), _alloc.empty((4 * H, H), dtype, dev)
    db = _alloc.empty((4 * H,), dtype, dev)
    _kernels(dev).lstm_backward(dout, dh, dc, cache.x, cache.weight_ih, cache.weight_hh,
                                cache.hs, cache.cs, cache.gates, cache.tanh_c, dx, dw_ih, dw_hh, db,
                                _alloc.empty((T, N, 4 * H), dtype, dev), _alloc.empty((N, H), dtype, dev))
    return (dx, dh, dc, dw_ih, dw_hh, _copy_if(db, cache.has_bias_ih, dev),
            _copy_if(db, cache.has_bias_hh, dev))


def gru(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """A one-layer GRU over a sequence.
    x (T, N, I), h0 (N, H) or None -> (out (T, N, H), h_n (N, H), cache)."""
    dtype, dev, (T, N, I, H) = chk.rnn_seq_args("gru", 3, x, h0, None, weight_ih, weight_hh,
                                                bias_ih, bias_hh)
    x, w_ih, w_hh, b_ih, b_hh = (_contig(a, dev) for a in (x, weight_ih, weight_hh, bias_ih, bias_hh))
    hs = _alloc.empty((T + 1, N, H), dtype, dev)
    _init_state(h0, dev, hs[0])
    gates, gh_n = _alloc.empty((T, N, 3 * H), dtype, dev), _alloc.empty((T, N, H), dtype, dev)
    _kernels(dev).gru_forward(x, w_ih, w_hh, b_ih, b_hh, hs, gates, gh_n,
                              _alloc.empty((T, N, 3 * H), dtype, dev), _alloc.empty((N, 3 * H), dtype, dev))
    cache = GRUCache(x, w_ih, w_hh, b_ih is not None, b_hh is not None, hs, gates, gh_n)
    return _steps(hs, dev), _copy(hs[T], dev), cache


def gru_backward(dout, dh_n, cache):
    """dout (T, N, H); dh_n (N, H) or None -> (dx, dh0, dweight_ih, dweight_hh, dbias_ih, dbias_hh)."""
    dtype, dev, (T, N, I, H), dout, (dh,) = _sequence_backward_args("gru_backward", cache, dout, dh_n=dh_n)
    dx = _alloc.empty((T, N, I), dtype, dev)
    dw_ih, dw_hh = _alloc.empty((3 * H, I), dtype, dev), _alloc.empty((3 * H, H), dtype, dev)
    db_ih, db_hh = _alloc.empty((3 * H,), dtype, dev), _alloc.empty((3 * H,), dtype, dev)
    _kernels(dev).gru_backward(dout, dh, cache.x, cache.weight_ih, cache.weight_hh, cache.hs,
                               cache.gates, cache.gh_n, dx, dw_ih, dw_hh, db_ih, db_hh,
                               _alloc.empty((T, N, 3 * H), dtype, dev), _alloc.empty((T, N, 3 * H), dtype, dev),
                               _alloc.empty((N, H), dtype, dev), _alloc.empty((N, H), dtype, dev))
    return (dx, dh, dw_ih, dw_hh, db_ih if cache.has_bias_ih else None,
            db_hh if cache.has_bias_hh else None)
