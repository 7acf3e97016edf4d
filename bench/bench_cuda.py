"""GPU suite (skipped without a real GPU): each kernel family on the device,
against PyTorch CUDA when installed, and the memory-bound kernels against
the device's measured copy bandwidth. Run on a GPU machine with
    pytest bench/bench_cuda.py --benchmark-enable
Targets (issue 8): memory-bound kernels >= 70 % of copy bandwidth; conv2d
within 2x of cuDNN on 32x64x32x32 with 64 3x3 filters."""
import numpy as np
import pytest

import numba

cuda = pytest.importorskip("numba.cuda")
if numba.config.ENABLE_CUDASIM or not cuda.is_available():
    pytest.skip("needs a real CUDA GPU (not the simulator)", allow_module_level=True)

import fastnn.functional as F  # noqa: E402
from fastnn import optim  # noqa: E402
from fastnn.kernels import cuda as K  # noqa: E402


def _torch_cuda():
    try:
        import torch
        return torch if torch.cuda.is_available() else None
    except ImportError:
        return None


def _timed(benchmark, fn, group):
    benchmark.group = group

    def run():
        fn()
        cuda.synchronize()
    run()
    benchmark.pedantic(run, rounds=20, iterations=1, warmup_rounds=2)


def _data(shape, seed=0):
    return cuda.to_device(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


N_COPY = 1 << 26


def test_copy_bandwidth(benchmark):
    """Device-to-device copy of 256 MB: the bandwidth the memory-bound kernels are held to."""
    src, dst = _data((N_COPY,)), cuda.device_array(N_COPY, np.float32)
    _timed(benchmark, lambda: K.copy_into(src, dst), "bandwidth")
    benchmark.extra_info["GB/s"] = 2 * 4 * N_COPY / benchmark.stats["min"] / 1e9


@pytest.mark.parametrize("impl", ["fastnn", "torch"])
def test_conv2d(benchmark, impl):
    x, w, dy = _data((32, 64, 32, 32)), _data((64, 64, 3, 3), 1), _data((32, 64, 32, 32), 2)
    if impl == "fastnn":
        fn = lambda: (F.conv2d(x, w, None, 1, 1), F.conv2d_backward(dy, x, w, 1, 1))  # noqa: E731
    else:
        torch = _torch_cuda() or pytest.skip("torch with CUDA is not installed")
        tx, tw = torch.as_tensor(x, device="cuda").requires_grad_(), torch.as_tensor(w, device="cuda").requires_grad_()
        tdy = torch.as_tensor(dy, device="cuda")
        fn = lambda: torch.autograd.grad(torch.nn.functional.conv2d(tx, tw, None, 1, 1), (tx, tw), tdy)  # noqa: E731
    _timed(benchmark, fn, "conv2d fwd+bwd 32x64x32x32, 64 3x3")


@pytest.mark.parametrize("impl", ["fastnn", "torch"])
@pytest.mark.parametrize("op", ["max_pool2d", "softmax", "cross_entropy", "relu", "adam"])
def test_memory_bound(benchmark, impl, op):
    torch = _torch_cuda()
    if impl == "torch" and torch is None:
        pytest.skip("torch with CUDA is not installed")
    if op == "max_pool2d":
        x = _data((32, 64, 64, 64))
        nbytes = 4 * x.size * 5 // 4
        fn = (lambda: F.max_pool2d(x, 2)) if impl == "fastnn" else \
            (lambda t=torch.as_tensor(x, device="cuda"): torch.nn.functional.max_pool2d(t, 2))
    elif op in ("softmax", "cross_entropy"):
        x = _data((4096, 1000))
        t = cuda.to_device(np.random.default_rng(0).integers(0, 1000, 4096))
        nbytes = 2 * 4 * x.size
        if impl == "fastnn":
            fn = (lambda: F.softmax(x)) if op == "softmax" else (lambda: F.cross_entropy(x, t))
        else:
            tx = torch.as_tensor(x, device="cuda").requires_grad_()
            tt = torch.as_tensor(t, device="cuda").long()
            fn = (lambda: torch.softmax(tx, -1)) if op == "softmax" else \
                (lambda: torch.autograd.grad(torch.nn.functional.cross_entropy(tx, tt), tx))
    elif op == "relu":
        x = _data((1 << 26,))
        nbytes = 2 * 4 * x.size
        fn = (lambda: F.relu(x)) if impl == "fastnn" else \
            (lambda t=torch.as_tensor(x, device="cuda"): torch.relu(t))
    else:
        params = [_data((1 << 20,), i) for i in range(10)]
        grads = [_data((1 << 20,), 10 + i) for i in range(10)]
        nbytes = 28 * 10 * (1 << 20)
        if impl == "fastnn":
            opt = optim.Adam(params, lr=1e-3)
            fn = lambda: opt.step(grads)  # noqa: E731
        else:
            tp = [torch.as_tensor(p, device="cuda").requires_grad_() for p in params]
            for p, g in zip(tp, grads):
                p.grad = torch.as_tensor(g, device="cuda")
            fn = torch.optim.Adam(tp, lr=1e-3, fused=True).step
    _timed(benchmark, fn, op)
    benchmark.extra_info["GB/s"] = nbytes / benchmark.stats["min"] / 1e9
