"""kernels/cpu/conv.py (im2col + GEMM convolution) against fastnn.reference."""
import numpy as np
import pytest

import fastnn.functional as F
from fastnn.kernels.cpu import conv as conv_kernels
from fastnn.testing import DTYPES, compare_with_reference, noncontiguous, rand

# (N, C, H, W), (K, R, S), stride, padding
CASES = [
    ((1, 1, 5, 5), (1, 3, 3), 1, 0),            # batch 1, one channel
    ((2, 3, 7, 9), (4, 3, 3), 1, 1),            # odd sizes, same padding
    ((3, 3, 8, 6), (2, 1, 1), 1, 0),            # 1x1
    ((2, 2, 9, 7), (3, 5, 5), 2, 2),            # 5x5, stride 2
    ((2, 3, 6, 7), (2, 3, 2), (2, 1), (1, 0)),  # non-square kernel, per-axis stride/padding
    ((1, 2, 5, 4), (3, 2, 4), (1, 2), (0, 2)),
    ((2, 1, 3, 3), (2, 3, 3), 1, 0),            # output of size 1x1
    ((1, 3, 2, 2), (2, 3, 3), 2, 1),            # kernel larger than the unpadded input
]

@pytest.mark.parametrize("columns", ["rows", "narrow"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, ks, stride, padding", CASES)
def test_conv2d_forward_and_backward_match_reference(rng, dtype, xs, ks, stride, padding, columns,
                                                     monkeypatch):
    # every case through both ways of building the columns (kernels/cpu/conv.py: _narrow)
    monkeypatch.setattr(conv_kernels, "_narrow", lambda *geometry: columns == "narrow")
    x = rand(xs, dtype, rng)
    w = rand((ks[0], xs[1], ks[1], ks[2]), dtype, rng)
    b = rand((ks[0],), dtype, rng)
    y = compare_with_reference("conv2d", x, w, b, stride, padding)
    compare_with_reference("conv2d", x, w, None, stride, padding)
    dy = rand(y.shape, dtype, rng)
    compare_with_reference("conv2d_backward", dy, x, w, stride, padding)

def _columns_by_numpy(x, n0, b, R, S, sh, sw, ph, pw, OH, OW):
    xp = np.pad(x[n0:n0 + b], ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    taps = [xp[:, :, r:r + sh * (OH - 1) + 1:sh, s:s + sw * (OW - 1) + 1:sw]
            for r in range(R) for s in range(S)]                  # each (b, C, OH, OW)
    return np.stack(taps, axis=2).transpose(1, 2, 0, 3, 4).reshape(x.shape[1] * R * S, -1)


@pytest.mark.parametrize("kernel", ["im2col", "im2col_narrow"])
@pytest.mark.parametrize("xs, ks, stride, padding", CASES + [((3, 2, 5, 23), (1, 3, 3), (2, 1), (1, 2))])
def test_im2col_kernels_write_every_column_of_a_chunk(rng, xs, ks, stride, padding, kernel):
    (sh, sw), (ph, pw) = ((v, v) if np.isscalar(v) else v for v in (stride, padding))
    R, S = ks[1:]
    OH, OW = (xs[2] + 2 * ph - R) // sh + 1, (xs[3] + 2 * pw - S) // sw + 1
    x = rand(xs, np.float32, rng)
    n0, b = min(1, xs[0] - 1), max(1, xs[0] - 1)                # a chunk past the first image
    cols = np.full((xs[1] * R * S, b * OH * OW), np.nan, np.float32)
    getattr(conv_kernels, kernel)(x, n0, R, S, sh, sw, ph, pw, OH, OW, cols)
    np.testing.assert_array_equal(cols, _columns_by_numpy(x, n0, b, R, S, sh, sw, ph, pw, OH, OW))


@pytest.mark.parametrize("kernels", [("im2col", "col2im"), ("im2col_narrow", "col2im_narrow")])
@pytest.mark.parametrize("xs, ks, stride, padding", CASES + [((3, 2, 5, 23), (1, 3, 3), (2, 1), (1, 2))])
def test_col2im_kernels_are_the_adjoints_of_im2col(rng, xs, ks, stride, padding, kernels):
    # <im2col(x), d> = <x, col2im(d)> for every x and d, in float64
    (sh, sw), (ph, pw) = ((v, v) if np.isscalar(v) else v for v in (stride, padding))
    R, S = ks[1:]
    OH, OW = (xs[2] + 2 * ph - R) // sh + 1, (xs[3] + 2 * pw - S) // sw + 1
    to_columns, from_columns = (getattr(conv_kernels, k) for k in kernels)
    x = rand(xs, np.float64, rng)
    cols = np.full((xs[1] * R * S, xs[0] * OH * OW), np.nan)
    to_columns(x, 0, R, S, sh, sw, ph, pw, OH, OW, cols)
    d = rand(cols.shape, np.float64, rng)
    dx = np.full(xs, np.nan)
    from_columns(d, 0, R, S, sh, sw, ph, pw, OH, OW, dx)
    np.testing.assert_allclose(np.vdot(cols, d), np.vdot(x, dx), rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_batch_chunks_with_a_short_tail(rng, dtype, monkeypatch):
    # 7 images in chunks of 3: two full chunks, one of 1, each folded into one GEMM
    x, w = rand((7, 2, 5, 4), dtype, rng), rand((3, 2, 3, 3), dtype, rng)
    monkeypatch.setattr(conv_kernels, "CHUNK_ELEMENTS", 18 * 20 * 3)
    y = compare_with_reference("conv2d", x, w, rand((3,), dtype, rng), 1, 1)
    compare_with_reference("conv2d_backward", rand(y.shape, dtype, rng), x, w, 1, 1)

@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_noncontiguous_inputs_give_the_same_result(rng, dtype):
    x, w, b = rand((2, 3, 6, 5), dtype, rng), rand((4, 3, 3, 3), dtype, rng), rand((4,), dtype, rng)
    y = F.conv2d(x, w, b, 2, 1)
    np.testing.assert_array_equal(F.conv2d(noncontiguous(x), noncontiguous(w), noncontiguous(b), 2, 1), y)
    dy = rand(y.shape, dtype, rng)
    for a, e in zip(F.conv2d_backward(noncontiguous(dy), noncontiguous(x), w, 2, 1),
                    F.conv2d_backward(dy, x, w, 2, 1)):
        np.testing.assert_array_equal(a, e)

def test_conv2d_propagates_nan(rng):
    x, w = rand((1, 2, 4, 4), np.float32, rng), rand((1, 2, 3, 3), np.float32, rng)
    x[0, 1, 0, 0] = np.nan
    y = F.conv2d(x, w, None, 1, 1)
    assert np.isnan(y[0, 0, 0, 0]) and np.isnan(y[0, 0, 1, 1]) and not np.isnan(y[0, 0, 3, 3])

def _args(dtype=np.float32):
    return np.ones((2, 3, 5, 5), dtype) * 0.5, np.ones((4, 3, 3, 3), dtype) * 0.25

@pytest.mark.parametrize("call, err, words", [
    (lambda x, w: F.conv2d(x, w[:, :2]), ValueError, ["weight", "(4, 2, 3, 3)", "3 channels"]),
    (lambda x, w: F.conv2d(x, np.ones((4, 3, 7, 3), np.float32)), ValueError, ["larger", "height"]),
    (lambda x, w: F.conv2d(x[0], w), ValueError, ["x", "4-D", "(3, 5, 5)"]),
    (lambda x, w: F.conv2d(x, w.astype(np.float64)), TypeError, ["weight", "float64", "float32"]),
    (lambda x, w: F.conv2d(x.astype(np.int32), w), TypeError, ["x", "int32"]),
    (lambda x, w: F.conv2d(x, w, np.ones(3, np.float32)), ValueError, ["bias", "(3,)", "(4,)"]),
    (lambda x, w: F.conv2d(x, w, stride=0), ValueError, ["stride", ">= 1"]),
    (lambda x, w: F.conv2d(x, w, padding=-1), ValueError, ["padding", ">= 0"]),
    (lambda x, w: F.conv2d(x, w, padding=(1, 2, 3)), TypeError, ["padding", "(h, w)"]),
    (lambda x, w: F.conv2d(x.tolist(), w), TypeError, ["x", "list"]),
    (lambda x, w: F.conv2d_backward(np.ones((2, 4, 2, 2), np.float32), x, w), ValueError,
     ["dy", "(2, 4, 2, 2)", "(2, 4, 3, 3)"]),
])
def test_conv2d_rejects_bad_input(call, err, words):
    x, w = _args()
    with pytest.raises(err) as info:
        call(x, w)
    for word in words:
        assert word in str(info.value), f"{word!r} not in {info.value}"
