"""Issue 9: start-up latency. A warm process (kernel cache present) must go from
`import fastnn` to its first conv2d and lstm_cell results in well under a
second; the cold figure (compiling into an empty cache) is reported beside it.
Each figure is one fresh process (fastnn._report.startup_times)."""
from fastnn._report import startup_times


def test_startup(benchmark):
    benchmark.group = "start-up: import fastnn to first conv2d + lstm_cell"
    cold, warm = benchmark.pedantic(startup_times, rounds=1, iterations=1)
    benchmark.extra_info.update(cold_s=cold, warm_s=warm)
    print(f"\ncold cache {cold:.2f} s, warm cache {warm:.2f} s")
