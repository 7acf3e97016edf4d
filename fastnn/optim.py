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
        if self.on_device:
            raise TypeError(f"{type(self).__name__}: CUDA parameters are not supported yet")
        for i, a in enumerate(arrays):
            if not a.flags.c_contiguous:
                raise ValueError(f"{type(self).__name__}: params[{i}] is not C-contiguous; "
                                 "parameters are updated in place through a flat view")
        sizes = [a.size for a in arrays]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.flat_params = typed.List([a.reshape(-1) for a in arrays])
        self.defaults = dict(defaults)
        total = int(self.offsets[-1])
        self.state = {name: np.zeros(total, self.dtype) for name in self.STATE}
        self.steps = np.zeros(len(arrays), np.int64)      # per parameter, as torch
        self._grad_cache = (None, None)

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
                flat.append(a.reshape(-1))          # placeholder, skipped by the kernel
                continue
            gd, _ = chk.float_arrays(f"{name}.step", allow_device=False, **{f"grads[{i}]": g})
            if gd != self.dtype:
                raise TypeError(f"{name}.step: grads[{i}] has dtype {gd}, expected {self.dtype} "
                                f"like params[{i}]")
            chk.check_shape(f"{name}.step", f"grads[{i}]", g, a.shape, f"(the shape of params[{i}])")
            flat.append(np.ascontiguousarray(g).reshape(-1))
        ids, cached = self._grad_cache
        key = tuple(id(g) for g in flat)
        if key != ids:       # the cached list holds the arrays, so their ids cannot be reused
            cached = typed.List(flat)
            self._grad_cache = (key, cached)
        return cached, active

    def step(self, grads=None):
        """Update every parameter in place. grads: a list aligned with params
        (None entries skip that parameter), or None for each Parameter's .grad."""
        flat_grads, active = self._gather_grads(grads)
        self.steps[active] += 1
        with serial_if_small(int(self.offsets[-1])):
            self._update(flat_grads, active)

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
                    entry[name] = buf[lo:hi].reshape(shape).copy()
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
        for buf in self.state.values():
            buf[:] = 0
        for i, entry in d["state"].items():
            i = int(i)
            lo, hi = self.offsets[i], self.offsets[i + 1]
            self.steps[i] = int(entry["step"])
            for key, value in entry.items():
                if key in self.state:
                    value = np.asarray(value)
                    chk.check_shape(f"{name}.load_state_dict", f"state[{i}][{key!r}]", value,
                                    _data(self.params[i]).shape)
                    self.state[key][lo:hi] = value.reshape(-1)
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

    def _update(self, grads, active):
        d = self.defaults
        first = active & ~self.has_buffer
        _cpu.sgd_step(self.flat_params, grads, active, self.state["momentum_buffer"], self.offsets,
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

    def _update(self, grads, active):
        d = self.defaults
        _cpu.rmsprop_step(self.flat_params, grads, active, self.state["square_avg"],
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

    def _update(self, grads, active):
        d = self.defaults
        (b1, b2), step = d["betas"], self.steps[active]
        if step.size == 0:
            return
        if np.any(step != step[0]):      # parameters that skipped steps: one call per step count
            for s in np.unique(step):
                self._update(grads, active & (self.steps == s))
            return
        t = int(step[0])
        _cpu.adam_step(self.flat_params, grads, active, self.state["exp_avg"],
                       self.state["exp_avg_sq"], self.offsets, d["lr"], b1, b2, d["eps"],
                       d["weight_decay"], self.DECOUPLED, d["lr"] / (1 - b1 ** t),
                       float(np.sqrt(1 - b2 ** t)))


class AdamW(Adam):
    """torch.optim.AdamW: Adam with decoupled weight decay (p *= 1 - lr * wd first)."""

    DECOUPLED = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)
