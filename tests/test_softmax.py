"""kernels/cpu/softmax.py (softmax, log_softmax, cross-entropy) against fastnn.reference."""
import numpy as np
import pytest

import fastnn.functional as F
from fastnn.testing import DTYPES, assert_close, compare_with_reference, noncontiguous, rand

SHAPES_AXES = [((7,), 0), ((5, 13), -1), ((5, 13), 0), ((3, 4, 33), 1), ((2, 3, 4, 5), 2),
               ((1, 1), -1), ((4, 1000), -1),
               ((3, 2500), -1), ((2, 2100, 3), 1)]   # rows over EXP_SUM_BLOCK (1024), with a tail


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, axis", SHAPES_AXES)
def test_softmax_family_matches_reference(rng, dtype, shape, axis):
    x = rand(shape, dtype, rng, -6, 6)
    y = compare_with_reference("softmax", x, axis)
    compare_with_reference("log_softmax", x, axis)
    compare_with_reference("softmax_backward", rand(shape, dtype, rng), y, axis)
    assert_close(y.sum(axis=axis), np.ones_like(y.sum(axis=axis)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [1e4, 3e38])
def test_softmax_is_stable_for_huge_logits(dtype, scale):
    x = np.array([[scale, scale / 2, -scale, 0.0], [1.0, 2.0, 3.0, scale]], dtype)
    y = compare_with_reference("softmax", x)
    assert np.isfinite(y).all() and y[0, 0] == 1 and y[1, 3] == 1
    assert np.isfinite(compare_with_reference("log_softmax", x)[:, 0]).all()
    loss, d = compare_with_reference("cross_entropy", x, np.array([0, 3]))
    assert loss == 0.0 and np.isfinite(d).all()


@pytest.mark.parametrize("width, where", [(3, 1), (1000, 700), (1000, 999), (2500, 2400)])
def test_softmax_nan_in_gives_nan_out(rng, width, where):
    # NaN inside the vectorised body of the max and the sums as well as in their tails
    x = rand((2, width), np.float32, rng)
    x[0, where] = np.nan
    y = compare_with_reference("softmax", x)
    assert np.isnan(y[0]).all() and not np.isnan(y[1]).any()
    loss, d = F.cross_entropy(x, np.array([0, 1]))
    assert np.isnan(loss) and np.isnan(d[0]).all() and not np.isnan(d[1]).any()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, c", [(1, 1), (1, 5), (7, 3), (33, 100), (64, 1000)])
# any integer dtype, byte-swapped ones too
@pytest.mark.parametrize("label_dtype", [np.int64, np.int32, np.uint8, np.dtype(">i4")])
def test_cross_entropy_matches_reference(rng, dtype, n, c, label_dtype):
    logits = rand((n, c), dtype, rng, -8, 8)
    target = rng.integers(0, c, size=n).astype(label_dtype)
    loss, d = compare_with_reference("cross_entropy", logits, target)
    assert isinstance(loss, float)
    assert_close(d.sum(axis=1), np.zeros(n, dtype))   # softmax minus one-hot sums to 0


# torch's F.cross_entropy options, on the layouts the kernels take apart: rows
# (N, C), lanes (N, C, d1, d2: classes strided) and one unbatched row (C,)
CE_SHAPES = [(9, 7), (3, 5, 4, 2), (6,)]
CE_OPTIONS = [dict(reduction="sum"), dict(reduction="none"), dict(label_smoothing=0.2),
              dict(weight=True, label_smoothing=0.1, reduction="none"), dict(weight=True),
              dict(ignore_index=2, label_smoothing=0.3), dict(weight=True, ignore_index=0, reduction="sum")]


def _ce_target(rng, shape, probs, dtype, ignore_index=-100):
    """Labels (some equal to ignore_index), or random class probabilities."""
    axis = 1 if len(shape) > 1 else 0
    C = shape[axis]
    if probs:
        p = rng.dirichlet(np.ones(C), size=shape[:axis] + shape[axis + 1:])
        return np.ascontiguousarray(np.moveaxis(p, -1, axis)).astype(dtype)
    labels = rng.integers(0, C, size=shape[:axis] + shape[axis + 1:])
    if labels.size > 1:
        labels.flat[::3] = ignore_index
    return labels


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", CE_SHAPES)
@pytest.mark.parametrize("options", CE_OPTIONS, ids=str)
@pytest.mark.parametrize("probs", [False, True], ids=["labels", "probabilities"])
def test_cross_entropy_options_match_reference(rng, dtype, shape, options, probs):
    options = dict(options)
    if probs and options.get("ignore_index", -1) >= 0:
        pytest.skip("ignore_index applies to labels only")
    if options.pop("weight", False):
        options["weight"] = rand((shape[1 if len(shape) > 1 else 0],), dtype, rng, 0.2, 3)
    logits = rand(shape, dtype, rng, -5, 5)
    target = _ce_target(rng, shape, probs, dtype, options.get("ignore_index", -100))
    loss, d = compare_with_reference("cross_entropy", logits, target, **options)
    if options.get("reduction") == "none":      # one loss per row: logits' shape without the classes
        assert loss.shape == (shape[:1] + shape[2:] if len(shape) > 1 else ()) and loss.dtype == dtype
    else:
        assert isinstance(loss, float)


@pytest.mark.parametrize("probs", [False, True], ids=["labels", "probabilities"])
def test_cross_entropy_reductions_agree(rng, probs):
    """'sum' is the sum of 'none', and 'mean' that sum over torch's divisor: the
    weight of the labels kept (the rows, for probabilities); gradients alike."""
    logits = rand((12, 6), np.float64, rng, -3, 3)
    weight = rand((6,), np.float64, rng, 0.5, 2)
    target = _ce_target(rng, logits.shape, probs, np.float64)
    none, d_none = F.cross_entropy(logits, target, weight, reduction="none")
    total, d_sum = F.cross_entropy(logits, target, weight, reduction="sum")
    mean, d_mean = F.cross_entropy(logits, target, weight)
    divisor = 12 if probs else weight[target[target != -100]].sum()
    assert total == pytest.approx(none.sum(), rel=1e-12)
    assert mean == pytest.approx(total / divisor, rel=1e-12)
    assert_close(d_sum, d_none)
    assert_close(d_mean, d_sum / divisor)
    if not probs:
        assert (none[target == -100] == 0).all() and (d_none[target == -100] == 0).all()


def test_cross_entropy_with_every_label_ignored_or_no_rows(rng):
    """torch: the mean of nothing is NaN, the sum 0; nothing gets a gradient."""
    logits = rand((4, 3), np.float32, rng)
    for x, t in ((logits, np.full(4, -100)), (logits[:0], np.zeros(0, int))):
        loss, d = compare_with_reference("cross_entropy", x, t)
        assert np.isnan(loss) and (d == 0).all()
        assert compare_with_reference("cross_entropy", x, t, reduction="sum")[0] == 0.0
        assert compare_with_reference("cross_entropy", x, t, reduction="none")[0].shape == t.shape


@pytest.mark.parametrize("options", [{}, dict(label_smoothing=0.1, weight=np.arange(1.0, 6.0))], ids=str)
def test_cross_entropy_nan_in_gives_nan_out(rng, options):
    """A NaN logit makes its row's loss and gradient NaN, and only its row's; an
    ignored row's loss stays 0 and its gradient NaN (0 times NaN), as torch's."""
    x = rand((4, 5), np.float64, rng)
    x[[0, 2], 3] = np.nan
    for target in (np.array([1, 2, -100, 4]), _ce_target(rng, x.shape, True, np.float64)):
        loss, d = compare_with_reference("cross_entropy", x, target, reduction="none", **options)
        assert np.isnan(loss[0]) and np.isnan(d[0]).all() and not np.isnan(loss[[1, 3]]).any()
        assert not np.isnan(d[[1, 3]]).any()
        if target.ndim == 1:
            assert loss[2] == 0 and np.isnan(d[2]).all()


def test_softmax_is_independent_of_where_arrays_lie(rng):
    """The row sums do not depend on the arrays' addresses. A loop that both
    reads x and writes y, summing as it goes, ran vectorised or scalar by a
    run-time check of how near y lies after x, and the two orders of the sum
    differed in the last bit: here y lies 0 to 1024 bytes after x in one buffer."""
    from fastnn.kernels.cpu import softmax_forward
    x = rand((6, 9, 1), np.float32, rng, -4, 4)
    results = []
    for gap in (0, 1, 4, 16, 64, 256):
        buf = np.empty(2 * x.size + gap, np.float32)
        xa, y = buf[:x.size].reshape(x.shape), buf[x.size + gap:].reshape(x.shape)
        xa[...] = x
        softmax_forward(xa, False, y)
        results.append(y.copy())
    assert all(np.array_equal(r, results[0]) for r in results)


def test_softmax_noncontiguous_input(rng):
    x = rand((6, 9), np.float32, rng)
    np.testing.assert_array_equal(F.softmax(noncontiguous(x)), F.softmax(x))
    np.testing.assert_array_equal(F.cross_entropy(noncontiguous(x), np.arange(6))[1],
                                  F.cross_entropy(x, np.arange(6))[1])


@pytest.mark.parametrize("call, err, match", [
    (lambda: F.cross_entropy(np.zeros((3, 4)), np.array([0, 4, 1])), ValueError, r"target holds label 4, expected labels in \[0, 4\)"),
    (lambda: F.cross_entropy(np.zeros((3, 4)), np.array([0, -1, 1])), ValueError, "label -1"),
    (lambda: F.cross_entropy(np.zeros((3, 4)), np.array([0.0, 1, 1])), TypeError, "target has dtype float64, expected an integer"),
    (lambda: F.cross_entropy(np.zeros((3, 4)), np.array([0, 1])), ValueError, r"target has shape \(2,\), expected \(3,\)"),
    (lambda: F.cross_entropy(np.zeros(4), np.array([0])), ValueError, r"target has shape \(1,\), expected \(\)"),
    (lambda: F.cross_entropy(np.zeros((2, 4, 3)), np.zeros((2, 4), int)), ValueError,
     r"target has shape \(2, 4\), expected \(2, 3\)"),
    (lambda: F.cross_entropy(np.zeros(()), np.zeros((), int)), ValueError, "logits must be at least 1-D"),
    (lambda: F.cross_entropy(np.zeros((3, 0)), np.zeros(3, int)), ValueError, "C >= 1 classes"),
    (lambda: F.cross_entropy(np.zeros((3, 4)), np.array([0, -100, 5])), ValueError,
     r"label 5, expected labels in \[0, 4\) or ignore_index \(-100\)"),
    (lambda: F.cross_entropy(np.zeros((3, 4)), np.array([0, -100, 1]), ignore_index=-1), ValueError, "label -100"),
    (lambda: F.cross_entropy(np.zeros((3, 4)), np.zeros(3, int), ignore_index=1.0), TypeError,
     "ignore_index must be an int, got 1.0"),
    (lambda: F.cross_entropy(np.zeros((3, 4)), np.zeros(3, int), weight=np.ones(3)), ValueError,
     r"weight has shape \(3,\), expected \(4,\)"),
    (lambda: F.cross_entropy(np.zeros((3, 4)), np.zeros(3, int), weight=np.ones(4, np.float32)), TypeError,
     "weight has dtype float32 but logits has dtype float64"),
    (lambda: F.cross_entropy(np.zeros((3, 4)), np.zeros(3, int), reduction="avg"), ValueError,
     "reduction must be 'mean', 'sum' or 'none', got 'avg'"),
    (lambda: F.cross_entropy(np.zeros((3, 4)), np.zeros(3, int), label_smoothing=1.5), ValueError,
     r"label_smoothing must be in \[0.0, 1.0\], got 1.5"),
    (lambda: F.cross_entropy(np.zeros((3, 4)), np.zeros((3, 4)), ignore_index=0), ValueError,
     "ignore_index=0 with class probabilities"),
    (lambda: F.cross_entropy(np.zeros((3, 4)), np.zeros((3, 4), np.float32)), TypeError,
     "target has dtype float32 but logits has dtype float64"),
    (lambda: F.softmax(np.zeros((3, 4)), axis=2), ValueError, "axis=2 is out of range"),
    (lambda: F.softmax(np.zeros((3, 4), np.float16)), TypeError, "x has dtype float16"),
    (lambda: F.softmax_backward(np.zeros((3, 4)), np.zeros((3, 5))), ValueError, r"dy has shape \(3, 4\)"),
    (lambda: F.softmax_backward(np.zeros((3, 4), np.float32), np.zeros((3, 4))), TypeError, "float32"),
])
def test_softmax_family_rejects_bad_input(call, err, match):
    with pytest.raises(err, match=match):
        call()
