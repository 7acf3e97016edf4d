"""fastnn.optim.lr_scheduler: each schedule against its closed form, and
against torch.optim.lr_scheduler step for step (skipped without torch)."""
import math

import numpy as np
import pytest

from fastnn import optim
from fastnn.optim import lr_scheduler as S
from fastnn.testing import assert_close

EPOCHS = 25
BASES = (0.1, 0.03)       # two param groups with their own lr


def _optimizer():
    return optim.SGD([{"params": [np.zeros(3)]}, {"params": [np.zeros(2)], "lr": BASES[1]}], lr=BASES[0])


# (scheduler, closed form lr(base, epoch)) with the arguments torch takes
SCHEDULES = {
    "LambdaLR": ((S.LambdaLR, dict(lr_lambda=lambda e: 1 / (1 + 0.5 * e))),
                 lambda b, e: b / (1 + 0.5 * e)),
    "MultiplicativeLR": ((S.MultiplicativeLR, dict(lr_lambda=lambda e: 0.9)),
                         lambda b, e: b * 0.9 ** e),
    "StepLR": ((S.StepLR, dict(step_size=3, gamma=0.5)),
               lambda b, e: b * 0.5 ** (e // 3)),
    "MultiStepLR": ((S.MultiStepLR, dict(milestones=[2, 5, 5, 9], gamma=0.5)),
                    lambda b, e: b * 0.5 ** sum(m <= e for m in [2, 5, 5, 9])),
    "ExponentialLR": ((S.ExponentialLR, dict(gamma=0.9)),
                      lambda b, e: b * 0.9 ** e),
    "CosineAnnealingLR": ((S.CosineAnnealingLR, dict(T_max=6, eta_min=0.01)),   # four half-periods
                          lambda b, e: 0.01 + (b - 0.01) * (1 + math.cos(math.pi * e / 6)) / 2),
}


@pytest.mark.parametrize("name", SCHEDULES)
def test_schedule_follows_its_closed_form(name):
    (make, kw), closed_form = SCHEDULES[name]
    opt = _optimizer()
    sched = make(opt, **kw)
    for epoch in range(EPOCHS):
        want = [closed_form(b, epoch) for b in BASES]
        assert_close(np.array(sched.get_last_lr()), np.array(want), rtol=1e-12, name=f"{name} epoch {epoch}")
        assert [g["lr"] for g in opt.param_groups] == sched.get_last_lr()
        opt.step([np.ones(3), np.ones(2)])
        sched.step()


@pytest.mark.parametrize("name", SCHEDULES)
def test_schedule_resumes_from_its_state_dict(name):
    (make, kw), _ = SCHEDULES[name]
    opt = _optimizer()
    straight = make(opt, **kw)
    lrs = [straight.get_last_lr()]
    for _ in range(EPOCHS):
        straight.step()
        lrs.append(straight.get_last_lr())
    opt = _optimizer()
    first = make(opt, **kw)
    for _ in range(10):
        first.step()
    opt2 = _optimizer()
    opt2.load_state_dict(opt.state_dict())          # the lrs live in the optimizer's groups
    resumed = make(opt2, **kw)
    resumed.load_state_dict(first.state_dict())
    assert resumed.get_last_lr() == lrs[10]
    for epoch in range(11, EPOCHS + 1):
        resumed.step()
        assert resumed.get_last_lr() == lrs[epoch]


@pytest.mark.parametrize("name", SCHEDULES)
def test_schedule_matches_torch_step_for_step(name):
    """Including an lr set by hand mid-way, which the chainable schedules carry on
    from, and a schedule made with last_epoch > -1 (resuming without a state dict)."""
    torch = pytest.importorskip("torch")
    (make, kw), _ = SCHEDULES[name]
    ours = _optimizer()
    t_params = [torch.zeros(3, requires_grad=True), torch.zeros(2, requires_grad=True)]
    theirs = torch.optim.SGD([{"params": t_params[:1]}, {"params": t_params[1:], "lr": BASES[1]}], lr=BASES[0])
    scheds = [make(ours, **kw), getattr(torch.optim.lr_scheduler, name)(theirs, **kw)]
    for epoch in range(EPOCHS):
        if epoch == 8:
            ours.param_groups[1]["lr"] = theirs.param_groups[1]["lr"] = 0.07
        ours.step([np.ones(3), np.ones(2)])
        for p in t_params:
            p.grad = torch.ones_like(p)
        theirs.step()
        for s in scheds:
            s.step()
        assert_close(np.array(scheds[0].get_last_lr()), np.array(scheds[1].get_last_lr()), rtol=1e-12,
                     name=f"{name} epoch {epoch + 1}")
    resumed = [make(ours, last_epoch=4, **kw), getattr(torch.optim.lr_scheduler, name)(theirs, last_epoch=4, **kw)]
    for _ in range(3):
        assert_close(np.array(resumed[0].get_last_lr()), np.array(resumed[1].get_last_lr()), rtol=1e-12,
                     name=f"{name} from last_epoch=4")
        for s in resumed:
            s.step()


def test_reduce_on_plateau_waits_out_patience_and_cooldown():
    opt = _optimizer()
    sched = S.ReduceLROnPlateau(opt, factor=0.5, patience=1, cooldown=1, min_lr=[0.03, 0.0])
    lrs = []
    for loss in [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5]:
        sched.step(loss)
        lrs.append(sched.get_last_lr())
    # the 2nd epoch without improvement (patience 1) halves; the next epoch is cooldown;
    # group 0 stops at its min_lr of 0.03
    assert [lr[0] for lr in lrs] == [0.1, 0.1, 0.05, 0.05, 0.05, 0.03, 0.03]
    assert [lr[1] for lr in lrs] == [0.03, 0.03, 0.015, 0.015, 0.015, 0.0075, 0.0075]


@pytest.mark.parametrize("kw", [dict(), dict(mode="max", threshold=0.05, threshold_mode="abs", cooldown=2),
                                dict(factor=0.5, patience=0, min_lr=0.02, eps=0.004)])
def test_reduce_on_plateau_matches_torch(rng, kw):
    torch = pytest.importorskip("torch")
    ours = _optimizer()
    theirs = torch.optim.SGD([{"params": [torch.zeros(3)]}, {"params": [torch.zeros(2)], "lr": BASES[1]}],
                             lr=BASES[0])
    scheds = [S.ReduceLROnPlateau(ours, **{"patience": 2, **kw}),
              torch.optim.lr_scheduler.ReduceLROnPlateau(theirs, **{"patience": 2, **kw})]
    metric = 1.0
    for epoch in range(60):
        metric += rng.choice([-0.1, 0.0, 0.02, 0.1]) if epoch != 30 else float("nan")
        for s in scheds:
            s.step(metric)
        assert scheds[0].get_last_lr() == pytest.approx(scheds[1].get_last_lr(), rel=1e-12), epoch
    assert scheds[0].get_last_lr() != list(BASES)      # it did reduce


@pytest.mark.parametrize("make, err, match", [
    (lambda opt: S.StepLR(object(), 3), TypeError, "optimizer must be a fastnn.optim optimizer"),
    (lambda opt: S.StepLR(opt, 0), ValueError, "step_size must be >= 1, got 0"),
    (lambda opt: S.StepLR(opt, 3, gamma=-0.1), ValueError, "gamma must be in"),
    (lambda opt: S.MultiStepLR(opt, 5), TypeError, "milestones must be a list of ints"),
    (lambda opt: S.CosineAnnealingLR(opt, T_max=2.5), TypeError, "T_max must be an int"),
    (lambda opt: S.LambdaLR(opt, [lambda e: 1.0]), TypeError, "a list of 2 functions"),
    (lambda opt: S.ExponentialLR(opt, 0.9, last_epoch=3), KeyError, r"param_groups\[0\] has no 'initial_lr'"),
    (lambda opt: S.ReduceLROnPlateau(opt, factor=1.0), ValueError, r"factor must be in \[0.0, 1.0\)"),
    (lambda opt: S.ReduceLROnPlateau(opt, mode="minimum"), ValueError, "mode must be 'min' or 'max'"),
    (lambda opt: S.ReduceLROnPlateau(opt, min_lr=[0.0]), ValueError, "min_lr has 1 values, expected one per"),
])
def test_scheduler_rejects_bad_arguments(make, err, match):
    with pytest.raises(err, match=match):
        make(_optimizer())
