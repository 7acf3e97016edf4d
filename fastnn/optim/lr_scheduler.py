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
from collections import Counter

from .. import _checks as chk

__all__ = ["LRScheduler", "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ExponentialLR",
           "CosineAnnealingLR", "ReduceLROnPlateau"]


class LRScheduler:
    """Base class: initial_lr bookkeeping, step(), get_last_lr(), state_dict().

    Subclasses implement _next_lrs(), the lrs for epoch self.last_epoch."""

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
        self._is_initial = True     # epoch last_epoch + 1 (0 for a new schedule): its lrs are set now
        self.step()
        self._is_initial = False

    def step(self):
        """Advance one epoch and set each group's lr for it."""
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self._next_lrs()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

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


class ExponentialLR(LRScheduler):
    """lr = lr * gamma every epoch: initial_lr * gamma^epoch."""

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = _gamma("ExponentialLR", gamma)
        super().__init__(optimizer, last_epoch)

    def _next_lrs(self):
        if self._is_initial:
            return self._lrs()
        return [lr * self.gamma for lr in self._lrs()]


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
