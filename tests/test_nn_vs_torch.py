"""fastnn.nn against torch.nn (skipped without torch): a torch model's state
dict, as NumPy arrays, loads as is and gives the same outputs and gradients."""
import numpy as np
import pytest

from fastnn import nn
from fastnn.testing import assert_close, rand

torch = pytest.importorskip("torch")


def _load_from_torch(ours, theirs):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def _compare_grads(ours, theirs):
    for (name, p), (tname, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert name == tname
        assert_close(p.grad, tp.grad.numpy(), rtol=1e-4, name=name)


@pytest.mark.parametrize("pair", [
    (lambda: nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                           nn.Conv2d(4, 3, 3, stride=2), nn.Flatten(), nn.Linear(3, 5), nn.Tanh()),
     lambda: torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.BatchNorm2d(4),
                                 torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Conv2d(4, 3, 3, stride=2),
                                 torch.nn.Flatten(), torch.nn.Linear(3, 5), torch.nn.Tanh()),
     (2, 8, 8)),
    # batch norm over (N, C, L), then a linear layer over the last axis (any leading dimensions)
    (lambda: nn.Sequential(nn.BatchNorm1d(3), nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2)),
     lambda: torch.nn.Sequential(torch.nn.BatchNorm1d(3), torch.nn.Linear(5, 4), torch.nn.ReLU(),
                                 torch.nn.Linear(4, 2)),
     (3, 5)),
    # global average pooling, as at the end of a ResNet, on an odd-sized map
    (lambda: nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                           nn.Linear(4, 3)),
     lambda: torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.ReLU(),
                                 torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 3)),
     (2, 7, 5)),
], ids=["cnn", "sequence", "global_pool"])
@pytest.mark.parametrize("N", [3, 0])
def test_sequential_model_matches_torch(rng, pair, N):
    make, make_torch, shape = pair
    ours, theirs = make(), make_torch()
    _load_from_torch(ours, theirs)
    x = rand((N,) + shape, np.float32, rng)
    tx = torch.tensor(x, requires_grad=True)
    ty = theirs(tx)
    y = ours(x)
    assert_close(y, ty.detach().numpy())
    dy = rand(y.shape, np.float32, rng)
    ty.backward(torch.tensor(dy))
    assert_close(ours.backward(dy), tx.grad.numpy())
    _compare_grads(ours, theirs)
    for name, value in theirs.state_dict().items():      # running statistics included
        assert_close(ours.state_dict()[name], value.numpy(), name=name)


@pytest.mark.parametrize("kind, kw", [("LSTM", {}), ("GRU", {}), ("RNN", {}), ("RNN", dict(nonlinearity="relu"))])
def test_stacked_bidirectional_rnn_matches_torch(rng, kind, kw):
    ours = getattr(nn, kind)(4, 3, num_layers=2, bidirectional=True, batch_first=True, **kw)
    theirs = getattr(torch.nn, kind)(4, 3, num_layers=2, bidirectional=True, batch_first=True, **kw)
    _load_from_torch(ours, theirs)
    x = rand((2, 5, 4), np.float32, rng)
    tx = torch.tensor(x, requires_grad=True)
    tout, _ = theirs(tx)
    out, _ = ours(x)
    assert_close(out, tout.detach().numpy())
    dout = rand(out.shape, np.float32, rng)
    tout.backward(torch.tensor(dout))
    assert_close(ours.backward(dout), tx.grad.numpy())
    _compare_grads(ours, theirs)


@pytest.mark.parametrize("kw", [dict(momentum=None), dict(affine=False), dict(track_running_stats=False)],
                         ids=["cumulative average", "no affine", "no running stats"])
def test_batch_norm_options_match_torch(rng, kw):
    """Three training steps then one in eval mode: outputs, input gradients and
    state dicts (names and values) as torch's."""
    ours, theirs = nn.BatchNorm2d(3, **kw), torch.nn.BatchNorm2d(3, **kw)
    _load_from_torch(ours, theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for step in range(4):
        if step == 3:
            ours.eval(), theirs.eval()
        x = rand((4, 3, 2, 3), np.float32, rng, -2, 2) + np.float32(step)
        tx = torch.tensor(x, requires_grad=True)
        ty = theirs(tx)
        assert_close(ours(x), ty.detach().numpy())
        if step < 3:
            dy = rand(x.shape, np.float32, rng)
            ty.backward(torch.tensor(dy))
            assert_close(ours.backward(dy), tx.grad.numpy())
    for name, value in theirs.state_dict().items():
        assert_close(ours.state_dict()[name], value.numpy(), name=name)


@pytest.mark.parametrize("loss_name, targets", [
    ("BCEWithLogitsLoss", lambda rng, n: (rng.random((n, 1)) < 0.5).astype(np.float32)),
    ("CrossEntropyLoss", lambda rng, n: rng.integers(0, 3, n)),
])
def test_regression_losses_match_torch(rng, loss_name, targets):
    """Logistic and softmax regression: a linear layer and torch's loss, the loss
    and the parameter gradients as torch's."""
    out = 1 if loss_name == "BCEWithLogitsLoss" else 3
    ours, theirs = nn.Linear(4, out), torch.nn.Linear(4, out)
    _load_from_torch(ours, theirs)
    x, y = rand((6, 4), np.float32, rng, -2, 2), targets(rng, 6)
    loss_fn, torch_loss_fn = getattr(nn, loss_name)(), getattr(torch.nn, loss_name)()
    loss = loss_fn(ours(x), y)
    tloss = torch_loss_fn(theirs(torch.tensor(x)), torch.tensor(y))
    tloss.backward()
    assert loss == pytest.approx(tloss.item(), rel=1e-5)
    ours.backward(loss_fn.backward())
    _compare_grads(ours, theirs)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_loss_options_match_torch(rng, reduction):
    """CrossEntropyLoss(weight, ignore_index, reduction, label_smoothing) on
    (N, C, L) logits, as a sequence model's output; backward's dloss scales each
    row ('none') or the loss; weight is a buffer in the state dict, as torch's."""
    x = rand((4, 5, 3), np.float32, rng, -3, 3)
    t = rng.integers(0, 5, (4, 3))
    t[1, 2] = -1
    w = rand((5,), np.float32, rng, 0.5, 2)
    options = dict(ignore_index=-1, reduction=reduction, label_smoothing=0.15)
    ours, theirs = nn.CrossEntropyLoss(w, **options), torch.nn.CrossEntropyLoss(torch.tensor(w), **options)
    _compare_loss_modules(rng, ours, theirs, x, t)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]


def _compare_loss_modules(rng, ours, theirs, x, target):
    """The loss, then the gradient given a random dloss (a number, or one a loss for 'none')."""
    tx = torch.tensor(x, requires_grad=True)
    tl = theirs(tx, torch.tensor(target))
    assert_close(np.asarray(ours(x, target), np.float32), tl.detach().numpy(), rtol=1e-5)
    dloss = rand(tl.shape, np.float32, rng, 0.5, 2)
    tl.backward(torch.tensor(dloss))
    assert_close(ours.backward(dloss if ours.reduction == "none" else float(dloss)), tx.grad.numpy(), rtol=1e-5)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_loss_options_match_torch(rng, reduction):
    """BCEWithLogitsLoss(weight, reduction, pos_weight) on multi-label (N, C)
    logits: per-sample weights, per-class pos_weight; backward's dloss scales
    each element ('none') or the loss; both are buffers, as torch's."""
    x = rand((6, 5), np.float32, rng, -3, 3)
    y = (rng.random((6, 5)) < 0.3).astype(np.float32)
    w, p = rand((6, 1), np.float32, rng, 0.5, 2), rand((5,), np.float32, rng, 1, 4)
    ours = nn.BCEWithLogitsLoss(w, reduction=reduction, pos_weight=p)
    theirs = torch.nn.BCEWithLogitsLoss(torch.tensor(w), reduction=reduction, pos_weight=torch.tensor(p))
    _compare_loss_modules(rng, ours, theirs, x, y)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight", "pos_weight"]
