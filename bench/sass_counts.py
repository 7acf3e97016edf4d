"""Instructions a thread of the pooling, batch norm and conv per-element
kernels and of the tiled GEMM, without a GPU.

These kernels were instruction-bound (kernels/cuda/pool.py, batchnorm.py,
conv.py, gemm.py), so their SASS instruction counts are the figure to watch
between GPU sessions. For the GEMM, the figure is the inner loop's: FFMAs
against everything else, and no local memory (spills). This script
compiles them for sm_90 (H100) with the CUDA toolkit's NVVM, assembles the PTX
with ptxas and counts what nvdisasm prints. Static counts: every loop here is
unrolled, but a warp skips the branches none of its threads take.

Needs: numba-cuda, libnvvm and ptxas (a CUDA toolkit), NVRTC and nvdisasm
(`pip install nvidia-cuda-nvrtc nvidia-cuda-nvdisasm` give both).
Run: python bench/sass_counts.py [float32|float64]
     python bench/sass_counts.py --compile-all
The second compiles every variant of those kernels (window shapes, tile
shapes, dtypes, 32- and 64-bit indexing), and the activation, recurrent-gate,
dropout, softmax and both cross-entropy kernels, for sm_90: a typing error,
or IR that NVVM rejects, shows on a GPU only, never on the simulator, which
runs kernels as Python. It also fails if the
float32 activation or gate kernels do any float64 arithmetic, which Numba
slips in for a bare `1 - y` (and which the simulator cannot show either).
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

import fastnn  # noqa: F401  (sets up Numba before numpy is imported elsewhere)
import numba
import numpy as np
import numba.cuda.dispatcher as dispatcher
from numba import types
from numba.cuda import compile_ptx

from fastnn.kernels.cuda import (_device, activations, batchnorm, bce, conv, dropout, gemm, pool, reduce, rnn,
                                 softmax)

CC = (9, 0)


class _Target:
    compute_capability = CC


# Device functions are compiled for the current device's compute capability;
# with no GPU there is none, so name the target.
dispatcher.get_current_device = _Target


def _tool(name):
    found = shutil.which(name) or next(iter(glob.glob(
        os.path.join(os.path.dirname(sys.executable), "..", "lib", "python*", "site-packages",
                     "nvidia", "*", "bin", name))), None)
    if found is None:
        sys.exit(f"{name} not found: see this file's docstring")
    return found


def counts(dtype):
    """{kernel: (registers, instructions, GEMM inner loop)}: the tiled pooling
    kernels on 3x3 windows and the 2x2 pair (ROWS_PER_THREAD results a thread),
    batch norm's (a slice's partial sums: a loop; the elementwise passes),
    conv's moves to and from the GEMM layout, and the tiled GEMM at 2x2 and
    4x4 outputs a thread, whose inner loop is also given as (instructions,
    FMAs, shared loads)."""
    ptxas, nvdisasm = _tool("ptxas"), _tool("nvdisasm")
    arr, val, i64 = numba.from_dtype(dtype)[::1], numba.from_dtype(dtype), types.int64
    tile = (32, pool.TILE_THREADS // 32, pool.ROWS_PER_THREAD)
    forward_sig = (arr, i64, i64, i64, i64, i64, i64, val, val, arr, i64)
    backward_sig = (arr, arr, i64, i64, i64, i64, i64, i64, val, val, arr, i64)
    kernels = {
        "avg forward 3x3/1": (pool._tiled_forward(True, dtype, 3, 3, 1, 1, tile), forward_sig),
        "max forward 3x3/2": (pool._tiled_forward(False, dtype, 3, 3, 2, 2, tile), forward_sig),
        "avg backward 3x3/1": (pool._tiled_backward(True, dtype, 3, 3, 1, 1, tile), backward_sig),
        "max backward 3x3/2": (pool._tiled_backward(False, dtype, 3, 3, 2, 2, tile), backward_sig),
        "max forward 2x2/2": (pool._tiled_2x2(dtype, tile, False), (arr, arr, i64, i64, i64, i64, arr, i64)),
        "max backward 2x2/2": (pool._tiled_2x2(dtype, tile, True), (arr, arr, i64, i64, i64, i64, arr, i64)),
    }
    f64, flag = types.float64, types.boolean
    arr2, arr3 = numba.from_dtype(dtype)[:, ::1], numba.from_dtype(dtype)[:, :, ::1]
    normalize, grad_input = batchnorm._pointwise(False)
    kernels.update({
        "bn stats partial": (batchnorm._stats_partial, (arr3, f64[:, :, ::1])),
        "bn normalize": (normalize, (arr, i64, i64, arr, arr, flag, flag, f64[::1], f64[::1], arr)),
        "bn grad partial": (batchnorm._grad_partial, (arr3, arr3, f64[::1], f64[:, :, ::1])),
        "bn grad input": (grad_input, (arr, arr, i64, i64, arr, flag, f64[::1], f64[::1], f64[:, ::1], flag,
                                       f64, arr)),
        "conv unfold rows": (conv._per_element(False)[1], (arr2, arr, flag, i64, i64, arr, i64)),
        "conv fold rows": (conv._per_element(False)[2], (arr, i64, i64, arr2, i64)),
    })
    head = pool._adaptive_avg(dtype, 7, 7, 1, 1, False)
    kernels.update({"adaptive avg forward 7x7->1": (head[0], (arr, arr)),
                    "adaptive avg backward 7x7->1": (head[1], (arr, arr))})
    for R in (2, 4):
        kernels[f"gemm {R}x{R} a thread"] = (gemm._tiled_kernel(dtype, R, False, False, False), _gemm_sig(val))
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (k, sig) in kernels.items():
            ptx, _ = compile_ptx(k.py_func, sig, cc=CC)
            src, cubin = os.path.join(tmp, "k.ptx"), os.path.join(tmp, "k.cubin")
            with open(src, "w") as f:
                f.write(ptx)
            asm = subprocess.run([ptxas, f"-arch=sm_{CC[0]}{CC[1]}", "-v", src, "-o", cubin],
                                 capture_output=True, text=True, check=True)
            sass = subprocess.run([nvdisasm, "-c", cubin], capture_output=True, text=True, check=True).stdout
            lines = sass.splitlines()
            instructions = [line for line in lines if _is_instruction(line)]
            out[name] = (int(re.search(r"Used (\d+) registers", asm.stderr).group(1)), len(instructions),
                         _inner_loop(lines) if name.startswith("gemm") else None)
    return out


def _gemm_sig(v):
    """The tiled GEMM's argument types for Numba scalar type v."""
    i = types.int64
    return (v[::1], i, v[::1], i, i, v[:, :, ::1], types.boolean, v, i, i)


def _is_instruction(line):
    return re.match(r"\s+/\*[0-9a-f]{4,}\*/", line) and "NOP" not in line


def _inner_loop(lines):
    """(instructions, FMAs, shared loads) of the loop holding the FMAs: from the
    last label before the first FMA to the first branch after the last."""
    fmas = [i for i, line in enumerate(lines) if re.search(r"\b[FD]FMA\b", line)]
    start = max(i for i in range(fmas[0]) if re.match(r"\.L_x_\d+:", lines[i].strip()))
    end = next(i for i in range(fmas[-1], len(lines)) if "BRA" in lines[i])
    body = [line for line in lines[start:end + 1] if _is_instruction(line)]
    return len(body), sum(bool(re.search(r"\b[FD]FMA\b", b)) for b in body), sum("LDS" in b for b in body)


# float64 arithmetic in PTX (conversions of a float64 argument are not counted)
_F64_MATH = re.compile(r"^\s*(add|sub|mul|fma|div|rcp|sqrt|ex2|lg2|setp|min|max|neg|abs)\.[\w.]*f64\b")


def compile_all():
    """Compile every variant of the tiled pooling, batch norm, conv
    per-element, GEMM and bias-sum kernels, and the activation, gate,
    dropout, softmax and cross-entropy kernels, for CC; returns how many."""
    i, flag, f64 = types.int64, types.boolean, types.float64
    windows = ((3, 3, 2, 2), (3, 3, 1, 1), (2, 2, 3, 3), (1, 4, 1, 2), (3, 2, 2, 1), (5, 5, 5, 5))
    n = 0

    def build(kernel, sig, single_precision=False):
        """single_precision: a float32 variant must do no float64 arithmetic."""
        nonlocal n
        ptx, _ = compile_ptx(kernel.py_func, sig, cc=CC)
        n += 1
        f64_ops = [line.strip() for line in ptx.splitlines() if _F64_MATH.match(line)]
        if single_precision and f64_ops:
            sys.exit(f"{kernel.py_func.__name__} {sig}: float64 arithmetic in a float32 kernel, "
                     f"e.g. {f64_ops[0]!r}")

    for dtype in (np.dtype(np.float32), np.dtype(np.float64)):
        v = numba.from_dtype(dtype)
        a1, a2, a3, a4 = v[::1], v[:, ::1], v[:, :, ::1], v[:, :, :, ::1]
        for tx in (8, 16, 32):
            for tile in ((tx, 256 // tx, pool.ROWS_PER_THREAD), (tx, max(1, 32 // tx), pool.ROWS_PER_THREAD)):
                for kh, kw, sh, sw in windows:
                    for avg in (False, True):
                        build(pool._tiled_forward(avg, dtype, kh, kw, sh, sw, tile), (a1, i, i, i, i, i, i, v, v, a1, i))
                    for avg in (False, True):
                        build(pool._tiled_backward(avg, dtype, kh, kw, sh, sw, tile),
                              (a1, a1, i, i, i, i, i, i, v, v, a1, i))
                for backward in (False, True):
                    build(pool._tiled_2x2(dtype, tile, backward), (a1, a1, i, i, i, i, a1, i))
        for H, W, OH, OW in ((7, 7, 1, 1), (7, 5, 3, 2), (5, 4, 9, 5)):
            for wide in (False, True):
                for adaptive in pool._adaptive_avg(dtype, H, W, OH, OW, wide):
                    build(adaptive, (a1, a1), dtype == np.float32)
        for wide in (False, True):
            normalize, grad_input = batchnorm._pointwise(wide)
            build(normalize, (a1, i, i, a1, a1, flag, flag, f64[::1], f64[::1], a1))
            build(grad_input, (a1, a1, i, i, a1, flag, f64[::1], f64[::1], f64[:, ::1], flag, f64, a1))
            col2im, unfold_rows, fold_rows = conv._per_element(wide)
            build(col2im, (a2, i, i, i, i, i, i, i, i, i, i, a4))
            build(unfold_rows, (a2, a1, flag, i, i, a1, i))
            build(fold_rows, (a1, i, i, a2, i))
        build(batchnorm._stats_partial, (a3, f64[:, :, ::1]))
        build(batchnorm._grad_partial, (a3, a3, f64[::1], f64[:, :, ::1]))
        for R in (2, 4):
            for ta in (False, True):
                for tb in (False, True):
                    for wide in (False, True):
                        build(gemm._tiled_kernel(dtype, R, ta, tb, wide), _gemm_sig(v))
        build(reduce._channel_partial, (a3, f64[:, ::1]))
        build(reduce._column_partial, (a2, f64[:, ::1]))
        build(reduce._add_slices, (f64[:, ::1], a1, flag))
        build(reduce._add_slices, (a2, a1, flag))
        single = dtype == np.float32
        for k in (activations._relu_forward, activations._sigmoid_forward, activations._tanh_forward):
            build(k, (a1, a1), single)
        for k in (activations._relu_backward, activations._sigmoid_backward, activations._tanh_backward):
            build(k, (a1, a1, a1), single)
        build(activations._leaky_relu_forward, (a1, f64, a1), single)
        build(activations._leaky_relu_backward, (a1, a1, f64, a1), single)
        build(rnn._rnn_gates_forward, (a2, a2, a1, a1, flag, flag, flag, a2), single)
        build(rnn._rnn_gates_backward, (a2, a2, flag, a2), single)
        build(rnn._lstm_gates_forward, (a2, a2, a1, a1, flag, flag) + (a2,) * 5, single)
        build(rnn._lstm_gates_backward, (a2,) * 7, single)
        build(rnn._gru_gates_forward, (a2, a2, a1, a1, flag, flag) + (a2,) * 4, single)
        build(rnn._gru_gates_backward, (a2,) * 7, single)
        # dropout draws and compares in float64 on purpose (the CPU's stream)
        build(dropout._forward, (a1, types.uint64, f64, f64, a1, types.boolean[::1]))
        build(dropout._backward, (a1, types.boolean[::1], f64, a1))
        build(bce._forward_backward, (a1, a1, i, i, a3, flag, a3, flag, f64, f64[::1], a1, flag, a1))  # f64 sums
        build(_device._scale, (a1, f64, a1))
        build(_device._scale_lanes, (a1, a1, i, i, a1))
        # softmax and cross-entropy (float64 sums, on purpose): rows in registers, in
        # several warps, streamed in chunks; classes on a strided axis (lanes)
        i64_1, i64_2 = types.int64[::1], types.int64[:, ::1]
        for layout in ((1, 1, True), (32, 1, True), (16, 8, False)):
            rows = softmax._rows(dtype, *layout)
            build(rows[softmax.SOFTMAX], (a2, v, a2))
            build(rows[softmax.LOG_SOFTMAX], (a2, v, a2))
            build(rows[softmax.BACKWARD], (a2, a2, a2))
            for which in (softmax.CROSS_ENTROPY, softmax.CROSS_ENTROPY_SMOOTHED):
                for loss in (f64[::1], a1):         # reduced, or 'none' in the logits' dtype
                    build(rows[which], (a2, i64_1, a1, flag, f64, i, f64, f64, v, loss, a2))
            build(rows[softmax.CROSS_ENTROPY_PROBS], (a2, a2, a1, flag, f64, f64, v, f64[::1], a2))
        forward, backward, cross_entropy, cross_entropy_probs = softmax._lanes(dtype)
        build(forward, (a3, flag, v, a3))
        build(backward, (a3, a3, a3))
        build(cross_entropy, (a3, i64_2, a1, flag, f64, i, f64, f64, v, f64[:, ::1], a3))
        build(cross_entropy_probs, (a3, a3, a1, flag, f64, f64, v, f64[:, ::1], a3))
    return n


if __name__ == "__main__":
    if sys.argv[1:] == ["--compile-all"]:
        print(f"{compile_all()} kernel variants compile for sm_{CC[0]}{CC[1]}")
        sys.exit()
    dtype = np.dtype(sys.argv[1] if len(sys.argv) > 1 else "float32")
    print(f"{dtype}, sm_{CC[0]}{CC[1]}: registers and SASS instructions a thread")
    for name, (regs, n, loop) in counts(dtype).items():
        inner = f"  (inner loop: {loop[0]}, of which {loop[1]} FMA, {loop[2]} LDS)" if loop else ""
        print(f"  {name:20s} {regs:3d} registers  {n:4d} instructions{inner}")
