"""Module: the base of every layer, with torch.nn.Module's bookkeeping.

Assigning a Parameter, a Module or a registered buffer to an attribute
records it under that name, so parameters(), named_parameters() and
state_dict() produce torch's dotted names ("features.0.weight",
"bn.running_mean") in registration order. Unlike torch there is no autograd:
forward(x) keeps what its backward needs, and backward(dy) returns dx and
accumulates every parameter's .grad (one forward in flight per module).
"""
from collections import OrderedDict

import numpy as np

from .. import _checks
from .parameter import Parameter


class Module:
    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------- registration

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call Module.__init__() before assigning "
                                 f"attributes (while setting {name!r})")
        target = (self._parameters if isinstance(value, Parameter) else
                  self._modules if isinstance(value, Module) else
                  self._buffers if name in self._buffers and _is_array(value) else None)
        # as torch: a registered name takes a value of its kind again, or None (unregistered)
        if target is None and value is not None:
            if name in self._parameters:
                self._cannot_assign(name, value, f"a Parameter or None (to set its values: "
                                                 f"{name}.data[...] = ...)")
            if name in self._modules or name in self._buffers:
                self._cannot_assign(name, value, "a Module or None" if name in self._modules
                                    else "an array or None")
        for table in (self._parameters, self._buffers, self._modules):
            if table is not target:     # a name re-assigned in its own table keeps its place, as torch
                table.pop(name, None)
        if target is None:
            object.__setattr__(self, name, value)
            return
        target[name] = value
        self.__dict__.pop(name, None)

    def _cannot_assign(self, name, value, expected):
        raise TypeError(f"{type(self).__name__}: cannot assign {_checks._kind(value)} to {name!r}, "
                        f"expected {expected}")

    def __getattr__(self, name):
        for table in ("_parameters", "_buffers", "_modules"):
            d = self.__dict__.get(table)
            if d is not None and name in d:
                return d[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def register_buffer(self, name, array):
        """A state array saved in state_dict but not trained (running statistics)."""
        self.__dict__.pop(name, None)
        self._buffers[name] = array

    # ------------------------------------------------------------ compute

    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def backward(self, dy):
        raise NotImplementedError(f"{type(self).__name__}.backward")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ----------------------------------------------------------- traversal

    def _walk(self, prefix=""):
        """(dotted name, module) along every path, a shared module under each of
        its names: state_dict's traversal, as torch's."""
        yield prefix, self
        for name, m in self._modules.items():
            yield from m._walk(f"{prefix}.{name}" if prefix else name)

    def named_modules(self, prefix=""):
        """Each module once, under the first name that reaches it, as torch."""
        yield from _first_of_each(self._walk(prefix))

    def modules(self):
        return [m for _, m in self.named_modules()]

    def children(self):
        return list(self._modules.values())

    def named_parameters(self, prefix=""):
        """Each parameter once: a tied weight (one Parameter in two modules) under
        its first name, as torch, so an optimizer steps it once."""
        yield from _first_of_each(self._named_members("_parameters", prefix))

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix=""):
        yield from _first_of_each(self._named_members("_buffers", prefix))

    def _named_members(self, table, prefix):
        for mod_name, m in self._walk(prefix):
            for name, v in getattr(m, table).items():
                yield (f"{mod_name}.{name}" if mod_name else name), v

    # --------------------------------------------------------- state dict

    def state_dict(self):
        """OrderedDict of name -> array (copies), torch's names and order:
        each module's parameters, then its buffers, then its children."""
        out = OrderedDict()
        for mod_name, m in self._walk():
            pre = f"{mod_name}." if mod_name else ""
            for name, p in m._parameters.items():
                out[pre + name] = _to_host(p.data).copy()
            for name, b in m._buffers.items():
                out[pre + name] = _to_host(b).copy()
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays (NumPy, or anything np.asarray takes: torch CPU tensors'
        .numpy()) into parameters and buffers, checking names and shapes."""
        own = OrderedDict()
        for mod_name, m in self._walk():
            pre = f"{mod_name}." if mod_name else ""
            for name in m._parameters:
                own[pre + name] = (m, name, True)
            for name in m._buffers:
                own[pre + name] = (m, name, False)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"{type(self).__name__}.load_state_dict: missing keys {missing}, "
                           f"unexpected keys {unexpected}")
        for key, (m, name, is_param) in own.items():
            if key not in state_dict:
                continue
            value = np.asarray(state_dict[key])
            target = m._parameters[name].data if is_param else m._buffers[name]
            if value.shape != _checks.shape_of(target):
                raise ValueError(f"{type(self).__name__}.load_state_dict: {key} has shape "
                                 f"{value.shape}, expected {_checks.shape_of(target)}")
            host = np.ascontiguousarray(value, dtype=np.dtype(target.dtype))
            if _checks.is_device_array(target):
                target.copy_to_device(host)
            else:
                target[...] = host
        return missing, unexpected

    # ---------------------------------------------------------------- modes

    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad[...] = 0

    def to(self, device):
        """Move parameters, gradients and floating-point buffers to "cpu" or "cuda"
        (in place; returns self). Integer counters stay host scalars. An optimizer
        over these parameters follows with its own .to(device)."""
        if device not in ("cpu", "cuda"):
            raise ValueError(f"{type(self).__name__}.to: device must be 'cpu' or 'cuda', got {device!r}")
        move = _to_host if device == "cpu" else _to_device
        for m in self.modules():
            for p in m._parameters.values():
                p.data = move(p.data)
                if p.grad is not None:
                    p.grad = move(p.grad)
            for name, b in list(m._buffers.items()):
                if np.dtype(b.dtype).kind == "f":      # counters (num_batches_tracked) stay on the host
                    m._buffers[name] = move(b)
        return self

    # ------------------------------------------------------------- display

    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        if self._modules:
            for name, m in self._modules.items():
                body = repr(m).replace("\n", "\n  ")
                lines.append(f"  ({name}): {body}")
            lines.append(")")
            return "\n".join(lines)
        return lines[0] + ")"


def _is_array(a):
    return isinstance(a, np.ndarray) or _checks.is_device_array(a)


def _first_of_each(named):
    """(name, object) pairs, each object once (by identity), in order."""
    seen = set()
    for name, v in named:
        if id(v) not in seen:
            seen.add(id(v))
            yield name, v


def _to_host(a):
    return a.copy_to_host() if _checks.is_device_array(a) else a


def _to_device(a):
    if _checks.is_device_array(a):
        return a
    from numba import cuda
    if not cuda.is_available():
        raise RuntimeError("to('cuda'): no CUDA device is available (set NUMBA_ENABLE_CUDASIM=1 "
                           "to use Numba's simulator)")
    return cuda.to_device(np.ascontiguousarray(a))
