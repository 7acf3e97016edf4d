"""Issue 4's remaining kernels: linear (BLAS), the activations and dropout,
forward and backward (fastnn/_workloads.py), side by side with the reference
and PyTorch CPU. No target was set; these are memory-bound apart from linear."""
from conftest import run


def test_dense(benchmark, workload, impl):
    run(benchmark, workload, impl)


test_dense.workload_family = "dense"
