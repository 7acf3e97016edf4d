"""Issue 3: conv2d on workload A (and a digits-sized layer), max_pool2d on workload B
(fastnn/_workloads.py).
Targets: conv >= 0.8x PyTorch CPU; max pool >= 3x PyTorch CPU."""
from conftest import run


def test_conv(benchmark, workload, impl):
    run(benchmark, workload, impl)


test_conv.workload_family = "conv"


def test_pool(benchmark, workload, impl):
    run(benchmark, workload, impl)


test_pool.workload_family = "pool"
