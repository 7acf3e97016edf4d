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


# (logits' shape, weight's, pos_weight's): every way a weight broadcasts in
# kernels/cpu/bce.py (None, the whole array, a tile of the rows, rows written
# out per chunk) and the shapes that need more than three lanes (written out
# in full by fastnn.functional)
WEIGHTED = [
    ((5, 3), (3,), None),
    ((5, 3), None, (3,)),
    ((40, 70), (40, 1), (70,)),                   # per-sample weights, per-class pos_weight
    ((3, CHUNK + 5), (3, CHUNK + 5), (1,)),       # a full weight; a scalar pos_weight
    ((2, 3, 4, 5), (3, 1, 1), (2, 1, 4, 1)),      # segmentation-like: (C, 1, 1)
    ((6, 7), (), ()),
    ((2, 3, 4, 5), (2, 1, 4, 1), (3, 1, 5)),      # five lanes: written out
    ((9,), (9,), (1,)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, w_shape, p_shape", WEIGHTED)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_weights_and_reductions_match_reference(rng, dtype, shape, w_shape, p_shape, reduction):
    logits = rand(shape, dtype, rng, -8, 8)
    target = rand(shape, dtype, rng, 0, 1)
    target.flat[::3] = (rng.random(target.flat[::3].size) < 0.5)        # hard labels among the soft ones
    weight = None if w_shape is None else rand(w_shape, dtype, rng, 0.1, 2)
    pos_weight = None if p_shape is None else rand(p_shape, dtype, rng, 0.1, 4)
    compare_with_reference("binary_cross_entropy_with_logits", logits, target, weight, reduction, pos_weight)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits_reductions_agree(rng, dtype):
    shape = (6, 11)
    x, y, w, p = (rand(shape, dtype, rng, -4, 4), rand(shape, dtype, rng, 0, 1), rand((6, 1), dtype, rng),
                  rand((11,), dtype, rng, 0.5, 3))
    each, d_each = F.binary_cross_entropy_with_logits(x, y, w, "none", p)
    total, d_sum = F.binary_cross_entropy_with_logits(x, y, w, "sum", p)
    mean, d_mean = F.binary_cross_entropy_with_logits(x, y, w, "mean", p)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert total == pytest.approx(each.astype(np.float64).sum(), rel=rtol)
    assert mean == pytest.approx(total / x.size, rel=rtol)
    np.testing.assert_array_equal(d_each, d_sum)
    np.testing.assert_allclose(d_mean, d_sum / dtype(x.size), rtol=rtol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits_is_accurate_for_targets_near_one(dtype):
    """(1 - y) x, not x - y x: for y near 1 the difference cancels, and float32
    lost 4 digits of the loss (1e-4 relative error)."""
    x = np.linspace(0.5, 30, 200).astype(dtype)
    y = (1 - np.geomspace(1e-6, 1e-2, 200)).astype(dtype)
    loss, _ = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    want = (1 - y64) * x64 + np.log1p(np.exp(-x64))
    assert np.max(np.abs(loss - want) / want) < 8 * np.finfo(dtype).eps


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
    weight, pos_weight = rand((4,), np.float32, rng), rand((3, 1), np.float32, rng)
    pos_weight[0, 0] = np.nan                   # a NaN weight spoils its own elements only
    each, d = compare_with_reference("binary_cross_entropy_with_logits", logits, target, weight, "none", pos_weight)
    nan = np.zeros((3, 4), bool)
    nan[1, 2] = True
    nan[0] = True
    np.testing.assert_array_equal(np.isnan(each), nan)
    np.testing.assert_array_equal(np.isnan(d), nan)


@pytest.mark.parametrize("reduction, want", [("mean", np.nan), ("sum", 0.0)])
def test_bce_with_logits_of_nothing(reduction, want):
    x = np.zeros((0, 3), np.float32)
    loss, d = compare_with_reference("binary_cross_entropy_with_logits", x, x, np.ones(3, np.float32),
                                     reduction, np.ones(3, np.float32))
    np.testing.assert_equal(loss, want)
    assert d.shape == (0, 3)
    each, _ = F.binary_cross_entropy_with_logits(x, x, reduction="none")
    assert each.shape == (0, 3) and each.dtype == np.float32


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
    (lambda: F.binary_cross_entropy_with_logits(np.zeros((2, 3)), np.zeros((2, 3)), np.ones(2)), ValueError,
     r"weight has shape \(2,\), expected a shape that broadcasts to logits' shape \(2, 3\)"),
    (lambda: F.binary_cross_entropy_with_logits(np.zeros(3), np.zeros(3), pos_weight=np.ones((2, 3))), ValueError,
     r"pos_weight has shape \(2, 3\), expected a shape that broadcasts to logits' shape \(3,\)"),
    (lambda: F.binary_cross_entropy_with_logits(np.zeros(3), np.zeros(3), np.ones(3, np.float32)), TypeError,
     "weight has dtype float32"),
    (lambda: F.binary_cross_entropy_with_logits(np.zeros(3), np.zeros(3), reduction="avg"), ValueError,
     "reduction must be 'mean', 'sum' or 'none', got 'avg'"),
])
def test_bce_with_logits_rejects_bad_input(call, err, match):
    with pytest.raises(err, match=match):
        call()
