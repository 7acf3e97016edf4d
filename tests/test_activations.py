"""kernels/cpu/activations.py against fastnn.reference."""
import numpy as np
import pytest

import fastnn.functional as F
from fastnn.testing import DTYPES, compare_with_reference, noncontiguous, rand

NAMES = ["relu", "leaky_relu", "sigmoid", "tanh"]


def _backward_arg(name, x):
    """relu-likes take x, sigmoid and tanh take their output."""
    return x if "relu" in name else getattr(F, name)(x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5, 2), (2, 3, 4, 5), (1000, 3)])
@pytest.mark.parametrize("name", NAMES)
def test_activation_matches_reference(rng, dtype, shape, name):
    x = rand(shape, dtype, rng, -5, 5)
    compare_with_reference(name, x)
    compare_with_reference(name + "_backward", rand(shape, dtype, rng), _backward_arg(name, x))


def test_leaky_relu_slope(rng):
    x = rand((4, 6), np.float64, rng)
    compare_with_reference("leaky_relu", x, 0.2)
    compare_with_reference("leaky_relu_backward", rand(x.shape, np.float64, rng), x, 0.2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_and_tanh_extreme_values(dtype):
    big = np.finfo(dtype).max
    x = np.array([-big, -1e4, -100.0, -1e-30, 0.0, 1e-30, 100.0, 1e4, big, np.inf, -np.inf], dtype)
    s = compare_with_reference("sigmoid", x)
    assert s[0] == 0 and s[-3] == 1 and s[4] == 0.5 and np.isfinite(s).all()
    t = compare_with_reference("tanh", x)
    assert t[0] == -1 and t[-3] == 1


@pytest.mark.parametrize("dtype, max_ulp", [(np.float32, 4), (np.float64, 4)])
def test_tanh_is_accurate_relative_to_its_value(dtype, max_ulp):
    """Within max_ulp units in the last place of the exact tanh, from 1e-30 (where
    tanh x = x) through the switch from the expm1 series to exp to saturation:
    a relative bound, which assert_close's (relative to max(|y|, 1)) is not."""
    mag = np.logspace(-30, 1.3, 200001)
    x = np.concatenate([-mag, mag]).astype(dtype)
    exact = np.tanh(x.astype(np.longdouble))
    ulps = np.abs(F.tanh(x) - exact) / np.spacing(np.abs(exact).astype(dtype))
    assert ulps.max() <= max_ulp, f"{ulps.max():.2f} ulp at x = {x[ulps.argmax()]}"


@pytest.mark.parametrize("name", NAMES)
def test_activation_nan_in_gives_nan_out(name):
    x = np.array([1.0, np.nan, -2.0], np.float32)
    y = compare_with_reference(name, x)
    assert np.isnan(y[1]) and not np.isnan(y[[0, 2]]).any()


@pytest.mark.parametrize("name", NAMES)
def test_activation_noncontiguous_input(rng, name):
    x = rand((5, 6), np.float32, rng, -3, 3)
    np.testing.assert_array_equal(getattr(F, name)(noncontiguous(x)), getattr(F, name)(x))


@pytest.mark.parametrize("name", NAMES)
def test_activation_rejects_bad_input(name):
    with pytest.raises(TypeError, match="x has dtype int64"):
        getattr(F, name)(np.arange(3))
    with pytest.raises(ValueError, match=r"has shape \(4,\), expected \(3,\) \(the shape of dy\)"):
        getattr(F, name + "_backward")(np.zeros(3), np.zeros(4))
    with pytest.raises(TypeError, match="dtype float64 but dy has dtype float32"):
        getattr(F, name + "_backward")(np.zeros(3, np.float32), np.zeros(3))
