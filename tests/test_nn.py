"""fastnn.nn modules: gradients by finite differences, torch's names, state
dicts, train/eval behaviour, accumulation, and a loss that falls."""
import numpy as np
import pytest

import fastnn
from fastnn import functional as F, models, nn, optim, train
from fastnn.testing import assert_close, numerical_grad, rand


def _check_module_grads(module, x, rng, atol=1e-6, input_grad=True):
    """module (float64) backward against central differences of sum(module(x) * dy),
    for the input and every parameter."""
    module.train()
    y = module(x)
    dy = rand(y.shape, np.float64, rng)
    module.zero_grad()
    dx = module.backward(dy)
    if input_grad:
        num = numerical_grad(lambda v: module(v), x, dy)
        assert_close(dx, num, rtol=atol, name="dx")
    _check_param_grads(module, lambda: module(x), dy, atol)


def _check_param_grads(module, forward, dy, atol=1e-6):
    """Each parameter's .grad against central differences of sum(forward() * dy)."""
    for name, p in module.named_parameters():
        def f(v, p=p):
            old = p.data.copy()
            p.data[...] = v
            out = forward()
            p.data[...] = old
            return out
        assert_close(p.grad, numerical_grad(f, p.data.copy(), dy), rtol=atol, name=name)


F64 = dict(dtype=np.float64)

MODULES = [
    ("linear", lambda: nn.Linear(5, 3, **F64), (4, 5)),
    ("linear_nobias", lambda: nn.Linear(5, 3, bias=False, **F64), (2, 5)),
    ("conv", lambda: nn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=1, **F64), (2, 2, 5, 4)),
    ("maxpool", lambda: nn.MaxPool2d(2), (2, 3, 4, 6)),
    ("avgpool", lambda: nn.AvgPool2d(3, 2, 1), (1, 2, 5, 5)),
    ("adaptive_avgpool", lambda: nn.AdaptiveAvgPool2d((2, 3)), (2, 2, 5, 4)),
    ("activations", lambda: nn.Sequential(nn.Linear(4, 6, **F64), nn.Tanh(), nn.Linear(6, 6, **F64),
                                          nn.Sigmoid(), nn.Linear(6, 5, **F64), nn.LeakyReLU(0.1),
                                          nn.Softmax(1)), (3, 4)),
    ("bn1d", lambda: nn.BatchNorm1d(4, **F64), (6, 4)),
    ("bn2d", lambda: nn.BatchNorm2d(3, **F64), (2, 3, 3, 4)),
    ("flatten", lambda: nn.Sequential(nn.Conv2d(1, 2, 3, **F64), nn.ReLU(), nn.Flatten(),
                                      nn.Linear(8, 3, **F64)), (2, 1, 4, 4)),
    ("residual", lambda: nn.ResidualBlock(2, 2, **F64), (2, 2, 4, 4)),
    ("residual_down", lambda: nn.ResidualBlock(2, 3, stride=2, **F64), (2, 2, 5, 5)),
]


@pytest.mark.parametrize("name, make, shape", MODULES, ids=[m[0] for m in MODULES])
def test_module_gradients_match_finite_differences(rng, name, make, shape):
    fastnn.manual_seed(1)
    module = make()
    x = rand(shape, np.float64, rng, -2, 2)
    _check_module_grads(module, x, rng)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("layers, bidir, batch_first, dropout", [
    (1, False, False, 0.0), (2, True, False, 0.0), (2, False, True, 0.0), (3, True, False, 0.4)])
def test_recurrent_module_gradients(rng, kind, layers, bidir, batch_first, dropout, monkeypatch):
    fastnn.manual_seed(2)
    # the same dropout masks on every forward, so finite differences see one function
    seeded = F.dropout
    monkeypatch.setattr(F, "dropout", lambda x, p, training=True, seed=None: seeded(x, p, training, 11))
    m = getattr(nn, kind)(3, 2, num_layers=layers, bidirectional=bidir, batch_first=batch_first,
                          dropout=dropout, **F64)
    x = rand((2, 4, 3) if batch_first else (4, 2, 3), np.float64, rng)

    class OutOnly(nn.Module):
        def __init__(self):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m(x)[0]

        def backward(self, dy):
            return self.m.backward(dy)
    _check_module_grads(OutOnly(), x, rng)


@pytest.mark.parametrize("make, shape", [
    (lambda: nn.Sequential(nn.Flatten(), nn.Linear(10, 4), nn.ReLU(), nn.Dropout(0.3), nn.Linear(4, 3)),
     (0, 2, 5)),
    (lambda: nn.LSTM(3, 2, num_layers=2, bidirectional=True), (4, 0, 3)),
    (lambda: nn.GRU(3, 2, batch_first=True), (0, 4, 3)),
    (lambda: nn.RNN(3, 2, 2, "relu", bidirectional=True), (4, 0, 3)),
    (lambda: nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                           nn.AvgPool2d(3, 1, 1), nn.Flatten(), nn.Linear(64, 3)), (0, 2, 8, 8)),
], ids=["dense", "lstm", "gru_batch_first", "rnn_relu", "cnn"])
def test_an_empty_batch_runs_forward_and_backward(make, shape):
    """N = 0, which torch allows for these modules: empty outputs and input
    gradient, and parameter gradients of 0 (sums over no sample), written."""
    fastnn.manual_seed(5)
    m = make()
    y = m(np.zeros(shape, np.float32))
    y = y[0] if isinstance(y, tuple) else y
    assert 0 in y.shape
    assert m.backward(np.zeros_like(y)).shape == shape
    for name, p in m.named_parameters():
        assert np.array_equal(p.grad, np.zeros_like(p.data)), name


def test_a_tied_weight_is_one_parameter_with_both_gradients(rng):
    """One Parameter in two modules, as torch: listed once by parameters() (so an
    optimizer steps it once), saved under both names, its .grad the sum of both uses."""
    fastnn.manual_seed(6)
    first, second = nn.Linear(3, 3, **F64), nn.Linear(3, 3, **F64)
    second.weight = first.weight
    m = nn.Sequential(first, nn.Tanh(), second)
    assert [n for n, _ in m.named_parameters()] == ["0.weight", "0.bias", "2.bias"]
    assert list(m.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    _check_module_grads(m, rand((4, 3), np.float64, rng), rng)
    optim.SGD(m.parameters(), lr=0.1).step()


def test_assigning_to_a_registered_name_keeps_it_registered_in_place():
    bn = nn.BatchNorm1d(3)
    bn.running_mean = np.full(3, 0.5, np.float32)      # still a buffer, as in torch
    bn.weight = nn.Parameter(np.full(3, 2.0, np.float32))
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                     "num_batches_tracked"]
    assert bn.state_dict()["running_mean"].tolist() == [0.5] * 3
    with pytest.raises(TypeError, match=r"cannot assign numpy.ndarray to 'weight', expected a "
                                        r"Parameter or None \(to set its values: weight.data"):
        bn.weight = np.ones(3, np.float32)
    with pytest.raises(TypeError, match="cannot assign builtins.str to 'running_var', expected an array"):
        bn.running_var = "ones"
    bn.bias = None                                     # None unregisters, as torch
    assert "bias" not in bn.state_dict() and bn.bias is None


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_recurrent_dropout_acts_between_layers_in_training_only(rng, kind):
    fastnn.manual_seed(7)
    m = getattr(nn, kind)(3, 4, num_layers=2, dropout=0.5)
    plain = getattr(nn, kind)(3, 4, num_layers=2)
    plain.load_state_dict(m.state_dict())
    x = rand((5, 2, 3), np.float32, rng)
    assert not np.allclose(m(x)[0], plain(x)[0])
    m.eval()
    np.testing.assert_array_equal(m(x)[0], plain(x)[0])
    with pytest.warns(UserWarning, match="dropout acts between stacked layers"):
        getattr(nn, kind)(3, 4, dropout=0.5)


def test_cells_and_embedding_gradients(rng):
    fastnn.manual_seed(3)
    cell = nn.LSTMCell(3, 4, **F64)
    x, h, c = rand((2, 3), np.float64, rng), rand((2, 4), np.float64, rng), rand((2, 4), np.float64, rng)
    h1, c1 = cell(x, (h, c))
    dh = rand(h1.shape, np.float64, rng)
    dx, _, _ = cell.backward(dh)
    assert_close(dx, numerical_grad(lambda v: cell(v, (h, c))[0], x, dh), rtol=1e-6)
    for gcell in (nn.GRUCell(3, 4, **F64), nn.RNNCell(3, 4, **F64), nn.RNNCell(3, 4, nonlinearity="relu", **F64)):
        h1 = gcell(x, h)
        dx, dh0 = gcell.backward(dh)
        assert_close(dx, numerical_grad(lambda v: gcell(v, h), x, dh), rtol=1e-6)
        assert_close(dh0, numerical_grad(lambda v: gcell(x, v), h, dh), rtol=1e-6)
    emb = nn.Embedding(5, 3, **F64)
    idx = np.array([[0, 4], [4, 2]])
    y = emb(idx)
    emb.backward(np.ones_like(y))
    assert emb.weight.grad[4].tolist() == [2, 2, 2] and emb.weight.grad[1].tolist() == [0, 0, 0]


def test_logistic_regression_gradients(rng):
    """nn.Linear(d, 1) and BCEWithLogitsLoss, the course's first model: the loss's
    parameter gradients against finite differences of the loss itself."""
    fastnn.manual_seed(8)
    m, loss_fn = nn.Linear(4, 1, **F64), nn.BCEWithLogitsLoss()
    x, y = rand((6, 4), np.float64, rng, -2, 2), (rng.random((6, 1)) < 0.5).astype(np.float64)
    loss_fn(m(x), y)
    m.backward(loss_fn.backward())
    _check_param_grads(m, lambda: np.array(loss_fn(m(x), y)), np.array(1.0))


def test_cross_entropy_loss_module(rng):
    """CrossEntropyLoss keeps its options and its weight (a buffer: in the state
    dict, loadable), and backward's dloss scales what F.cross_entropy returns."""
    w = rand((4,), np.float64, rng, 0.5, 2)
    loss_fn = nn.CrossEntropyLoss(w, ignore_index=0, reduction="none", label_smoothing=0.1)
    assert repr(loss_fn) == "CrossEntropyLoss(ignore_index=0, reduction='none', label_smoothing=0.1)"
    assert list(loss_fn.state_dict()) == ["weight"] and list(nn.CrossEntropyLoss().state_dict()) == []
    x, t = rand((3, 4, 2), np.float64, rng), rng.integers(0, 4, (3, 2))
    loss = loss_fn(x, t)
    want, d = F.cross_entropy(x, t, w, 0, "none", 0.1)
    assert_close(loss, want)
    dloss = rand(loss.shape, np.float64, rng)
    assert_close(loss_fn.backward(dloss), d * dloss[:, None, :])
    loss_fn.load_state_dict({"weight": np.ones(4)})
    assert_close(loss_fn(x, t), F.cross_entropy(x, t, None, 0, "none", 0.1)[0])
    for bad, err in ((dict(reduction="avg"), ValueError), (dict(ignore_index=None), TypeError),
                     (dict(label_smoothing=-0.1), ValueError), (dict(weight=np.ones((2, 2))), ValueError)):
        with pytest.raises(err, match="CrossEntropyLoss: "):
            nn.CrossEntropyLoss(**bad)


def test_bce_with_logits_loss_module(rng):
    """BCEWithLogitsLoss keeps its options; weight and pos_weight are buffers
    (in the state dict, loadable); backward's dloss scales what
    F.binary_cross_entropy_with_logits returns."""
    w, p = rand((3, 1), np.float64, rng, 0.5, 2), rand((4,), np.float64, rng, 0.5, 3)
    loss_fn = nn.BCEWithLogitsLoss(w, reduction="none", pos_weight=p)
    assert repr(loss_fn) == "BCEWithLogitsLoss(reduction='none')"
    assert list(loss_fn.state_dict()) == ["weight", "pos_weight"]
    assert list(nn.BCEWithLogitsLoss(pos_weight=p).state_dict()) == ["pos_weight"]
    assert list(nn.BCEWithLogitsLoss().state_dict()) == []
    x, y = rand((3, 4), np.float64, rng), rand((3, 4), np.float64, rng, 0, 1)
    want, d = F.binary_cross_entropy_with_logits(x, y, w, "none", p)
    assert_close(loss_fn(x, y), want)
    dloss = rand((3, 4), np.float64, rng)
    assert_close(loss_fn.backward(dloss), d * dloss)
    loss_fn.load_state_dict({"weight": np.ones((3, 1)), "pos_weight": np.ones(4)})
    assert_close(loss_fn(x, y), F.binary_cross_entropy_with_logits(x, y, reduction="none")[0])
    with pytest.raises(ValueError, match="BCEWithLogitsLoss: reduction must be"):
        nn.BCEWithLogitsLoss(reduction="avg")
    with pytest.raises(TypeError, match="BCEWithLogitsLoss: pos_weight has dtype int64"):
        nn.BCEWithLogitsLoss(pos_weight=np.ones(3, np.int64))


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_loss_backward_checks_dloss(rng, reduction):
    """dloss: a number for 'mean' and 'sum' (a 0-D array too), an array of the
    loss's shape and dtype for 'none'; anything else a clear error, not numpy's."""
    x, y = rand((3, 4), np.float32, rng), rand((3, 4), np.float32, rng, 0, 1)
    for loss_fn, target, loss_shape in ((nn.BCEWithLogitsLoss(reduction=reduction), y, (3, 4)),
                                        (nn.CrossEntropyLoss(reduction=reduction), rng.integers(0, 4, 3), (3,))):
        name = type(loss_fn).__name__
        loss_fn(x, target)
        d = loss_fn.backward()
        if reduction == "mean":
            assert_close(loss_fn.backward(np.array(2.5)), 2.5 * d)
            assert loss_fn.backward(2.5).dtype == np.float32
            with pytest.raises(TypeError, match=f"{name}.backward: dloss must be a number for reduction='mean'"):
                loss_fn.backward(np.ones(loss_shape, np.float32))
        else:
            with pytest.raises(ValueError, match=f"{name}.backward: dloss has shape"):
                loss_fn.backward(np.ones((2,), np.float32))
            with pytest.raises(TypeError, match=f"{name}.backward: dloss has dtype float64, expected float32"):
                loss_fn.backward(np.ones(loss_shape))


def test_char_lstm_gradients(rng):
    fastnn.manual_seed(4)
    m = models.CharLSTM(6, embedding_dim=3, hidden_size=4, **F64)
    idx = rng.integers(0, 6, size=(5, 2))
    logits = m(idx)
    d = rand(logits.shape, np.float64, rng)
    m.zero_grad()
    m.backward(d)
    _check_param_grads(m, lambda: m(idx), d)


def test_torch_state_dict_names_without_torch():
    assert list(nn.BatchNorm2d(3).state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                                    "num_batches_tracked"]
    names = list(nn.LSTM(3, 4, num_layers=2, bidirectional=True).state_dict())
    assert names[:4] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert names[4] == "weight_ih_l0_reverse" and names[-1] == "bias_hh_l1_reverse" and len(names) == 16
    seq = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Linear(2, 2))
    assert list(seq.state_dict())[:3] == ["0.weight", "0.bias", "1.weight"]
    shapes = {k: v.shape for k, v in nn.LSTM(3, 4, num_layers=2).state_dict().items()}
    assert shapes["weight_ih_l1"] == (16, 4) and shapes["weight_hh_l0"] == (16, 4)


def test_state_dict_round_trip_and_errors(rng):
    fastnn.manual_seed(5)
    a, b = models.SmallResNet(image_size=8), models.SmallResNet(image_size=8)
    x = rand((2, 1, 8, 8), np.float32, rng)
    a.train()
    a(x)                                 # moves running stats and num_batches_tracked
    b.load_state_dict(a.state_dict())
    a.eval(), b.eval()
    np.testing.assert_array_equal(a(x), b(x))
    assert int(b.state_dict()["0.weight"].shape[0]) == 16
    with pytest.raises(KeyError, match="missing keys"):
        b.load_state_dict({"0.weight": a.state_dict()["0.weight"]})
    bad = a.state_dict()
    bad["0.weight"] = np.zeros((3, 3))
    with pytest.raises(ValueError, match=r"0.weight has shape \(3, 3\), expected \(16, 1, 3, 3\)"):
        b.load_state_dict(bad)


def test_train_and_eval_modes(rng):
    drop = nn.Dropout(0.5)
    x = rand((50, 40), np.float32, rng) + 2
    assert (drop(x) == 0).mean() > 0.3
    drop.eval()
    np.testing.assert_array_equal(drop(x), x)
    np.testing.assert_array_equal(drop.backward(x), x)
    bn = nn.BatchNorm1d(40)
    bn(x)
    assert int(bn.num_batches_tracked) == 1 and not np.allclose(bn.running_mean, 0)
    mean_before = bn.running_mean.copy()
    bn.eval()
    y = bn(x)
    np.testing.assert_array_equal(bn.running_mean, mean_before)
    assert_close(y, (x - bn.running_mean) / np.sqrt(bn.running_var + 1e-5))


def test_gradients_accumulate_until_zero_grad(rng):
    lin = nn.Linear(3, 2)
    x, dy = rand((4, 3), np.float32, rng), rand((4, 2), np.float32, rng)
    lin(x)
    lin.backward(dy)
    first = lin.weight.grad.copy()
    lin(x)
    lin.backward(dy)
    assert_close(lin.weight.grad, 2 * first)
    lin.zero_grad()
    assert lin.weight.grad is None


def test_first_gradients_are_taken_and_never_alias(rng):
    """A module's backward hands its fresh gradients to the parameters without a
    copy: no two gradients (an LSTM's two bias gradients included) may share
    memory, nor a gradient with the dx returned, or accumulating would add twice."""
    conv = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(48, 5))
    lstm = nn.LSTM(4, 3, num_layers=2, bidirectional=True)
    runs = [(conv, rand((2, 2, 4, 4), np.float32, rng), rand((2, 5), np.float32, rng)),
            (lstm, rand((5, 2, 4), np.float32, rng), rand((5, 2, 6), np.float32, rng))]
    for model, x, dy in runs:
        model(x)
        dx = model.backward(dy)
        grads = [p.grad for p in model.parameters()] + [dx]
        for i, a in enumerate(grads):
            for b in grads[i + 1:]:
                assert not np.shares_memory(a, b)
        first = [g.copy() for g in grads[:-1]]
        model(x)
        model.backward(dy)
        for p, g in zip(model.parameters(), first):
            assert_close(p.grad, 2 * g)


def test_accumulate_grad_copies_what_it_does_not_take(rng):
    p, g = nn.Parameter(np.zeros(3, np.float32)), rand((3,), np.float32, rng)
    p.accumulate_grad(g)
    p.accumulate_grad(g)
    assert_close(p.grad, 2 * g)
    assert not np.shares_memory(p.grad, g)
    q = nn.Parameter(np.zeros(3, np.float32))
    q.accumulate_grad(g, take=True)
    assert q.grad is g


def test_minibatches_shuffle_partition_and_keep_the_last_batch():
    X, Y = np.arange(10)[:, None], np.arange(10)
    batches = list(train.minibatches(X, Y, 4, np.random.default_rng(0)))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    seen = np.concatenate([b[1] for b in batches])
    assert sorted(seen) == list(range(10)) and not np.array_equal(seen, np.arange(10))
    assert all(np.array_equal(xb[:, 0], yb) for xb, yb in batches)


def test_a_small_model_learns(rng):
    fastnn.manual_seed(0)
    X = rand((200, 2), np.float32, rng)
    Y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)          # XOR of the signs
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
    opt = optim.Adam(model.parameters(), lr=0.02)
    history = train.fit(model, opt, X, Y, epochs=40, batch_size=20, verbose=False, rng=rng,
                        scheduler=optim.lr_scheduler.StepLR(opt, step_size=20, gamma=0.5))
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    assert train.accuracy(model, X, Y) > 0.9
    assert [h["lr"] for h in history[19:21]] == [0.02, 0.01] and opt.param_groups[0]["lr"] == 0.005


@pytest.mark.parametrize("make, epochs, want_lr", [
    # 5 epochs of 3 batches take OneCycleLR's 15 steps (as in torch, the last one past the
    # lr the last batch used, that of step 14); its warm-up's last step is 0.3 * 15 - 1
    (lambda opt: optim.lr_scheduler.OneCycleLR(opt, max_lr=0.5, epochs=5, steps_per_epoch=3), 5,
     0.02 + (0.5 - 0.02) * (1 - np.cos(np.pi * 3 / 3.5)) / 2),
    (lambda opt: optim.lr_scheduler.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=4), 2,
     0.01 + 0.09 * 3 / 4),
], ids=["OneCycleLR", "CyclicLR"])
def test_fit_steps_batch_schedules_once_a_batch(rng, make, epochs, want_lr):
    """OneCycleLR and CyclicLR are schedules over batches: 3 batches an epoch take 3
    steps, and the lr recorded at the end of epoch 1 is that of step 3."""
    fastnn.manual_seed(0)
    X, Y = rand((50, 2), np.float32, rng), rng.integers(0, 2, 50)
    model = nn.Sequential(nn.Linear(2, 2))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = make(opt)
    history = train.fit(model, opt, X, Y, epochs=epochs, batch_size=20, verbose=False, rng=rng, scheduler=sched)
    assert sched.last_epoch == 3 * epochs
    assert history[0]["lr"] == pytest.approx(want_lr)


def test_fit_gives_reduce_on_plateau_the_training_loss(rng):
    """A learning rate far too high: the loss stalls, and the plateau scheduler lowers it."""
    fastnn.manual_seed(0)
    X, Y = rand((40, 2), np.float32, rng), rng.integers(0, 2, 40)
    model = nn.Sequential(nn.Linear(2, 2))
    opt = optim.SGD(model.parameters(), lr=50.0)
    sched = optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    history = train.fit(model, opt, X, Y, epochs=6, batch_size=40, verbose=False, rng=rng, scheduler=sched)
    assert sched.best == min(h["loss"] for h in history)
    assert opt.param_groups[0]["lr"] < 50.0


@pytest.mark.parametrize("make", [lambda: models.LeNet5(image_size=8), lambda: models.LeNet5(image_size=32),
                                  lambda: models.SmallResNet(image_size=8), lambda: models.VGGNet(image_size=8)])
def test_models_run_forward_and_backward(rng, make):
    m = make()
    size = 32 if any(getattr(c, "in_features", 0) == 400 for c in m.modules()) else 8
    x = rand((3, 1, size, size), np.float32, rng)
    y = m(x)
    assert y.shape == (3, 10)
    dx = m.backward(rand(y.shape, np.float32, rng))
    assert dx.shape == x.shape and all(p.grad is not None for p in m.parameters())


def test_sequential_indexes_slices_and_appends_as_torch():
    s = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert isinstance(s[-1], nn.Linear) and len(s) == 3
    tail = s[1:]
    assert isinstance(tail, nn.Sequential) and list(tail.state_dict()) == ["2.weight", "2.bias"]
    assert s.append(nn.Identity()) is s and [type(m).__name__ for m in s][-1] == "Identity"
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    np.testing.assert_array_equal(s(x), s[:3](x))


def test_module_errors():
    with pytest.raises(ValueError, match="x must be 4-D"):
        nn.BatchNorm2d(3)(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"BatchNorm1d: x must be 2-D or 3-D, got shape \(2, 3, 4, 5\)"):
        nn.BatchNorm1d(3)(np.zeros((2, 3, 4, 5)))
    with pytest.raises(ValueError, match=r"idx holds 7, expected indices in \[0, 5\)"):
        nn.Embedding(5, 2)(np.array([7]))
    with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda'"):
        nn.Linear(2, 2).to("tpu")
    for make, err, match in [
            (lambda: nn.Linear(-1, 2), ValueError, "Linear: in_features must be >= 0, got -1"),
            (lambda: nn.Conv2d(3, 4, (3,)), TypeError, "Conv2d: kernel_size must be an int or an"),
            (lambda: nn.LSTM(3, 0), ValueError, "LSTM: hidden_size must be >= 1, got 0"),
            (lambda: nn.GRU(3, 4, num_layers=2.0), TypeError, "GRU: num_layers must be an int"),
            (lambda: nn.LSTM(3, 4, 2, True, False, 0.5), TypeError, "bidirectional must be a bool"),
            (lambda: nn.GRU(3, 4, 2, dropout=1.5), ValueError, r"dropout must be in \[0.0, 1.0\]"),
            (lambda: nn.GRUCell(3, -2), ValueError, "GRUCell: hidden_size must be >= 1"),
            (lambda: nn.RNN(3, 4, 1, "sigmoid"), ValueError, "RNN: nonlinearity must be 'tanh' or 'relu', got 'sigmoid'"),
            (lambda: nn.RNNCell(3, 4, True, "Tanh"), ValueError, "RNNCell: nonlinearity must be 'tanh' or 'relu'"),
            (lambda: nn.BatchNorm1d(3, momentum=2), ValueError, r"momentum must be in \[0.0, 1.0\]"),
            (lambda: nn.Embedding(5.0, 2), TypeError, "num_embeddings must be an int")]:
        with pytest.raises(err, match=match):
            make()


def test_initialisers_have_the_documented_scale():
    from fastnn.nn import init
    init.manual_seed(0)
    shape = (256, 128, 3, 3)                          # fan_in 1152, fan_out 2304
    fan_in, fan_out = 128 * 9, 256 * 9
    assert abs(init.kaiming_normal(shape).std() / np.sqrt(2 / fan_in) - 1) < 0.01
    assert abs(init.kaiming_uniform(shape).std() / np.sqrt(2 / fan_in) - 1) < 0.01
    assert abs(init.xavier_normal(shape).std() / np.sqrt(2 / (fan_in + fan_out)) - 1) < 0.01
    bound = np.sqrt(6 / (fan_in + fan_out))
    w = init.xavier_uniform(shape)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    lin = nn.Linear(400, 10).weight.data                 # torch's default: U(-1/sqrt(fan_in), +)
    assert np.abs(lin).max() <= 1 / 20 and np.abs(lin).max() > 0.99 / 20 and lin.dtype == np.float32
    init.manual_seed(3)
    a = nn.Linear(4, 4).weight.data
    init.manual_seed(3)
    np.testing.assert_array_equal(nn.Linear(4, 4).weight.data, a)
