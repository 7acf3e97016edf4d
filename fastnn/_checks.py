"""The one place where arguments are checked.

Both `fastnn.functional` and `fastnn.reference` call the per-op checkers at
the bottom of this file, so the two layers accept and reject exactly the same
inputs, with the errors of the contract (../shared/API.md):

- an array of the wrong kind or dtype, or a dtype mix  -> TypeError
- a shape or value that does not fit                   -> ValueError

Every message names the function, the argument, what was seen and what was
expected.
"""
from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


# --------------------------------------------------------------------------
# Arrays: kind, device, dtype, rank, shape
# --------------------------------------------------------------------------

def is_device_array(a) -> bool:
    """True for CUDA arrays (Numba device arrays, CuPy, torch CUDA tensors, and
    the simulator's arrays under NUMBA_ENABLE_CUDASIM=1)."""
    if isinstance(a, np.ndarray):
        return False
    # Numba's device arrays by their methods, first: their __cuda_array_interface__
    # is a property that builds a dict on every look (a few us, several times a
    # call), and the simulator's arrays carry none.
    return (hasattr(a, "copy_to_host") and hasattr(a, "is_c_contiguous")) or hasattr(a, "__cuda_array_interface__")


def _kind(a) -> str:
    return type(a).__module__.split(".")[0] + "." + type(a).__name__


def _dtype_of(a) -> np.dtype:
    dt = getattr(a, "dtype", None)
    if isinstance(dt, np.dtype):
        return dt
    return np.dtype(a.__cuda_array_interface__["typestr"])     # torch tensors: torch.dtype


def shape_of(a) -> tuple:
    return tuple(a.shape)


def float_arrays(fn: str, allow_device: bool = True, **arrays):
    """Check that every non-None argument is a float32/float64 array, all of
    one dtype and all on one device. Returns (dtype, on_device)."""
    dtype = first = None
    device = None
    for name, a in arrays.items():
        if a is None:
            continue
        on_dev = is_device_array(a)
        if not on_dev and not isinstance(a, np.ndarray):
            raise TypeError(f"{fn}: {name} must be a NumPy array or a CUDA array, got {_kind(a)}")
        if on_dev and not allow_device:
            raise TypeError(f"{fn}: {name} is a CUDA array; this function takes NumPy arrays only")
        dt = _dtype_of(a)
        if dt not in FLOAT_DTYPES:
            raise TypeError(f"{fn}: {name} has dtype {dt}, expected float32 or float64")
        if dtype is None:
            dtype, first, device = dt, name, on_dev
            continue
        if dt != dtype:
            raise TypeError(f"{fn}: {name} has dtype {dt} but {first} has dtype {dtype}; "
                            "all floating inputs of one call must share one dtype")
        if on_dev != device:
            where = {True: "a CUDA array", False: "a NumPy (host) array"}
            raise TypeError(f"{fn}: {name} is {where[on_dev]} but {first} is {where[device]}; "
                            "inputs of one call must all live on the host or all on the GPU")
    return dtype, bool(device)


def check_ndim(fn: str, name: str, a, ndims, what: str = ""):
    nd = len(shape_of(a))
    ndims = (ndims,) if isinstance(ndims, int) else tuple(ndims)
    if nd not in ndims:
        exp = " or ".join(f"{d}-D" for d in ndims)
        raise ValueError(f"{fn}: {name} must be {exp}{' ' + what if what else ''}, "
                         f"got shape {shape_of(a)}")


def check_shape(fn: str, name: str, a, expected: tuple, what: str = ""):
    """`expected` may hold None for 'any size' along an axis."""
    s = shape_of(a)
    if len(s) != len(expected) or any(e is not None and e != d for d, e in zip(s, expected)):
        exp = "(" + ", ".join("*" if e is None else str(e) for e in expected) + ("," if len(expected) == 1 else "") + ")"
        raise ValueError(f"{fn}: {name} has shape {s}, expected {exp}{' ' + what if what else ''}")


def integer_labels(fn: str, name: str, target, shape: tuple, num_classes: int, ignore_index: int):
    """Class labels of the given shape, each in [0, num_classes) or equal to
    ignore_index. Returns the labels that are not ignored, as a host array
    (`target` itself when it is one and none is ignored)."""
    if not isinstance(target, np.ndarray) and not is_device_array(target):
        raise TypeError(f"{fn}: {name} must be an integer array, got {_kind(target)}")
    dt = _dtype_of(target)
    if dt.kind not in "iu":
        raise TypeError(f"{fn}: {name} has dtype {dt}, expected an integer dtype (class labels), "
                        f"or {name} of the shape of logits holding class probabilities")
    check_shape(fn, name, target, shape, "(one label per row of logits)")
    host = target
    if is_device_array(target):      # a small copy, and an out-of-range label would read out of bounds
        from .kernels.cuda import to_host
        host = to_host(target)
    if host.size == 0:
        return host.ravel()
    lo, hi = int(host.min()), int(host.max())
    if not lo <= ignore_index <= hi:
        kept = host.ravel()
    else:
        kept = host[host != ignore_index]
        if kept.size == 0:
            return kept
        lo, hi = int(kept.min()), int(kept.max())
    if lo < 0 or hi >= num_classes:
        raise ValueError(f"{fn}: {name} holds label {lo if lo < 0 else hi}, expected labels in "
                         f"[0, {num_classes}) or ignore_index ({ignore_index})")
    return kept


def label_to_ignore(fn: str, v) -> int:
    """cross-entropy's ignore_index: any int64, as torch's."""
    if not isinstance(v, numbers.Integral) or isinstance(v, bool):
        raise TypeError(f"{fn}: ignore_index must be an int, got {v!r}")
    if not -2 ** 63 <= v < 2 ** 63:
        raise ValueError(f"{fn}: ignore_index must fit in int64, got {v}")
    return int(v)


def choice(fn: str, name: str, v, options: tuple) -> str:
    """One of a few strings (a mode, as torch's reduction='mean')."""
    if not (isinstance(v, str) and v in options):
        alternatives = ", ".join(map(repr, options[:-1])) + f" or {options[-1]!r}"
        raise ValueError(f"{fn}: {name} must be {alternatives}, got {v!r}")
    return v


# --------------------------------------------------------------------------
# Scalars
# --------------------------------------------------------------------------

def count(fn: str, name: str, v, minimum: int) -> int:
    """An int >= minimum (a size or a number of layers)."""
    if not isinstance(v, numbers.Integral) or isinstance(v, bool):
        raise TypeError(f"{fn}: {name} must be an int, got {v!r}")
    if v < minimum:
        raise ValueError(f"{fn}: {name} must be >= {minimum}, got {v}")
    return int(v)


def flag(fn: str, name: str, v) -> bool:
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{fn}: {name} must be a bool, got {v!r}")
    return bool(v)


def pair(fn: str, name: str, v, minimum: int) -> tuple[int, int]:
    """An int or an (h, w) pair of ints, each >= minimum."""
    if type(v) is int or isinstance(v, numbers.Integral) and not isinstance(v, bool):
        v = (int(v), int(v))
    elif (isinstance(v, (tuple, list)) and len(v) == 2
          and all(isinstance(e, numbers.Integral) and not isinstance(e, bool) for e in v)):
        v = (int(v[0]), int(v[1]))
    else:
        raise TypeError(f"{fn}: {name} must be an int or an (h, w) pair of ints, got {v!r}")
    if min(v) < minimum:
        raise ValueError(f"{fn}: {name} must be >= {minimum}, got {v}")
    return v


def real(fn: str, name: str, v, lo=None, hi=None, lo_open=False, hi_open=False) -> float:
    """A real number in [lo, hi] (open ends where asked)."""
    if not isinstance(v, numbers.Real) or isinstance(v, bool):
        raise TypeError(f"{fn}: {name} must be a real number, got {v!r}")
    v = float(v)
    bad = (v != v
           or (lo is not None and (v < lo or (lo_open and v == lo)))
           or (hi is not None and (v > hi or (hi_open and v == hi))))
    if bad:
        lb = "(" if lo_open else "["
        rb = ")" if hi_open else "]"
        rng = f"{lb}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{rb}"
        raise ValueError(f"{fn}: {name} must be in {rng}, got {v}")
    return v


def axis_index(fn: str, name: str, axis, ndim: int) -> int:
    if not isinstance(axis, numbers.Integral) or isinstance(axis, bool):
        raise TypeError(f"{fn}: {name} must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{fn}: {name}={axis} is out of range for a {ndim}-D input")
    return int(axis) % ndim


def writable(fn: str, name: str, a, what: str):
    """A host array that `fn` updates in place must accept writes."""
    if isinstance(a, np.ndarray) and not a.flags.writeable:
        raise ValueError(f"{fn}: {name} is read-only, expected a writable array ({what})")


def nonempty(fn: str, name: str, a, batch_may_be_empty=False):
    """Every dimension of `a` is >= 1, or every one but the batch (the first),
    which torch lets be empty."""
    dims = shape_of(a)[1:] if batch_may_be_empty else shape_of(a)
    if 0 in dims:
        what = "every dimension but the batch" if batch_may_be_empty else "every dimension"
        raise ValueError(f"{fn}: {name} has shape {shape_of(a)}, expected {what} >= 1")


# --------------------------------------------------------------------------
# Per-op checkers (shared by fastnn.functional and fastnn.reference)
# --------------------------------------------------------------------------

class ConvGeom(NamedTuple):
    N: int
    C: int
    H: int
    W: int
    K: int
    R: int
    S: int
    sh: int
    sw: int
    ph: int
    pw: int
    OH: int
    OW: int


def _out_size(fn, what, size, k, s, p):
    if size + 2 * p < k:
        raise ValueError(f"{fn}: kernel {what} {k} is larger than the padded input {what} "
                         f"{size} + 2*{p} = {size + 2 * p}")
    return (size + 2 * p - k) // s + 1


def conv2d_args(fn, x, weight, bias, stride, padding, allow_device=True):
    dtype, dev = float_arrays(fn, allow_device, x=x, weight=weight, bias=bias)
    check_ndim(fn, "x", x, 4, "(N, C, H, W)")
    check_ndim(fn, "weight", weight, 4, "(K, C, R, S)")
    N, C, H, W = shape_of(x)
    K, Cw, R, S = shape_of(weight)
    if Cw != C:
        raise ValueError(f"{fn}: weight has shape {shape_of(weight)}, expected (K, {C}, R, S) "
                         f"to match the {C} channels of x {shape_of(x)}")
    nonempty(fn, "x", x, batch_may_be_empty=True)
    nonempty(fn, "weight", weight)
    if bias is not None:
        check_shape(fn, "bias", bias, (K,), "(one per output channel of weight)")
    sh, sw = pair(fn, "stride", stride, 1)
    ph, pw = pair(fn, "padding", padding, 0)
    OH = _out_size(fn, "height", H, R, sh, ph)
    OW = _out_size(fn, "width", W, S, sw, pw)
    return dtype, dev, ConvGeom(N, C, H, W, K, R, S, sh, sw, ph, pw, OH, OW)


def conv2d_backward_args(fn, dy, x, weight, stride, padding, allow_device=True):
    dtype, dev = float_arrays(fn, allow_device, dy=dy, x=x, weight=weight)
    _, _, g = conv2d_args(fn, x, weight, None, stride, padding, allow_device)
    check_shape(fn, "dy", dy, (g.N, g.K, g.OH, g.OW), "(the shape of conv2d's output)")
    return dtype, dev, g


class PoolGeom(NamedTuple):
    N: int
    C: int
    H: int
    W: int
    kh: int
    kw: int
    sh: int
    sw: int
    ph: int
    pw: int
    OH: int
    OW: int


def pool2d_args(fn, x, kernel_size, stride, padding, allow_device=True):
    dtype, dev = float_arrays(fn, allow_device, x=x)
    check_ndim(fn, "x", x, 4, "(N, C, H, W)")
    nonempty(fn, "x", x, batch_may_be_empty=True)
    N, C, H, W = shape_of(x)
    kh, kw = pair(fn, "kernel_size", kernel_size, 1)
    sh, sw = (kh, kw) if stride is None else pair(fn, "stride", stride, 1)
    ph, pw = pair(fn, "padding", padding, 0)
    if 2 * ph > kh or 2 * pw > kw:
        raise ValueError(f"{fn}: padding {(ph, pw)} must be at most half of kernel_size {(kh, kw)}")
    OH = _out_size(fn, "height", H, kh, sh, ph)
    OW = _out_size(fn, "width", W, kw, sw, pw)
    return dtype, dev, PoolGeom(N, C, H, W, kh, kw, sh, sw, ph, pw, OH, OW)


def pool2d_backward_args(fn, dy, x, kernel_size, stride, padding, allow_device=True):
    float_arrays(fn, allow_device, dy=dy, x=x)
    dtype, dev, g = pool2d_args(fn, x, kernel_size, stride, padding, allow_device)
    check_shape(fn, "dy", dy, (g.N, g.C, g.OH, g.OW), "(the shape of the pooling output)")
    return dtype, dev, g


class AdaptivePoolGeom(NamedTuple):
    N: int
    C: int
    H: int
    W: int
    OH: int
    OW: int


def adaptive_pool2d_args(fn, x, output_size, allow_device=True):
    """torch's output_size: an int or an (h, w) pair of ints >= 0, None in the pair
    keeping the input's size along that axis."""
    dtype, dev = float_arrays(fn, allow_device, x=x)
    check_ndim(fn, "x", x, 4, "(N, C, H, W)")
    nonempty(fn, "x", x, batch_may_be_empty=True)
    N, C, H, W = shape_of(x)
    if isinstance(output_size, (tuple, list)) and len(output_size) == 2:
        output_size = tuple(size if e is None else e for e, size in zip(output_size, (H, W)))
    OH, OW = pair(fn, "output_size", output_size, 0)
    return dtype, dev, AdaptivePoolGeom(N, C, H, W, OH, OW)


def adaptive_pool2d_backward_args(fn, dy, x, output_size, allow_device=True):
    float_arrays(fn, allow_device, dy=dy, x=x)
    dtype, dev, g = adaptive_pool2d_args(fn, x, output_size, allow_device)
    check_shape(fn, "dy", dy, (g.N, g.C, g.OH, g.OW), "(the shape of the pooling output)")
    return dtype, dev, g


def softmax_args(fn, x, axis, allow_device=True):
    dtype, dev = float_arrays(fn, allow_device, x=x)
    if len(shape_of(x)) == 0:
        raise ValueError(f"{fn}: x must have at least one dimension, got a 0-D array")
    return dtype, dev, axis_index(fn, "axis", axis, len(shape_of(x)))


def softmax_backward_args(fn, dy, y, axis, allow_device=True):
    dtype, dev = float_arrays(fn, allow_device, dy=dy, y=y)
    check_shape(fn, "dy", dy, shape_of(y), "(the shape of y)")
    _, _, ax = softmax_args(fn, y, axis, allow_device)
    return dtype, dev, ax


class CrossEntropyArgs(NamedTuple):
    dtype: np.dtype
    dev: bool
    lanes: tuple          # (outer, C, inner): logits as the kernels see them, classes on axis 1
    loss_shape: tuple     # reduction='none''s loss: the shape of logits without the class axis
    probs: bool           # target holds class probabilities (the shape of logits), not labels
    kept: object          # labels: the host labels not ignored (probabilities: None)
    reduction: str
    smoothing: float


def cross_entropy_args(fn, logits, target, weight, ignore_index, reduction, label_smoothing,
                       allow_device=True):
    """torch's F.cross_entropy inputs. logits (C,), (N, C) or (N, C, d1, ..., dk),
    classes on axis 1 (0 unbatched); target either labels (logits' shape without
    the class axis, any integer dtype, each in [0, C) or ignore_index) or class
    probabilities (logits' shape and dtype); weight None or (C,)."""
    probs = (isinstance(target, np.ndarray) or is_device_array(target)) and _dtype_of(target).kind == "f"
    probs = probs and shape_of(target) == shape_of(logits)
    probabilities = {"target": target} if probs else {}
    dtype, dev = float_arrays(fn, allow_device, logits=logits, weight=weight, **probabilities)
    shape = shape_of(logits)
    if len(shape) == 0:
        raise ValueError(f"{fn}: logits must be at least 1-D, (C,), (N, C) or (N, C, d1, ...), "
                         "got a 0-D array")
    axis = 1 if len(shape) > 1 else 0
    C = shape[axis]
    if C == 0:
        raise ValueError(f"{fn}: logits has shape {shape}, expected C >= 1 classes on axis {axis}")
    if weight is not None:
        check_shape(fn, "weight", weight, (C,), "(one weight per class)")
    ignore_index = label_to_ignore(fn, ignore_index)
    choice(fn, "reduction", reduction, ("mean", "sum", "none"))
    smoothing = real(fn, "label_smoothing", label_smoothing, 0.0, 1.0)
    loss_shape = shape[:axis] + shape[axis + 1:]
    kept = None
    if probs:
        if ignore_index >= 0:
            raise ValueError(f"{fn}: ignore_index={ignore_index} with class probabilities as target; "
                             "it applies to labels only (leave it negative)")
    else:
        if is_device_array(target) != dev:
            raise TypeError(f"{fn}: target and logits must both be host arrays or both CUDA arrays")
        kept = integer_labels(fn, "target", target, loss_shape, C, ignore_index)
    lanes = (shape[0] if axis else 1, C, math.prod(shape[2:]))
    return CrossEntropyArgs(dtype, dev, lanes, loss_shape, probs, kept, reduction, smoothing)


def bce_args(fn, logits, target, weight=None, reduction="mean", pos_weight=None, allow_device=True):
    """Float logits and target of one dtype, device and shape (targets are
    probabilities, as torch: not checked to lie in [0, 1]); weight and
    pos_weight None or of that dtype and device, broadcastable to logits'
    shape. Returns (dtype, on_device, reduction)."""
    dtype, dev = float_arrays(fn, allow_device, logits=logits, target=target, weight=weight,
                              pos_weight=pos_weight)
    shape = shape_of(logits)
    check_shape(fn, "target", target, shape, "(the shape of logits)")
    for name, a in (("weight", weight), ("pos_weight", pos_weight)):
        if a is not None and _broadcast_shape(shape_of(a), shape) != shape:     # more axes give a longer shape
            raise ValueError(f"{fn}: {name} has shape {shape_of(a)}, expected a shape that broadcasts to "
                             f"logits' shape {shape}")
    return dtype, dev, choice(fn, "reduction", reduction, ("mean", "sum", "none"))


def _broadcast_shape(a, b):
    try:
        return np.broadcast_shapes(a, b)
    except ValueError:
        return None


def linear_args(fn, x, weight, bias, allow_device=True):
    """x (*, in_features): any leading dimensions, as torch. Returns (dtype,
    on_device, (N, I, O)) with N the product of x's leading dimensions."""
    dtype, dev = float_arrays(fn, allow_device, x=x, weight=weight, bias=bias)
    if len(shape_of(x)) == 0:
        raise ValueError(f"{fn}: x must be at least 1-D (*, in_features), got a 0-D array")
    check_ndim(fn, "weight", weight, 2, "(out_features, in_features)")
    *lead, I = shape_of(x)
    O, Iw = shape_of(weight)
    if Iw != I:
        raise ValueError(f"{fn}: weight has shape {(O, Iw)}, expected ({O}, {I}) "
                         f"to match the {I} features of x {shape_of(x)}")
    if bias is not None:
        check_shape(fn, "bias", bias, (O,), "(out_features,)")
    return dtype, dev, (math.prod(lead), I, O)


def linear_backward_args(fn, dy, x, weight, allow_device=True):
    dtype, dev = float_arrays(fn, allow_device, dy=dy, x=x, weight=weight)
    _, _, (N, I, O) = linear_args(fn, x, weight, None, allow_device)
    check_shape(fn, "dy", dy, shape_of(x)[:-1] + (O,), "(the shape of linear's output)")
    return dtype, dev, (N, I, O)


def elementwise_args(fn, allow_device=True, **arrays):
    """Same-shaped float arrays (the first one sets the shape)."""
    dtype, dev = float_arrays(fn, allow_device, **arrays)
    names = list(arrays)
    ref = arrays[names[0]]
    for name in names[1:]:
        check_shape(fn, name, arrays[name], shape_of(ref), f"(the shape of {names[0]})")
    return dtype, dev


def batch_norm_args(fn, x, gamma, beta, running_mean, running_var, training, momentum, eps,
                    allow_device=True):
    dtype, dev = float_arrays(fn, allow_device, x=x, gamma=gamma, beta=beta,
                              running_mean=running_mean, running_var=running_var)
    s = shape_of(x)
    if len(s) < 2:
        raise ValueError(f"{fn}: x must be at least 2-D (N, C, *), got shape {s}")
    C = s[1]
    for name, a in (("gamma", gamma), ("beta", beta), ("running_mean", running_mean),
                    ("running_var", running_var)):
        if a is not None:
            check_shape(fn, name, a, (C,), f"(one per channel of x {s})")
    if not training and (running_mean is None or running_var is None):
        raise ValueError(f"{fn}: running_mean and running_var are required when training=False")
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{fn}: give both running_mean and running_var, or neither")
    if training:
        for name, a in (("running_mean", running_mean), ("running_var", running_var)):
            writable(fn, name, a, "training updates the running statistics in place")
    real(fn, "momentum", momentum, 0.0, 1.0)
    real(fn, "eps", eps, 0.0, None)
    M = s[0] * math.prod(s[2:])
    if training and M == 1:
        raise ValueError(f"{fn}: x has shape {s}: training needs more than one value per channel "
                         "to estimate the batch variance")
    return dtype, dev


def dropout_args(fn, x, p, allow_device=True):
    dtype, dev = float_arrays(fn, allow_device, x=x)
    return dtype, dev, real(fn, "p", p, 0.0, 1.0)


def dropout_backward_args(fn, dy, mask, p, allow_device=True):
    dtype, dev = float_arrays(fn, allow_device, dy=dy)
    if not isinstance(mask, np.ndarray) and not is_device_array(mask):
        raise TypeError(f"{fn}: mask must be the boolean array dropout returned, got {_kind(mask)}")
    if _dtype_of(mask) != np.dtype(np.bool_):
        raise TypeError(f"{fn}: mask has dtype {_dtype_of(mask)}, expected bool (dropout's mask)")
    if is_device_array(mask) != dev:
        raise TypeError(f"{fn}: mask and dy must both be host arrays or both CUDA arrays")
    check_shape(fn, "mask", mask, shape_of(dy), "(the shape of dy)")
    return dtype, dev, real(fn, "p", p, 0.0, 1.0)


def _rnn_weights(fn, gates, x_name, I, weight_ih, weight_hh, bias_ih, bias_hh):
    check_ndim(fn, "weight_hh", weight_hh, 2, f"({gates}*hidden_size, hidden_size)")
    GH, H = shape_of(weight_hh)
    if GH != gates * H:
        raise ValueError(f"{fn}: weight_hh has shape {(GH, H)}, expected ({gates * H}, {H}) "
                         f"({gates} gates of hidden_size {H})")
    check_shape(fn, "weight_ih", weight_ih, (gates * H, I),
                f"({gates}*hidden_size, input_size of {x_name})")
    for name, b in (("bias_ih", bias_ih), ("bias_hh", bias_hh)):
        if b is not None:
            check_shape(fn, name, b, (gates * H,), f"({gates}*hidden_size,)")
    return H


def rnn_cell_args(fn, gates, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh, allow_device=True):
    dtype, dev = float_arrays(fn, allow_device, x=x, h=h, c=c, weight_ih=weight_ih,
                              weight_hh=weight_hh, bias_ih=bias_ih, bias_hh=bias_hh)
    check_ndim(fn, "x", x, 2, "(N, input_size)")
    N, I = shape_of(x)
    H = _rnn_weights(fn, gates, "x", I, weight_ih, weight_hh, bias_ih, bias_hh)
    check_shape(fn, "h", h, (N, H), "(N, hidden_size)")
    if c is not None:
        check_shape(fn, "c", c, (N, H), "(N, hidden_size)")
    return dtype, dev, (N, I, H)


def rnn_seq_args(fn, gates, x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, allow_device=True):
    dtype, dev = float_arrays(fn, allow_device, x=x, h0=h0, c0=c0, weight_ih=weight_ih,
                              weight_hh=weight_hh, bias_ih=bias_ih, bias_hh=bias_hh)
    check_ndim(fn, "x", x, 3, "(T, N, input_size)")
    T, N, I = shape_of(x)
    if T == 0:      # as torch: an empty sequence has no last state to return
        raise ValueError(f"{fn}: x has shape {(T, N, I)}, expected a sequence length T >= 1")
    H = _rnn_weights(fn, gates, "x", I, weight_ih, weight_hh, bias_ih, bias_hh)
    for name, a in (("h0", h0), ("c0", c0)):
        if a is not None:
            check_shape(fn, name, a, (N, H), "(N, hidden_size)")
    return dtype, dev, (T, N, I, H)


def nonlinearity(fn, v):
    """An Elman RNN's nonlinearity, as torch.nn.RNN."""
    return choice(fn, "nonlinearity", v, ("tanh", "relu"))


def grad_like(fn, name, g, expected_shape, dtype, dev):
    """An optional incoming gradient (None = zero) of a known shape."""
    if g is None:
        return
    gd, gdev = float_arrays(fn, True, **{name: g})
    if gd != dtype:
        raise TypeError(f"{fn}: {name} has dtype {gd}, expected {dtype} like the forward inputs")
    if gdev != dev:
        raise TypeError(f"{fn}: {name} must live on the same device as the forward inputs")
    check_shape(fn, name, g, expected_shape)


def dropout_seed(fn, seed):
    """None, or an int taken modulo 2**64 (the width of the random stream's counter)."""
    if seed is None:
        return None
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
        raise TypeError(f"{fn}: seed must be an int or None, got {seed!r}")
    return int(seed) % 2 ** 64
