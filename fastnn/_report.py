"""The report printed by `python -m fastnn`: what fastnn does, and how fast.

Every workload of fastnn/_workloads.py (the same calls bench/ times) runs
with fastnn, the NumPy reference and, when it is installed, PyTorch CPU; the
table gives the best-of-n time of each and the speedups. Then LeNet-5 trains
briefly on scikit-learn's bundled digits. Ratios are what to read: absolute
times move with the machine's load.
"""
import argparse
import ctypes
import os
import platform
import sys
import textwrap
import time

import numba
import numpy as np

import fastnn
from fastnn._workloads import BYTES, FLOPS, WORKLOADS


def _best_time(fn, budget, max_reps):
    fn()                                   # compile / warm caches
    times = []
    start = time.perf_counter()
    while len(times) < max_reps and (not times or time.perf_counter() - start < budget):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _environment():
    torch = "not installed"
    try:
        import torch as _t
        torch = _t.__version__
    except ImportError:
        pass
    return (f"fastnn {fastnn.__version__} | numpy {np.__version__} | numba {numba.__version__} "
            f"({numba.config.NUMBA_NUM_THREADS} threads) | torch {torch} | "
            f"python {platform.python_version()}\nBLAS: {_blas()}")


def _blas():
    """NumPy's BLAS and, for OpenBLAS, the kernels it runs: conv2d, linear and the
    recurrences are mostly GEMM, and OpenBLAS's AVX2 and AVX-512 kernels differ 2x."""
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    core = _openblas_core()
    if core is None:
        return blas["name"]
    forced = os.environ.get("OPENBLAS_CORETYPE")
    return f"{blas['name']}, {core} kernels" + (f" (set by OPENBLAS_CORETYPE={forced})" if forced else "")


def _openblas_core():
    """What the OpenBLAS loaded in this process reports as its kernels' CPU ("Haswell",
    "SkylakeX"...): the one it detected, or OPENBLAS_CORETYPE. None where it cannot be
    asked (not Linux, not OpenBLAS)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower() and ".so" in line})
    except OSError:
        return None
    for path in paths:
        lib = ctypes.CDLL(path)
        for name in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename", "openblas_get_corename"):
            corename = getattr(lib, name, None)
            if corename is not None:
                corename.restype = ctypes.c_char_p
                return corename().decode().strip()
    return None


def benchmark_table(quick, out):
    rows = []
    for w in WORKLOADS:
        impls = w.build(quick)
        if set(impls) == {"fastnn"}:
            continue
        t = {name: _best_time(fn, 0.3 if quick else 1.0, 3 if name == "reference" else 20)
             for name, fn in impls.items()}
        rows.append((w, t))
        ref = t["reference"] / t["fastnn"]
        vs_torch = f"{t['torch'] / t['fastnn']:6.2f}x" if "torch" in t else "      -"
        extra = ""
        if not quick and w.name in FLOPS:
            extra = f"  {FLOPS[w.name] / t['fastnn'] / 1e9:.0f} GFLOP/s"
        if not quick and w.name in BYTES:
            extra = f"  {BYTES[w.name] / t['fastnn'] / 1e9:.0f} GB/s"
        *first, last = textwrap.wrap(w.description, 58, subsequent_indent="    ")
        out.write("".join(f"  {line}\n" for line in first))
        out.write(f"  {last:<58} {t['fastnn'] * 1e3:9.2f} ms  {ref:7.1f}x  {vs_torch}{extra}\n")
        out.flush()
    return rows


def training_run(quick, out):
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        out.write("  (scikit-learn is not installed: pip install scikit-learn for the digits run)\n")
        return None
    from fastnn import models, optim, train
    d = load_digits()
    X = (d.images / 16.0).astype(np.float32)[:, None]
    Y = d.target
    order = np.random.default_rng(0).permutation(len(X))
    tr, te = order[:1500], order[1500:]
    fastnn.manual_seed(0)
    model = models.LeNet5(image_size=8)
    opt = optim.Adam(model.parameters(), lr=2e-3)
    epochs = 3 if quick else 12
    t = time.perf_counter()
    history = train.fit(model, opt, X[tr], Y[tr], epochs=epochs, batch_size=32, verbose=False)
    seconds = time.perf_counter() - t
    acc = train.accuracy(model, X[te], Y[te])
    out.write(f"  LeNet-5 on scikit-learn's 8x8 digits: {epochs} epochs of 1500 images in "
              f"{seconds:.1f} s ({history[-1]['samples_per_s']:,.0f} samples/s), "
              f"test accuracy {acc:.1%} on {len(te)} held-out images\n")
    return acc


_FIRST_RESULTS = """
import sys, time
t0 = time.perf_counter()
import numpy as np
import fastnn, fastnn.functional as F
put = lambda a: a
if sys.argv[1] == "cuda":
    from numba import cuda
    put = cuda.to_device
x = put(np.ones((2, 3, 8, 8), np.float32)); w = put(np.ones((4, 3, 3, 3), np.float32))
F.conv2d(x, w, None, 1, 1)
F.lstm_cell(put(np.ones((2, 3), np.float32)), put(np.ones((2, 4), np.float32)),
            put(np.ones((2, 4), np.float32)), put(np.ones((16, 3), np.float32)),
            put(np.ones((16, 4), np.float32)))
if sys.argv[1] == "cuda":
    cuda.synchronize()
print(time.perf_counter() - t0)
"""


def startup_times(device="cpu"):
    """(cold, warm) seconds from `import fastnn` to the first conv2d and lstm_cell
    results on `device` ("cpu", or "cuda": on device arrays, CUDA's start-up
    included), each in a fresh process: cold compiles into an empty kernel
    cache, warm loads the kernels that run cached."""
    import os
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        runs = [subprocess.run([sys.executable, "-c", _FIRST_RESULTS, device], env=env, check=True,
                               capture_output=True, text=True) for _ in range(2)]
    return tuple(float(r.stdout.strip().splitlines()[-1]) for r in runs)


def _gpu_name():
    """The CUDA GPU's name, or None without one (or on the simulator)."""
    try:
        import numba
        from numba import cuda
        if numba.config.ENABLE_CUDASIM or not cuda.is_available():
            return None
        name = cuda.get_current_device().name
    except ImportError:
        return None
    return name.decode() if isinstance(name, bytes) else name   # older Numba gives bytes


def plot(rows, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("--plot needs matplotlib: pip install -e '.[plot]'")
    names = [w.name for w, _ in rows]
    fig, ax = plt.subplots(figsize=(9, 4))
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [t["reference"] / t["fastnn"] for _, t in rows], 0.4, label="vs NumPy reference")
    if all("torch" in t for _, t in rows):
        ax.bar(x + 0.2, [t["torch"] / t["fastnn"] for _, t in rows], 0.4, label="vs PyTorch CPU")
    ax.axhline(1, color="k", lw=0.8)
    ax.set_yscale("log")
    ax.set_xticks(x, names, rotation=20)
    ax.set_ylabel("speedup of fastnn (x)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastnn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller workloads, fewer repeats")
    parser.add_argument("--plot", metavar="FILE.png", help="also write a bar chart of the speedups")
    parser.add_argument("--startup", action="store_true",
                        help="only measure start-up: import to the first conv2d and lstm_cell, "
                             "with a cold and a warm kernel cache")
    args = parser.parse_args(argv)
    out = sys.stdout
    if args.startup:
        cold, warm = startup_times()
        out.write(f"import fastnn to first conv2d + lstm_cell results: cold cache {cold:.2f} s, "
                  f"warm cache {warm:.2f} s\n")
        gpu = _gpu_name()
        if gpu:
            cold, warm = startup_times("cuda")
            out.write(f"  the same on {gpu}: cold cache {cold:.2f} s, warm cache {warm:.2f} s\n")
        return 0
    out.write(f"{_environment()}\n\n")
    out.write("fastnn: Numba kernels for the layers of a deep-learning course, checked against a\n"
              "plain-NumPy reference of every op (fastnn.reference).\n"
              "The first run compiles every kernel it times and caches it on disk: a few minutes\n"
              "on two cores, once. Later runs load them.\n\n")
    t0 = time.perf_counter()
    if args.quick:
        out.write("  --quick: batch (or tensor) sizes are 4x smaller than the ones named below\n")
    out.write(f"  {'workload (forward + backward unless noted)':<58} {'fastnn':>12}  {'vs ref':>7}  "
              f"{'vs torch':>7}\n")
    rows = benchmark_table(args.quick, out)
    out.write("\n  (speedup = other's time / fastnn's time; > 1 means fastnn is faster)\n")
    if not args.quick:
        out.write("  (conv2d's GFLOP/s counts direct convolution's multiply-adds; Winograd's F(4x4, 3x3)\n"
                  "   does a quarter of them, so the figure can pass the machine's GEMM rate)\n")
    out.write("\n")
    training_run(args.quick, out)
    out.write(f"\ndone in {time.perf_counter() - t0:.0f} s; Numba threading layer: {numba.threading_layer()}\n")
    if args.plot:
        plot(rows, args.plot)
        out.write(f"wrote {args.plot}\n")
    return 0
