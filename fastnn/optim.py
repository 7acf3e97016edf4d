"""fastnn.optim: SGD, RMSprop, Adam and AdamW as torch.optim defines them.

Each step is ONE fused kernel call over every parameter (kernels/cpu/optim.py):
parameters are updated in place, whether plain arrays or fastnn.nn.Parameter.
State (momentum buffers, moment estimates) lives in flat buffers, one per
kind of state, that state_dict() presents per parameter with torch's names.

    opt = Adam(model.parameters(), lr=1e-3)
    loss.backward(...); opt.step(); opt.zero_grad()
    opt.step(grads)          # or give the gradients explicitly, aligned with params
"""
import numpy as np
from numba import typed

from . import _checks as chk
from .kernels import cpu as _cpu
from .kernels.cpu._threads import serial_if_small

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW"]


def _data(p):
    return p.data if hasattr(p, "grad") and hasattr(p, "data") else p


def _is_contiguous(a):
    return a.flags.c_contiguous if isinstance(a, np.ndarray) else a.is_c_contiguous()


def _to_host(a):
    return a if isinstance(a, np.ndarray) else a.copy_to_host()


def _copy_into(host, buf):
    """buf (a state buffer, host or device) <- host values."""
    if isinstance(buf, np.ndarray):
        buf[...] = host
    else:
        buf.copy_to_device(np.ascontiguousarray(host))


class Optimizer:
    """Base class: parameter bookkeeping, gradient collection, state_dict.

    Subclasses name their state buffers (STATE) and hyperparameters
    (`defaults`), and implement _update(grads, active)."""

    STATE: tuple = ()

    def __init__(self, params, defaults):
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: params is an empty list")
        arrays = [_data(p) for p in self.params]
        self.dtype, self.on_device = chk.float_arrays(
            type(self).__name__, **{f"params[{i}]": a for i, a in enumerate(arrays)})
        first = {}
        for i, a in enumerate(arrays):
            name = f"params[{i}]"
            if not _is_contiguous(a):
                raise ValueError(f"{type(self).__name__}: {name} is not C-contiguous; "
                                 "parameters are updated in place through a flat view")
            chk.writable(type(self).__name__, name, a, "parameters are updated in place")
            # torch warns that this "will cause an error": each step would update it twice
            if first.setdefault(id(a), i) != i:
                raise ValueError(f"{type(self).__name__}: {name} is params[{first[id(a)]}] again, "
                                 "expected each parameter once")
        sizes = [int(np.prod(chk.shape_of(a))) for a in arrays]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.defaults = dict(defaults)
        total = int(self.offsets[-1])
        self.state = {name: self._zeros(total) for name in self.STATE}
        self.steps = np.zeros(len(arrays), np.int64)      # per parameter, as torch
        self._param_views = (None, None)
        self._grad_cache = (None, None)

    def _kernels(self):
        if self.on_device:
            from .kernels import cuda
            return cuda
        return _cpu

    def _zeros(self, n):
        if self.on_device:
            from .kernels.cuda import device_zeros
            return device_zeros((n,), self.dtype)
        return np.zeros(n, self.dtype)

    def _flat(self, a):
        return a.reshape(int(np.prod(chk.shape_of(a))))

    def _views(self):
        """The flat views of the parameters that the kernels update: a typed list on
        the CPU (one kernel call for all tensors), a list of device views on the GPU.
        Rebuilt when a parameter's array is replaced (Module.to() does that)."""
        arrays = [_data(p) for p in self.params]
        ids = tuple(id(a) for a in arrays)
        key, views = self._param_views
        if ids != key:
            if any(chk.is_device_array(a) != self.on_device for a in arrays):
                where = "cuda" if not self.on_device else "cpu"
                raise TypeError(f"{type(self).__name__}.step: the parameters moved to {where}; "
                                f"call .to({where!r}) on the optimizer too")
            flat = [self._flat(a) for a in arrays]
            views = flat if self.on_device else typed.List(flat)
            self._param_views = (ids, views)
        return views

    def to(self, device):
        """Move the optimizer state to "cpu" or "cuda" (after moving the parameters)."""
        if device not in ("cpu", "cuda"):
            raise ValueError(f"{type(self).__name__}.to: device must be 'cpu' or 'cuda', got {device!r}")
        on_device = device == "cuda"
        if on_device != self.on_device:
            host = {k: _to_host(v) for k, v in self.state.items()}
            self.on_device = on_device
            for k, v in host.items():
                self.state[k] = self._zeros(v.size)
                _copy_into(v, self.state[k])
            self._param_views = self._grad_cache = (None, None)
        return self

    # ---------------------------------------------------------------- step

    def _gather_grads(self, grads):
        """-> (typed list of flat grads, active mask) after checking them against params."""
        name = type(self).__name__
        if grads is None:
            if not all(hasattr(p, "grad") for p in self.params):
                raise TypeError(f"{name}.step: plain-array params have no .grad; pass grads=[...]")
            grads = [p.grad for p in self.params]
        grads = list(grads)
        if len(grads) != len(self.params):
            raise ValueError(f"{name}.step: got {len(grads)} grads for {len(self.params)} params")
        active = np.array([g is not None for g in grads])
        flat = []
        for i, (p, g) in enumerate(zip(self.params, grads)):
            a = _data(p)
            if g is None:
                flat.append(self._flat(a))          # placeholder, skipped by the kernel
                continue
            gd, gdev = chk.float_arrays(f"{name}.step", **{f"grads[{i}]": g})
            if gd != self.dtype:
                raise TypeError(f"{name}.step: grads[{i}] has dtype {gd}, expected {self.dtype} "
                                f"like params[{i}]")
            if gdev != self.on_device:
                raise TypeError(f"{name}.step: grads[{i}] and params[{i}] must live on the same device")
            chk.check_shape(f"{name}.step", f"grads[{i}]", g, chk.shape_of(a),
                            f"(the shape of params[{i}])")
            if self.on_device:
                from .kernels.cuda import as_contiguous, flat as device_flat
                flat.append(device_flat(as_contiguous(g)))
            else:
                flat.append(np.ascontiguousarray(g).reshape(-1))
        key, cached = self._grad_cache
        ids = tuple(id(g) for g in flat)
        if ids != key:       # the cached list holds the arrays, so their ids cannot be reused
            cached = flat if self.on_device else typed.List(flat)
            self._grad_cache = (ids, cached)
        return cached, active

    def step(self, grads=None):
        """Update every parameter in place. grads: a list aligned with params
        (None entries skip that parameter), or None for each Parameter's .grad."""
        params = self._views()
        flat_grads, active = self._gather_grads(grads)
        self.steps[active] += 1
        with serial_if_small(None if self.on_device else int(self.offsets[-1])):
            self._update(params, flat_grads, active)

    def zero_grad(self, set_to_none=True):
        """Clear every Parameter's .grad (to None, as torch's default, or to zeros)."""
        for p in self.params:
            if hasattr(p, "grad") and p.grad is not None:
                if set_to_none:
                    p.grad = None
                else:
                    p.grad[...] = 0

    # ---------------------------------------------------------- state dict

    def state_dict(self):
        """torch's layout: {'state': {i: {...per-parameter state...}}, 'param_groups': [...]}."""
        state = {}
        for i in range(len(self.params)):
            if self.steps[i] == 0:
                continue
            lo, hi = self.offsets[i], self.offsets[i + 1]
            shape = _data(self.params[i]).shape
            entry = {"step": float(self.steps[i])}
            for name, buf in self.state.items():
                if self._has_state(name, i):
                    entry[name] = _to_host(buf[lo:hi]).reshape(shape).copy()
            state[i] = entry
        group = dict(self.defaults, params=list(range(len(self.params))))
        return {"state": state, "param_groups": [group]}

    def load_state_dict(self, d):
        """Restore a state_dict() (of an optimizer over params of the same shapes)."""
        name = type(self).__name__
        groups = d["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self.params):
            raise ValueError(f"{name}.load_state_dict: the state dict is for "
                             f"{sum(len(g['params']) for g in groups)} params, this optimizer has "
                             f"{len(self.params)}")
        self.defaults.update({k: v for k, v in groups[0].items() if k != "params"})
        self.steps[:] = 0
        host = {k: np.zeros(int(self.offsets[-1]), self.dtype) for k in self.state}
        for i, entry in d["state"].items():
            i = int(i)
            lo, hi = self.offsets[i], self.offsets[i + 1]
            self.steps[i] = int(entry["step"])
            for key, value in entry.items():
                if key in host:
                    value = np.asarray(value)
                    chk.check_shape(f"{name}.load_state_dict", f"state[{i}][{key!r}]", value,
                                    chk.shape_of(_data(self.params[i])))
                    host[key][lo:hi] = value.reshape(-1)
        for key, value in host.items():
            _copy_into(value, self.state[key])
        self._after_load()

    def _has_state(self, name, i):
        return True

    def _after_load(self):
        pass

    def __repr__(self):
        args = ", ".join(f"{k}={v}" for k, v in self.defaults.items())
        return f"{type(self).__name__}({len(self.params)} params, {args})"


def _nonneg(cls, name, v):
    return chk.real(cls, name, v, 0.0, None)


class SGD(Optimizer):
    """torch.optim.SGD: momentum, dampening, Nesterov, weight decay (L2)."""

    STATE = ("momentum_buffer",)

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
        lr, momentum = _nonneg("SGD", "lr", lr), _nonneg("SGD", "momentum", momentum)
        dampening, weight_decay = chk.real("SGD", "dampening", dampening), _nonneg("SGD", "weight_decay", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov=True needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      nesterov=bool(nesterov), weight_decay=weight_decay))
        self.has_buffer = np.zeros(len(self.params), bool)

    def _update(self, params, grads, active):
        d = self.defaults
        first = active & ~self.has_buffer
        self._kernels().sgd_step(params, grads, active, self.state["momentum_buffer"], self.offsets,
                      d["lr"], d["momentum"], d["dampening"], d["nesterov"], d["weight_decay"], first)
        if d["momentum"] != 0:
            self.has_buffer |= active

    def _has_state(self, name, i):
        return bool(self.has_buffer[i])

    def _after_load(self):
        self.has_buffer = self.steps > 0


class RMSprop(Optimizer):
    """torch.optim.RMSprop (centered=False): alpha, eps, weight decay, momentum."""

    STATE = ("square_avg", "momentum_buffer")

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0):
        super().__init__(params, dict(lr=_nonneg("RMSprop", "lr", lr),
                                      alpha=_nonneg("RMSprop", "alpha", alpha),
                                      eps=_nonneg("RMSprop", "eps", eps),
                                      weight_decay=_nonneg("RMSprop", "weight_decay", weight_decay),
                                      momentum=_nonneg("RMSprop", "momentum", momentum)))

    def _update(self, params, grads, active):
        d = self.defaults
        self._kernels().rmsprop_step(params, grads, active, self.state["square_avg"],
                          self.state["momentum_buffer"], self.offsets, d["lr"], d["alpha"], d["eps"],
                          d["weight_decay"], d["momentum"])

    def _has_state(self, name, i):
        return name == "square_avg" or self.defaults["momentum"] > 0


class Adam(Optimizer):
    """torch.optim.Adam: bias-corrected moments; weight_decay is L2 added to the gradient."""

    STATE = ("exp_avg", "exp_avg_sq")
    DECOUPLED = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        cls = type(self).__name__
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{cls}: betas must be a pair (beta1, beta2), got {betas!r}")
        b1 = chk.real(cls, "betas[0]", betas[0], 0.0, 1.0, hi_open=True)
        b2 = chk.real(cls, "betas[1]", betas[1], 0.0, 1.0, hi_open=True)
        super().__init__(params, dict(lr=_nonneg(cls, "lr", lr), betas=(b1, b2),
                                      eps=_nonneg(cls, "eps", eps),
                                      weight_decay=_nonneg(cls, "weight_decay", weight_decay)))

    def _update(self, params, grads, active):
        d = self.defaults
        (b1, b2), step = d["betas"], self.steps[active]
        if step.size == 0:
            return
        if np.any(step != step[0]):      # parameters that skipped steps: one call per step count
            for s in np.unique(step):
                self._update(params, grads, active & (self.steps == s))
            return
        t = int(step[0])
        self._kernels().adam_step(params, grads, active, self.state["exp_avg"],
                       self.state["exp_avg_sq"], self.offsets, d["lr"], b1, b2, d["eps"],
                       d["weight_decay"], self.DECOUPLED, d["lr"] / (1 - b1 ** t),
                       float(np.sqrt(1 - b2 ** t)))


class AdamW(Adam):
    """torch.optim.AdamW: Adam with decoupled weight decay (p *= 1 - lr * wd first)."""

    DECOUPLED = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)
