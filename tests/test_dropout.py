"""kernels/cpu/dropout.py against fastnn.reference, and its statistics."""
import numpy as np
import pytest

import fastnn.functional as F
from fastnn.testing import DTYPES, compare_with_reference, rand


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (7, 3), (2, 3, 5, 4)])
@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_dropout_matches_reference_mask_for_mask(rng, dtype, shape, p):
    x = rand(shape, dtype, rng)
    y, mask = compare_with_reference("dropout", x, p, True, 1234)
    assert mask.dtype == np.bool_
    compare_with_reference("dropout_backward", rand(shape, dtype, rng), mask, p)


@pytest.mark.parametrize("p", [0.5, 1.0])
def test_non_finite_units_give_nan_where_dropped(rng, p):
    """A multiply, as torch's: NaN or inf kept is NaN or inf scaled, dropped is NaN (x * 0)."""
    x = rand((4, 8), np.float32, rng)
    x[0], x[1], x[2] = np.nan, np.inf, -np.inf
    y, mask = compare_with_reference("dropout", x, p, True, 99)
    assert 0 < mask[:3].sum() < 24 if p < 1 else not mask.any()
    assert np.array_equal(np.isnan(y[:3]), np.isnan(x[:3]) | ~mask[:3])
    dx = compare_with_reference("dropout_backward", x, mask, p)
    assert np.array_equal(np.isnan(dx), np.isnan(y))


def test_dropout_keeps_the_right_fraction_and_scale():
    x = np.linspace(1, 2, 1_000_000).astype(np.float32)
    for p in (0.2, 0.5, 0.8):
        y, mask = F.dropout(x, p, seed=99)
        kept = mask.mean()
        # binomial standard deviation is sqrt(p(1-p)/n) < 5e-4: 6 sigma
        assert abs(kept - (1 - p)) < 3e-3, (p, kept)
        np.testing.assert_allclose(y[mask], x[mask] / np.float32(1 - p), rtol=1e-6)
        assert (y[~mask] == 0).all()
        assert abs(y.mean() / x.mean() - 1) < 1e-2     # inverted dropout keeps the expectation


def test_dropout_is_reproducible_for_a_seed_and_differs_across_seeds(rng):
    x = rand((50, 40), np.float32, rng)
    y1, m1 = F.dropout(x, 0.5, seed=7)
    y2, m2 = F.dropout(x, 0.5, seed=7)
    _, m3 = F.dropout(x, 0.5, seed=8)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(m1, m2)
    assert (m1 != m3).mean() > 0.4
    np.random.seed(3)
    a = F.dropout(x, 0.5)[1]
    np.random.seed(3)
    np.testing.assert_array_equal(F.dropout(x, 0.5)[1], a)


@pytest.mark.parametrize("training, p", [(False, 0.5), (True, 0.0)])
def test_dropout_identity_cases_return_the_input_values(rng, training, p):
    x = rand((4, 5), np.float64, rng)
    y, mask = F.dropout(x, p, training, seed=1)
    np.testing.assert_array_equal(y, x)
    assert mask.all() and y is not x


def test_dropout_backward_reuses_the_forward_mask(rng):
    x = rand((30, 30), np.float32, rng)
    y, mask = F.dropout(x, 0.3, seed=5)
    dx = F.dropout_backward(np.ones_like(x), mask, 0.3)
    np.testing.assert_array_equal(dx != 0, mask)


@pytest.mark.parametrize("call, err, match", [
    (lambda: F.dropout(np.zeros(3), 1.5), ValueError, r"p must be in \[0.0, 1.0\], got 1.5"),
    (lambda: F.dropout(np.zeros(3), -0.1), ValueError, "p must be in"),
    (lambda: F.dropout(np.zeros(3), 0.5, seed=1.5), TypeError, "seed must be an int"),
    (lambda: F.dropout_backward(np.zeros(3), np.ones(3), 0.5), TypeError, "mask has dtype float64, expected bool"),
    (lambda: F.dropout_backward(np.zeros(3), np.ones(4, bool), 0.5), ValueError, r"mask has shape \(4,\)"),
])
def test_dropout_rejects_bad_input(call, err, match):
    with pytest.raises(err, match=match):
        call()
