"""The report printed by `python -m fastnn`."""
import argparse
import platform

import numba
import numpy as np

import fastnn
from fastnn import functional, reference


def _environment() -> str:
    return (f"fastnn {fastnn.__version__} | numpy {np.__version__} | numba {numba.__version__} | "
            f"python {platform.python_version()} | {numba.config.NUMBA_NUM_THREADS} threads")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastnn", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller workloads, fewer repeats")
    parser.parse_args(argv)
    print(_environment())
    ops = sorted(n for n in reference.__all__ if hasattr(functional, n))
    pending = sorted(n for n in reference.__all__ if not hasattr(functional, n))
    print(f"compiled ops: {', '.join(ops) or 'none yet'}")
    print(f"reference-only ops: {', '.join(pending) or 'none'}")
    return 0
