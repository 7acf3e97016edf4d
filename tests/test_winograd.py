"""kernels/cpu/winograd.py (3x3 stride-1 convolution by F(4x4, 3x3)) against fastnn.reference.

conv2d takes Winograd only where it pays (kernels/cpu/conv.py, _winograd_pays),
which small test shapes seldom reach: the `forced` fixture sends every 3x3
stride-1 layer there, and counts the calls so that no test can pass on im2col.
"""
import numpy as np
import pytest

import fastnn.functional as F
from fastnn.kernels.cpu import conv as conv_kernels
from fastnn.kernels.cpu import winograd
from fastnn.testing import DTYPES, compare_with_reference, rand


class Calls:
    """Counts each Winograd entry point's calls and how many reported a finite result."""

    def __init__(self, monkeypatch):
        self.calls, self.finite = {}, {}
        for name in ("conv2d_forward", "conv2d_input_grad", "conv2d_weight_grad"):
            monkeypatch.setattr(winograd, name, self._counted(name, getattr(winograd, name)))

    def _counted(self, name, fn):
        def wrapper(*args):
            ok = fn(*args)
            self.calls[name] = self.calls.get(name, 0) + 1
            self.finite[name] = self.finite.get(name, 0) + ok
            return ok
        return wrapper


@pytest.fixture
def calls(monkeypatch):
    return Calls(monkeypatch)


@pytest.fixture
def forced(monkeypatch, calls):
    monkeypatch.setattr(conv_kernels, "_winograd_pays",
                        lambda N, C, K, R, S, sh, sw, OH, OW: winograd.applies(R, S, sh, sw))
    return calls


# (N, C, H, W), K, padding: odd sizes, sizes below one tile, outputs of 1x1,
# batch 1, one channel, per-axis padding, padding 3 (dx then takes im2col)
CASES = [
    ((2, 3, 7, 9), 4, 1),
    ((1, 1, 5, 6), 1, 0),
    ((3, 5, 13, 6), 2, 2),
    ((2, 2, 3, 3), 3, 0),     # one output
    ((1, 4, 1, 2), 2, 1),     # input smaller than the kernel, padded up
    ((2, 3, 8, 11), 5, (0, 2)),
    ((1, 2, 4, 4), 3, 3),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, K, padding", CASES)
def test_winograd_forward_and_backward_match_reference(rng, forced, dtype, xs, K, padding):
    x, w, b = rand(xs, dtype, rng), rand((K, xs[1], 3, 3), dtype, rng), rand((K,), dtype, rng)
    y = compare_with_reference("conv2d", x, w, b, 1, padding)
    compare_with_reference("conv2d", x, w, None, 1, padding)
    compare_with_reference("conv2d_backward", rand(y.shape, dtype, rng), x, w, 1, padding)
    ph = padding if isinstance(padding, int) else max(padding)
    assert forced.calls == {"conv2d_forward": 2, "conv2d_weight_grad": 1,
                            **({"conv2d_input_grad": 1} if ph <= 2 else {})}
    assert forced.finite == forced.calls


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("budget, images", [(36 * 6 * 7 * 2, 2), (1, 1)])
def test_winograd_in_chunks_with_a_short_tail(rng, forced, dtype, monkeypatch, budget, images):
    # 7 images of 3x2 tiles, 3 + 4 channels: chunks of 2 (the last of 1), or of 1
    # where one image alone passes the budget
    monkeypatch.setattr(winograd, "CHUNK_ELEMENTS", budget)
    assert winograd._chunk(7, 6, 7) == images
    x, w = rand((7, 3, 10, 7), dtype, rng), rand((4, 3, 3, 3), dtype, rng)
    y = compare_with_reference("conv2d", x, w, rand((4,), dtype, rng), 1, 1)
    compare_with_reference("conv2d_backward", rand(y.shape, dtype, rng), x, w, 1, 1)


def test_layers_where_winograd_pays_take_it(rng, calls):
    # C*K = 1024, 8 images of 3x3 tiles, outputs 9x9: over every threshold
    x, w = rand((8, 32, 9, 9), np.float32, rng), rand((32, 32, 3, 3), np.float32, rng)
    y = compare_with_reference("conv2d", x, w, None, 1, 1)
    compare_with_reference("conv2d_backward", rand(y.shape, np.float32, rng), x, w, 1, 1)
    assert calls.calls == {"conv2d_forward": 1, "conv2d_input_grad": 1, "conv2d_weight_grad": 1}


def test_the_readme_switch_turns_winograd_off(rng, calls, monkeypatch):
    monkeypatch.setattr(conv_kernels, "WINOGRAD_MIN_CHANNEL_PRODUCT", float("inf"))
    x, w = rand((8, 32, 9, 9), np.float32, rng), rand((32, 32, 3, 3), np.float32, rng)
    F.conv2d_backward(F.conv2d(x, w, None, 1, 1), x, w, 1, 1)
    assert calls.calls == {}


@pytest.mark.parametrize("shape", [(1, 256, 7, 7), (8, 256, 7, 7), (32, 128, 2, 2), (32, 16, 16, 16),
                                   (32, 32, 4, 4)])
def test_layers_where_winograd_does_not_pay_stay_on_im2col(rng, calls, shape):
    # 4 tiles; 32 tiles for 256x256 channels (64 needed); 2x2 outputs in 4x4 tiles;
    # C*K = 256 (at 512 tiles); 32 tiles
    x, w = rand(shape, np.float32, rng), rand((shape[1], shape[1], 3, 3), np.float32, rng)
    F.conv2d_backward(F.conv2d(x, w, None, 1, 1), x, w, 1, 1)
    assert calls.calls == {}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
# inf * 0 in the weight-gradient GEMM: NumPy warns of the NaN the definition asks for
@pytest.mark.filterwarnings("ignore:invalid value encountered in matmul:RuntimeWarning")
def test_non_finite_input_lands_where_the_definition_puts_it(rng, forced, dtype, bad):
    # Winograd would spread it over a 4x4 tile (and inf - inf over more): the
    # result must come from im2col, with NaN and inf exactly where the reference has them
    x, w = rand((2, 3, 9, 10), dtype, rng), rand((4, 3, 3, 3), dtype, rng)
    x[1, 2, 4, 5] = bad
    y = compare_with_reference("conv2d", x, w, None, 1, 1)
    assert not np.isfinite(y[1]).all() and np.isfinite(y[0]).all() and np.isfinite(y[1, :, 0]).all()
    dy = rand(y.shape, dtype, rng)
    dy[0, 3, 8, 0] = bad
    compare_with_reference("conv2d_backward", dy, x, w, 1, 1)
    assert forced.finite == {"conv2d_forward": 0, "conv2d_input_grad": 0, "conv2d_weight_grad": 0}


def test_overflow_in_the_transforms_falls_back(rng, forced):
    # |x| near 1e37 is finite through the direct sums (9 * 3 terms) but not
    # through B^T d B, whose entries sum to 14 per pass: im2col must answer
    x, w = rand((1, 3, 6, 6), np.float32, rng) * np.float32(1e37), rand((2, 3, 3, 3), np.float32, rng)
    y = compare_with_reference("conv2d", x, w, None, 1, 1)
    assert np.isfinite(y).all()
    assert forced.finite == {"conv2d_forward": 0}


@pytest.mark.parametrize("flipped", [False, True])
def test_weight_transform_matches_g_w_gt(rng, flipped):
    # U = G g G^T entry by entry, for the G of the module docstring
    G = np.array([[1 / 2, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [1 / 6, -1 / 6, 1 / 6],
                  [1 / 30, 1 / 15, 2 / 15], [-2 / 15, 1 / 15, -1 / 30], [0, 0, 1 / 2]])
    w = rand((3, 5, 3, 3), np.float64, rng)
    U = np.full((36, 3, 5) if flipped else (36, 5, 3), np.nan)
    winograd.weight_transform(w, flipped, U)
    g = w[:, :, ::-1, ::-1] if flipped else w
    want = np.einsum("ar,kcrs,bs->abkc", G, g, G).reshape(36, 3, 5)
    np.testing.assert_allclose(U, want if flipped else want.transpose(0, 2, 1), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
def test_store_nontemporal_writes_one_element_of_a_strided_view(dtype):
    from numba import njit
    from fastnn.kernels.cpu._stores import store_nontemporal

    @njit
    def fill(a):
        for i in range(a.shape[0]):
            for j in range(a.shape[1]):
                store_nontemporal(a, i, j, i * 100 + j)

    wide = np.full((7, 12), np.nan, dtype)
    view = wide[1::2, ::3]   # (3, 4), strided both ways
    fill(view)
    want = np.full((7, 12), np.nan, dtype)
    want[1::2, ::3] = np.arange(3)[:, None] * 100 + np.arange(4)
    np.testing.assert_array_equal(wide, want)
