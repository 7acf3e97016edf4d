"""kernels/cpu/linear.py against fastnn.reference."""
import numpy as np
import pytest

import fastnn.functional as F
from fastnn.testing import DTYPES, compare_with_reference, noncontiguous, rand


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, i, o", [(1, 1, 1), (5, 3, 7), (64, 200, 130), (2, 300, 1)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_reference(rng, dtype, n, i, o, bias):
    x, w = rand((n, i), dtype, rng), rand((o, i), dtype, rng)
    b = rand((o,), dtype, rng) if bias else None
    compare_with_reference("linear", x, w, b)
    compare_with_reference("linear_backward", rand((n, o), dtype, rng), x, w)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lead", [(), (7,), (3, 5), (2, 0, 4), (2, 3, 4)])
def test_linear_takes_any_leading_dimensions(rng, dtype, lead):
    """As torch: x (*, in) -> (*, out), e.g. a head over an RNN's (T, N, H) output."""
    x, w, b = rand(lead + (6,), dtype, rng), rand((5, 6), dtype, rng), rand((5,), dtype, rng)
    compare_with_reference("linear", x, w, b)
    compare_with_reference("linear_backward", rand(lead + (5,), dtype, rng), x, w)
    compare_with_reference("linear_backward", rand(lead + (5,), dtype, rng), noncontiguous(x), w)


def test_linear_noncontiguous_inputs(rng):
    x, w, b = rand((4, 6), np.float32, rng), rand((5, 6), np.float32, rng), rand((5,), np.float32, rng)
    np.testing.assert_allclose(F.linear(noncontiguous(x), noncontiguous(w), b), F.linear(x, w, b), rtol=1e-6)
    np.testing.assert_allclose(F.linear(x, w.T.copy().T, b), F.linear(x, w, b), rtol=1e-6)


@pytest.mark.parametrize("call, err, match", [
    (lambda: F.linear(np.zeros((2, 3)), np.zeros((4, 5))), ValueError, r"weight has shape \(4, 5\), expected \(4, 3\)"),
    (lambda: F.linear(np.zeros((2, 3)), np.zeros((4, 3)), np.zeros(3)), ValueError, r"bias has shape \(3,\), expected \(4,\)"),
    (lambda: F.linear(np.zeros(()), np.zeros((4, 3))), ValueError, "x must be at least 1-D"),
    (lambda: F.linear(np.zeros((2, 5, 3)), np.zeros((4, 5))), ValueError, r"weight has shape \(4, 5\), expected \(4, 3\)"),
    (lambda: F.linear_backward(np.zeros((5, 2, 4)), np.zeros((2, 5, 3)), np.zeros((4, 3))), ValueError,
     r"dy has shape \(5, 2, 4\), expected \(2, 5, 4\)"),
    (lambda: F.linear(np.zeros((2, 3)), np.zeros((4, 3), np.float32)), TypeError, "weight has dtype float32"),
    (lambda: F.linear_backward(np.zeros((2, 5)), np.zeros((2, 3)), np.zeros((4, 3))), ValueError, r"dy has shape \(2, 5\), expected \(2, 4\)"),
])
def test_linear_rejects_bad_input(call, err, match):
    with pytest.raises(err, match=match):
        call()
