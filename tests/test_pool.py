"""kernels/cpu/pool.py (max and average pooling) against fastnn.reference."""
import numpy as np
import pytest

import fastnn.functional as F
from fastnn.testing import DTYPES, compare_with_reference, noncontiguous, rand

# x shape, kernel_size, stride, padding
CASES = [
    ((2, 3, 8, 8), 2, None, 0),           # the 2x2 stride-2 fast path
    ((1, 1, 7, 9), 2, 2, 0),              # fast path with odd sizes: a row and column left over
    ((2, 3, 7, 6), 3, 2, 1),
    ((1, 2, 5, 7), (3, 2), (2, 1), (1, 1)),
    ((2, 1, 4, 4), 3, 1, 1),              # overlapping windows
    ((1, 3, 3, 3), 3, None, 0),           # output 1x1
    ((3, 2, 5, 5), (1, 4), (3, 1), (0, 2)),
    ((2, 2, 7, 11), 3, 3, 0),             # the last row and two columns in no window
    ((2, 2, 9, 10), 5, 2, 2),             # padding as wide as the stride: whole phase entries of -inf
]

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, k, s, p", CASES)
@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
def test_pool_forward_and_backward_match_reference(rng, dtype, xs, k, s, p, op):
    x = rand(xs, dtype, rng)
    y = compare_with_reference(op, x, k, s, p)
    compare_with_reference(op + "_backward", rand(y.shape, dtype, rng), x, k, s, p)

@pytest.mark.parametrize("k, s, p", [(2, 2, 0), (3, 1, 1)])
def test_max_pool_ties_go_to_the_first_maximum(k, s, p):
    x = np.array([[[[1., 3., 3., 0.], [3., 2., 3., 3.], [0., 3., 1., 1.], [2., 2., 2., 2.]]]])
    y = compare_with_reference("max_pool2d", x, k, s, p)
    dx = compare_with_reference("max_pool2d_backward", np.arange(1, y.size + 1.0).reshape(y.shape), x, k, s, p)
    if k == 2:   # window by window: (0,1), (0,2), (1,0)... first 3 in row-major order
        assert dx[0, 0].tolist() == [[0, 1, 2, 0], [0, 0, 0, 0], [0, 3, 0, 0], [0, 0, 4, 0]]

@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_2x2_gives_the_first_of_two_signed_zeros(dtype):
    # as torch does; at widths 8 and 80 the scalar and the vectorised loops
    for width in (8, 80):
        x = np.full((1, 2, 2, width), -0.0, dtype)
        x[0, 0, 0, 1::2] = x[0, 0, 1] = 0.0      # plane 0: -0 first, then +0 three times
        x[0, 1, 0, 0::2] = 0.0                   # plane 1: +0 first, then -0 three times
        y = F.max_pool2d(x, 2)
        assert np.signbit(y[0, 0]).all() and not np.signbit(y[0, 1]).any()


@pytest.mark.parametrize("k, s, p", [(2, 2, 0), (3, 2, 1)])
def test_max_pool_nan_wins_and_propagates(k, s, p):
    x = np.arange(32, dtype=np.float32).reshape(1, 2, 4, 4)
    x[0, 0, 1, 1] = x[0, 0, 0, 1] = np.nan
    y = compare_with_reference("max_pool2d", x, k, s, p)
    assert np.isnan(y[0, 0, 0, 0]) and not np.isnan(y[0, 1]).any()
    compare_with_reference("max_pool2d_backward", np.ones_like(y) * 2, x, k, s, p)

@pytest.mark.parametrize("k, s, p", [(2, 2, 0), (3, 1, 1), ((3, 2), (2, 1), (1, 0))])
def test_avg_pool_nan_stays_in_the_windows_that_hold_it(rng, k, s, p):
    # the kernels sum rows, then columns: a NaN must reach exactly the windows over it
    x = rand((1, 2, 6, 7), np.float64, rng)
    x[0, 0, 2, 3] = np.nan
    y = compare_with_reference("avg_pool2d", x, k, s, p)
    assert 0 < np.isnan(y).sum() < y[0, 0].size and not np.isnan(y[0, 1]).any()
    dy = rand(y.shape, np.float64, rng)
    dy[0, 1, 1, 1] = np.inf
    compare_with_reference("avg_pool2d_backward", dy, x, k, s, p)


@pytest.mark.parametrize("k, s, p, width", [(3, 2, 1, 8), (3, 1, 1, 8), ((2, 3), (1, 2), (1, 1), 8),
                                             (4, 3, 2, 8), (2, 2, 0, 8), (2, 2, 0, 75)])
def test_max_pool_ties_nan_and_inf_go_to_the_first_maximum(rng, k, s, p, width):
    # values from a set of six, so that most windows hold ties (+0 and -0 tie);
    # the kernels pick a column's first row, then among columns: the reference
    # scans row-major. Width 75: rows long enough for the 2x2 kernel's
    # vectorised loop bodies to run.
    x = rng.choice(np.array([0.0, -0.0, 1.0, 2.0, -np.inf, np.nan]), size=(2, 3, 9, width),
                   p=[.15, .15, .3, .3, .05, .05])
    y = compare_with_reference("max_pool2d", x, k, s, p)
    compare_with_reference("max_pool2d_backward", rng.permutation(y.size).reshape(y.shape) + 1.0, x, k, s, p)


@pytest.mark.parametrize("k, s, p", [(3, 1, 1), (3, 2, 1), (4, 1, 2), ((2, 5), (1, 2), (0, 2))])
def test_max_pool_windows_over_padding_and_minus_infinity_pick_a_real_element(rng, k, s, p):
    # rows of windows at the left edge that hold only padding and -inf: the
    # gradient goes to the first real element, never to the padding
    x = rand((1, 2, 6, 9), np.float64, rng)
    x[..., :3] = -np.inf
    x[0, 1, 2:4] = -np.inf
    y = compare_with_reference("max_pool2d", x, k, s, p)
    dy = rng.permutation(y.size).reshape(y.shape) + 1.0
    dx = compare_with_reference("max_pool2d_backward", dy, x, k, s, p)
    assert dx.sum() == dy.sum()


def test_max_pool_minus_infinity_inputs_still_get_the_gradient():
    x = np.full((1, 1, 3, 3), -np.inf)
    dx = compare_with_reference("max_pool2d_backward", np.full((1, 1, 2, 2), 2.0), x, 2, 2, 1)
    assert dx.sum() == 8.0

# x shape, output_size: windows of varying size that overlap (7 -> 3), global
# pooling, the identity, more outputs than inputs (windows repeat), None (the
# input's size), empty outputs and an empty batch.
ADAPTIVE_CASES = [((2, 3, 7, 9), (3, 4)), ((2, 3, 5, 6), 1), ((1, 2, 4, 6), (4, 6)), ((1, 2, 3, 2), (5, 7)),
                  ((2, 1, 6, 70), (None, 9)), ((1, 2, 4, 4), (0, 2)), ((0, 2, 4, 5), 2)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, size", ADAPTIVE_CASES)
def test_adaptive_avg_pool_forward_and_backward_match_reference(rng, dtype, xs, size):
    x = rand(xs, dtype, rng)
    y = compare_with_reference("adaptive_avg_pool2d", x, size)
    compare_with_reference("adaptive_avg_pool2d_backward", rand(y.shape, dtype, rng), x, size)


def test_adaptive_avg_pool_nan_stays_in_the_windows_that_hold_it(rng):
    # 7x5 -> 3x3: rows 0-2, 2-4, 4-6 and columns 0-1, 1-3, 3-4
    x = rand((1, 2, 7, 5), np.float64, rng)
    x[0, 0, 2, 3] = np.nan                  # in row windows 0 and 1, column windows 1 and 2
    y = compare_with_reference("adaptive_avg_pool2d", x, 3)
    assert np.isnan(y[0, 0]).sum() == 4 and not np.isnan(y[0, 1]).any()
    dy = rand(y.shape, np.float64, rng)
    dy[0, 1, 0, 0] = np.inf
    dx = compare_with_reference("adaptive_avg_pool2d_backward", dy, x, 3)
    assert np.isinf(dx[0, 1]).sum() == 6 and not np.isinf(dx[0, 0]).any()


@pytest.mark.parametrize("size, err, words", [
    (-1, ValueError, ["output_size", ">= 0", "(-1, -1)"]),
    ((2, 2.5), TypeError, ["output_size", "(h, w) pair"]),
    ((2,), TypeError, ["output_size", "(2,)"]),
    ("2", TypeError, ["output_size", "'2'"]),
])
def test_adaptive_avg_pool_rejects_bad_output_size(size, err, words):
    x = np.linspace(0, 1, 16).reshape(1, 1, 4, 4)
    for call in (lambda: F.adaptive_avg_pool2d(x, size), lambda: F.adaptive_avg_pool2d_backward(x, x, size)):
        with pytest.raises(err) as info:
            call()
        assert all(word in str(info.value) for word in words), str(info.value)


@pytest.mark.parametrize("op, args", [("max_pool2d", (3, 2, 1)), ("avg_pool2d", (3, 2, 1)),
                                      ("adaptive_avg_pool2d", ((2, 3),))])
def test_pool_noncontiguous_inputs_give_the_same_result(rng, op, args):
    x = rand((2, 3, 6, 5), np.float32, rng)
    y = getattr(F, op)(x, *args)
    np.testing.assert_array_equal(getattr(F, op)(noncontiguous(x), *args), y)
    dy = rand(y.shape, np.float32, rng)
    np.testing.assert_array_equal(getattr(F, op + "_backward")(noncontiguous(dy), noncontiguous(x), *args),
                                  getattr(F, op + "_backward")(dy, x, *args))

@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize("args, err, words", [
    (((2, 3, 4), 2), ValueError, ["x", "4-D"]),
    (((1, 1, 3, 3), 5), ValueError, ["larger", "padded"]),
    (((1, 1, 4, 4), 2, 0), ValueError, ["stride", ">= 1"]),
    (((1, 1, 4, 4), 2, 1, 2), ValueError, ["padding", "half"]),
    (((1, 1, 4, 4), 2.5), TypeError, ["kernel_size", "2.5"]),
])
def test_pool_rejects_bad_input(op, args, err, words):
    shape, *rest = args
    with pytest.raises(err) as info:
        getattr(F, op)(np.linspace(0, 1, int(np.prod(shape))).reshape(shape), *rest)
    for word in words:
        assert word in str(info.value)

def test_pool_backward_rejects_dy_of_the_wrong_shape():
    x = np.linspace(0, 1, 64).reshape(1, 1, 8, 8)
    with pytest.raises(ValueError, match=r"dy has shape \(1, 1, 3, 3\), expected \(1, 1, 4, 4\)"):
        F.max_pool2d_backward(np.ones((1, 1, 3, 3)), x, 2)
    with pytest.raises(TypeError, match="dy has dtype float32"):
        F.avg_pool2d_backward(np.ones((1, 1, 4, 4), np.float32), x, 2)
