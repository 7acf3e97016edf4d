import zlib

import numpy as np
import pytest

import fastnn._alloc
from fastnn.kernels.cpu import _scratch


@pytest.fixture(autouse=True)
def poison_outputs(monkeypatch):
    """Every output the functional layer allocates, and every scratch buffer a CPU
    kernel is handed, starts as NaN."""
    monkeypatch.setattr(fastnn._alloc, "POISON", True)
    monkeypatch.setattr(_scratch, "POISON", True)


@pytest.fixture
def rng(request):
    # A fixed seed per test keeps failures reproducible.
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))



