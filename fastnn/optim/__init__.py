"""fastnn.optim: SGD, RMSprop, Adam and AdamW as torch.optim defines them,
and learning-rate schedules (fastnn.optim.lr_scheduler).

Each step is ONE fused kernel call over every parameter (kernels/cpu/optim.py),
one per parameter group when there are several: parameters are updated in
place, whether plain arrays or fastnn.nn.Parameter. State (momentum buffers,
moment estimates) lives in flat buffers, one per kind of state, that
state_dict() presents per parameter with torch's names.

    opt = Adam(model.parameters(), lr=1e-3)
    loss.backward(...); opt.step(); opt.zero_grad()
    opt.step(grads)          # or give the gradients explicitly, aligned with params
    opt.param_groups[0]["lr"] = 1e-4            # read by the next step, as in torch
    Adam([{"params": body}, {"params": head, "lr": 1e-2}], lr=1e-3)   # groups, as in torch
"""
import math

import numpy as np
from numba import typed

from .. import _checks as chk
from ..kernels import cpu as _cpu
from ..kernels.cpu._threads import serial_if_small
from . import lr_scheduler

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "lr_scheduler"]

# The CPU kernels take the gradients as a typed list, and pointing one of its
# entries at a new array is a Numba call: 3.3 us a tensor on a Zen 1, 26 us of
# a 120 us Adam step for a small CNN's 8 tensors. Copying a small model's
# gradients into one staging buffer, which a list built once views, costs 2 us
# plus ~0.04 ns a byte (np.concatenate, in cache): 5 us for the same 8 tensors
# (55 KB). So gradients are staged where that copy is the cheaper, up to
# STAGE_BYTES_PER_TENSOR a tensor, and while the buffer fits in L2.
STAGE_BYTES_PER_TENSOR = 64 << 10
STAGE_MAX_BYTES = 256 << 10


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


def _in_group(i):
    """How the hyperparameters of group i are named in errors."""
    return lambda key: f"param_groups[{i}][{key!r}]"


def _as_param_list(params):
    """One parameter (array or Parameter) or an iterable of them -> a list."""
    if isinstance(params, np.ndarray) or chk.is_device_array(params) or hasattr(params, "grad"):
        return [params]
    return list(params)


class Optimizer:
    """Base class: parameter groups, gradient collection, state_dict.

    As in torch, `params` is a list of parameters, or of dicts that each hold
    a 'params' list and hyperparameters overriding the constructor's for that
    group. `param_groups` holds the hyperparameters each step reads: set
    `opt.param_groups[0]["lr"]`, or let an lr_scheduler set it. Parameters are
    numbered params[0], params[1], ... across the groups in order, as torch's
    state_dict numbers them.

    Subclasses name their state buffers (STATE), check their hyperparameters
    (_checked) and implement _update(params, grads, active, hyper)."""

    STATE: tuple = ()
    COUNTS_STEPS = True     # whether each parameter's state holds its step count, as in torch

    def __init__(self, params, defaults):
        cls = type(self).__name__
        self.defaults = self._checked(cls, str, dict(defaults))
        self.params, self.param_groups = [], []
        self.dtype = self.on_device = None
        self.offsets = np.zeros(1, np.int64)
        self.steps = np.zeros(0, np.int64)          # per parameter, as torch
        self._group_of = np.zeros(0, np.int64)      # group index per parameter
        self.state = {}
        groups = _as_param_list(params)
        if not groups:
            raise ValueError(f"{cls}: params is an empty list")
        for group in groups if isinstance(groups[0], dict) else [{"params": groups}]:
            self.add_param_group(group)

    def add_param_group(self, param_group):
        """Add {'params': [...], hyperparameter: value, ...}, the missing
        hyperparameters taken from the constructor's (torch's add_param_group).
        Its parameters join with fresh state: fine-tune a backbone, then unfreeze it."""
        cls = type(self).__name__
        if not isinstance(param_group, dict) or "params" not in param_group:
            raise TypeError(f"{cls}: a parameter group must be a dict with a 'params' list, "
                            f"got {type(param_group).__name__}")
        i = len(self.param_groups)
        new = _as_param_list(param_group["params"])
        if not new:
            raise ValueError(f"{cls}: param_groups[{i}]['params'] is an empty list")
        group = dict(self.defaults)
        group.update((k, v) for k, v in param_group.items() if k != "params")
        group = self._checked(cls, _in_group(i), group)
        first = len(self.params)
        arrays = [_data(p) for p in self.params + new]
        self.dtype, self.on_device = chk.float_arrays(
            cls, **{f"params[{j}]": a for j, a in enumerate(arrays)})
        seen = {id(a): j for j, a in enumerate(arrays[:first])}
        for j, a in enumerate(arrays[first:], first):
            name = f"params[{j}]"
            if not _is_contiguous(a):
                raise ValueError(f"{cls}: {name} is not C-contiguous; "
                                 "parameters are updated in place through a flat view")
            chk.writable(cls, name, a, "parameters are updated in place")
            # torch warns that this "will cause an error": each step would update it twice
            if seen.setdefault(id(a), j) != j:
                raise ValueError(f"{cls}: {name} is params[{seen[id(a)]}] again, "
                                 "expected each parameter once")
        sizes = [math.prod(chk.shape_of(a)) for a in arrays[first:]]
        self.offsets = np.concatenate([self.offsets, self.offsets[-1] + np.cumsum(sizes)]).astype(np.int64)
        self.steps = np.concatenate([self.steps, np.zeros(len(new), np.int64)])
        self._group_of = np.concatenate([self._group_of, np.full(len(new), i, np.int64)])
        total = int(self.offsets[-1])
        for name in self.STATE:
            self.state[name] = self._grown(self.state.get(name), total)
        self.params += new
        self.param_groups.append({"params": new, **group})
        self._param_views, self._grad_list = (None, None), None
        self._checked_key = None

    def _stages_grads(self):
        """Whether step() copies the gradients into one buffer (see STAGE_BYTES_PER_TENSOR)."""
        size = int(self.offsets[-1]) * np.dtype(self.dtype).itemsize
        return not self.on_device and size <= min(STAGE_MAX_BYTES, STAGE_BYTES_PER_TENSOR * len(self.params))

    def _grown(self, buf, n):
        """A zeroed state buffer of n elements on this optimizer's device that
        starts with buf's values (buf on either device, or None)."""
        out = self._zeros(n)
        if buf is not None and len(buf):
            _copy_into(_to_host(buf), out[:len(buf)])
        return out

    def _checked(self, fn, name, hyper):
        """Check hyperparameters (name(key) names one in errors) -> the dict,
        with the values as the kernels take them."""
        raise NotImplementedError

    def _kernels(self):
        if self.on_device:
            from ..kernels import cuda
            return cuda
        return _cpu

    def _zeros(self, n):
        if self.on_device:
            from ..kernels.cuda import device_zeros
            return device_zeros((n,), self.dtype)
        return np.zeros(n, self.dtype)

    def _flat(self, a):
        return a.reshape(math.prod(chk.shape_of(a)))

    def _views(self):
        """-> (the parameters' arrays, their flat views that the kernels update: a typed
        list on the CPU (one kernel call for all tensors), a list of device views on
        the GPU). The views are rebuilt when an array is replaced (Module.to() does that)."""
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
        return arrays, views

    def to(self, device):
        """Move the optimizer state to "cpu" or "cuda" (after moving the parameters)."""
        if device not in ("cpu", "cuda"):
            raise ValueError(f"{type(self).__name__}.to: device must be 'cpu' or 'cuda', got {device!r}")
        on_device = device == "cuda"
        if on_device != self.on_device:
            self.on_device = on_device
            self.state = {k: self._grown(v, len(v)) for k, v in self.state.items()}
            self._param_views, self._grad_list = (None, None), None
        return self

    # ---------------------------------------------------------------- step

    def _gather_grads(self, arrays, grads):
        """-> (flat grads as the kernels take them, active mask) after checking them
        against the parameters' arrays."""
        name = type(self).__name__
        if grads is None:
            if not all(hasattr(p, "grad") for p in self.params):
                raise TypeError(f"{name}.step: plain-array params have no .grad; pass grads=[...]")
            grads = [p.grad for p in self.params]
        grads = list(grads)
        if len(grads) != len(self.params):
            raise ValueError(f"{name}.step: got {len(grads)} grads for {len(self.params)} params")
        active = np.array([g is not None for g in grads])
        kernels = self._kernels()
        flat = []
        for i, (a, g) in enumerate(zip(arrays, grads)):
            if g is None:
                flat.append(self._flat(a))          # placeholder, skipped by the kernel
                continue
            # A gradient of its parameter's array type, dtype and shape passes every
            # check below: about half of a GPU step's host time went to them.
            if not (type(g) is type(a) and g.dtype == self.dtype and g.shape == a.shape):
                self._check_grad(i, a, g)
            if self.on_device:
                flat.append(kernels.flat(kernels.as_contiguous(g)))
            else:
                flat.append(g.ravel())              # a view; a C-ordered copy of a strided g
        if self.on_device:
            return flat, active
        return self._grad_list_of(flat), active

    def _grad_list_of(self, flat):
        """The typed list of flat gradients for the CPU kernels: views of the staging
        buffer, which one copy refills (see STAGE_BYTES_PER_TENSOR), or the arrays of
        `flat` themselves, entry by entry (a new typed.List would take longer)."""
        if self._grad_list is None:
            self._grad_stage = np.empty(int(self.offsets[-1]), self.dtype) if self._stages_grads() else None
            views = flat if self._grad_stage is None else [
                self._grad_stage[lo:hi] for lo, hi in zip(self.offsets[:-1], self.offsets[1:])]
            self._grad_list = typed.List(views)
        elif self._grad_stage is None:
            for i, g in enumerate(flat):
                self._grad_list[i] = g
        if self._grad_stage is not None:
            np.concatenate(flat, out=self._grad_stage)
        return self._grad_list

    def _check_grad(self, i, a, g):
        """grads[i] against params[i] (a): a float array of its dtype, device and shape."""
        fn = f"{type(self).__name__}.step"
        gd, gdev = chk.float_arrays(fn, **{f"grads[{i}]": g})
        if gd != self.dtype:
            raise TypeError(f"{fn}: grads[{i}] has dtype {gd}, expected {self.dtype} like params[{i}]")
        if gdev != self.on_device:
            raise TypeError(f"{fn}: grads[{i}] and params[{i}] must live on the same device")
        chk.check_shape(fn, f"grads[{i}]", g, chk.shape_of(a), f"(the shape of params[{i}])")

    def step(self, grads=None):
        """Update every parameter in place. grads: a list aligned with params
        (None entries skip that parameter), or None for each Parameter's .grad."""
        arrays, params = self._views()
        flat_grads, active = self._gather_grads(arrays, grads)
        hypers = self._checked_groups()
        self.steps[active] += 1
        with serial_if_small(None if self.on_device else int(self.offsets[-1])):
            if len(hypers) == 1:
                self._update(params, flat_grads, active, hypers[0])
            else:       # one fused call per group, over the group's parameters
                for i, hyper in enumerate(hypers):
                    self._update(params, flat_grads, active & (self._group_of == i), hyper)

    def _checked_groups(self):
        """param_groups, their hyperparameters checked again when one has been
        set since the last step (a check costs 5 us, 7 % of a small model's step)."""
        key = [tuple(g.values()) for g in self.param_groups]
        if key != self._checked_key:
            for i, group in enumerate(self.param_groups):
                group.update(self._checked(f"{type(self).__name__}.step", _in_group(i), group))
            self._checked_key = [tuple(g.values()) for g in self.param_groups]
        return self.param_groups

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
        """torch's layout: {'state': {i: {...per-parameter state...}}, 'param_groups':
        [{hyperparameters..., 'params': [i, ...]}, ...]}."""
        state = {}
        for i in range(len(self.params)):
            lo, hi = self.offsets[i], self.offsets[i + 1]
            shape = _data(self.params[i]).shape
            entry = {"step": float(self.steps[i])} if self.COUNTS_STEPS and self.steps[i] else {}
            for name, buf in self.state.items():
                if self._has_state(name, i):
                    entry[name] = _to_host(buf[lo:hi]).reshape(shape).copy()
            if entry:
                state[i] = entry
        groups = [{**{k: v for k, v in g.items() if k != "params"},
                   "params": np.flatnonzero(self._group_of == gi).tolist()}
                  for gi, g in enumerate(self.param_groups)]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, d):
        """Restore a state_dict() of an optimizer with groups of the same sizes and
        parameters of the same shapes: the state and each group's hyperparameters."""
        name = type(self).__name__
        groups = d["param_groups"]
        sizes, ours = [len(g["params"]) for g in groups], [len(g["params"]) for g in self.param_groups]
        if sizes != ours:
            raise ValueError(f"{name}.load_state_dict: the state dict has groups of {sizes} params, "
                             f"this optimizer has groups of {ours}")
        for group, saved in zip(self.param_groups, groups):
            group.update((k, v) for k, v in saved.items() if k != "params")
        self.steps[:] = 0
        host = {k: np.zeros(int(self.offsets[-1]), self.dtype) for k in self.state}
        for i, entry in d["state"].items():
            i = int(i)
            lo, hi = self.offsets[i], self.offsets[i + 1]
            if self.COUNTS_STEPS:
                self.steps[i] = int(entry["step"])
            for key, value in entry.items():
                if key in host:
                    value = np.asarray(value)
                    chk.check_shape(f"{name}.load_state_dict", f"state[{i}][{key!r}]", value,
                                    chk.shape_of(_data(self.params[i])))
                    host[key][lo:hi] = value.reshape(-1)
        for key, value in host.items():
            _copy_into(value, self.state[key])
        self._after_load({int(i): set(entry) for i, entry in d["state"].items()})

    def _has_state(self, name, i):
        """Whether params[i] has state `name` to save."""
        return self.steps[i] > 0

    def _after_load(self, loaded):
        """loaded: {i: the state names the state dict held for params[i]}."""

    def __repr__(self):
        groups = [", ".join(f"{k}={v}" for k, v in g.items() if k != "params") for g in self.param_groups]
        if len(groups) == 1:
            return f"{type(self).__name__}({len(self.params)} params, {groups[0]})"
        listed = "".join(f"\n    group {i} ({len(g['params'])} params): {h}"
                         for i, (g, h) in enumerate(zip(self.param_groups, groups)))
        return f"{type(self).__name__}({listed}\n)"


def _nonneg(cls, name, v):
    return chk.real(cls, name, v, 0.0, None)


class SGD(Optimizer):
    """torch.optim.SGD: momentum, dampening, Nesterov, weight decay (L2)."""

    STATE = ("momentum_buffer",)
    COUNTS_STEPS = False

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
        self.has_buffer = np.zeros(0, bool)
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      nesterov=nesterov, weight_decay=weight_decay))

    def _checked(self, fn, name, h):
        h = dict(h, lr=_nonneg(fn, name("lr"), h["lr"]), momentum=_nonneg(fn, name("momentum"), h["momentum"]),
                 dampening=chk.real(fn, name("dampening"), h["dampening"]), nesterov=bool(h["nesterov"]),
                 weight_decay=_nonneg(fn, name("weight_decay"), h["weight_decay"]))
        if h["nesterov"] and (h["momentum"] <= 0 or h["dampening"] != 0):
            raise ValueError(f"{fn}: nesterov=True needs momentum > 0 and dampening = 0")
        return h

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        self.has_buffer = np.concatenate([self.has_buffer, np.zeros(len(self.params) - len(self.has_buffer), bool)])

    def _update(self, params, grads, active, h):
        first = active & ~self.has_buffer
        self._kernels().sgd_step(params, grads, active, self.state["momentum_buffer"], self.offsets,
                                 h["lr"], h["momentum"], h["dampening"], h["nesterov"], h["weight_decay"], first)
        if h["momentum"] != 0:
            self.has_buffer |= active

    def _has_state(self, name, i):
        return bool(self.has_buffer[i])

    def _after_load(self, loaded):
        self.has_buffer = np.array([("momentum_buffer" in loaded.get(i, ())) for i in range(len(self.params))])


class RMSprop(Optimizer):
    """torch.optim.RMSprop (centered=False): alpha, eps, weight decay, momentum."""

    STATE = ("square_avg", "momentum_buffer")

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum))

    def _checked(self, fn, name, h):
        return dict(h, **{k: _nonneg(fn, name(k), h[k]) for k in ("lr", "alpha", "eps", "weight_decay", "momentum")})

    def _update(self, params, grads, active, h):
        self._kernels().rmsprop_step(params, grads, active, self.state["square_avg"],
                                     self.state["momentum_buffer"], self.offsets, h["lr"], h["alpha"], h["eps"],
                                     h["weight_decay"], h["momentum"])

    def _has_state(self, name, i):
        return self.steps[i] > 0 and (name == "square_avg"
                                      or self.param_groups[self._group_of[i]]["momentum"] > 0)


class Adam(Optimizer):
    """torch.optim.Adam: bias-corrected moments; weight_decay is L2 added to the gradient."""

    STATE = ("exp_avg", "exp_avg_sq")
    DECOUPLED = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def _checked(self, fn, name, h):
        betas = h["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{fn}: {name('betas')} must be a pair (beta1, beta2), got {betas!r}")
        b1 = chk.real(fn, name("betas") + "[0]", betas[0], 0.0, 1.0, hi_open=True)
        b2 = chk.real(fn, name("betas") + "[1]", betas[1], 0.0, 1.0, hi_open=True)
        return dict(h, lr=_nonneg(fn, name("lr"), h["lr"]), betas=(b1, b2), eps=_nonneg(fn, name("eps"), h["eps"]),
                    weight_decay=_nonneg(fn, name("weight_decay"), h["weight_decay"]))

    def _update(self, params, grads, active, h):
        b1, b2 = h["betas"]
        counts = self.steps[active].tolist()    # NumPy's reductions took 5-8 us on so few
        if not counts:
            return
        if min(counts) != max(counts):      # parameters that skipped steps: one call per step count
            for s in sorted(set(counts)):
                self._update(params, grads, active & (self.steps == s), h)
            return
        t = counts[0]
        self._kernels().adam_step(params, grads, active, self.state["exp_avg"],
                                  self.state["exp_avg_sq"], self.offsets, h["lr"], b1, b2, h["eps"],
                                  h["weight_decay"], self.DECOUPLED, h["lr"] / (1 - b1 ** t),
                                  math.sqrt(1 - b2 ** t))


class AdamW(Adam):
    """torch.optim.AdamW: Adam with decoupled weight decay (p *= 1 - lr * wd first)."""

    DECOUPLED = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)
