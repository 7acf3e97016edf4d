"""fastnn.reference against PyTorch, function by function (skipped without torch).

torch is never a dependency; with `pip install torch==2.13.0` this file
checks that the oracle means what PyTorch means: forward, every gradient (by
autograd) and the optimizers step for step."""
import numpy as np
import pytest

from fastnn import reference as ref
from fastnn.testing import assert_close, rand

torch = pytest.importorskip("torch")
TF = torch.nn.functional
TOL = 1e-9


def T(a, grad=False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def autograd(out, inputs, dy):
    outs = out if isinstance(out, tuple) else (out,)
    dys = dy if isinstance(dy, tuple) else (dy,)
    pairs = [(o, T(d)) for o, d in zip(outs, dys) if d is not None]
    grads = torch.autograd.grad([o for o, _ in pairs], inputs, [d for _, d in pairs], allow_unused=True)
    return [None if g is None else g.numpy() for g in grads]


@pytest.mark.parametrize("stride, padding", [(1, 0), ((2, 1), (1, 2)), (2, 1)])
@pytest.mark.parametrize("N", [2, 0])
def test_conv2d(rng, stride, padding, N):
    x, w, b = rand((N, 3, 7, 6), rng=rng), rand((4, 3, 3, 2), rng=rng), rand((4,), rng=rng)
    tx, tw, tb = T(x, True), T(w, True), T(b, True)
    ty = TF.conv2d(tx, tw, tb, stride, padding)
    assert_close(ref.conv2d(x, w, b, stride, padding), ty.detach().numpy(), rtol=TOL)
    dy = rand(ty.shape, rng=rng)
    for mine, theirs in zip(ref.conv2d_backward(dy, x, w, stride, padding), autograd(ty, [tx, tw, tb], dy)):
        assert_close(mine, theirs, rtol=TOL)


@pytest.mark.parametrize("k, s, p", [(2, None, 0), ((3, 2), (2, 1), (1, 1)), (3, 1, 1)])
@pytest.mark.parametrize("N", [2, 0])
def test_pooling(rng, k, s, p, N):
    x = rand((N, 3, 7, 6), rng=rng)
    x[:1, 0, :2, :2] = 0.75   # a tie
    for fwd, bwd, tfn in ((ref.max_pool2d, ref.max_pool2d_backward, TF.max_pool2d),
                          (ref.avg_pool2d, ref.avg_pool2d_backward, TF.avg_pool2d)):
        tx = T(x, True)
        ty = tfn(tx, k, s, p)
        assert_close(fwd(x, k, s, p), ty.detach().numpy(), rtol=TOL)
        dy = rand(ty.shape, rng=rng)
        assert_close(bwd(dy, x, k, s, p), autograd(ty, [tx], dy)[0], rtol=TOL)


@pytest.mark.parametrize("size", [(3, 4), 1, (7, None), (9, 2), 0])
@pytest.mark.parametrize("N", [2, 0])
def test_adaptive_avg_pooling(rng, size, N):
    x = rand((N, 3, 7, 6), rng=rng)
    tx = T(x, True)
    ty = TF.adaptive_avg_pool2d(tx, size)
    assert_close(ref.adaptive_avg_pool2d(x, size), ty.detach().numpy(), rtol=TOL)
    dy = rand(ty.shape, rng=rng)
    if size == 0:   # torch's backward refuses an empty output; no output depends on x
        assert_close(ref.adaptive_avg_pool2d_backward(dy, x, size), np.zeros_like(x))
    else:
        assert_close(ref.adaptive_avg_pool2d_backward(dy, x, size), autograd(ty, [tx], dy)[0], rtol=TOL)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_family(rng, axis):
    x = rand((3, 4, 5), rng=rng, low=-5, high=5)
    tx = T(x, True)
    ty = torch.softmax(tx, axis)
    assert_close(ref.softmax(x, axis), ty.detach().numpy(), rtol=TOL)
    assert_close(ref.log_softmax(x, axis), torch.log_softmax(T(x), axis).numpy(), rtol=TOL)
    dy = rand(x.shape, rng=rng)
    assert_close(ref.softmax_backward(dy, ref.softmax(x, axis), axis), autograd(ty, [tx], dy)[0], rtol=TOL)


@pytest.mark.parametrize("N", [6, 0])
def test_cross_entropy(rng, N):
    x = rand((N, 5), rng=rng, low=-3, high=3)
    t = rng.integers(0, 5, size=N).astype(np.int32)
    tx = T(x, True)
    tl = TF.cross_entropy(tx, torch.tensor(t, dtype=torch.long))
    loss, d = ref.cross_entropy(x, t)
    assert_close(loss, tl.item(), rtol=1e-12)      # NaN for N = 0, the mean of no rows
    assert_close(d, torch.autograd.grad(tl, tx)[0].numpy(), rtol=TOL)


@pytest.mark.parametrize("shape", [(6, 5), (3, 5, 2, 4), (5,), (0, 5)])
@pytest.mark.parametrize("probs", [False, True], ids=["labels", "probabilities"])
@pytest.mark.parametrize("options", [dict(weight=True), dict(label_smoothing=0.25, reduction="sum"),
                                     dict(weight=True, label_smoothing=0.1, reduction="none"),
                                     dict(weight=True, ignore_index=3, label_smoothing=0.2)], ids=str)
def test_cross_entropy_options(rng, shape, probs, options):
    """torch.nn.functional.cross_entropy's arguments, on K-dimensional, unbatched
    and empty logits, against labels (a few ignored) and probabilities."""
    options = dict(options)
    if probs and "ignore_index" in options:
        pytest.skip("ignore_index applies to labels only")
    axis = 1 if len(shape) > 1 else 0
    rows = shape[:axis] + shape[axis + 1:]
    x = rand(shape, rng=rng, low=-3, high=3)
    if probs:
        t = np.moveaxis(rng.dirichlet(np.ones(shape[axis]), size=rows), -1, axis).copy()
        tt = T(t)
    else:
        t = rng.integers(0, shape[axis], size=rows)
        t.flat[::4] = options.get("ignore_index", -100)
        tt = torch.tensor(t, dtype=torch.long)
    if options.get("weight"):
        options["weight"] = rand((shape[axis],), rng=rng, low=0.2, high=2)
    tx = T(x, True)
    tl = TF.cross_entropy(tx, tt, **{k: T(v) if isinstance(v, np.ndarray) else v for k, v in options.items()})
    loss, d = ref.cross_entropy(x, t, **options)
    assert_close(loss, tl.detach().numpy(), rtol=1e-12)
    if x.size:
        assert_close(d, torch.autograd.grad(tl.sum(), tx)[0].numpy(), rtol=TOL)


@pytest.mark.parametrize("shape, w_shape, p_shape", [
    ((6,), None, None), ((4, 3), None, None), ((2, 3, 5), None, None), ((0, 3), None, None),
    ((4, 3), (3,), (3,)), ((4, 3), (4, 1), None), ((2, 3, 4, 5), (3, 1, 1), (2, 1, 4, 1)), ((0, 3), (3,), (3,)),
])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits(rng, shape, w_shape, p_shape, reduction):
    x, y = rand(shape, rng=rng, low=-6, high=6), rand(shape, rng=rng, low=0, high=1)
    w = None if w_shape is None else rand(w_shape, rng=rng, low=0.1, high=2)
    p = None if p_shape is None else rand(p_shape, rng=rng, low=0.1, high=4)
    tx = T(x, True)
    tl = TF.binary_cross_entropy_with_logits(tx, T(y), None if w is None else T(w), reduction=reduction,
                                             pos_weight=None if p is None else T(p))
    loss, d = ref.binary_cross_entropy_with_logits(x, y, w, reduction, p)
    assert_close(np.asarray(loss), tl.detach().numpy(), rtol=1e-12)     # NaN for the mean of nothing, as torch's
    if x.size:
        assert_close(d, torch.autograd.grad(tl.sum(), tx)[0].numpy(), rtol=TOL)


@pytest.mark.parametrize("lead", [(4,), (), (3, 2), (2, 0, 3)])
def test_linear(rng, lead):
    x, w, b = rand(lead + (3,), rng=rng), rand((5, 3), rng=rng), rand((5,), rng=rng)
    tx, tw, tb = T(x, True), T(w, True), T(b, True)
    ty = TF.linear(tx, tw, tb)
    assert_close(ref.linear(x, w, b), ty.detach().numpy(), rtol=TOL)
    dy = rand(lead + (5,), rng=rng)
    for mine, theirs in zip(ref.linear_backward(dy, x, w), autograd(ty, [tx, tw, tb], dy)):
        assert_close(mine, theirs, rtol=TOL)


def test_activations(rng):
    a = rand((3, 7), rng=rng, low=-4, high=4)
    da = rand(a.shape, rng=rng)
    for name, tfn in (("relu", torch.relu), ("sigmoid", torch.sigmoid), ("tanh", torch.tanh),
                      ("leaky_relu", lambda v: TF.leaky_relu(v, 0.01))):
        ta = T(a, True)
        tout = tfn(ta)
        out = getattr(ref, name)(a)
        assert_close(out, tout.detach().numpy(), rtol=TOL)
        arg = a if "relu" in name else out
        assert_close(getattr(ref, name + "_backward")(da, arg), autograd(tout, [ta], da)[0], rtol=TOL)


@pytest.mark.parametrize("shape", [(6, 3), (2, 3, 4, 5), (4, 3, 5), (0, 3), (0, 3, 4, 5)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm(rng, shape, training):
    x = rand(shape, rng=rng, low=-2, high=3)
    g, b = rand((3,), rng=rng), rand((3,), rng=rng)
    rm, rv = rand((3,), rng=rng), rand((3,), rng=rng, low=0.5, high=2)
    trm, trv = torch.tensor(rm), torch.tensor(rv)
    tx, tg, tb = T(x, True), T(g, True), T(b, True)
    ty = TF.batch_norm(tx, trm, trv, tg, tb, training, 0.2, 1e-4)
    y, cache = ref.batch_norm(x, g, b, rm, rv, training, 0.2, 1e-4)
    assert_close(y, ty.detach().numpy(), rtol=TOL)
    assert_close(rm, trm.numpy(), rtol=TOL)
    assert_close(rv, trv.numpy(), rtol=TOL)
    dy = rand(shape, rng=rng)
    for mine, theirs in zip(ref.batch_norm_backward(dy, cache), autograd(ty, [tx, tg, tb], dy)):
        assert_close(mine, theirs, rtol=TOL)


def test_rnn_lstm_and_gru_sequences(rng):
    Tn, N, I, H = 3, 2, 4, 3
    x = rand((Tn, N, I), rng=rng)
    for kind in ("rnn_tanh", "rnn_relu", "lstm", "gru"):
        if kind.startswith("rnn"):
            mod = torch.nn.RNN(I, H, nonlinearity=kind[4:]).double()
        else:
            mod = (torch.nn.LSTM if kind == "lstm" else torch.nn.GRU)(I, H).double()
        params = [p.detach().numpy().copy() for p in mod.parameters()]  # w_ih, w_hh, b_ih, b_hh
        h0 = rand((N, H), rng=rng)
        c0 = rand((N, H), rng=rng)
        tx, th0, tc0 = T(x, True), T(h0[None], True), T(c0[None], True)
        dout, dhn, dcn = rand((Tn, N, H), rng=rng), rand((N, H), rng=rng), rand((N, H), rng=rng)
        if kind == "lstm":
            tout, (thn, tcn) = mod(tx, (th0, tc0))
            out, hn, cn, cache = ref.lstm(x, h0, c0, *params)
            assert_close(cn, tcn[0].detach().numpy(), rtol=TOL)
            grads = ref.lstm_backward(dout, dhn, dcn, cache)
            theirs = autograd((tout, thn[0], tcn[0]), [tx, th0, tc0, *mod.parameters()], (dout, dhn, dcn))
            theirs[1], theirs[2] = theirs[1][0], theirs[2][0]
        else:
            tout, thn = mod(tx, th0)
            if kind == "gru":
                out, hn, cache = ref.gru(x, h0, *params)
                grads = ref.gru_backward(dout, dhn, cache)
            else:
                out, hn, cache = ref.rnn(x, h0, *params, nonlinearity=kind[4:])
                grads = ref.rnn_backward(dout, dhn, cache)
            theirs = autograd((tout, thn[0]), [tx, th0, *mod.parameters()], (dout, dhn))
            theirs[1] = theirs[1][0]
        assert_close(out, tout.detach().numpy(), rtol=TOL)
        assert_close(hn, thn[0].detach().numpy(), rtol=TOL)
        for mine, their in zip(grads, theirs):
            assert_close(mine, their, rtol=TOL)


OPTIMS = [
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.1, momentum=0.5)),
    ("RMSprop", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1)),
]


@pytest.mark.parametrize("name, kw", OPTIMS)
def test_optimizer_rules(rng, name, kw):
    p0 = rand((4, 3), rng=rng)
    tp = torch.tensor(p0.copy(), requires_grad=True)
    topt = getattr(torch.optim, name)([tp], foreach=False, **kw)
    p, s1, s2 = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
    for step in range(1, 6):
        g = rand(p0.shape, rng=rng)
        tp.grad = torch.tensor(g)
        topt.step()
        if name == "SGD":
            ref.sgd_update(p, g, s1, first_step=step == 1, **kw)
        elif name == "RMSprop":
            ref.rmsprop_update(p, g, s1, s2, **kw)
        else:
            b1, b2 = kw.get("betas", (0.9, 0.999))
            ref.adam_update(p, g, s1, s2, step, lr=kw["lr"], beta1=b1, beta2=b2,
                            weight_decay=kw.get("weight_decay", 0.0), decoupled=name == "AdamW")
        assert_close(p, tp.detach().numpy(), rtol=TOL)
