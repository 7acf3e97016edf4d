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
    "ConstantLR": ((S.ConstantLR, dict(factor=0.25, total_iters=10)),
                   lambda b, e: b * (0.25 if e < 10 else 1.0)),
    "LinearLR": ((S.LinearLR, dict(start_factor=0.2, end_factor=0.9, total_iters=10)),
                 lambda b, e: b * (0.2 + 0.7 * min(e, 10) / 10)),
    "PolynomialLR": ((S.PolynomialLR, dict(total_iters=10, power=2.0)),
                     lambda b, e: b * (1 - min(e, 10) / 10) ** 2),
    "CosineAnnealingWarmRestarts": ((S.CosineAnnealingWarmRestarts, dict(T_0=3, T_mult=2, eta_min=0.01)),
                                    lambda b, e: _sgdr(b, e, 3, 2, 0.01)),
}


def _sgdr(base, epoch, period, mult, eta_min):
    """Cosine from base to eta_min over period epochs, restarting with mult times the period."""
    start = 0
    while epoch >= start + period:
        start, period = start + period, period * mult
    return eta_min + (base - eta_min) * (1 + math.cos(math.pi * (epoch - start) / period)) / 2


def _train_step(torch, ours, theirs, t_params, scheds):
    """A step of both optimizers (gradients of ones), then of both schedulers."""
    ours.step([np.ones(3), np.ones(2)])
    for p in t_params:
        p.grad = torch.ones_like(p)
    theirs.step()
    for s in scheds:
        s.step()


def _resumed_after(epochs, make):
    """A scheduler make(optimizer) stepped `epochs` times, then a fresh one resumed from
    its state dict and its optimizer's, in torch's order: make both, then load both (the
    lrs live in the optimizer's groups, and making a scheduler sets its epoch 0's)."""
    opt = _optimizer()
    first = make(opt)
    for _ in range(epochs):
        first.step()
    opt2 = _optimizer()
    resumed = make(opt2)
    opt2.load_state_dict(opt.state_dict())
    resumed.load_state_dict(first.state_dict())
    return resumed


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
    resumed = _resumed_after(10, lambda opt: make(opt, **kw))
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
        _train_step(torch, ours, theirs, t_params, scheds)
        assert_close(np.array(scheds[0].get_last_lr()), np.array(scheds[1].get_last_lr()), rtol=1e-12,
                     name=f"{name} epoch {epoch + 1}")
    resumed = [make(ours, last_epoch=4, **kw), getattr(torch.optim.lr_scheduler, name)(theirs, last_epoch=4, **kw)]
    for _ in range(3):
        assert_close(np.array(resumed[0].get_last_lr()), np.array(resumed[1].get_last_lr()), rtol=1e-12,
                     name=f"{name} from last_epoch=4")
        for s in resumed:
            s.step()


def test_warm_restarts_take_fractional_epochs_as_torch():
    """Stepped once a batch, step(epoch + i / batches), across a restart of a doubled period."""
    torch = pytest.importorskip("torch")
    ours = S.CosineAnnealingWarmRestarts(_optimizer(), T_0=2, T_mult=2, eta_min=0.001)
    theirs = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(_torch_sgd(torch), T_0=2, T_mult=2, eta_min=0.001)
    for epoch in range(8):
        for i in range(4):
            for s in (ours, theirs):
                s.step(epoch + i / 4)
            assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12), (epoch, i)


def _torch_sgd(torch, **kw):
    params = [torch.zeros(3, requires_grad=True), torch.zeros(2, requires_grad=True)]
    return torch.optim.SGD([{"params": params[:1]}, {"params": params[1:], "lr": BASES[1]}], lr=BASES[0], **kw)


@pytest.mark.parametrize("opt_name, kw", [
    ("SGD", dict(max_lr=[1.0, 0.5], total_steps=40)),
    ("SGD", dict(max_lr=0.8, epochs=4, steps_per_epoch=10, anneal_strategy="linear", three_phase=True)),
    ("Adam", dict(max_lr=0.01, total_steps=33, pct_start=0.25, base_momentum=0.8, max_momentum=0.9)),
    ("RMSprop", dict(max_lr=0.01, total_steps=20, cycle_momentum=False, div_factor=10.0)),
])
def test_one_cycle_matches_torch(opt_name, kw):
    """The lrs and the momenta (SGD's, or Adam's beta1) it sets at every step."""
    torch = pytest.importorskip("torch")
    extra = dict(momentum=0.9) if opt_name == "SGD" else {}
    ours = getattr(optim, opt_name)([{"params": [np.zeros(3)]}, {"params": [np.zeros(2)]}], lr=0.1, **extra)
    t_params = [torch.zeros(3), torch.zeros(2)]
    theirs = getattr(torch.optim, opt_name)([{"params": t_params[:1]}, {"params": t_params[1:]}], lr=0.1, **extra)
    scheds = [S.OneCycleLR(ours, **kw), torch.optim.lr_scheduler.OneCycleLR(theirs, **kw)]
    momentum = "betas" if opt_name == "Adam" else "momentum"
    steps = kw.get("total_steps") or kw["epochs"] * kw["steps_per_epoch"]
    for step in range(steps):
        assert scheds[0].get_last_lr() == pytest.approx(scheds[1].get_last_lr(), rel=1e-12), step
        for ours_group, their_group in zip(ours.param_groups, theirs.param_groups):
            assert ours_group[momentum] == pytest.approx(their_group[momentum], rel=1e-12), step
        _train_step(torch, ours, theirs, t_params, scheds)
    with pytest.raises(ValueError, match=f"stepped {steps + 1} times, past total_steps = {steps}"):
        scheds[0].step()


def _cyclic_triangle(t, base, top, up, down, scale=lambda cycle, t: 1.0):
    """CyclicLR's lr at step t, walked along the triangle: up steps from base to top,
    down steps back, its height times scale(cycle, t)."""
    cycle, pos = divmod(t, up + down)
    height = pos / up if pos <= up else 1 - (pos - up) / down
    return base + (top - base) * height * scale(cycle + 1, t)


@pytest.mark.parametrize("mode, scale", [
    ("triangular", lambda c, t: 1.0),
    ("triangular2", lambda c, t: 0.5 ** (c - 1)),
    ("exp_range", lambda c, t: 0.97 ** t),
])
def test_cyclic_lr_walks_its_triangles(mode, scale):
    """Per group: lr from base_lr up to max_lr in 4 steps, down in 2; momentum the
    other way, from max_momentum down to base_momentum; made, it sets the base lr."""
    opt = optim.SGD([{"params": [np.zeros(3)]}, {"params": [np.zeros(2)]}], lr=1.0, momentum=0.5)
    sched = S.CyclicLR(opt, base_lr=[0.1, 0.01], max_lr=[0.5, 0.05], step_size_up=4, step_size_down=2,
                       mode=mode, gamma=0.97, base_momentum=0.8, max_momentum=0.9)
    for t in range(20):
        want = [_cyclic_triangle(t, b, m, 4, 2, scale) for b, m in ((0.1, 0.5), (0.01, 0.05))]
        assert sched.get_last_lr() == pytest.approx(want, rel=1e-12), t
        fall = _cyclic_triangle(t, 0.0, 0.9 - 0.8, 4, 2, scale)
        assert opt.param_groups[0]["momentum"] == pytest.approx(0.9 - fall, rel=1e-12), t
        opt.step([np.ones(3), np.ones(2)])
        sched.step()


@pytest.mark.parametrize("opt_name, kw", [
    ("SGD", dict(base_lr=[0.01, 0.02], max_lr=[0.1, 0.3], step_size_up=5)),
    ("SGD", dict(base_lr=0.01, max_lr=0.1, step_size_up=3, step_size_down=7, mode="triangular2")),
    ("Adam", dict(base_lr=0.001, max_lr=0.01, step_size_up=4, mode="exp_range", gamma=0.9, base_momentum=0.85,
                  max_momentum=0.95)),
    ("RMSprop", dict(base_lr=0.001, max_lr=0.004, step_size_up=2, step_size_down=3,
                     scale_fn=lambda x: 1 / (1 + 0.1 * x), scale_mode="iterations")),
    ("SGD", dict(base_lr=0.05, max_lr=0.2, step_size_up=3, scale_fn=lambda c: 0.8 ** c, cycle_momentum=False)),
])
def test_cyclic_lr_matches_torch(opt_name, kw):
    """The lrs and the momenta (SGD's, RMSprop's, or Adam's beta1) it sets at every
    step, over several cycles; then resumed from its state dict, with last_epoch."""
    torch = pytest.importorskip("torch")
    extra = dict(momentum=0.9) if opt_name in ("SGD", "RMSprop") else {}
    ours = getattr(optim, opt_name)([{"params": [np.zeros(3)]}, {"params": [np.zeros(2)]}], lr=0.1, **extra)
    t_params = [torch.zeros(3), torch.zeros(2)]
    theirs = getattr(torch.optim, opt_name)([{"params": t_params[:1]}, {"params": t_params[1:]}], lr=0.1, **extra)
    scheds = [S.CyclicLR(ours, **kw), torch.optim.lr_scheduler.CyclicLR(theirs, **kw)]
    momentum = "betas" if opt_name == "Adam" else "momentum"
    for step in range(30):
        assert scheds[0].get_last_lr() == pytest.approx(scheds[1].get_last_lr(), rel=1e-12), step
        assert [g["lr"] for g in ours.param_groups] == pytest.approx([g["lr"] for g in theirs.param_groups])
        for ours_group, their_group in zip(ours.param_groups, theirs.param_groups):
            assert ours_group[momentum] == pytest.approx(their_group[momentum], rel=1e-12), step
        _train_step(torch, ours, theirs, t_params, scheds)
    resumed = S.CyclicLR(ours, **kw, last_epoch=scheds[0].last_epoch)
    resumed.load_state_dict(scheds[0].state_dict())
    for _ in range(5):
        for s in (resumed, scheds[1]):
            s.step()
        assert resumed.get_last_lr() == pytest.approx(scheds[1].get_last_lr(), rel=1e-12)


@pytest.mark.parametrize("make", [
    # a linear warm-up, then cosine annealing
    lambda m, opt: m.SequentialLR(opt, [m.LinearLR(opt, start_factor=0.1, total_iters=4),
                                        m.CosineAnnealingLR(opt, T_max=10)], milestones=[5]),
    # three phases, the last without a closed form (restarted through its chainable rule)
    lambda m, opt: m.SequentialLR(opt, [m.ConstantLR(opt, factor=0.5, total_iters=2),
                                        m.ExponentialLR(opt, gamma=0.8),
                                        m.MultiplicativeLR(opt, lambda e: 0.95)], milestones=[3, 9]),
    lambda m, opt: m.ChainedScheduler([m.ConstantLR(opt, factor=0.5, total_iters=3),
                                       m.ExponentialLR(opt, gamma=0.9)]),
    lambda m, opt: m.ChainedScheduler([m.LinearLR(opt, start_factor=0.25, total_iters=6),
                                       m.StepLR(opt, step_size=4, gamma=0.5)], optimizer=opt),
], ids=["warmup_cosine", "three_phases", "chained", "chained_linear_step"])
@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")   # no training here
def test_composed_schedules_match_torch(make):
    torch = pytest.importorskip("torch")
    ours, theirs = _optimizer(), _torch_sgd(torch)
    scheds = [make(S, ours), make(torch.optim.lr_scheduler, theirs)]
    lrs = []
    for epoch in range(EPOCHS):
        assert scheds[0].get_last_lr() == pytest.approx(scheds[1].get_last_lr(), rel=1e-12), epoch
        assert [g["lr"] for g in ours.param_groups] == pytest.approx([g["lr"] for g in theirs.param_groups])
        lrs.append(scheds[0].get_last_lr())
        for s in scheds:
            s.step()
    # resumed from its state dict (and the optimizer's) after 10 epochs, the same lrs follow
    resumed = _resumed_after(10, lambda opt: make(S, opt))
    for epoch in range(10, EPOCHS):
        assert resumed.get_last_lr() == pytest.approx(lrs[epoch], rel=1e-12), epoch
        resumed.step()


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
    (lambda opt: S.LinearLR(opt, start_factor=0.0), ValueError, r"start_factor must be in \(0.0, 1.0\]"),
    (lambda opt: S.ConstantLR(opt, factor=1.5), ValueError, r"factor must be in \[0.0, 1.0\]"),
    (lambda opt: S.CosineAnnealingWarmRestarts(opt, T_0=0), ValueError, "T_0 must be >= 1"),
    (lambda opt: S.CosineAnnealingWarmRestarts(opt, T_0=2).step(-1), ValueError, "epoch must be in"),
    (lambda opt: S.OneCycleLR(opt, 0.1), ValueError, "give total_steps, or both epochs and steps_per_epoch"),
    (lambda opt: S.OneCycleLR(opt, [0.1], total_steps=10), ValueError, "max_lr has 1 values"),
    (lambda opt: S.OneCycleLR(opt, 0.1, total_steps=10, anneal_strategy="cosine"), ValueError,
     "anneal_strategy must be 'cos' or 'linear'"),
    (lambda opt: S.OneCycleLR(optim.Adam([np.zeros(2)]), 0.1, total_steps=10, pct_start=1.5), ValueError,
     r"pct_start must be in \[0.0, 1.0\]"),
    (lambda opt: S.CyclicLR(opt, 0.01, 0.1, mode="triangle"), ValueError,
     "mode must be 'triangular', 'triangular2' or 'exp_range'"),
    (lambda opt: S.CyclicLR(opt, 0.01, 0.1, step_size_up=0), ValueError, r"step_size_up must be in \(0.0, inf\]"),
    (lambda opt: S.CyclicLR(opt, [0.01], 0.1), ValueError, "base_lr has 1 values, expected one per param group"),
    (lambda opt: S.CyclicLR(opt, 0.01, 0.1, scale_fn=0.5), TypeError, "scale_fn must be a function"),
    (lambda opt: S.SequentialLR(opt, [S.StepLR(opt, 2), S.StepLR(opt, 3)], milestones=[]), ValueError,
     "2 schedulers need 1 milestones, got 0"),
    (lambda opt: S.SequentialLR(opt, [S.StepLR(opt, 2), S.ReduceLROnPlateau(opt)], milestones=[3]), TypeError,
     r"schedulers\[1\] is a ReduceLROnPlateau"),
    (lambda opt: S.ChainedScheduler([S.StepLR(opt, 2), S.StepLR(_optimizer(), 2)]), ValueError,
     r"schedulers\[1\] drives another optimizer"),
])
def test_scheduler_rejects_bad_arguments(make, err, match):
    with pytest.raises(err, match=match):
        make(_optimizer())
