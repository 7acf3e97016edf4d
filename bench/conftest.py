"""Benchmarks: `pytest bench --benchmark-enable`. Each workload of
fastnn/_workloads.py runs once per implementation (fastnn, the NumPy
reference, PyTorch CPU when installed), grouped so the table shows them side
by side; compare the ratios, not the absolute times (shared machines)."""
import fastnn  # noqa: F401  (first, so its thread settings apply before NumPy loads)
import pytest

from fastnn._workloads import WORKLOADS


def pytest_generate_tests(metafunc):
    if "impl" in metafunc.fixturenames and "workload_family" in metafunc.function.__dict__:
        family = metafunc.function.workload_family
        params = [(w, impl) for w in WORKLOADS if w.family == family
                  for impl in ("fastnn", "reference", "torch")]
        metafunc.parametrize("workload, impl", params,
                             ids=[f"{w.name}-{impl}" for w, impl in params])


def run(benchmark, workload, impl, quick=False):
    impls = workload.build(quick)
    if impl not in impls:
        pytest.skip(f"{impl} is not installed")
    benchmark.group = workload.description
    fn = impls[impl]
    fn()   # warm up: compile, fill caches
    rounds = 3 if impl == "reference" else 10
    benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=0)
