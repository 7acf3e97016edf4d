"""kernels/cpu/batchnorm.py against fastnn.reference."""
import numpy as np
import pytest

import fastnn.functional as F
import fastnn.reference as R
from fastnn.testing import DTYPES, assert_close, noncontiguous, rand


def _run_both(x, gamma, beta, rm, rv, training, momentum=0.1, eps=1e-5, rng=None):
    """Forward and backward in both implementations, with separate running stats."""
    stats = [None if a is None else a.copy() for a in (rm, rv)]
    x_before = x.copy()
    y, cache = F.batch_norm(x, gamma, beta, rm, rv, training, momentum, eps)
    np.testing.assert_array_equal(x, x_before)
    y_ref, cache_ref = R.batch_norm(x, gamma, beta, *stats, training, momentum, eps)
    assert_close(y, y_ref, name="y")
    if rm is not None:
        assert_close(rm, stats[0], name="running_mean")
        assert_close(rv, stats[1], name="running_var")
    dy = rand(x.shape, x.dtype, rng)
    for name, a, e in zip(["dx", "dgamma", "dbeta"], F.batch_norm_backward(dy, cache),
                          R.batch_norm_backward(dy, cache_ref)):
        assert (a is None) == (e is None), name
        if a is not None:
            assert a.dtype == x.dtype
            assert_close(a, e, name=name)
    return y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 1), (5, 3), (64, 17), (2, 3, 4, 5), (1, 2, 3, 1), (4, 8, 7, 7),
                                   (3, 5, 7), (1, 2, 3), (2, 3, 2, 3, 2)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_reference(rng, dtype, shape, training):
    C = shape[1]
    x = rand(shape, dtype, rng, -2, 4)
    _run_both(x, rand((C,), dtype, rng, 0.5, 2), rand((C,), dtype, rng), rand((C,), dtype, rng),
              rand((C,), dtype, rng, 0.5, 2), training, 0.3, 1e-4, rng)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_without_affine_or_running_stats(rng, training):
    x = rand((6, 4, 3, 2), np.float64, rng)
    stats = (rand((4,), np.float64, rng), rand((4,), np.float64, rng, 1, 2))
    _run_both(x, None, None, *stats, training, rng=rng)
    if training:
        _run_both(x, rand((4,), np.float64, rng), None, None, None, True, rng=rng)


def test_batch_norm_float32_statistics_stay_accurate_at_large_sizes(rng):
    # 2^20 values per channel far from zero: a naive float32 sum-of-squares loses the variance
    x = (1000 + rng.standard_normal((256, 2, 64, 64))).astype(np.float32)
    rm, rv = np.zeros(2, np.float32), np.ones(2, np.float32)
    F.batch_norm(x, None, None, rm, rv, True, momentum=1.0)
    x64 = x.astype(np.float64)
    assert_close(rm, x64.mean(axis=(0, 2, 3)), rtol=1e-6)
    assert_close(rv, x64.var(axis=(0, 2, 3), ddof=1), rtol=1e-4)


def test_batch_norm_noncontiguous_input(rng):
    x = rand((4, 3, 5, 6), np.float32, rng)
    y1, _ = F.batch_norm(noncontiguous(x), None, None, None, None, True)
    y2, _ = F.batch_norm(x, None, None, None, None, True)
    np.testing.assert_array_equal(y1, y2)


@pytest.mark.parametrize("call, err, match", [
    (lambda: F.batch_norm(np.zeros((4, 3)), np.zeros(2), None, None, None), ValueError, r"gamma has shape \(2,\), expected \(3,\)"),
    (lambda: F.batch_norm(np.zeros(4), None, None, None, None), ValueError, r"x must be at least 2-D \(N, C, \*\), got shape \(4,\)"),
    (lambda: F.batch_norm(np.zeros((1, 3, 1)), None, None, None, None), ValueError, "more than one value per channel"),
    (lambda: F.batch_norm(np.zeros((4, 3)), None, None, None, None, training=False), ValueError, "running_mean and running_var are required"),
    (lambda: F.batch_norm(np.zeros((1, 3)), None, None, None, None), ValueError, "more than one value per channel"),
    (lambda: F.batch_norm(np.zeros((4, 3)), None, None, np.zeros(3), None), ValueError, "both running_mean and running_var"),
    (lambda: F.batch_norm(np.zeros((4, 3)), None, None, None, None, momentum=1.5), ValueError, "momentum must be in"),
    (lambda: F.batch_norm(np.zeros((4, 3)), np.zeros(3, np.float32), None, None, None), TypeError, "gamma has dtype float32"),
])
def test_batch_norm_rejects_bad_input(call, err, match):
    with pytest.raises(err, match=match):
        call()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_batch_norm_non_finite_input_poisons_its_channel_only(rng, dtype, bad):
    # the statistics are vectorised sums (FASTMATH reassociation, no nnan): a NaN
    # or inf in channel 1 must reach every y and dx of channel 1 and nothing else
    x = rand((4, 3, 5, 6), dtype, rng)
    x[2, 1, 3, 4] = bad
    gamma, beta = rand((3,), dtype, rng, 0.5, 2), rand((3,), dtype, rng)
    y, cache = F.batch_norm(x, gamma, beta, None, None, True)
    with np.errstate(invalid="ignore"):   # the reference's inf - inf, on purpose
        y_ref, cache_ref = R.batch_norm(x, gamma, beta, None, None, True)
    assert np.isnan(y[:, 1]).all() and np.isfinite(y[:, [0, 2]]).all()
    assert_close(y, y_ref, name="y")
    dy = rand(x.shape, dtype, rng)
    dx = F.batch_norm_backward(dy, cache)[0]
    assert np.isnan(dx[:, 1]).all() and np.isfinite(dx[:, [0, 2]]).all()
    with np.errstate(invalid="ignore"):
        dx_ref = R.batch_norm_backward(dy, cache_ref)[0]
    assert_close(dx, dx_ref, name="dx")
