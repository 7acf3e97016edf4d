"""fastnn/_report.py: the environment lines of `python -m fastnn`."""
import os
import subprocess
import sys

import pytest


def test_the_report_names_the_blas_kernels_openblas_loaded():
    # OPENBLAS_CORETYPE is read when OpenBLAS loads, so it takes a fresh process.
    # Lower case on purpose: the name printed is OpenBLAS's own, not the variable.
    env = {**os.environ, "OPENBLAS_CORETYPE": "sandybridge"}
    out = subprocess.run([sys.executable, "-c", "import fastnn._report as r; print(r._blas())"],
                         env=env, capture_output=True, text=True, check=True).stdout
    if "kernels" not in out:
        pytest.skip(f"NumPy's BLAS cannot be asked for its kernels here: {out.strip()}")
    assert out.strip().endswith("Sandybridge kernels (set by OPENBLAS_CORETYPE=sandybridge)")
