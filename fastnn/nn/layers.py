"""The feed-forward layers: each forward keeps what its backward needs, and
each backward returns dx and accumulates its parameters' gradients. The
arithmetic is fastnn.functional's; these classes hold parameters and state."""
import math
import numbers

import numpy as np

from .. import _checks
from .. import functional as F
from . import init
from .module import Module
from .parameter import Parameter


class Linear(Module):
    """y = x W^T + b; weight (out_features, in_features), bias (out_features,)."""

    def __init__(self, in_features, out_features, bias=True, dtype=np.float32):
        super().__init__()
        self.in_features = _checks.count("Linear", "in_features", in_features, 0)
        self.out_features = _checks.count("Linear", "out_features", out_features, 0)
        self.weight = Parameter(init.torch_default((out_features, in_features), in_features, dtype))
        self.bias = Parameter(init.torch_default((out_features,), in_features, dtype)) if bias else None

    def forward(self, x):
        self._x = x
        return F.linear(x, self.weight.data, self.bias.data if self.bias is not None else None)

    def backward(self, dy):
        dx, dw, db = F.linear_backward(dy, self._x, self.weight.data)
        self.weight.accumulate_grad(dw, take=True)
        if self.bias is not None:
            self.bias.accumulate_grad(db, take=True)
        return dx

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Conv2d(Module):
    """2-D convolution; weight (out_channels, in_channels, kh, kw), bias (out_channels,)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True,
                 dtype=np.float32):
        super().__init__()
        self.in_channels = _checks.count("Conv2d", "in_channels", in_channels, 1)
        self.out_channels = _checks.count("Conv2d", "out_channels", out_channels, 1)
        kh, kw = self.kernel_size = _checks.pair("Conv2d", "kernel_size", kernel_size, 1)
        self.stride = _checks.pair("Conv2d", "stride", stride, 1)
        self.padding = _checks.pair("Conv2d", "padding", padding, 0)
        fan_in = in_channels * kh * kw
        self.weight = Parameter(init.torch_default((out_channels, in_channels, kh, kw), fan_in, dtype))
        self.bias = Parameter(init.torch_default((out_channels,), fan_in, dtype)) if bias else None

    def forward(self, x):
        self._x = x
        return F.conv2d(x, self.weight.data, self.bias.data if self.bias is not None else None,
                        self.stride, self.padding)

    def backward(self, dy):
        dx, dw, db = F.conv2d_backward(dy, self._x, self.weight.data, self.stride, self.padding)
        self.weight.accumulate_grad(dw, take=True)
        if self.bias is not None:
            self.bias.accumulate_grad(db, take=True)
        return dx

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")


class _Pool(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        self._x = x
        return self.FWD(x, self.kernel_size, self.stride, self.padding)

    def backward(self, dy):
        return self.BWD(dy, self._x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool):
    FWD, BWD = staticmethod(F.max_pool2d), staticmethod(F.max_pool2d_backward)


class AvgPool2d(_Pool):
    FWD, BWD = staticmethod(F.avg_pool2d), staticmethod(F.avg_pool2d_backward)


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size (OH, OW); 1 is global average pooling,
    as at the end of torchvision's ResNets."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        self._x = x
        return F.adaptive_avg_pool2d(x, self.output_size)

    def backward(self, dy):
        return F.adaptive_avg_pool2d_backward(dy, self._x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class ReLU(Module):
    def forward(self, x):
        self._x = x
        return F.relu(x)

    def backward(self, dy):
        return F.relu_backward(dy, self._x)


class LeakyReLU(Module):
    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        self._x = x
        return F.leaky_relu(x, self.negative_slope)

    def backward(self, dy):
        return F.leaky_relu_backward(dy, self._x, self.negative_slope)


class Sigmoid(Module):
    def forward(self, x):
        self._y = F.sigmoid(x)
        return self._y

    def backward(self, dy):
        return F.sigmoid_backward(dy, self._y)


class Tanh(Module):
    def forward(self, x):
        self._y = F.tanh(x)
        return self._y

    def backward(self, dy):
        return F.tanh_backward(dy, self._y)


class Softmax(Module):
    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        self._y = F.softmax(x, self.dim)
        return self._y

    def backward(self, dy):
        return F.softmax_backward(dy, self._y, self.dim)


class Flatten(Module):
    """(N, ...) -> (N, prod(...)), as torch.nn.Flatten() with start_dim=1."""

    def forward(self, x):
        self._shape = _checks.shape_of(x)
        return x.reshape(self._shape[0], math.prod(self._shape[1:]))   # N = 0 works too

    def backward(self, dy):
        return dy.reshape(self._shape)


class _BatchNorm(Module):
    """torch's options: affine=False drops weight and bias (gamma = 1, beta = 0);
    track_running_stats=False keeps no running statistics and normalises by the
    batch's in eval mode too; momentum=None makes the running statistics the
    plain average of every batch so far (factor 1 / num_batches_tracked)."""
    NDIM = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 dtype=np.float32):
        super().__init__()
        name = type(self).__name__
        self.num_features = _checks.count(name, "num_features", num_features, 1)
        self.eps = _checks.real(name, "eps", eps, 0.0, None)
        self.momentum = None if momentum is None else _checks.real(name, "momentum", momentum, 0.0, 1.0)
        self.affine = _checks.flag(name, "affine", affine)
        self.track_running_stats = _checks.flag(name, "track_running_stats", track_running_stats)
        self.weight = Parameter(np.ones(num_features, dtype)) if affine else None
        self.bias = Parameter(np.zeros(num_features, dtype)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype))
            self.register_buffer("running_var", np.ones(num_features, dtype))
            self.register_buffer("num_batches_tracked", np.zeros((), np.int64))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def forward(self, x):
        _checks.check_ndim(type(self).__name__, "x", x, self.NDIM)
        batch_stats = self.training or not self.track_running_stats
        momentum = self.momentum or 0.0       # None: unused unless running statistics are updated
        if self.training and self.track_running_stats:
            self.num_batches_tracked[...] += 1
            if self.momentum is None:
                momentum = 1.0 / float(self.num_batches_tracked)
        gamma, beta = (None if p is None else p.data for p in (self.weight, self.bias))
        y, self._cache = F.batch_norm(x, gamma, beta, self.running_mean, self.running_var, batch_stats,
                                      momentum, self.eps)
        return y

    def backward(self, dy):
        dx, dgamma, dbeta = F.batch_norm_backward(dy, self._cache)
        if self.affine:
            self.weight.accumulate_grad(dgamma, take=True)
            self.bias.accumulate_grad(dbeta, take=True)
        return dx

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C), or (N, C, L) per channel."""
    NDIM = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W), per channel."""
    NDIM = (4,)


class Dropout(Module):
    """Inverted dropout in training mode, the identity in eval mode."""

    def __init__(self, p=0.5):
        super().__init__()
        _checks.real("Dropout", "p", p, 0.0, 1.0)
        self.p = p

    def forward(self, x):
        y, self._mask = F.dropout(x, self.p, self.training)
        return y

    def backward(self, dy):
        return F.dropout_backward(dy, self._mask, self.p if self.training else 0.0)

    def extra_repr(self):
        return f"p={self.p}"


class Embedding(Module):
    """Rows of a (num_embeddings, embedding_dim) table, looked up by integer index."""

    def __init__(self, num_embeddings, embedding_dim, dtype=np.float32):
        super().__init__()
        self.num_embeddings = _checks.count("Embedding", "num_embeddings", num_embeddings, 0)
        self.embedding_dim = _checks.count("Embedding", "embedding_dim", embedding_dim, 0)
        self.weight = Parameter(init.normal((num_embeddings, embedding_dim), 1.0, dtype))

    def forward(self, idx):
        if _checks.is_device_array(idx) or _checks.is_device_array(self.weight.data):
            raise TypeError("Embedding runs on the host: pass NumPy indices and keep it on 'cpu'")
        idx = np.asarray(idx)
        if idx.dtype.kind not in "iu":
            raise TypeError(f"Embedding: idx has dtype {idx.dtype}, expected an integer dtype")
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_embeddings):
            bad = idx.min() if idx.min() < 0 else idx.max()
            raise ValueError(f"Embedding: idx holds {bad}, expected indices in [0, {self.num_embeddings})")
        self._idx = idx
        return self.weight.data[idx]

    def backward(self, dy):
        grad = np.zeros_like(self.weight.data)
        np.add.at(grad, self._idx.reshape(-1), dy.reshape(-1, self.embedding_dim))
        self.weight.accumulate_grad(grad, take=True)
        return None                       # no gradient flows into integer indices

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


class Identity(Module):
    """y = x (a placeholder, as torch.nn.Identity)."""

    def forward(self, x):
        return x

    def backward(self, dy):
        return dy


class Sequential(Module):
    """Modules applied in order; backward runs them in reverse."""

    def __init__(self, *modules):
        super().__init__()
        for i, m in enumerate(modules):
            setattr(self, str(i), m)

    def __getitem__(self, i):
        """A module, or for a slice a Sequential of those modules under their names, as torch."""
        if isinstance(i, slice):
            part = Sequential()
            for name, m in list(self._modules.items())[i]:
                setattr(part, name, m)
            return part
        return list(self._modules.values())[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(list(self._modules.values()))

    def append(self, module):
        setattr(self, str(len(self)), module)
        return self

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def backward(self, dy):
        for m in reversed(self._modules.values()):
            dy = m.backward(dy)
        return dy


class CrossEntropyLoss(Module):
    """Softmax cross-entropy, torch's constructor arguments: forward(logits, target)
    -> the loss (a float; an array for reduction='none'); backward(dloss=None) ->
    dlogits, from the same fused pass (see F.cross_entropy for the shapes).

    backward's dloss scales the gradient: a number, or for reduction='none' an
    array of the loss's shape; None means 1 (for 'none': the gradient of the
    summed losses). `weight`, when given, is a buffer, in the state dict as torch's."""

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__()
        fn = "CrossEntropyLoss"
        if weight is not None:
            _checks.float_arrays(fn, True, weight=weight)
            _checks.check_ndim(fn, "weight", weight, 1, "(C,)")
            self.register_buffer("weight", weight)
        else:
            self.weight = None
        self.ignore_index = _checks.label_to_ignore(fn, ignore_index)
        self.reduction = _checks.choice(fn, "reduction", reduction, ("mean", "sum", "none"))
        self.label_smoothing = _checks.real(fn, "label_smoothing", label_smoothing, 0.0, 1.0)

    def forward(self, logits, target):
        loss, self._dlogits = F.cross_entropy(logits, target, self.weight, self.ignore_index, self.reduction,
                                              self.label_smoothing)
        self._class_axis = 1 if len(_checks.shape_of(logits)) > 1 else 0
        return loss

    def backward(self, dloss=None):
        return _times_dloss("CrossEntropyLoss", self._dlogits, dloss, self.reduction, self._class_axis)

    def extra_repr(self):
        return (f"ignore_index={self.ignore_index}, reduction={self.reduction!r}, "
                f"label_smoothing={self.label_smoothing}")


class BCEWithLogitsLoss(Module):
    """Binary cross-entropy on logits (logistic regression's loss), torch's
    constructor arguments: forward(logits, target of the same shape,
    probabilities) -> the loss (a float; an array for reduction='none');
    backward(dloss=None) -> dlogits, from the same fused pass (see
    F.binary_cross_entropy_with_logits).

    backward's dloss scales the gradient: a number, or for reduction='none' an
    array like the loss. `weight` and `pos_weight`, when given, are buffers, in
    the state dict as torch's."""

    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        super().__init__()
        fn = "BCEWithLogitsLoss"
        _checks.float_arrays(fn, True, weight=weight, pos_weight=pos_weight)
        for name, a in (("weight", weight), ("pos_weight", pos_weight)):
            if a is not None:
                self.register_buffer(name, a)
            else:
                setattr(self, name, None)
        self.reduction = _checks.choice(fn, "reduction", reduction, ("mean", "sum", "none"))

    def forward(self, logits, target):
        loss, self._dlogits = F.binary_cross_entropy_with_logits(logits, target, self.weight, self.reduction,
                                                                 self.pos_weight)
        return loss

    def backward(self, dloss=None):
        return _times_dloss("BCEWithLogitsLoss", self._dlogits, dloss, self.reduction, None)

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


def _times_dloss(fn, dlogits, dloss, reduction, class_axis):
    """A loss's gradient dlogits scaled by the incoming dloss: None (1), a number,
    or for reduction='none' an array of the loss's shape (dlogits' without the
    class axis, or the same shape when class_axis is None), on dlogits' device."""
    if dloss is None:
        return dlogits
    on_device = not isinstance(dlogits, np.ndarray)
    shape = _checks.shape_of(dlogits)
    if reduction != "none":
        if isinstance(dloss, np.ndarray) and dloss.ndim == 0:
            dloss = dloss[()]
        if not isinstance(dloss, numbers.Real) or isinstance(dloss, bool):
            raise TypeError(f"{fn}.backward: dloss must be a number for reduction={reduction!r}, "
                            f"got {dloss!r}")
        if not on_device:
            return dlogits * dlogits.dtype.type(dloss)
        return _device_scale(dlogits, float(dloss), (1, math.prod(shape), 1))
    lanes = (math.prod(shape), 1, 1) if class_axis is None else (
        math.prod(shape[:class_axis]), shape[class_axis], math.prod(shape[class_axis + 1:]))
    loss_shape = shape if class_axis is None else shape[:class_axis] + shape[class_axis + 1:]
    _checks.grad_like(fn + ".backward", "dloss", dloss, loss_shape, np.dtype(dlogits.dtype), on_device)
    if not on_device:
        return dlogits * (dloss if class_axis is None else np.expand_dims(dloss, class_axis))
    from ..kernels.cuda import as_contiguous, view
    return _device_scale(dlogits, view(as_contiguous(dloss), (lanes[0], lanes[2])), lanes)


def _device_scale(a, s, lanes):
    """a (on the GPU) times s, a number or a device array spread over lanes' middle axis."""
    from ..kernels.cuda import device_empty, scale, view
    out = device_empty(a.shape, a.dtype)
    scale(view(a, lanes), s, view(out, lanes))
    return out


class ResidualBlock(Module):
    """The course's skip connection, a[l+2] = relu(z[l+2] + a[l]) (He et al. 2016):

        main:     conv3x3(stride) - BN - ReLU - conv3x3 - BN
        shortcut: identity, or conv1x1(stride) - BN when the shape changes
        out = relu(main(x) + shortcut(x))
    """

    def __init__(self, in_channels, out_channels, stride=1, dtype=np.float32):
        super().__init__()
        self.main = Sequential(
            Conv2d(in_channels, out_channels, 3, stride, 1, bias=False, dtype=dtype),
            BatchNorm2d(out_channels, dtype=dtype), ReLU(),
            Conv2d(out_channels, out_channels, 3, 1, 1, bias=False, dtype=dtype),
            BatchNorm2d(out_channels, dtype=dtype))
        if stride != 1 or in_channels != out_channels:
            self.shortcut = Sequential(Conv2d(in_channels, out_channels, 1, stride, 0, bias=False, dtype=dtype),
                                       BatchNorm2d(out_channels, dtype=dtype))
        else:
            self.shortcut = Sequential()
        self.relu = ReLU()

    def forward(self, x):
        return self.relu(_add(self.main(x), self.shortcut(x)))

    def backward(self, dy):
        dz = self.relu.backward(dy)
        return _add(self.main.backward(dz), self.shortcut.backward(dz))


def _add(a, b):
    """a + b on the host or the device (a fresh array; the inputs stay as they are)."""
    if isinstance(a, np.ndarray):
        return a + b
    from ..kernels.cuda import add, as_contiguous, device_empty
    out = device_empty(a.shape, a.dtype)
    add(as_contiguous(a), as_contiguous(b), out)
    return out
