"""Learning-rate schedules, as torch.optim.lr_scheduler defines them.

A scheduler sets the 'lr' of each of its optimizer's param_groups; call its
step() once an epoch (or once a batch), after the optimizer's:

    sched = StepLR(opt, step_size=30, gamma=0.1)
    for epoch in range(90):
        train_one_epoch(model, opt)
        sched.step()

Each group starts from its 'initial_lr' (set to its 'lr' when the scheduler
is made). With epoch e = last_epoch, the rules, from torch's documentation:

    LambdaLR           lr = initial_lr * f(e)
    MultiplicativeLR   lr = lr * f(e)                      (e > 0)
    StepLR             lr = lr * gamma   when e is a multiple of step_size
    MultiStepLR        lr = lr * gamma^k when e is a milestone listed k times
    ExponentialLR      lr = lr * gamma                     (e > 0)
    CosineAnnealingLR  lr = eta_min + (initial_lr - eta_min) (1 + cos(pi e / T_max)) / 2,
                       computed from the previous lr as torch does:
        lr_e = eta_min + (lr_{e-1} - eta_min) (1 + cos(pi e / T_max)) / (1 + cos(pi (e-1) / T_max))
        and, where that divides by 0 (e - 1 an odd multiple of T_max), past the
        minimum: lr_e = lr_{e-1} + (initial_lr - eta_min) (1 - cos(pi / T_max)) / 2

    ConstantLR         lr = initial_lr * factor until epoch total_iters, then initial_lr
    LinearLR           lr = initial_lr * (start_factor + (end_factor - start_factor) min(e, T) / T),
                       T = total_iters (a warm-up, by default)
    PolynomialLR       lr = initial_lr * (1 - min(e, T) / T)^power
    CosineAnnealingWarmRestarts
                       the cosine above over T_i epochs, restarting at initial_lr; T_0
                       the first period, each next T_mult times longer (SGDR); step(epoch)
                       may be given a fractional epoch, to step once a batch
    OneCycleLR         once a batch: from max_lr / div_factor up to max_lr over the first
                       pct_start of total_steps, then down to that / final_div_factor
                       (cosine or linear; Smith & Topin, 2017); momentum (or Adam's
                       beta1) cycles the other way, between max_ and base_momentum
    CyclicLR           once a batch: triangles between base_lr and max_lr, up over
                       step_size_up steps and down over step_size_down (Smith, 2017),
                       their height scaled by the cycle (triangular2: halved each cycle)
                       or by the step (exp_range: gamma^step), or by scale_fn;
                       momentum cycles the other way, as OneCycleLR's

SequentialLR runs one scheduler after another, switching at each milestone
epoch (the next one restarts at its epoch 0); ChainedScheduler steps several
at once, each scaling what the others set.

The chainable ones above are written as torch writes them, as a factor on
the lr a group has (e.g. LinearLR's lr_e = lr_{e-1} (1 + (end - start) /
(T start + (e - 1)(end - start)))), which gives the closed forms.

ReduceLROnPlateau instead watches a metric given to step(metric): after more
than `patience` epochs without an improvement beyond `threshold`, each lr
becomes max(lr * factor, min_lr), then `cooldown` epochs pass unwatched.

All but LambdaLR scale the lr a group has, so a change made to it by hand,
or by a second scheduler, carries on, as in torch. Made with last_epoch >= 0
(resuming without a state dict, from the groups' 'initial_lr'), a scheduler
starts from the lr each group has; torch's StepLR and MultiStepLR apply that
epoch's decay to it first, and so do these.
"""
import math
import numbers
from bisect import bisect_right
from collections import Counter

from .. import _checks as chk

__all__ = ["LRScheduler", "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ExponentialLR",
           "CosineAnnealingLR", "ConstantLR", "LinearLR", "PolynomialLR", "CosineAnnealingWarmRestarts",
           "OneCycleLR", "CyclicLR", "SequentialLR", "ChainedScheduler", "ReduceLROnPlateau"]


class LRScheduler:
    """Base class: initial_lr bookkeeping, step(), get_last_lr(), state_dict().

    Subclasses implement _next_lrs(), the lrs for epoch self.last_epoch, and,
    where torch has one, _closed_form_lrs(): the same from base_lrs alone, which
    SequentialLR uses to restart a schedule at epoch 0."""

    def __init__(self, optimizer, last_epoch=-1):
        name = type(self).__name__
        groups = _param_groups(name, optimizer)
        self.last_epoch = chk.count(name, "last_epoch", last_epoch, -1)
        for i, group in enumerate(groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(f"{name}: param_groups[{i}] has no 'initial_lr' to resume from "
                               f"(last_epoch={last_epoch}); make the scheduler with last_epoch=-1")
        self.optimizer = optimizer
        self.base_lrs = [group["initial_lr"] for group in groups]
        self._initial_step()

    def _initial_step(self):
        """Epoch last_epoch + 1 (0 for a new schedule), whose lrs are set at once."""
        self._is_initial = True
        self.step()
        self._is_initial = False

    def step(self):
        """Advance one epoch and set each group's lr for it."""
        self.last_epoch += 1
        self._set(self._next_lrs())

    def _restart(self):
        """Back to epoch 0 (SequentialLR, at a milestone): the closed form where there is one."""
        self.last_epoch = 0
        self._set(self._closed_form_lrs() if hasattr(self, "_closed_form_lrs") else self._next_lrs())

    def _set(self, lrs):
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = self._lrs()

    def get_last_lr(self):
        """The lrs the last step() set, one per group."""
        return list(self._last_lr)

    def _lrs(self):
        return [group["lr"] for group in self.optimizer.param_groups]

    def _next_lrs(self):
        raise NotImplementedError

    def state_dict(self):
        """Everything but the optimizer (and LambdaLR's functions, which are code)."""
        return {k: v for k, v in vars(self).items() if k not in ("optimizer", "lr_lambdas")}

    def load_state_dict(self, state_dict):
        vars(self).update(state_dict)


def _param_groups(name, optimizer):
    groups = getattr(optimizer, "param_groups", None)
    if not isinstance(groups, list) or not all(isinstance(g, dict) and "lr" in g for g in groups):
        raise TypeError(f"{name}: optimizer must be a fastnn.optim optimizer (with param_groups), "
                        f"got {type(optimizer).__name__}")
    return groups


def _per_group(name, optimizer, lr_lambda):
    """One function per param group: the same one for all, or a list of them."""
    n = len(getattr(optimizer, "param_groups", []))
    fns = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * n
    if len(fns) != n or not all(callable(f) for f in fns):
        raise TypeError(f"{name}: lr_lambda must be a function or a list of {n} functions "
                        f"(one per param group), got {lr_lambda!r}")
    return fns


class LambdaLR(LRScheduler):
    """lr = initial_lr * lr_lambda(epoch); lr_lambda may be a list, one per group."""

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        self.lr_lambdas = _per_group("LambdaLR", optimizer, lr_lambda)
        super().__init__(optimizer, last_epoch)

    def _next_lrs(self):
        return [base * f(self.last_epoch) for base, f in zip(self.base_lrs, self.lr_lambdas)]


class MultiplicativeLR(LRScheduler):
    """lr = lr * lr_lambda(epoch), from epoch 1 on."""

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        self.lr_lambdas = _per_group("MultiplicativeLR", optimizer, lr_lambda)
        super().__init__(optimizer, last_epoch)

    def _next_lrs(self):
        if self._is_initial:
            return self._lrs()
        return [lr * f(self.last_epoch) for lr, f in zip(self._lrs(), self.lr_lambdas)]


def _gamma(name, gamma):
    return chk.real(name, "gamma", gamma, 0.0, None)


class StepLR(LRScheduler):
    """lr = lr * gamma every step_size epochs: initial_lr * gamma^(epoch // step_size)."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        self.step_size = chk.count("StepLR", "step_size", step_size, 1)
        self.gamma = _gamma("StepLR", gamma)
        super().__init__(optimizer, last_epoch)

    def _next_lrs(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size:
            return self._lrs()
        return [lr * self.gamma for lr in self._lrs()]

    def _closed_form_lrs(self):
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """lr = lr * gamma at each milestone epoch: initial_lr * gamma^(milestones passed)."""

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        if isinstance(milestones, numbers.Integral) or not all(
                isinstance(m, numbers.Integral) and not isinstance(m, bool) for m in milestones):
            raise TypeError(f"MultiStepLR: milestones must be a list of ints, got {milestones!r}")
        self.milestones = Counter(int(m) for m in milestones)
        self.gamma = _gamma("MultiStepLR", gamma)
        super().__init__(optimizer, last_epoch)

    def _next_lrs(self):
        k = self.milestones.get(self.last_epoch, 0)
        return [lr * self.gamma ** k for lr in self._lrs()] if k else self._lrs()

    def _closed_form_lrs(self):
        k = bisect_right(sorted(self.milestones.elements()), self.last_epoch)
        return [base * self.gamma ** k for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """lr = lr * gamma every epoch: initial_lr * gamma^epoch."""

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = _gamma("ExponentialLR", gamma)
        super().__init__(optimizer, last_epoch)

    def _next_lrs(self):
        if self._is_initial:
            return self._lrs()
        return [lr * self.gamma for lr in self._lrs()]

    def _closed_form_lrs(self):
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine from initial_lr down to eta_min over T_max epochs, then back up
    (SGDR without restarts: Loshchilov & Hutter, 2017)."""

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        self.T_max = chk.count("CosineAnnealingLR", "T_max", T_max, 1)
        self.eta_min = chk.real("CosineAnnealingLR", "eta_min", eta_min, 0.0, None)
        super().__init__(optimizer, last_epoch)

    def _next_lrs(self):
        e, T, lo = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._lrs()
        if (e - 1 - T) % (2 * T) == 0:  # the step off the minimum, where the ratio below is 0/0
            return [lr + (base - lo) * (1 - math.cos(math.pi / T)) / 2
                    for lr, base in zip(self._lrs(), self.base_lrs)]
        ratio = (1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T))
        return [lo + (lr - lo) * ratio for lr in self._lrs()]

    def _closed_form_lrs(self):
        return [self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base in self.base_lrs]


class ConstantLR(LRScheduler):
    """lr = initial_lr * factor for the first total_iters epochs, then initial_lr."""

    def __init__(self, optimizer, factor=1.0 / 3, total_iters=5, last_epoch=-1):
        self.factor = chk.real("ConstantLR", "factor", factor, 0.0, 1.0)
        self.total_iters = chk.count("ConstantLR", "total_iters", total_iters, 0)
        super().__init__(optimizer, last_epoch)

    def _next_lrs(self):
        if self.last_epoch == 0:
            return [lr * self.factor for lr in self._lrs()]
        if self.last_epoch != self.total_iters:
            return self._lrs()
        return [lr * (1.0 / self.factor) for lr in self._lrs()]

    def _closed_form_lrs(self):
        f = self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor)
        return [base * f for base in self.base_lrs]


class LinearLR(LRScheduler):
    """lr = initial_lr times a factor going linearly from start_factor to end_factor
    over total_iters epochs (a warm-up with the defaults)."""

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5, last_epoch=-1):
        self.start_factor = chk.real("LinearLR", "start_factor", start_factor, 0.0, 1.0, lo_open=True)
        self.end_factor = chk.real("LinearLR", "end_factor", end_factor, 0.0, 1.0)
        self.total_iters = chk.count("LinearLR", "total_iters", total_iters, 1)
        super().__init__(optimizer, last_epoch)

    def _next_lrs(self):
        start, end, T, e = self.start_factor, self.end_factor, self.total_iters, self.last_epoch
        if e == 0:
            return [lr * start for lr in self._lrs()]
        if self._is_initial or e > T:
            return self._lrs()
        return [lr * (1.0 + (end - start) / (T * start + (e - 1) * (end - start))) for lr in self._lrs()]

    def _closed_form_lrs(self):
        start, end, T = self.start_factor, self.end_factor, self.total_iters
        return [base * (start + (end - start) * min(T, self.last_epoch) / T) for base in self.base_lrs]


class PolynomialLR(LRScheduler):
    """lr = initial_lr * (1 - epoch / total_iters)^power, then 0 from total_iters on."""

    def __init__(self, optimizer, total_iters=5, power=1.0, last_epoch=-1):
        self.total_iters = chk.count("PolynomialLR", "total_iters", total_iters, 1)
        self.power = chk.real("PolynomialLR", "power", power, 0.0, None)
        super().__init__(optimizer, last_epoch)

    def _next_lrs(self):
        e, T = self.last_epoch, self.total_iters
        if self._is_initial or e > T:
            return self._lrs()
        decay = ((1.0 - e / T) / (1.0 - (e - 1) / T)) ** self.power
        return [lr * decay for lr in self._lrs()]

    def _closed_form_lrs(self):
        T = self.total_iters
        return [base * (1.0 - min(T, self.last_epoch) / T) ** self.power for base in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR (Loshchilov & Hutter, 2017): lr = eta_min + (initial_lr - eta_min)
    (1 + cos(pi T_cur / T_i)) / 2, T_cur the epochs since the last restart, the
    period T_i starting at T_0 and growing T_mult times at each restart.
    step(epoch) may be given an epoch, fractional to step once a batch
    (step(epoch + i / batches_per_epoch)), as in torch."""

    def __init__(self, optimizer, T_0, T_mult=1, eta_min=0.0, last_epoch=-1):
        name = "CosineAnnealingWarmRestarts"
        self.T_0 = self.T_i = chk.count(name, "T_0", T_0, 1)
        self.T_mult = chk.count(name, "T_mult", T_mult, 1)
        self.eta_min = chk.real(name, "eta_min", eta_min)
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def step(self, epoch=None):
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur += 1
            if self.T_cur >= self.T_i:
                self.T_cur %= self.T_i
                self.T_i *= self.T_mult
        else:
            epoch = chk.real("CosineAnnealingWarmRestarts", "epoch", epoch, 0.0, None)
            if epoch >= self.T_0:
                if self.T_mult == 1:
                    self.T_cur = epoch % self.T_0
                else:   # the restart n before epoch: T_0 (T_mult^n - 1) / (T_mult - 1) <= epoch
                    n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                    self.T_cur = epoch - self.T_0 * (self.T_mult ** n - 1) / (self.T_mult - 1)
                    self.T_i = self.T_0 * self.T_mult ** n
            else:
                self.T_i, self.T_cur = self.T_0, epoch
        self.last_epoch = math.floor(epoch)
        self._set(self._next_lrs())

    def _next_lrs(self):
        return [self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
                for base in self.base_lrs]


def _per_group_values(name, arg, value, groups):
    """A number for every param group, or a list of one per group."""
    values = list(value) if isinstance(value, (list, tuple)) else [value] * len(groups)
    if len(values) != len(groups):
        raise ValueError(f"{name}: {arg} has {len(values)} values, expected one per param group "
                         f"({len(groups)})")
    return [chk.real(name, f"{arg}[{i}]", v, 0.0, None) for i, v in enumerate(values)]


def _uses_beta1(name, optimizer):
    """Whether a cycled momentum is beta1 of 'betas' (Adam, AdamW), not 'momentum'
    (SGD, RMSprop)."""
    defaults = getattr(optimizer, "defaults", {})
    if "momentum" not in defaults and "betas" not in defaults:
        raise ValueError(f"{name}: cycle_momentum needs an optimizer with momentum or betas "
                         f"(SGD, RMSprop, Adam, AdamW), got {type(optimizer).__name__}")
    return "betas" in defaults


def _set_momentum(group, use_beta1, m):
    if use_beta1:
        group["betas"] = (m, *group["betas"][1:])
    else:
        group["momentum"] = m


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin, 2017), stepped once a batch: lr from
    max_lr / div_factor up to max_lr over pct_start of total_steps (or epochs *
    steps_per_epoch), then down to that / final_div_factor; with three_phase,
    back to the start symmetrically, then down. Momentum (SGD's, RMSprop's, or
    beta1 of Adam's betas) cycles inversely between max_momentum and base_momentum."""

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None, pct_start=0.3,
                 anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85, max_momentum=0.95,
                 div_factor=25.0, final_div_factor=1e4, three_phase=False, last_epoch=-1):
        name = "OneCycleLR"
        groups = _param_groups(name, optimizer)
        if total_steps is not None:
            self.total_steps = chk.count(name, "total_steps", total_steps, 1)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = (chk.count(name, "epochs", epochs, 1)
                                * chk.count(name, "steps_per_epoch", steps_per_epoch, 1))
        else:
            raise ValueError(f"{name}: give total_steps, or both epochs and steps_per_epoch")
        pct = chk.real(name, "pct_start", pct_start, 0.0, 1.0)
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"{name}: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        self.cycle_momentum = chk.flag(name, "cycle_momentum", cycle_momentum)
        chk.flag(name, "three_phase", three_phase)
        div = chk.real(name, "div_factor", div_factor, 0.0, None, lo_open=True)
        final_div = chk.real(name, "final_div_factor", final_div_factor, 0.0, None, lo_open=True)
        T = self.total_steps
        # (last step of the phase, its start and end lr, its start and end momentum), by group key
        if three_phase:
            self._phases = [(pct * T - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                            (2 * pct * T - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                            (T - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
        else:
            self._phases = [(pct * T - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                            (T - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")]
        if last_epoch == -1:
            for group, top in zip(groups, _per_group_values(name, "max_lr", max_lr, groups)):
                group["initial_lr"] = top / div
                group["max_lr"] = top
                group["min_lr"] = group["initial_lr"] / final_div
        if self.cycle_momentum:
            self.use_beta1 = _uses_beta1(name, optimizer)
            if last_epoch == -1:
                tops = _per_group_values(name, "max_momentum", max_momentum, groups)
                bases = _per_group_values(name, "base_momentum", base_momentum, groups)
                for group, top, base in zip(groups, tops, bases):
                    _set_momentum(group, self.use_beta1, top)
                    group["max_momentum"], group["base_momentum"] = top, base
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _next_lrs(self):
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR: stepped {step} times, past total_steps = {self.total_steps}")
        lrs = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, (end_step, lr0, lr1, m0, m1) in enumerate(self._phases):
                if step <= end_step or i == len(self._phases) - 1:
                    pct = (step - start_step) / (end_step - start_step)
                    lrs.append(self._anneal(group[lr0], group[lr1], pct))
                    if self.cycle_momentum:
                        _set_momentum(group, self.use_beta1, self._anneal(group[m0], group[m1], pct))
                    break
                start_step = end_step
        return lrs


class CyclicLR(LRScheduler):
    """Cyclical learning rates (Smith, 2017), stepped once a batch. With
    c = floor(1 + t / T) the cycle of step t, T = step_size_up + step_size_down,
    x = 1 + t / T - c its position in it, and h the triangle's height there
    (x / r on the way up, r = step_size_up / T, (x - 1) / (r - 1) down):

        lr = base_lr + (max_lr - base_lr) h scale
        momentum = max_momentum - (max_momentum - base_momentum) h scale

    scale = scale_fn(c) (scale_mode 'cycle') or scale_fn(t) ('iterations'):
    1 for mode 'triangular', 1 / 2^(c - 1) for 'triangular2', gamma^t for
    'exp_range', or the given scale_fn. Making it sets each group's lr to
    base_lr (and its momentum, or Adam's beta1, to max_momentum), as torch's."""

    _SCALE_MODES = {"triangular": "cycle", "triangular2": "cycle", "exp_range": "iterations"}

    def __init__(self, optimizer, base_lr, max_lr, step_size_up=2000, step_size_down=None, mode="triangular",
                 gamma=1.0, scale_fn=None, scale_mode="cycle", cycle_momentum=True, base_momentum=0.8,
                 max_momentum=0.9, last_epoch=-1):
        name = "CyclicLR"
        groups = _param_groups(name, optimizer)
        base_lrs = _per_group_values(name, "base_lr", base_lr, groups)
        if last_epoch == -1:
            for group, lr in zip(groups, base_lrs):
                group["lr"] = lr
        self.max_lrs = _per_group_values(name, "max_lr", max_lr, groups)
        up = chk.real(name, "step_size_up", step_size_up, 0.0, None, lo_open=True)
        down = up if step_size_down is None else chk.real(name, "step_size_down", step_size_down, 0.0, None,
                                                          lo_open=True)
        self.total_size = up + down
        self.step_ratio = up / self.total_size
        self.gamma = chk.real(name, "gamma", gamma, 0.0, None)
        if scale_fn is not None:
            if not callable(scale_fn):
                raise TypeError(f"{name}: scale_fn must be a function of the cycle or the step, got {scale_fn!r}")
            self.scale_mode = chk.choice(name, "scale_mode", scale_mode, ("cycle", "iterations"))
        else:
            self.scale_mode = self._SCALE_MODES[chk.choice(name, "mode", mode, tuple(self._SCALE_MODES))]
        self.mode, self._scale_fn = mode, scale_fn
        self.cycle_momentum = chk.flag(name, "cycle_momentum", cycle_momentum)
        if self.cycle_momentum:
            self.use_beta1 = _uses_beta1(name, optimizer)
            self.base_momentums = _per_group_values(name, "base_momentum", base_momentum, groups)
            self.max_momentums = _per_group_values(name, "max_momentum", max_momentum, groups)
            if last_epoch == -1:
                for group, top, base in zip(groups, self.max_momentums, self.base_momentums):
                    _set_momentum(group, self.use_beta1, top)
                    group["max_momentum"], group["base_momentum"] = top, base
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def scale_fn(self, x):
        if self._scale_fn is not None:
            return self._scale_fn(x)
        if self.mode == "triangular2":
            return 1 / 2.0 ** (x - 1)
        if self.mode == "exp_range":
            return self.gamma ** x
        return 1.0

    def _next_lrs(self):
        t = self.last_epoch
        cycle = math.floor(1 + t / self.total_size)
        x = 1.0 + t / self.total_size - cycle
        height = x / self.step_ratio if x <= self.step_ratio else (x - 1) / (self.step_ratio - 1)
        scale = self.scale_fn(cycle if self.scale_mode == "cycle" else t)
        lrs = [base + (top - base) * height * scale for base, top in zip(self.base_lrs, self.max_lrs)]
        if self.cycle_momentum:
            for group, base, top in zip(self.optimizer.param_groups, self.base_momentums, self.max_momentums):
                _set_momentum(group, self.use_beta1, top - (top - base) * height * scale)
        return lrs

    def state_dict(self):
        """As the base class's, less a scale_fn given (code, as torch leaves out too)."""
        return {k: v for k, v in super().state_dict().items() if k != "_scale_fn"}


def _check_schedulers(name, optimizer, schedulers):
    schedulers = list(schedulers)
    if not schedulers:
        raise ValueError(f"{name}: schedulers is empty, expected at least one")
    for i, sched in enumerate(schedulers):
        if isinstance(sched, ReduceLROnPlateau) or not isinstance(sched, LRScheduler):
            raise TypeError(f"{name}: schedulers[{i}] is a {type(sched).__name__}, expected an epoch "
                            f"schedule (ReduceLROnPlateau needs its metric at each step)")
        if sched.optimizer is not optimizer:
            raise ValueError(f"{name}: schedulers[{i}] drives another optimizer than the others")
    return schedulers


class _Composed(LRScheduler):
    """A scheduler of schedulers: its state dict holds theirs."""

    def state_dict(self):
        state = {k: v for k, v in vars(self).items() if k not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [child.state_dict() for child in self._schedulers]
        return state

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        children = state.pop("_schedulers")
        vars(self).update(state)
        for child, child_state in zip(self._schedulers, children):
            child.load_state_dict(child_state)


class SequentialLR(_Composed):
    """schedulers[k] runs from milestones[k - 1] (its epoch 0) to milestones[k], e.g. a
    LinearLR warm-up for 5 epochs then CosineAnnealingLR: milestones=[5]."""

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        name = "SequentialLR"
        groups = _param_groups(name, optimizer)
        self._schedulers = _check_schedulers(name, optimizer, schedulers)
        self._milestones = [chk.count(name, f"milestones[{i}]", m, 0) for i, m in enumerate(milestones)]
        if len(self._milestones) != len(self._schedulers) - 1:
            raise ValueError(f"{name}: {len(self._schedulers)} schedulers need {len(self._schedulers) - 1} "
                             f"milestones, got {len(self._milestones)}")
        self.optimizer = optimizer
        self.last_epoch = chk.count(name, "last_epoch", last_epoch, -1) + 1
        # Making each scheduler took its first step: undo them all, then take the first one's.
        for group in groups:
            group["lr"] = group["initial_lr"]
        _undo_initial_steps(self)
        first = self._schedulers[bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def step(self):
        self.last_epoch += 1
        k = bisect_right(self._milestones, self.last_epoch)
        sched = self._schedulers[k]
        if k > 0 and self._milestones[k - 1] == self.last_epoch:
            sched._restart()
        else:
            sched.step()
        self._last_lr = sched.get_last_lr()


def _undo_initial_steps(sched):
    for child in getattr(sched, "_schedulers", ()):
        if hasattr(child, "_schedulers"):
            _undo_initial_steps(child)
        else:
            child.last_epoch -= 1


class ChainedScheduler(_Composed):
    """Steps every scheduler in turn each epoch, so that their factors multiply
    (e.g. ConstantLR for a warm-up and ExponentialLR together)."""

    def __init__(self, schedulers, optimizer=None):
        schedulers = list(schedulers)
        optimizer = schedulers[0].optimizer if optimizer is None and schedulers else optimizer
        self._schedulers = _check_schedulers("ChainedScheduler", optimizer, schedulers)
        self.optimizer = optimizer
        self._last_lr = self._lrs()

    def step(self):
        for sched in self._schedulers:
            sched.step()
        self._last_lr = self._lrs()


class ReduceLROnPlateau(LRScheduler):
    """Multiply each lr by factor when the metric passed to step() has not
    improved for more than `patience` epochs. mode 'min' (a loss) or 'max' (an
    accuracy); an improvement must beat the best by `threshold`, relative
    (threshold_mode 'rel') or absolute ('abs'). A change of eps or less is not made."""

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                 cooldown=0, min_lr=0.0, eps=1e-8):
        name = "ReduceLROnPlateau"
        groups = _param_groups(name, optimizer)
        if mode not in ("min", "max"):
            raise ValueError(f"{name}: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"{name}: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.mode, self.threshold_mode = mode, threshold_mode
        self.factor = chk.real(name, "factor", factor, 0.0, 1.0, hi_open=True)
        self.patience = chk.count(name, "patience", patience, 0)
        self.threshold = chk.real(name, "threshold", threshold, 0.0, None)
        self.cooldown = chk.count(name, "cooldown", cooldown, 0)
        self.eps = chk.real(name, "eps", eps, 0.0, None)
        mins = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * len(groups)
        if len(mins) != len(groups):
            raise ValueError(f"{name}: min_lr has {len(mins)} values, expected one per param group "
                             f"({len(groups)})")
        self.min_lrs = [chk.real(name, f"min_lr[{i}]", m, 0.0, None) for i, m in enumerate(mins)]
        self.optimizer = optimizer
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = self.cooldown_counter = self.last_epoch = 0
        self._last_lr = self._lrs()

    def _improves(self, value):
        if self.threshold_mode == "rel":
            scale = 1 - self.threshold if self.mode == "min" else 1 + self.threshold
            bar = self.best * scale
        else:
            bar = self.best - self.threshold if self.mode == "min" else self.best + self.threshold
        return value < bar if self.mode == "min" else value > bar

    def step(self, metrics):
        """End an epoch whose metric (a loss in mode 'min') was `metrics`."""
        value = float(metrics)
        self.last_epoch += 1
        if self._improves(value):       # NaN never does: it counts as a bad epoch
            self.best, self.num_bad_epochs = value, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, floor in zip(self.optimizer.param_groups, self.min_lrs):
                new = max(group["lr"] * self.factor, floor)
                if group["lr"] - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = self._lrs()
