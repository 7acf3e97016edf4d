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
    (lambda: F.cross_entropy(np.zeros(4), np.array([0])), ValueError, "logits must be 2-D"),
    (lambda: F.cross_entropy(np.zeros((3, 0)), np.zeros(3, int)), ValueError, "C >= 1 classes"),
    (lambda: F.softmax(np.zeros((3, 4)), axis=2), ValueError, "axis=2 is out of range"),
    (lambda: F.softmax(np.zeros((3, 4), np.float16)), TypeError, "x has dtype float16"),
    (lambda: F.softmax_backward(np.zeros((3, 4)), np.zeros((3, 5))), ValueError, r"dy has shape \(3, 4\)"),
    (lambda: F.softmax_backward(np.zeros((3, 4), np.float32), np.zeros((3, 4))), TypeError, "float32"),
])
def test_softmax_family_rejects_bad_input(call, err, match):
    with pytest.raises(err, match=match):
        call()
