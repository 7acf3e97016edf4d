"""GPU suite (skipped without a real GPU): every kernel family on the device,
side by side with PyTorch CUDA when installed, and the memory-bound kernels
against the device's measured copy bandwidth. Run on a GPU machine with
    pytest bench/bench_cuda.py --benchmark-enable
(`.ci/gpu` does that and the real-GPU tests in one go).

Targets (issue 8): pooling, softmax / cross-entropy, activations and the
optimizer step at >= 70 % of the copy bandwidth (extra_info["GB/s"], counting
the fewest bytes each must move: every input read once, every output written
once); conv2d within 2x of cuDNN on 32x64x32x32 with 64 3x3 filters.

Each round is CALLS calls queued back to back, then one device
synchronisation, as in a training loop (launches are asynchronous): the time
per call is the larger of the GPU's work and the host's cost of issuing it.
The host side is not small: Numba's launch alone costs ~40 us of Python per
kernel (torch's C++ dispatch ~5 us), so launch-heavy workloads are bound by
it. The memory-bound workloads also run "fastnn-kernel": the raw kernel on
preallocated outputs, as research code calls it, which is what the bandwidth
target is about. Stats are per round; extra_info["calls"] says how many calls
a round holds (bench/gpu_table.py divides).
"""
from typing import Callable, NamedTuple

import numpy as np
import pytest

import numba

cuda = pytest.importorskip("numba.cuda")
if numba.config.ENABLE_CUDASIM or not cuda.is_available():
    pytest.skip("needs a real CUDA GPU (not the simulator)", allow_module_level=True)

import fastnn.functional as F  # noqa: E402
from fastnn import optim  # noqa: E402
from fastnn.kernels import cuda as K  # noqa: E402


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def _data(shape, seed=0, scale=1.0):
    a = np.random.default_rng(seed).standard_normal(shape) * scale
    return cuda.to_device(a.astype(np.float32))


def _labels(n, classes, seed=0):
    return cuda.to_device(np.random.default_rng(seed).integers(0, classes, n))


class GpuWorkload(NamedTuple):
    name: str
    description: str
    build: Callable   # torch or None -> {impl: fn}
    nbytes: int = 0   # fewest bytes moved through device memory; 0 when not memory-bound


# ------------------------------------------------------------- workloads

def _copy(torch):
    src, dst = _data((1 << 26,)), cuda.device_array(1 << 26, np.float32)
    impls = {"fastnn": lambda: K.copy_into(src, dst)}
    if torch:
        ts, td = torch.as_tensor(src, device="cuda"), torch.as_tensor(dst, device="cuda")
        impls["torch"] = lambda: td.copy_(ts)
    return impls


def _call_overhead(torch):
    x = _data((1024,))
    impls = {"fastnn": lambda: F.relu(x)}
    if torch:
        tx = torch.as_tensor(x, device="cuda")
        impls["torch"] = lambda: torch.relu(tx)
    return impls


def _conv2d(torch):
    x, w, dy = _data((32, 64, 32, 32)), _data((64, 64, 3, 3), 1, 0.05), _data((32, 64, 32, 32), 2)
    impls = {"fastnn": lambda: (F.conv2d(x, w, None, 1, 1), F.conv2d_backward(dy, x, w, 1, 1))}
    if torch:
        tx = torch.as_tensor(x, device="cuda").requires_grad_()
        tw = torch.as_tensor(w, device="cuda").requires_grad_()
        tdy = torch.as_tensor(dy, device="cuda")

        def conv(tf32):
            def run():
                torch.backends.cudnn.allow_tf32 = tf32
                y = torch.nn.functional.conv2d(tx, tw, None, 1, 1)
                return torch.autograd.grad(y, (tx, tw), tdy)
            return run
        impls["torch"] = conv(False)            # float32 arithmetic, as fastnn
        impls["torch-tf32"] = conv(True)        # torch's default for cuDNN convolutions
    return impls


def _conv2d_tiled(torch):
    """conv2d with the tiled GEMM, as without CuPy (torch: see _conv2d)."""
    from fastnn.kernels.cuda import gemm
    x, w, dy = _data((32, 64, 32, 32)), _data((64, 64, 3, 3), 1, 0.05), _data((32, 64, 32, 32), 2)

    def run():
        cupy, gemm._cupy = gemm._cupy, None
        try:
            return F.conv2d(x, w, None, 1, 1), F.conv2d_backward(dy, x, w, 1, 1)
        finally:
            gemm._cupy = cupy
    return {"fastnn": run}


def _max_pool(torch):
    x = _data((32, 64, 64, 64))
    dy = _data((32, 64, 32, 32), 1)
    y, dx = cuda.device_array(dy.shape, np.float32), cuda.device_array(x.shape, np.float32)
    impls = {"fastnn": lambda: (F.max_pool2d(x, 2), F.max_pool2d_backward(dy, x, 2)),
             "fastnn-kernel": lambda: (K.max_pool2d_2x2_forward(x, y), K.max_pool2d_2x2_backward(dy, x, dx))}
    if torch:
        tx, tdy = torch.as_tensor(x, device="cuda").requires_grad_(), torch.as_tensor(dy, device="cuda")
        impls["torch"] = lambda: torch.autograd.grad(torch.nn.functional.max_pool2d(tx, 2), tx, tdy)
    return impls


def _max_pool_3x3(torch):
    x, dy = _data((32, 64, 64, 64)), _data((32, 64, 32, 32), 1)
    y, dx = cuda.device_array(dy.shape, np.float32), cuda.device_array(x.shape, np.float32)
    impls = {"fastnn": lambda: (F.max_pool2d(x, 3, 2, 1), F.max_pool2d_backward(dy, x, 3, 2, 1)),
             "fastnn-kernel": lambda: (K.max_pool2d_forward(x, 3, 3, 2, 2, 1, 1, y),
                                       K.max_pool2d_backward(dy, x, 3, 3, 2, 2, 1, 1, dx))}
    if torch:
        tx, tdy = torch.as_tensor(x, device="cuda").requires_grad_(), torch.as_tensor(dy, device="cuda")
        impls["torch"] = lambda: torch.autograd.grad(torch.nn.functional.max_pool2d(tx, 3, 2, 1), tx, tdy)
    return impls


def _avg_pool(torch):
    x, dy = _data((32, 64, 32, 32)), _data((32, 64, 32, 32), 1)
    y, dx = cuda.device_array(x.shape, np.float32), cuda.device_array(x.shape, np.float32)
    impls = {"fastnn": lambda: (F.avg_pool2d(x, 3, 1, 1), F.avg_pool2d_backward(dy, x, 3, 1, 1)),
             "fastnn-kernel": lambda: (K.avg_pool2d_forward(x, 3, 3, 1, 1, 1, 1, y),
                                       K.avg_pool2d_backward(dy, 3, 3, 1, 1, 1, 1, dx))}
    if torch:
        tx, tdy = torch.as_tensor(x, device="cuda").requires_grad_(), torch.as_tensor(dy, device="cuda")
        impls["torch"] = lambda: torch.autograd.grad(torch.nn.functional.avg_pool2d(tx, 3, 1, 1), tx, tdy)
    return impls


def _global_avg_pool(torch):
    x, dy = _data((256, 2048, 7, 7)), _data((256, 2048, 1, 1), 1)
    y, dx = cuda.device_array(dy.shape, np.float32), cuda.device_array(x.shape, np.float32)
    impls = {"fastnn": lambda: (F.adaptive_avg_pool2d(x, 1), F.adaptive_avg_pool2d_backward(dy, x, 1)),
             "fastnn-kernel": lambda: (K.adaptive_avg_pool2d_forward(x, y),
                                       K.adaptive_avg_pool2d_backward(dy, dx))}
    if torch:
        tx, tdy = torch.as_tensor(x, device="cuda").requires_grad_(), torch.as_tensor(dy, device="cuda")
        impls["torch"] = lambda: torch.autograd.grad(torch.nn.functional.adaptive_avg_pool2d(tx, 1), tx, tdy)
    return impls


ROWS, CLASSES = 32768, 1000


def _softmax_over(shape, axis, log=False):
    """softmax (or log_softmax) of a `shape` array along `axis`; the raw kernel
    sees it as (outer, L, inner)."""
    def build(torch):
        x = _data(shape, scale=3.0)
        y = cuda.device_array(x.shape, np.float32)
        lanes = (int(np.prod(shape[:axis])), shape[axis], int(np.prod(shape[axis + 1:])))
        x3, y3 = x.reshape(lanes), y.reshape(lanes)
        fn = F.log_softmax if log else F.softmax
        impls = {"fastnn": lambda: fn(x, axis), "fastnn-kernel": lambda: K.softmax_forward(x3, log, y3)}
        if torch:
            tx = torch.as_tensor(x, device="cuda")
            impls["torch"] = lambda: (torch.log_softmax if log else torch.softmax)(tx, axis)
        return impls
    return build


def _softmax_backward(torch):
    y, dy = _data((ROWS, CLASSES)), _data((ROWS, CLASSES), 1)
    dx = cuda.device_array(y.shape, np.float32)
    y3, dy3, dx3 = (a.reshape(ROWS, CLASSES, 1) for a in (y, dy, dx))
    impls = {"fastnn": lambda: F.softmax_backward(dy, y),
             "fastnn-kernel": lambda: K.softmax_backward(dy3, y3, dx3)}
    if torch:
        ty, tdy = torch.as_tensor(y, device="cuda"), torch.as_tensor(dy, device="cuda")
        impls["torch"] = lambda: torch.ops.aten._softmax_backward_data(tdy, ty, -1, torch.float32)
    return impls


def _cross_entropy(torch):
    x, t = _data((ROWS, CLASSES), scale=3.0), _labels(ROWS, CLASSES)
    loss, dx = cuda.device_array((ROWS, 1), np.float64), cuda.device_array(x.shape + (1,), np.float32)
    x3, t2 = x.reshape(x.shape + (1,)), t.reshape((ROWS, 1))
    impls = {"fastnn": lambda: F.cross_entropy(x, t),
             "fastnn-kernel": lambda: K.cross_entropy_forward_backward(x3, t2, None, CLASSES, -100, 0.0, 1 / ROWS,
                                                                       loss, dx)}
    if torch:
        tx, tt = torch.as_tensor(x, device="cuda").requires_grad_(), torch.as_tensor(t, device="cuda").long()
        impls["torch"] = lambda: torch.autograd.grad(torch.nn.functional.cross_entropy(tx, tt), tx)
    return impls


def _bce(torch):
    x, t = _data((1 << 24,), scale=3.0), cuda.to_device(np.random.default_rng(1).random(1 << 24, np.float32))
    impls = {"fastnn": lambda: F.binary_cross_entropy_with_logits(x, t)}
    if torch:
        tx, tt = torch.as_tensor(x, device="cuda").requires_grad_(), torch.as_tensor(t, device="cuda")
        impls["torch"] = lambda: torch.autograd.grad(
            torch.nn.functional.binary_cross_entropy_with_logits(tx, tt), tx)
    return impls


def _elementwise(name):
    def build(torch):
        x = _data((1 << 26,))
        y = cuda.device_array(x.shape, np.float32)
        kernel = getattr(K, name + "_forward")
        impls = {"fastnn": lambda: getattr(F, name)(x), "fastnn-kernel": lambda: kernel(x, y)}
        if torch:
            tx = torch.as_tensor(x, device="cuda")
            impls["torch"] = lambda: getattr(torch, name)(tx)
        return impls
    return build


def _relu_backward(torch):
    x, dy = _data((1 << 26,)), _data((1 << 26,), 1)
    dx = cuda.device_array(x.shape, np.float32)
    impls = {"fastnn": lambda: F.relu_backward(dy, x), "fastnn-kernel": lambda: K.relu_backward(dy, x, dx)}
    if torch:
        tx, tdy = torch.as_tensor(x, device="cuda"), torch.as_tensor(dy, device="cuda")
        impls["torch"] = lambda: torch.ops.aten.threshold_backward(tdy, tx, 0)
    return impls


def _dropout(torch):
    x = _data((1 << 26,))
    y, mask = cuda.device_array(x.shape, np.float32), cuda.device_array(x.shape, np.bool_)
    impls = {"fastnn": lambda: F.dropout(x, 0.5, seed=1),
             "fastnn-kernel": lambda: K.dropout_forward(x, np.uint64(1), 0.5, 2.0, y, mask)}
    if torch:
        tx = torch.as_tensor(x, device="cuda")
        impls["torch"] = lambda: torch.nn.functional.dropout(tx, 0.5)
    return impls


def _batch_norm(torch):
    x, dy = _data((32, 64, 64, 64)), _data((32, 64, 64, 64), 1)
    g, b = _data((64,), 2), _data((64,), 3)
    rm, rv = cuda.to_device(np.zeros(64, np.float32)), cuda.to_device(np.ones(64, np.float32))

    def run():
        _, cache = F.batch_norm(x, g, b, rm, rv, True)
        return F.batch_norm_backward(dy, cache)
    impls = {"fastnn": run}
    if torch:
        tx, tg, tb = (torch.as_tensor(a, device="cuda").requires_grad_() for a in (x, g, b))
        trm, trv, tdy = (torch.as_tensor(a, device="cuda") for a in (rm, rv, dy))

        def torch_bn():
            y = torch.nn.functional.batch_norm(tx, trm, trv, tg, tb, True)
            return torch.autograd.grad(y, (tx, tg, tb), tdy)
        impls["torch"] = torch_bn
    return impls


def _linear(torch):
    x, w, b, dy = _data((4096, 1024)), _data((1024, 1024), 1, 0.03), _data((1024,), 2), _data((4096, 1024), 3)
    impls = {"fastnn": lambda: (F.linear(x, w, b), F.linear_backward(dy, x, w))}
    if torch:
        tx, tw, tb = (torch.as_tensor(a, device="cuda").requires_grad_() for a in (x, w, b))
        tdy = torch.as_tensor(dy, device="cuda")
        impls["torch"] = lambda: torch.autograd.grad(torch.nn.functional.linear(tx, tw, tb), (tx, tw, tb), tdy)
    return impls


def _gemm_tiled(torch):
    """The tiled GEMM that runs when CuPy (cuBLAS) is not installed, against cuBLAS through torch."""
    from fastnn.kernels.cuda.gemm import tiled_matmul
    a, b = _data((4096, 1024)), _data((1024, 1024), 1)
    c = cuda.device_array((4096, 1024), np.float32)
    impls = {"fastnn": lambda: tiled_matmul(a, b, c)}
    if torch:
        ta, tb, tc = (torch.as_tensor(v, device="cuda") for v in (a, b, c))

        def torch_matmul():
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.matmul(ta, tb, out=tc)
        impls["torch"] = torch_matmul
    return impls


def _rnn_weights(G, I=256, H=512):
    return [_data((G * H, I), 1, 0.05), _data((G * H, H), 2, 0.05), _data((G * H,), 3), _data((G * H,), 4)]


def _torch_module(torch, module, weights):
    module = module.cuda()
    with torch.no_grad():
        for p, a in zip(module.parameters(), weights):
            p.copy_(torch.as_tensor(a, device="cuda"))
    return module


def _lstm_cell(torch):
    w = _rnn_weights(4)
    x, h, c = _data((64, 256), 5), _data((64, 512), 6), _data((64, 512), 7)
    impls = {"fastnn": lambda: F.lstm_cell(x, h, c, *w)}
    if torch:
        cell = _torch_module(torch, torch.nn.LSTMCell(256, 512), w)
        tx, th, tc = (torch.as_tensor(a, device="cuda") for a in (x, h, c))

        def torch_cell():
            with torch.no_grad():
                return cell(tx, (th, tc))
        impls["torch"] = torch_cell
    return impls


def _sequence(kind):
    """fwd + bwd of a one-layer "lstm" or "gru" over T = 50 steps (F.lstm also
    takes c0; both take h0 = None)."""
    G, Module = {"lstm": (4, "LSTM"), "gru": (3, "GRU")}[kind]

    def build(torch):
        T = 50
        w = _rnn_weights(G)
        x, dout = _data((T, 64, 256), 5), _data((T, 64, 512), 6)
        states = (None, None) if kind == "lstm" else (None,)

        def run():
            *_, cache = getattr(F, kind)(x, *states, *w)
            return getattr(F, kind + "_backward")(dout, *states, cache)
        impls = {"fastnn": run}
        if torch:
            mod = _torch_module(torch, getattr(torch.nn, Module)(256, 512), w)
            tx = torch.as_tensor(x, device="cuda").requires_grad_()
            tdout = torch.as_tensor(dout, device="cuda")
            impls["torch"] = lambda: torch.autograd.grad(mod(tx)[0], [tx, *mod.parameters()], tdout)
        return impls
    return build


ADAM_TENSORS, ADAM_SIZE = 10, 1 << 22


def _adam(torch):
    params = [_data((ADAM_SIZE,), i) for i in range(ADAM_TENSORS)]
    grads = [_data((ADAM_SIZE,), 100 + i) for i in range(ADAM_TENSORS)]
    opt = optim.Adam(params, lr=1e-3)
    impls = {"fastnn": lambda: opt.step(grads)}
    if torch:
        tp = [torch.as_tensor(p, device="cuda").clone().requires_grad_() for p in params]
        for p, g in zip(tp, grads):
            p.grad = torch.as_tensor(g, device="cuda")
        impls["torch"] = torch.optim.Adam(tp, lr=1e-3, fused=True).step
    return impls


F32 = 4
POOL_N = 32 * 64 * 64 * 64
WORKLOADS = [
    GpuWorkload("copy", "device-to-device copy, 2^26 f32 (the bandwidth yardstick)", _copy, 2 * F32 << 26),
    GpuWorkload("call", "call overhead: relu on 1024 f32", _call_overhead),
    GpuWorkload("conv2d", "conv2d fwd+bwd, x 32x64x32x32, w 64x64x3x3, pad 1", _conv2d),
    GpuWorkload("conv2d_tiled", "conv2d fwd+bwd as conv2d, GEMMs by the tiled kernel (no CuPy)", _conv2d_tiled),
    # fwd reads x, writes y (x/4); bwd reads dy (x/4) and x, writes dx
    GpuWorkload("max_pool2d", "max_pool2d 2x2/2 fwd+bwd, 32x64x64x64", _max_pool,
                F32 * (POOL_N + POOL_N // 4 + POOL_N // 4 + 2 * POOL_N)),
    # fwd reads x, writes y (x/4, rounded up); bwd reads dy and x, writes dx
    GpuWorkload("max_pool2d_3x3", "max_pool2d 3x3/2 pad 1 fwd+bwd, 32x64x64x64", _max_pool_3x3,
                F32 * (POOL_N + POOL_N // 4 + POOL_N // 4 + 2 * POOL_N)),
    # fwd reads x, writes y; bwd reads dy, writes dx: all of x's size
    GpuWorkload("avg_pool2d", "avg_pool2d 3x3/1 pad 1 fwd+bwd, 32x64x32x32", _avg_pool, 4 * F32 * 32 * 64 * 32 * 32),
    # fwd reads x, writes y (x/49); bwd reads dy, writes dx
    GpuWorkload("global_avg_pool2d", "adaptive_avg_pool2d to 1x1 fwd+bwd, 256x2048x7x7 (ResNet-50 head)",
                _global_avg_pool, 2 * F32 * (256 * 2048 * 7 * 7 + 256 * 2048)),
    GpuWorkload("softmax", f"softmax fwd, {ROWS}x{CLASSES}", _softmax_over((ROWS, CLASSES), 1),
                2 * F32 * ROWS * CLASSES),
    GpuWorkload("log_softmax", f"log_softmax fwd, {ROWS}x{CLASSES}", _softmax_over((ROWS, CLASSES), 1, True),
                2 * F32 * ROWS * CLASSES),
    GpuWorkload("softmax_long_rows", "softmax fwd, 4096x8000", _softmax_over((4096, 8000), 1),
                2 * F32 * 4096 * 8000),
    GpuWorkload("softmax_axis1", "softmax fwd over axis 1 of 64x1000x512", _softmax_over((64, 1000, 512), 1),
                2 * F32 * 64 * 1000 * 512),
    GpuWorkload("softmax_backward", f"softmax bwd, {ROWS}x{CLASSES}", _softmax_backward, 3 * F32 * ROWS * CLASSES),
    GpuWorkload("cross_entropy", f"cross_entropy fwd+bwd, logits {ROWS}x{CLASSES}", _cross_entropy,
                2 * F32 * ROWS * CLASSES),
    # reads logits and targets, writes dlogits
    GpuWorkload("bce", "binary_cross_entropy_with_logits fwd+bwd, 2^24 f32", _bce, 3 * F32 << 24),
    GpuWorkload("relu", "relu fwd, 2^26 f32", _elementwise("relu"), 2 * F32 << 26),
    GpuWorkload("relu_backward", "relu bwd, 2^26 f32", _relu_backward, 3 * F32 << 26),
    GpuWorkload("sigmoid", "sigmoid fwd, 2^26 f32", _elementwise("sigmoid"), 2 * F32 << 26),
    GpuWorkload("tanh", "tanh fwd, 2^26 f32", _elementwise("tanh"), 2 * F32 << 26),
    GpuWorkload("dropout", "dropout p=0.5 fwd, 2^26 f32 (fastnn also writes its bool mask)", _dropout,
                (2 * F32 + 1) << 26),
    GpuWorkload("batch_norm", "batch_norm 2d fwd+bwd, 32x64x64x64", _batch_norm),
    GpuWorkload("linear", "linear fwd+bwd, 4096x1024 @ 1024x1024", _linear),
    GpuWorkload("gemm_tiled", "GEMM 4096x1024 @ 1024x1024 by the tiled kernel (no CuPy), torch: cuBLAS fp32",
                _gemm_tiled),
    GpuWorkload("lstm_cell", "lstm_cell fwd, N 64, I 256, H 512", _lstm_cell),
    GpuWorkload("lstm", "lstm fwd+bwd, T 50, N 64, I 256, H 512", _sequence("lstm")),
    GpuWorkload("gru", "gru fwd+bwd, T 50, N 64, I 256, H 512", _sequence("gru")),
    # p, m, v read and written, g read
    GpuWorkload("adam", f"Adam step, {ADAM_TENSORS} x 2^22 f32", _adam, 7 * F32 * ADAM_TENSORS * ADAM_SIZE),
]

IMPLS = ("fastnn", "fastnn-kernel", "torch", "torch-tf32")
CALLS = 10


@pytest.mark.parametrize("workload, impl", [(w, i) for w in WORKLOADS for i in IMPLS],
                         ids=[f"{w.name}-{i}" for w in WORKLOADS for i in IMPLS])
def test_gpu(benchmark, workload, impl):
    impls = workload.build(_torch())
    if impl not in impls:
        pytest.skip(f"{impl} is not available for {workload.name}")
    fn = impls[impl]

    def run():
        for _ in range(CALLS):
            fn()
        cuda.synchronize()
    run()   # compile, create handles, fill caches
    benchmark.group = workload.description
    benchmark.pedantic(run, rounds=20, iterations=1, warmup_rounds=0)
    benchmark.extra_info["calls"] = CALLS
    if workload.nbytes:
        benchmark.extra_info["GB/s"] = workload.nbytes * CALLS / benchmark.stats["min"] / 1e9
