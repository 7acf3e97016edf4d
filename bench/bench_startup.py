"""Issue 9: start-up latency. A warm process (kernel cache present) must go from
`import fastnn` to its first conv2d and lstm_cell results in well under a
second; the cold figure (compiling into an empty cache) is reported beside it.
Each figure is one fresh process (fastnn._report.startup_times).

Also the GEMM speed of a fresh process: `import fastnn` maps OpenBLAS's packing
buffers (kernels/cpu/_blas.py); a process that only imports NumPy runs GEMMs
with small packed panels at half speed until a larger one has run."""
import importlib.util
import subprocess
import sys

from fastnn._report import startup_times


def test_startup(benchmark):
    benchmark.group = "start-up: import fastnn to first conv2d + lstm_cell"
    cold, warm = benchmark.pedantic(startup_times, rounds=1, iterations=1)
    benchmark.extra_info.update(cold_s=cold, warm_s=warm)
    print(f"\ncold cache {cold:.2f} s, warm cache {warm:.2f} s")


_FRESH_LINEAR = """
import sys, time
if sys.argv[1] == "fastnn":
    import fastnn, fastnn.functional as F
import numpy as np
x, w = np.ones((64, 512), np.float32), np.ones((2048, 512), np.float32)
if sys.argv[1] == "torch":
    import torch
    x, w = torch.from_numpy(x), torch.from_numpy(w)
    f = lambda: torch.nn.functional.linear(x, w)
elif sys.argv[1] == "fastnn":
    f = lambda: F.linear(x, w)
else:
    out = np.empty((64, 2048), np.float32)
    f = lambda: np.matmul(x, w.T, out=out)
f()
times = []
for _ in range(30):
    t = time.perf_counter(); f(); times.append(time.perf_counter() - t)
print(min(times))
"""


def _fresh_process_linear(who):
    """Best of 30 forward linears, 64x512 by 2048x512 (an LSTM step's product), in a
    fresh process that imports `who`: fastnn, numpy or torch."""
    run = subprocess.run([sys.executable, "-c", _FRESH_LINEAR, who], check=True, capture_output=True, text=True)
    return float(run.stdout.strip().splitlines()[-1])


def test_fresh_process_gemm(benchmark):
    benchmark.group = "fresh process: linear 64x512 by 2048x512, best of 30"
    who = ["fastnn", "numpy"] + (["torch"] if importlib.util.find_spec("torch") else [])
    times = benchmark.pedantic(lambda: {w: _fresh_process_linear(w) for w in who}, rounds=1, iterations=1)
    benchmark.extra_info.update({f"{w}_s": t for w, t in times.items()})
    print("\n" + ", ".join(f"{w} {t * 1e3:.2f} ms" for w, t in times.items()))
