"""The benchmark workloads, shared by bench/ (pytest-benchmark) and the report
of `python -m fastnn`, so both time exactly the same calls.

Each workload builds its inputs once and returns one callable per
implementation: "fastnn", "reference" (plain NumPy) and, when PyTorch is
installed, "torch" (CPU, autograd for the backward). Every callable runs the
forward and the backward of the op, which is what a training step pays.
"""
from typing import Callable, Dict, NamedTuple

import numpy as np

import fastnn.functional as F
import fastnn.reference as R


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


class Workload(NamedTuple):
    name: str
    family: str
    description: str
    build: Callable[[bool], Dict[str, Callable[[], object]]]   # build(quick) -> impls


def _rng():
    return np.random.default_rng(0)


def _conv(C, H, K):
    """conv2d 3x3 pad 1, C -> K channels on HxW images, batch 32 (8 when quick)."""
    def build(quick):
        rng = _rng()
        n = 8 if quick else 32
        x = rng.standard_normal((n, C, H, H)).astype(np.float32)
        w = (rng.standard_normal((K, C, 3, 3)) * 0.05).astype(np.float32)
        b = rng.standard_normal(K).astype(np.float32)
        dy = rng.standard_normal((n, K, H, H)).astype(np.float32)
        impls = {
            "fastnn": lambda: (F.conv2d(x, w, b, 1, 1), F.conv2d_backward(dy, x, w, 1, 1)),
            "reference": lambda: (R.conv2d(x, w, b, 1, 1), R.conv2d_backward(dy, x, w, 1, 1)),
        }
        torch = _torch()
        if torch:
            tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
            tdy = torch.tensor(dy)

            def torch_conv():
                y = torch.nn.functional.conv2d(tx, tw, tb, 1, 1)
                return torch.autograd.grad(y, (tx, tw, tb), tdy)
            impls["torch"] = torch_conv
        return impls
    return build


def _pool_impls(op, x, dy, *args):
    """op (a pooling function's name) with args, forward and backward, by fastnn, the
    reference and (when installed) torch."""
    impls = {name: (lambda m=m: (getattr(m, op)(x, *args), getattr(m, op + "_backward")(dy, x, *args)))
             for name, m in (("fastnn", F), ("reference", R))}
    torch = _torch()
    if torch:
        tx, tdy, tfn = torch.tensor(x, requires_grad=True), torch.tensor(dy), getattr(torch.nn.functional, op)
        impls["torch"] = lambda: torch.autograd.grad(tfn(tx, *args), tx, tdy)
    return impls


def _max_pool(k, s, p):
    """Max pool k x k, stride s, padding p, on 32x64x64x64 (fwd + bwd)."""
    def build(quick):
        rng = _rng()
        n = 8 if quick else 32
        x = rng.standard_normal((n, 64, 64, 64)).astype(np.float32)
        o = (64 + 2 * p - k) // s + 1
        dy = rng.standard_normal((n, 64, o, o)).astype(np.float32)
        return _pool_impls("max_pool2d", x, dy, k, s, p)
    return build


def _loss_impls(name, logits, target, kw):
    """fastnn's, the reference's and (when installed) torch's loss `name` with its
    logits gradient, each as one call of the fused forward and backward."""
    impls = {"fastnn": lambda: getattr(F, name)(logits, target, **kw),
             "reference": lambda: getattr(R, name)(logits, target, **kw)}
    torch = _torch()
    if torch:
        tl, tt = torch.tensor(logits, requires_grad=True), torch.tensor(target)
        tkw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        fn = getattr(torch.nn.functional, name)

        def torch_loss():
            loss = fn(tl, tt, **tkw)
            return loss.item(), torch.autograd.grad(loss, tl)
        impls["torch"] = torch_loss
    return impls


def _cross_entropy(**options):
    """Softmax cross-entropy over 4096 (1024 quick) rows of 1000 classes, with
    torch's options (`weight=True`: random class weights)."""
    def build(quick):
        rng = _rng()
        logits = rng.standard_normal((1024 if quick else 4096, 1000)).astype(np.float32)
        target = rng.integers(0, 1000, size=logits.shape[0])
        kw = dict(options)
        if kw.get("weight"):
            kw["weight"] = rng.uniform(0.5, 2, 1000).astype(np.float32)
        return _loss_impls("cross_entropy", logits, target, kw)
    return build


def _bce_with_logits(weighted=False):
    """Binary cross-entropy over 4096 (1024 quick) x 1000 labels; `weighted`:
    multi-label style, a weight per sample (N, 1) and a pos_weight per class."""
    def build(quick):
        rng = _rng()
        shape = (1024 if quick else 4096, 1000)
        logits = rng.standard_normal(shape).astype(np.float32)
        target = (rng.random(shape) < 0.5).astype(np.float32)
        kw = {}
        if weighted:
            kw = dict(weight=rng.uniform(0.5, 2, (shape[0], 1)).astype(np.float32),
                      pos_weight=rng.uniform(1, 4, shape[1]).astype(np.float32))
        return _loss_impls("binary_cross_entropy_with_logits", logits, target, kw)
    return build


def _softmax(quick):
    x = _rng().standard_normal((1024 if quick else 4096, 1000)).astype(np.float32)
    impls = {"fastnn": lambda: F.softmax(x), "reference": lambda: R.softmax(x)}
    torch = _torch()
    if torch:
        tx = torch.tensor(x)
        impls["torch"] = lambda: torch.softmax(tx, -1)
    return impls


def _batch_norm(quick):
    rng = _rng()
    shape = (8 if quick else 32, 64, 32, 32)
    x = rng.standard_normal(shape).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    g, b = np.ones(64, np.float32), np.zeros(64, np.float32)
    rm, rv = np.zeros(64, np.float32), np.ones(64, np.float32)

    def run(mod):
        y, cache = mod.batch_norm(x, g, b, rm, rv, True)
        return mod.batch_norm_backward(dy, cache)
    impls = {"fastnn": lambda: run(F), "reference": lambda: run(R)}
    torch = _torch()
    if torch:
        tx, tg, tb = (torch.tensor(a, requires_grad=True) for a in (x, g, b))
        trm, trv, tdy = torch.tensor(rm), torch.tensor(rv), torch.tensor(dy)

        def torch_bn():
            y = torch.nn.functional.batch_norm(tx, trm, trv, tg, tb, True)
            return torch.autograd.grad(y, (tx, tg, tb), tdy)
        impls["torch"] = torch_bn
    return impls


def _rnn_inputs(kind, T):
    """Inputs of the RNN workloads: N 64, I 256, H 512; gates 1 (Elman RNN), 4 (LSTM) or 3 (GRU)."""
    rng = _rng()
    N, I, H, G = 64, 256, 512, {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    x = rng.standard_normal((T, N, I)).astype(np.float32)
    h, c = (rng.standard_normal((N, H)).astype(np.float32) for _ in range(2))
    weights = [(rng.standard_normal((G * H, I)) * 0.05).astype(np.float32),
               (rng.standard_normal((G * H, H)) * 0.05).astype(np.float32),
               rng.standard_normal(G * H).astype(np.float32),
               rng.standard_normal(G * H).astype(np.float32)]
    return x, h, c, weights, rng.standard_normal((T, N, H)).astype(np.float32)


def _torch_rnn(torch, module, weights):
    """A torch RNN module (or cell) holding the same weights (torch's order: w_ih, w_hh, b_ih, b_hh)."""
    with torch.no_grad():
        for p, a in zip(module.parameters(), weights):
            p.copy_(torch.tensor(a))
    return module


def _rnn_cell(kind):
    """One cell step forward, N 64, I 256, H 512."""
    def build(quick):
        x, h, c, w, _ = _rnn_inputs(kind, 1)
        x = x[0]
        if kind == "lstm":
            impls = {name: (lambda m=m: m.lstm_cell(x, h, c, *w)) for name, m in (("fastnn", F), ("reference", R))}
        else:
            impls = {name: (lambda m=m: m.gru_cell(x, h, *w)) for name, m in (("fastnn", F), ("reference", R))}
        torch = _torch()
        if torch:
            cell = _torch_rnn(torch, (torch.nn.LSTMCell if kind == "lstm" else torch.nn.GRUCell)(256, 512), w)
            tx, th, tc = (torch.tensor(a) for a in (x, h, c))

            def torch_cell():
                with torch.no_grad():
                    return cell(tx, (th, tc)) if kind == "lstm" else cell(tx, th)
            impls["torch"] = torch_cell
        return impls
    return build


def _rnn_sequence(kind):
    """Forward and backward over T = 50 (10 quick) steps, N 64, I 256, H 512."""
    def build(quick):
        x, _, _, w, dout = _rnn_inputs(kind, 10 if quick else 50)

        def run(m):
            if kind == "lstm":
                *_, cache = m.lstm(x, None, None, *w)
                return m.lstm_backward(dout, None, None, cache)
            *_, cache = getattr(m, kind)(x, None, *w)
            return getattr(m, kind + "_backward")(dout, None, cache)
        impls = {"fastnn": lambda: run(F), "reference": lambda: run(R)}
        torch = _torch()
        if torch:
            module = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
            mod = _torch_rnn(torch, module(256, 512), w)
            tx, tdout = torch.tensor(x, requires_grad=True), torch.tensor(dout)
            impls["torch"] = lambda: torch.autograd.grad(mod(tx)[0], [tx, *mod.parameters()], tdout)
        return impls
    return build


def _adam(shapes):
    """One Adam step over float32 parameters of `shapes(quick)`."""
    def build(quick):
        from fastnn import optim
        rng = _rng()
        params = [rng.standard_normal(s).astype(np.float32) for s in shapes(quick)]
        grads = [rng.standard_normal(p.shape).astype(np.float32) for p in params]
        opt = optim.Adam(params, lr=1e-3)
        ref_params = [p.copy() for p in params]
        ref_state = [(np.zeros_like(p), np.zeros_like(p)) for p in params]
        step = [0]

        def reference_step():
            step[0] += 1
            for p, g, (m, v) in zip(ref_params, grads, ref_state):
                R.adam_update(p, g, m, v, step[0], lr=1e-3)
        impls = {"fastnn": lambda: opt.step(grads), "reference": reference_step}
        torch = _torch()
        if torch:
            tparams = [torch.tensor(p, requires_grad=True) for p in params]
            for tp, g in zip(tparams, grads):
                tp.grad = torch.tensor(g)
            topt = torch.optim.Adam(tparams, lr=1e-3, fused=True)
            impls["torch"] = topt.step
        return impls
    return build


def digits_cnn_model():
    """The digits CNN: conv16-pool-conv32-pool-fc64-fc10 over 1x8x8 images."""
    from fastnn import nn
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))


def _stream(quick):
    """The machine's memory bandwidth, for comparison: a STREAM triad a = b + s c."""
    from numba import njit, prange

    @njit(parallel=True, cache=False)
    def triad(a, b, c, s):
        for i in prange(a.size):
            a[i] = b[i] + s * c[i]
    n = 1 << (22 if quick else 24)
    a, b, c = (np.ones(n, np.float32) for _ in range(3))
    return {"fastnn": lambda: triad(a, b, c, np.float32(3.0))}


def _digits():
    """scikit-learn's 8x8 digits if installed, else random images of that shape."""
    try:
        from sklearn.datasets import load_digits
        d = load_digits()
        return (d.images[:1504] / 16.0).astype(np.float32)[:, None], d.target[:1504]
    except ImportError:
        rng = _rng()
        return rng.random((1504, 1, 8, 8), dtype=np.float32), rng.integers(0, 10, 1504)


def _digits_cnn(quick):
    """One epoch (47 steps of 32) of conv16-pool-conv32-pool-fc64-fc10 with Adam."""
    import fastnn
    from fastnn import nn, optim
    X, Y = _digits()
    if quick:
        X, Y = X[:384], Y[:384]
    batches = [(X[i:i + 32], Y[i:i + 32]) for i in range(0, len(X), 32)]
    fastnn.manual_seed(0)
    model = digits_cnn_model()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def fastnn_epoch():
        for xb, yb in batches:
            loss_fn(model(xb), yb)
            model.backward(loss_fn.backward())
            opt.step()
            opt.zero_grad()

    # The same network written with fastnn.reference ops, and the reference Adam.
    params = [p.data.copy() for p in model.parameters()]
    state = [(np.zeros_like(p), np.zeros_like(p)) for p in params]
    step = [0]

    def reference_epoch():
        w1, b1, w2, b2, w3, b3, w4, b4 = params
        for xb, yb in batches:
            a1 = R.conv2d(xb, w1, b1, 1, 1)
            r1 = R.relu(a1)
            p1 = R.max_pool2d(r1, 2)
            a2 = R.conv2d(p1, w2, b2, 1, 1)
            r2 = R.relu(a2)
            p2 = R.max_pool2d(r2, 2)
            f = p2.reshape(len(xb), -1)
            a3 = R.linear(f, w3, b3)
            r3 = R.relu(a3)
            _, d = R.cross_entropy(R.linear(r3, w4, b4), yb)
            d, gw4, gb4 = R.linear_backward(d, r3, w4)
            d, gw3, gb3 = R.linear_backward(R.relu_backward(d, a3), f, w3)
            d = R.max_pool2d_backward(d.reshape(p2.shape), r2, 2)
            d, gw2, gb2 = R.conv2d_backward(R.relu_backward(d, a2), p1, w2, 1, 1)
            d = R.max_pool2d_backward(d, r1, 2)
            _, gw1, gb1 = R.conv2d_backward(R.relu_backward(d, a1), xb, w1, 1, 1)
            step[0] += 1
            for p, g, (m, v) in zip(params, (gw1, gb1, gw2, gb2, gw3, gb3, gw4, gb4), state):
                R.adam_update(p, g, m, v, step[0], lr=1e-3)
    impls = {"fastnn": fastnn_epoch, "reference": reference_epoch}
    torch = _torch()
    if torch:
        tn = torch.nn
        tmodel = tn.Sequential(tn.Conv2d(1, 16, 3, padding=1), tn.ReLU(), tn.MaxPool2d(2),
                               tn.Conv2d(16, 32, 3, padding=1), tn.ReLU(), tn.MaxPool2d(2), tn.Flatten(),
                               tn.Linear(128, 64), tn.ReLU(), tn.Linear(64, 10))
        topt = torch.optim.Adam(tmodel.parameters(), lr=1e-3)
        tbatches = [(torch.tensor(xb), torch.tensor(yb)) for xb, yb in batches]

        def torch_epoch():
            for xb, yb in tbatches:
                loss = tn.functional.cross_entropy(tmodel(xb), yb)
                topt.zero_grad()
                loss.backward()
                topt.step()
        impls["torch"] = torch_epoch
    return impls


def _activations(quick):
    """relu, sigmoid and tanh forward and backward over 2^22 (2^20 quick) floats."""
    rng = _rng()
    x = rng.standard_normal(1 << (20 if quick else 22)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)

    def run(m):
        return (m.relu_backward(dy, x), m.sigmoid_backward(dy, m.sigmoid(m.relu(x))),
                m.tanh_backward(dy, m.tanh(x)))
    impls = {"fastnn": lambda: run(F), "reference": lambda: run(R)}
    torch = _torch()
    if torch:
        tx, tdy = torch.tensor(x, requires_grad=True), torch.tensor(dy)

        def torch_act():
            return torch.autograd.grad((torch.relu(tx), torch.sigmoid(torch.relu(tx)), torch.tanh(tx)),
                                       tx, (tdy, tdy, tdy))
        impls["torch"] = torch_act
    return impls


def _dropout(quick):
    rng = _rng()
    x = rng.standard_normal(1 << (20 if quick else 22)).astype(np.float32)

    def run(m):
        y, mask = m.dropout(x, 0.5, True, 7)
        return m.dropout_backward(y, mask, 0.5)
    impls = {"fastnn": lambda: run(F), "reference": lambda: run(R)}
    torch = _torch()
    if torch:
        tx = torch.tensor(x, requires_grad=True)

        def torch_dropout():
            y = torch.nn.functional.dropout(tx, 0.5, True)
            return torch.autograd.grad(y, tx, y.detach())
        impls["torch"] = torch_dropout
    return impls


def _linear(quick):
    rng = _rng()
    n = 64 if quick else 256
    x = rng.standard_normal((n, 1024)).astype(np.float32)
    w = (rng.standard_normal((1024, 1024)) * 0.03).astype(np.float32)
    b = rng.standard_normal(1024).astype(np.float32)
    dy = rng.standard_normal((n, 1024)).astype(np.float32)
    impls = {m_name: (lambda m=m: (m.linear(x, w, b), m.linear_backward(dy, x, w)))
             for m_name, m in (("fastnn", F), ("reference", R))}
    torch = _torch()
    if torch:
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        tdy = torch.tensor(dy)
        impls["torch"] = lambda: torch.autograd.grad(torch.nn.functional.linear(tx, tw, tb), (tx, tw, tb), tdy)
    return impls


def _avg_pool(quick):
    rng = _rng()
    x = rng.standard_normal((8 if quick else 32, 64, 32, 32)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    return _pool_impls("avg_pool2d", x, dy, 3, 1, 1)


def _global_avg_pool(quick):
    """A ResNet-18's head at batch 128: global average pooling of 512 7x7 maps."""
    rng = _rng()
    x = rng.standard_normal((32 if quick else 128, 512, 7, 7)).astype(np.float32)
    dy = rng.standard_normal(x.shape[:2] + (1, 1)).astype(np.float32)
    return _pool_impls("adaptive_avg_pool2d", x, dy, 1)


WORKLOADS = [
    Workload("conv2d", "conv", "conv2d fwd+bwd, x 32x64x32x32, w 64x64x3x3, pad 1, f32", _conv(64, 32, 64)),
    Workload("conv2d_small", "conv", "conv2d fwd+bwd, x 32x16x8x8, w 32x16x3x3, pad 1, f32",
             _conv(16, 8, 32)),
    Workload("max_pool2d", "pool", "max_pool2d 2x2/2 fwd+bwd, x 32x64x64x64, f32", _max_pool(2, 2, 0)),
    Workload("max_pool2d_3x3", "pool", "max_pool2d 3x3/2 pad 1 fwd+bwd, x 32x64x64x64, f32",
             _max_pool(3, 2, 1)),
    Workload("avg_pool2d", "pool", "avg_pool2d 3x3/1 pad 1 fwd+bwd, x 32x64x32x32, f32", _avg_pool),
    Workload("global_avg_pool2d", "pool", "adaptive_avg_pool2d to 1x1 fwd+bwd, x 128x512x7x7, f32",
             _global_avg_pool),
    Workload("cross_entropy", "softmax", "cross_entropy fwd+bwd, logits 4096x1000, f32", _cross_entropy()),
    Workload("cross_entropy_smoothed", "softmax",
             "cross_entropy fwd+bwd, class weights, label_smoothing 0.1, 4096x1000, f32",
             _cross_entropy(weight=True, label_smoothing=0.1)),
    Workload("bce_with_logits", "softmax", "binary_cross_entropy_with_logits fwd+bwd, 4096x1000, f32",
             _bce_with_logits()),
    Workload("bce_with_logits_weighted", "softmax",
             "binary_cross_entropy_with_logits fwd+bwd, weight (N, 1), pos_weight (C,), 4096x1000, f32",
             _bce_with_logits(weighted=True)),
    Workload("softmax", "softmax", "softmax fwd, 4096x1000, f32", _softmax),
    Workload("linear", "dense", "linear fwd+bwd, x 256x1024, w 1024x1024, f32", _linear),
    Workload("activations", "dense", "relu, sigmoid, tanh fwd+bwd over 2^22 f32", _activations),
    Workload("dropout", "dense", "dropout p 0.5 fwd+bwd over 2^22 f32", _dropout),
    Workload("batch_norm", "batchnorm", "batch_norm 2d fwd+bwd (training), 32x64x32x32, f32", _batch_norm),
    Workload("lstm_cell", "rnn", "lstm_cell fwd, N 64, I 256, H 512, f32", _rnn_cell("lstm")),
    Workload("gru_cell", "rnn", "gru_cell fwd, N 64, I 256, H 512, f32", _rnn_cell("gru")),
    Workload("rnn", "rnn", "rnn (tanh) fwd+bwd, T 50, N 64, I 256, H 512, f32", _rnn_sequence("rnn")),
    Workload("lstm", "rnn", "lstm fwd+bwd, T 50, N 64, I 256, H 512, f32", _rnn_sequence("lstm")),
    Workload("gru", "rnn", "gru fwd+bwd, T 50, N 64, I 256, H 512, f32", _rnn_sequence("gru")),
    Workload("adam", "optim", "Adam step, 10 tensors of 2^20 f32",
             _adam(lambda quick: [(1 << (18 if quick else 20),)] * 10)),
    Workload("adam_small", "optim", "Adam step, the digits CNN's 8 tensors (13,706 f32)",
             _adam(lambda quick: [p.data.shape for p in digits_cnn_model().parameters()])),
    Workload("digits_cnn", "training", "digits CNN training epoch, 47 batches of 32, Adam", _digits_cnn),
    Workload("stream_triad", "optim", "STREAM triad a = b + s*c, 3 x 2^24 f32 (memory bandwidth)", _stream),
]

# Floating-point work or bytes moved per call (full size), for GFLOP/s and GB/s.
# conv2d: direct convolution's count (forward, dx, dW), whatever algorithm runs.
FLOPS = {"conv2d": 3 * 2 * 32 * 64 * 64 * 9 * 32 * 32,
         "conv2d_small": 3 * 2 * 32 * 16 * 32 * 9 * 8 * 8}
BYTES = {"max_pool2d": 4 * (2 * 32 * 64 * 64 * 64 + 2 * 32 * 64 * 32 * 32 + 32 * 64 * 64 * 64),
         "adam": 28 * 10 * (1 << 20),          # read p, g, m, v; write p, m, v
         "stream_triad": 3 * 4 * (1 << 24)}
