"""Issue 6: one Adam step over 10 tensors of 2^20 float32 (target: >= torch.optim.Adam(fused=True)
on the CPU, >= 10x the NumPy reference), and a STREAM triad in the same run: the effective
bandwidth of the step (28 bytes per element) over the triad's is the goal (>= 90 %).
Also a small model's step (the digits CNN's 8 tensors), where the host-side cost of a step counts."""
from conftest import run


def test_optim(benchmark, workload, impl):
    run(benchmark, workload, impl)


test_optim.workload_family = "optim"
