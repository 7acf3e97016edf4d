"""kernels/cpu/optim.py and fastnn.optim against the reference update rules."""
import numpy as np
import pytest

import fastnn.reference as R
from fastnn import optim
from fastnn.nn import Parameter
from fastnn.testing import DTYPES, assert_close, rand

SHAPES = [(7, 3), (5,), (2, 3, 4, 5), (1,), (40000,)]   # the last spans several kernel blocks

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.1, momentum=0.5)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.02, betas=(0.5, 0.9), weight_decay=0.3)),
]


@pytest.fixture(params=["staged", "listed"])
def grad_path(request, monkeypatch):
    """Both ways step() hands gradients to the CPU kernels, whatever the sizes:
    copied into one staging buffer (small models), or each array put in the
    kernels' typed list."""
    limit = 1 << 40 if request.param == "staged" else 0
    monkeypatch.setattr(optim, "STAGE_MAX_BYTES", limit)
    monkeypatch.setattr(optim, "STAGE_BYTES_PER_TENSOR", limit)
    return request.param


class ReferenceOptimizer:
    """The reference rules of fastnn/reference/optim.py, one tensor at a time."""

    def __init__(self, name, params, kw):
        self.name, self.params, self.kw, self.t = name, params, dict(kw), 0
        self.s1 = [np.zeros_like(p) for p in params]
        self.s2 = [np.zeros_like(p) for p in params]

    def step(self, grads):
        self.t += 1
        for p, g, s1, s2 in zip(self.params, grads, self.s1, self.s2):
            if self.name == "SGD":
                R.sgd_update(p, g, s1, first_step=self.t == 1, **self.kw)
            elif self.name == "RMSprop":
                R.rmsprop_update(p, g, s1, s2, **self.kw)
            else:
                kw = dict(self.kw)
                b1, b2 = kw.pop("betas", (0.9, 0.999))
                kw.setdefault("weight_decay", 1e-2 if self.name == "AdamW" else 0.0)
                R.adam_update(p, g, s1, s2, self.t, beta1=b1, beta2=b2,
                              decoupled=self.name == "AdamW", **kw)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kw", CONFIGS)
def test_optimizer_trajectory_matches_reference(rng, dtype, name, kw, grad_path):
    params = [rand(s, dtype, rng) for s in SHAPES]
    ref_params = [p.copy() for p in params]
    opt = getattr(optim, name)(params, **kw)
    assert opt._stages_grads() == (grad_path == "staged")
    ref = ReferenceOptimizer(name, ref_params, kw)
    for _ in range(6):
        grads = [rand(s, dtype, rng) for s in SHAPES]
        grads_before = [g.copy() for g in grads]
        opt.step(grads)
        ref.step(grads)
        for g, gb in zip(grads, grads_before):
            np.testing.assert_array_equal(g, gb)
        for p, q in zip(params, ref_params):
            assert_close(p, q, rtol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("name, kw", CONFIGS)
def test_state_dict_round_trip_resumes_identically(rng, name, kw):
    shapes = [(4, 3), (6,)]
    grads = [[rand(s, np.float64, rng) for s in shapes] for _ in range(6)]
    start = [rand(s, np.float64, rng) for s in shapes]
    straight = [p.copy() for p in start]
    opt = getattr(optim, name)(straight, **kw)
    for g in grads:
        opt.step(g)
    first = [p.copy() for p in start]
    opt1 = getattr(optim, name)(first, **kw)
    for g in grads[:3]:
        opt1.step(g)
    saved = opt1.state_dict()
    resumed = [p.copy() for p in first]
    opt2 = getattr(optim, name)(resumed, **{**kw, "lr": 123.0})   # the state dict restores lr
    opt2.load_state_dict(saved)
    for g in grads[3:]:
        opt2.step(g)
    for a, b in zip(resumed, straight):
        np.testing.assert_array_equal(a, b)


def test_parameters_use_their_grad_and_none_is_skipped(rng, grad_path):
    a, b = Parameter(rand((3, 2), np.float32, rng)), Parameter(rand((4,), np.float32, rng))
    b_before = b.data.copy()
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = rand((3, 2), np.float32, rng)
    ref, m, v = a.data.copy(), np.zeros((3, 2), np.float32), np.zeros((3, 2), np.float32)
    opt.step()
    R.adam_update(ref, a.grad, m, v, 1, lr=0.1)
    assert_close(a.data, ref)
    np.testing.assert_array_equal(b.data, b_before)          # grad None: untouched
    assert 1 not in opt.state_dict()["state"]
    opt.zero_grad()
    assert a.grad is None


def test_adam_with_parameters_at_different_step_counts(rng, grad_path):
    a, b = rand((5,), np.float64, rng), rand((5,), np.float64, rng)
    ra, rb = a.copy(), b.copy()
    ma, va, mb, vb = (np.zeros(5) for _ in range(4))
    opt = optim.Adam([a, b], lr=0.1)
    g1, g2, g3 = (rand((5,), np.float64, rng) for _ in range(3))
    opt.step([g1, None])
    opt.step([g2, g3])
    R.adam_update(ra, g1, ma, va, 1, lr=0.1)
    R.adam_update(ra, g2, ma, va, 2, lr=0.1)
    R.adam_update(rb, g3, mb, vb, 1, lr=0.1)
    assert_close(a, ra)
    assert_close(b, rb)


def test_small_models_stage_their_gradients_and_large_ones_do_not():
    from fastnn._workloads import digits_cnn_model
    assert optim.Adam(digits_cnn_model().parameters())._stages_grads()
    assert not optim.Adam([np.zeros(1 << 16, np.float32) for _ in range(2)])._stages_grads()  # 256 KB each
    assert not optim.Adam([np.zeros(1 << 13, np.float32) for _ in range(9)])._stages_grads()  # 288 KB in all


def test_gradients_rewritten_in_place_are_read_afresh(rng, grad_path):
    """The same gradient arrays each step, overwritten between steps (as after
    zero_grad(set_to_none=False)): every step reads their values of the moment."""
    params = [rand(s, np.float32, rng) for s in SHAPES]
    ref_params = [p.copy() for p in params]
    opt, ref = optim.Adam(params, lr=0.01), ReferenceOptimizer("Adam", ref_params, dict(lr=0.01))
    grads = [np.empty(s, np.float32) for s in SHAPES]
    for _ in range(3):
        for g in grads:
            g[...] = rand(g.shape, np.float32, rng)
        opt.step(grads)
        ref.step(grads)
    for p, q in zip(params, ref_params):
        assert_close(p, q, rtol=1e-5)


@pytest.mark.parametrize("name, kw", CONFIGS)
def test_param_groups_step_with_their_own_hyperparameters(rng, name, kw):
    """As torch.optim: groups override the constructor's hyperparameters, an lr set in
    param_groups between steps is used by the next, and a group added later starts
    with fresh state (step 1 of Adam's bias correction)."""
    shapes = [(7, 3), (5,), (2, 3, 4), (6,)]
    params = [rand(s, np.float64, rng) for s in shapes]
    own = dict(lr=3 * kw["lr"], weight_decay=0.05)
    opt = getattr(optim, name)([{"params": params[:2]}, {"params": params[2:3], **own}], **kw)
    refs = [ReferenceOptimizer(name, [p.copy() for p in params[:2]], kw),
            ReferenceOptimizer(name, [params[2].copy()], {**kw, **own})]
    for step in range(6):
        if step == 2:
            opt.add_param_group({"params": [params[3]], "lr": 0.5 * kw["lr"]})
            refs.append(ReferenceOptimizer(name, [params[3].copy()], {**kw, "lr": 0.5 * kw["lr"]}))
        if step == 4:
            opt.param_groups[0]["lr"] = refs[0].kw["lr"] = 0.1 * kw["lr"]
        grads = [rand(s, np.float64, rng) for s in shapes[:3 + (step >= 2)]]
        opt.step(grads)
        for ref, gs in zip(refs, (grads[:2], grads[2:3], grads[3:])):
            ref.step(gs)
    assert [g["params"] for g in opt.state_dict()["param_groups"]] == [[0, 1], [2], [3]]
    for p, q in zip(params, [q for ref in refs for q in ref.params]):
        assert_close(p, q, rtol=1e-12)


def test_state_dict_of_groups_round_trips_and_keeps_torch_layout(rng):
    params = [rand((3, 2), np.float64, rng), rand((4,), np.float64, rng)]
    opt = optim.SGD([{"params": params[:1], "momentum": 0.9}, {"params": params[1:]}], lr=0.1)
    opt.step([rand((3, 2), np.float64, rng), rand((4,), np.float64, rng)])
    saved = opt.state_dict()
    # as torch's SGD: no step count, and no entry for a parameter without momentum
    assert list(saved["state"]) == [0] and list(saved["state"][0]) == ["momentum_buffer"]
    assert saved["param_groups"][0]["momentum"] == 0.9 and saved["param_groups"][1]["momentum"] == 0.0
    fresh = optim.SGD([{"params": [p.copy() for p in params[:1]]}, {"params": [params[1].copy()]}], lr=0.5)
    fresh.load_state_dict(saved)
    assert fresh.param_groups[0]["momentum"] == 0.9 and fresh.param_groups[1]["lr"] == 0.1
    np.testing.assert_array_equal(fresh.state_dict()["state"][0]["momentum_buffer"],
                                  saved["state"][0]["momentum_buffer"])
    with pytest.raises(ValueError, match=r"groups of \[1, 1\] params, this optimizer has groups of \[2\]"):
        optim.SGD(params, lr=0.1).load_state_dict(saved)


def test_hyperparameters_are_checked_where_they_are_set():
    params = [np.zeros((3, 2)), np.zeros(4)]
    with pytest.raises(ValueError, match=r"Adam: param_groups\[1\]\['betas'\]\[1\] must be in"):
        optim.Adam([{"params": params[:1]}, {"params": params[1:], "betas": (0.9, 1.5)}])
    with pytest.raises(TypeError, match="a parameter group must be a dict with a 'params' list, got list"):
        optim.SGD([{"params": params[:1]}, [params[1]]], lr=0.1)
    with pytest.raises(ValueError, match=r"param_groups\[1\]\['params'\] is an empty list"):
        optim.SGD([{"params": params}, {"params": []}], lr=0.1)
    with pytest.raises(ValueError, match=r"params\[2\] is params\[0\] again"):
        optim.SGD([{"params": params}, {"params": params[:1]}], lr=0.1)
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    opt.param_groups[0]["lr"] = -1.0
    with pytest.raises(ValueError, match=r"SGD.step: param_groups\[0\]\['lr'\] must be in \[0.0, inf\]"):
        opt.step([np.ones((3, 2)), np.ones(4)])
    np.testing.assert_array_equal(params[0], 0)          # nothing stepped
    opt.param_groups[0]["lr"] = 0.5
    opt.step([np.ones((3, 2)), np.ones(4)])
    np.testing.assert_array_equal(params[0], -0.5)


def test_param_groups_match_torch_step_for_step(rng):
    """Groups, an added group and an lr changed between steps, against torch.optim itself."""
    torch = pytest.importorskip("torch")
    for name, kw, own in [("SGD", dict(lr=0.1, momentum=0.9), dict(lr=0.01, nesterov=True)),
                          ("RMSprop", dict(lr=0.01), dict(momentum=0.5, weight_decay=0.1)),
                          ("Adam", dict(lr=0.01), dict(betas=(0.5, 0.9), lr=0.1)),
                          ("AdamW", dict(lr=0.01), dict(weight_decay=0.3))]:
        shapes = [(4, 3), (5,), (2, 2), (3,)]
        ps = [rand(s, np.float64, rng) for s in shapes]
        tps = [torch.tensor(p.copy(), requires_grad=True) for p in ps]
        ours = getattr(optim, name)([{"params": ps[:2]}, {"params": ps[2:3], **own}], **kw)
        theirs = getattr(torch.optim, name)([{"params": tps[:2]}, {"params": tps[2:3], **own}],
                                             foreach=False, **kw)
        for step in range(8):
            if step == 3:
                ours.add_param_group({"params": [ps[3]], "lr": 0.05})
                theirs.add_param_group({"params": [tps[3]], "lr": 0.05})
            if step == 5:
                ours.param_groups[0]["lr"] = theirs.param_groups[0]["lr"] = 0.02
            gs = [rand(s, np.float64, rng) for s in shapes[:3 + (step >= 3)]]
            for tp, g in zip(tps, gs):
                tp.grad = torch.tensor(g)
            ours.step(gs)
            theirs.step()
        for p, tp in zip(ps, tps):
            assert_close(p, tp.detach().numpy(), rtol=1e-12, name=name)
        state, their_state = ours.state_dict()["state"], theirs.state_dict()["state"]
        assert {i: sorted(e) for i, e in state.items()} == {i: sorted(e) for i, e in their_state.items()}


@pytest.mark.parametrize("make, err, match", [
    (lambda p: optim.SGD(p, lr=-0.1), ValueError, r"lr must be in \[0.0, inf\], got -0.1"),
    (lambda p: optim.Adam(p, betas=(0.9, 1.0)), ValueError, r"betas\[1\] must be in \[0.0, 1.0\)"),
    (lambda p: optim.Adam(p, betas=(-0.1, 0.9)), ValueError, r"betas\[0\]"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), ValueError, "nesterov=True needs momentum"),
    (lambda p: optim.SGD([], lr=0.1), ValueError, "empty"),
    (lambda p: optim.SGD([p[0], p[0].astype(np.float32)], lr=0.1), TypeError, r"params\[1\] has dtype float32"),
    (lambda p: optim.SGD([p[0].T], lr=0.1), ValueError, "not C-contiguous"),
    (lambda p: optim.Adam([p[1], p[0], p[1]]), ValueError, r"params\[2\] is params\[0\] again"),
    (lambda p: optim.RMSprop([p[0], np.broadcast_to(p[1], (4,))]), ValueError,
     r"params\[1\] is read-only"),
])
def test_optimizer_rejects_bad_arguments(make, err, match):
    with pytest.raises(err, match=match):
        make([np.zeros((3, 2)), np.zeros(4)])


def test_step_rejects_misaligned_grads():
    opt = optim.Adam([np.zeros((3, 2)), np.zeros(4)])
    with pytest.raises(ValueError, match="got 1 grads for 2 params"):
        opt.step([np.zeros((3, 2))])
    with pytest.raises(ValueError, match=r"grads\[1\] has shape \(5,\), expected \(4,\)"):
        opt.step([np.zeros((3, 2)), np.zeros(5)])
    with pytest.raises(TypeError, match=r"grads\[0\] has dtype float32, expected float64"):
        opt.step([np.zeros((3, 2), np.float32), np.zeros(4)])
    with pytest.raises(TypeError, match=r"grads\[1\] must be a NumPy array or a CUDA array, got builtins"):
        opt.step([np.zeros((3, 2)), [0.0] * 4])
    with pytest.raises(TypeError, match="pass grads"):
        opt.step()


def test_noncontiguous_grads_give_the_contiguous_update(rng, grad_path):
    """A gradient seen through strides (a transposed view) takes the checked path and a copy."""
    start = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    params = [[a.copy() for a in start] for _ in range(2)]
    g = [rng.standard_normal((4, 3)).T, rng.standard_normal(10)[::2]]
    assert not g[0].flags.c_contiguous and not g[1].flags.c_contiguous
    before = [a.copy() for a in g]
    for ps, grads in zip(params, (g, [np.ascontiguousarray(a) for a in g])):
        optim.Adam(ps, lr=0.1).step(grads)
    for a, b, s in zip(*params, start):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, s)
    for a, b in zip(g, before):
        np.testing.assert_array_equal(a, b)
