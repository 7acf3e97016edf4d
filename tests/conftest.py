import zlib

import numpy as np
import pytest

import fastnn._alloc


@pytest.fixture(autouse=True)
def poison_outputs(monkeypatch):
    """Every output the functional layer allocates starts as NaN."""
    monkeypatch.setattr(fastnn._alloc, "POISON", True)


@pytest.fixture
def rng(request):
    # A fixed seed per test keeps failures reproducible.
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))



