"""kernels/cpu/bce.py (binary cross-entropy on logits) against fastnn.reference."""
import numpy as np
import pytest

import fastnn.functional as F
from fastnn.kernels.cpu.bce import CHUNK
from fastnn.testing import DTYPES, compare_with_reference, noncontiguous, rand


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (7,), (5, 3), (2, 3, 4), (3, CHUNK + 5), (0, 4)])
def test_bce_with_logits_matches_reference(rng, dtype, shape):
    logits = rand(shape, dtype, rng, -8, 8)
    target = rand(shape, dtype, rng, 0, 1)
    compare_with_reference("binary_cross_entropy_with_logits", logits, target)
    hard = (rng.random(shape) < 0.5).astype(dtype)          # the usual 0/1 labels
    compare_with_reference("binary_cross_entropy_with_logits", logits, hard)


@pytest.mark.parametrize("dtype", DTYPES)
def test_log1p_unit_is_accurate_on_its_domain(dtype):
    """kernels/cpu/_math.log1p_unit, the series behind the loss: within 4 ulp of
    log1p over [0, 1], relatively near 0 too; NaN stays NaN."""
    from numba import njit

    from fastnn.kernels.cpu._math import log1p_unit

    @njit
    def apply(e, out):
        for i in range(e.size):
            out[i] = log1p_unit(e[i])
    e = np.concatenate([np.linspace(0, 1, 10001), np.geomspace(1e-30, 1e-3, 500), [np.nan]]).astype(dtype)
    got = np.empty_like(e)
    apply(e, got)
    want = np.log1p(e.astype(np.float64))
    assert np.isnan(got[-1]) and got[0] == 0
    ulp = np.spacing(want[1:-1].astype(dtype)).astype(np.float64)
    assert np.max(np.abs(got[1:-1] - want[1:-1]) / ulp) <= 4        # measured: 2.5 (f32), 3 (f64)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits_is_stable_for_huge_logits(dtype):
    big = np.finfo(dtype).max / 2
    logits = np.array([big, -big, 1e4, -1e4, 0.0], dtype)
    target = np.array([1, 0, 0, 1, 0.5], dtype)
    loss, d = compare_with_reference("binary_cross_entropy_with_logits", logits, target)
    # two exact zeros, two of 1e4 each, and log 2 for the last
    assert loss == pytest.approx((2e4 + np.log(2)) / 5, rel=1e-6)
    assert np.isfinite(d).all() and d[0] == 0 and d[1] == 0


def test_bce_with_logits_nan_in_gives_nan_out(rng):
    logits, target = rand((3, 4), np.float32, rng), rand((3, 4), np.float32, rng, 0, 1)
    logits[1, 2] = np.nan
    loss, d = compare_with_reference("binary_cross_entropy_with_logits", logits, target)
    assert np.isnan(loss) and np.isnan(d[1, 2]) and np.isnan(d).sum() == 1


def test_bce_with_logits_noncontiguous_inputs(rng):
    logits, target = rand((4, 6), np.float64, rng, -3, 3), rand((4, 6), np.float64, rng, 0, 1)
    loss, d = F.binary_cross_entropy_with_logits(logits, target)
    loss_nc, d_nc = F.binary_cross_entropy_with_logits(noncontiguous(logits), noncontiguous(target))
    assert loss_nc == loss
    np.testing.assert_array_equal(d_nc, d)


@pytest.mark.parametrize("call, err, match", [
    (lambda: F.binary_cross_entropy_with_logits(np.zeros((2, 3)), np.zeros((3, 2))), ValueError,
     r"target has shape \(3, 2\), expected \(2, 3\)"),
    (lambda: F.binary_cross_entropy_with_logits(np.zeros(3), np.zeros(3, np.int64)), TypeError,
     "target has dtype int64"),
    (lambda: F.binary_cross_entropy_with_logits(np.zeros(3, np.float32), np.zeros(3)), TypeError,
     "target has dtype float64"),
])
def test_bce_with_logits_rejects_bad_input(call, err, match):
    with pytest.raises(err, match=match):
        call()
