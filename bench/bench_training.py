"""Issue 7: one training epoch of the digits CNN (conv 16, pool, conv 32, pool,
linear 64, linear 10; batch 32, Adam). Target: at least PyTorch CPU's speed
for the same model and batches (goal 1.5x); this is where per-call layer
overhead shows, the tensors being tiny."""
from conftest import run


def test_training(benchmark, workload, impl):
    run(benchmark, workload, impl)


test_training.workload_family = "training"
