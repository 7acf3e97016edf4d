"""Issue 4: cross-entropy (target >= 1.5x PyTorch CPU), softmax (>= 1x) and
batch norm 2d forward + backward (>= 1x), workloads in fastnn/_workloads.py."""
from conftest import run


def test_softmax(benchmark, workload, impl):
    run(benchmark, workload, impl)


test_softmax.workload_family = "softmax"


def test_batch_norm(benchmark, workload, impl):
    run(benchmark, workload, impl)


test_batch_norm.workload_family = "batchnorm"
