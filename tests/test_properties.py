"""Property-based tests (Hypothesis): shapes, strides, paddings and values
drawn at random, every kernel family compared with fastnn.reference."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastnn.testing import compare_with_reference

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
dtypes = st.sampled_from([np.float32, np.float64])


@st.composite
def arrays(draw, shape, dtype, lo=-3.0, hi=3.0):
    seed = draw(st.integers(0, 2 ** 32 - 1))
    return np.random.default_rng(seed).uniform(lo, hi, size=shape).astype(dtype)


@st.composite
def conv_case(draw):
    N, C, K = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    R, S = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    H = draw(st.integers(max(1, R - 2 * ph), 8))
    W = draw(st.integers(max(1, S - 2 * pw), 8))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dt = draw(dtypes)
    return (draw(arrays((N, C, H, W), dt)), draw(arrays((K, C, R, S), dt)), draw(arrays((K,), dt)),
            stride, (ph, pw))


@given(conv_case())
@SETTINGS
def test_conv2d_property(case):
    x, w, b, stride, padding = case
    y = compare_with_reference("conv2d", x, w, b, stride, padding)
    compare_with_reference("conv2d_backward", np.cos(y * 3).astype(x.dtype), x, w, stride, padding)


@st.composite
def pool_case(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    H, W = draw(st.integers(max(1, kh - 2 * ph), 9)), draw(st.integers(max(1, kw - 2 * pw), 9))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    x = draw(arrays((draw(st.integers(1, 2)), draw(st.integers(1, 3)), H, W), draw(dtypes)))
    return x, (kh, kw), stride, (ph, pw)


@given(pool_case(), st.sampled_from(["max_pool2d", "avg_pool2d"]))
@SETTINGS
def test_pooling_property(case, op):
    x, k, s, p = case
    y = compare_with_reference(op, x, k, s, p)
    compare_with_reference(op + "_backward", np.sin(y * 5).astype(x.dtype), x, k, s, p)


@given(st.integers(1, 9), st.integers(1, 9), st.one_of(st.none(), st.integers(0, 11)), st.integers(0, 11),
       dtypes, st.data())
@SETTINGS
def test_adaptive_avg_pooling_property(H, W, OH, OW, dtype, data):
    """Any output size against any input size: smaller, larger, equal, None, 0."""
    x = data.draw(arrays((data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3)), H, W), dtype))
    y = compare_with_reference("adaptive_avg_pool2d", x, (OH, OW))
    compare_with_reference("adaptive_avg_pool2d_backward", np.sin(y * 5).astype(dtype), x, (OH, OW))


@given(st.lists(st.integers(1, 6), min_size=1, max_size=4), st.data(), dtypes,
       st.floats(0.1, 1e4))
@SETTINGS
def test_softmax_property(shape, data, dtype, scale):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = data.draw(arrays(tuple(shape), dtype, -scale, scale))
    y = compare_with_reference("softmax", x, axis)
    compare_with_reference("log_softmax", x, axis)
    compare_with_reference("softmax_backward", np.cos(x).astype(dtype), y, axis)


@given(st.integers(1, 6), st.integers(1, 9), dtypes, st.floats(0.1, 1e3), st.data())
@SETTINGS
def test_cross_entropy_property(n, c, dtype, scale, data):
    """Labels (-100 ignored) or probabilities, on (n, c) or (n, c, d) logits, with
    any of torch's options."""
    d = data.draw(st.sampled_from([None, 1, 3]))
    shape = (n, c) if d is None else (n, c, d)
    logits = data.draw(arrays(shape, dtype, -scale, scale))
    rows = shape[:1] + shape[2:]
    if data.draw(st.booleans()):
        target = np.array(data.draw(st.lists(st.integers(-1, c - 1), min_size=n * (d or 1),
                                             max_size=n * (d or 1)))).reshape(rows)
        target[target < 0] = -100
    else:
        target = np.moveaxis(data.draw(arrays(rows + (c,), dtype, 0, 1)), -1, 1).copy()
    weight = data.draw(st.sampled_from([None, np.linspace(0.5, 2, c).astype(dtype)]))
    compare_with_reference("cross_entropy", logits, target, weight,
                           reduction=data.draw(st.sampled_from(["mean", "sum", "none"])),
                           label_smoothing=data.draw(st.sampled_from([0.0, 0.25])))


@given(st.lists(st.integers(1, 5), min_size=1, max_size=4), dtypes,
       st.sampled_from(["relu", "leaky_relu", "sigmoid", "tanh"]), st.data())
@SETTINGS
def test_activation_property(shape, dtype, name, data):
    x = data.draw(arrays(tuple(shape), dtype, -30, 30))
    import fastnn.functional as F
    compare_with_reference(name, x)
    compare_with_reference(name + "_backward", np.cos(x).astype(dtype),
                           x if "relu" in name else getattr(F, name)(x))


@given(st.integers(2, 6), st.integers(1, 4), st.sampled_from([None, (2, 3), (1, 1)]), dtypes,
       st.booleans(), st.data())
@SETTINGS
def test_batch_norm_property(n, c, spatial, dtype, training, data):
    import fastnn.functional as F
    import fastnn.reference as R
    from fastnn.testing import assert_close
    shape = (n, c) + (spatial or ())
    x = data.draw(arrays(shape, dtype, -5, 5))
    gamma, beta = data.draw(arrays((c,), dtype)), data.draw(arrays((c,), dtype))
    rm, rv = data.draw(arrays((c,), dtype)), data.draw(arrays((c,), dtype, 0.5, 2))
    y, cache = F.batch_norm(x, gamma, beta, rm.copy(), rv.copy(), training)
    y_ref, cache_ref = R.batch_norm(x, gamma, beta, rm.copy(), rv.copy(), training)
    assert_close(y, y_ref)
    dy = np.cos(y).astype(dtype)
    for a, e in zip(F.batch_norm_backward(dy, cache), R.batch_norm_backward(dy, cache_ref)):
        assert_close(a, e)


@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 5), st.integers(1, 3), dtypes,
       st.booleans(), st.data())
@SETTINGS
def test_recurrent_property(T, N, I, H, dtype, bias, data):
    import fastnn.functional as F
    import fastnn.reference as R
    from fastnn.testing import assert_close
    for name, G in (("rnn", 1), ("lstm", 4), ("gru", 3)):
        w = [data.draw(arrays((G * H, I), dtype)), data.draw(arrays((G * H, H), dtype))]
        w += [data.draw(arrays((G * H,), dtype)), data.draw(arrays((G * H,), dtype))] if bias else [None, None]
        x = data.draw(arrays((T, N, I), dtype))
        states = (None, None) if name == "lstm" else (None,)
        *out, cache = getattr(F, name)(x, *states, *w)
        *ref_out, ref_cache = getattr(R, name)(x, *states, *w)
        for a, e in zip(out, ref_out):
            assert_close(a, e)
        dout = np.cos(out[0] * 7).astype(dtype)
        grads = getattr(F, name + "_backward")(dout, *states, cache)
        ref_grads = getattr(R, name + "_backward")(dout, *states, ref_cache)
        for a, e in zip(grads, ref_grads):
            assert (a is None) == (e is None)
            if e is not None:
                assert_close(a, e)


@given(st.lists(st.integers(0, 6), min_size=1, max_size=3), st.floats(0, 1), st.integers(0, 2 ** 64 - 1),
       dtypes, st.data())
@SETTINGS
def test_dropout_property(shape, p, seed, dtype, data):
    x = data.draw(arrays(tuple(shape), dtype))
    y, mask = compare_with_reference("dropout", x, p, True, seed)
    compare_with_reference("dropout_backward", np.cos(x).astype(dtype), mask, p)
