"""Bad input gets the contract's errors, from fastnn.functional and
fastnn.reference alike, for every function: a wrong dtype or a dtype mix is a
TypeError naming the argument and the dtype; a wrong rank is a ValueError
naming the argument and its shape; inputs are never modified; a size of 0
gives the reference's result or its error."""
import re

import numpy as np
import pytest

import fastnn.functional as F
import fastnn.reference as R
from fastnn.testing import assert_close, rand

# Every size an argument of _valid has, by name: batch N, channels C, image H x W,
# filters K, classes or features L, linear in/out I/O, hidden size S, steps T.
SIZES = dict(N=2, C=3, H=6, W=5, K=4, L=4, I=5, O=2, S=4, T=5)


def _valid(rng, **sizes):
    """name -> (positional args, names of the float-array args in order); `sizes`
    overrides SIZES."""
    N, C, H, W, K, L, I, O, S, T = {**SIZES, **sizes}.values()
    r = lambda *s: rand(s, np.float64, rng)  # noqa: E731
    x, w, b = r(N, C, H, W), r(K, C, 3, 3), r(K)
    y = r(N, K, H, W)
    pooled = r(N, C, H // 2, W // 2)
    v = {
        "conv2d": ((x, w, b, 1, 1), ["x", "weight", "bias"]),
        "conv2d_backward": ((y, x, w, 1, 1), ["dy", "x", "weight"]),
        "max_pool2d": ((x, 2), ["x"]),
        "max_pool2d_backward": ((pooled, x, 2), ["dy", "x"]),
        "avg_pool2d": ((x, 2), ["x"]),
        "avg_pool2d_backward": ((pooled, x, 2), ["dy", "x"]),
        "adaptive_avg_pool2d": ((x, (2, 3)), ["x"]),
        "adaptive_avg_pool2d_backward": ((r(N, C, 2, 3), x, (2, 3)), ["dy", "x"]),
        "softmax": ((r(N, L),), ["x"]),
        "log_softmax": ((r(N, L),), ["x"]),
        "softmax_backward": ((r(N, L), r(N, L)), ["dy", "y"]),
        "cross_entropy": ((r(N, L), rng.integers(0, max(L, 1), N)), ["logits"]),
        "binary_cross_entropy_with_logits": ((r(N, L), r(N, L)), ["logits", "target"]),
        "linear": ((r(N, I), r(O, I), r(O)), ["x", "weight", "bias"]),
        "linear_backward": ((r(N, O), r(N, I), r(O, I)), ["dy", "x", "weight"]),
        "batch_norm": ((r(N, C), r(C), r(C), r(C), r(C) + 1.5), ["x", "gamma", "beta", "running_mean",
                                                                 "running_var"]),
        "dropout": ((r(N, L), 0.5, True, 3), ["x"]),
        "rnn_cell": ((r(N, I), r(N, S), r(S, I), r(S, S), r(S), r(S)),
                     ["x", "h", "weight_ih", "weight_hh", "bias_ih", "bias_hh"]),
        "rnn": ((r(T, N, I), r(N, S), r(S, I), r(S, S), r(S), r(S)),
                ["x", "h0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"]),
        "lstm_cell": ((r(N, I), r(N, S), r(N, S), r(4 * S, I), r(4 * S, S), r(4 * S), r(4 * S)),
                      ["x", "h", "c", "weight_ih", "weight_hh", "bias_ih", "bias_hh"]),
        "gru_cell": ((r(N, I), r(N, S), r(3 * S, I), r(3 * S, S), r(3 * S), r(3 * S)),
                     ["x", "h", "weight_ih", "weight_hh", "bias_ih", "bias_hh"]),
        "lstm": ((r(T, N, I), r(N, S), r(N, S), r(4 * S, I), r(4 * S, S), r(4 * S), r(4 * S)),
                 ["x", "h0", "c0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"]),
        "gru": ((r(T, N, I), r(N, S), r(3 * S, I), r(3 * S, S), r(3 * S), r(3 * S)),
                ["x", "h0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"]),
    }
    for name in ("relu", "sigmoid", "tanh", "leaky_relu"):
        v[name] = ((r(N, L),), ["x"])
        v[name + "_backward"] = ((r(N, L), r(N, L)), ["dy", "x" if "relu" in name else "y"])
    return v


NAMES = sorted(_valid(np.random.default_rng(0)))
IMPLS = {"functional": F, "reference": R}


def _with(args, pos, value):
    args = list(args)
    args[pos] = value
    return args


def _float_positions(args):
    return [i for i, a in enumerate(args) if isinstance(a, np.ndarray) and a.dtype.kind == "f"]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", NAMES)
def test_integer_arrays_are_rejected_naming_the_argument(rng, impl, name):
    args, names = _valid(rng)[name]
    for pos, arg_name in zip(_float_positions(args), names):
        bad = _with(args, pos, args[pos].astype(np.int32))
        with pytest.raises(TypeError, match=rf"{name}: {arg_name} has dtype int32"):
            getattr(IMPLS[impl], name)(*bad)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", NAMES)
def test_a_dtype_mix_is_rejected_naming_the_argument(rng, impl, name):
    args, names = _valid(rng)[name]
    positions = _float_positions(args)
    if len(positions) < 2:
        pytest.skip("one float input")
    pos, arg_name = positions[-1], names[len(positions) - 1]
    bad = _with(args, pos, args[pos].astype(np.float32))
    with pytest.raises(TypeError, match=rf"{name}: {arg_name} has dtype float32"):
        getattr(IMPLS[impl], name)(*bad)


# Arguments valid at several ranks, as in torch (linear's x (*, in), batch norm's
# x (N, C, *), cross-entropy's logits (C,) or (N, C, *)): for them a 0-D array is
# the wrong rank.
_MANY_RANKS = {"linear": ("x",), "linear_backward": ("x",), "batch_norm": ("x",), "cross_entropy": ("logits",)}


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", NAMES)
def test_a_wrong_rank_is_rejected_naming_the_argument(rng, impl, name):
    if name in ("softmax", "log_softmax", "softmax_backward", "binary_cross_entropy_with_logits") or (
            name.split("_")[0] in ("relu", "sigmoid", "tanh", "leaky", "dropout")):
        pytest.skip("any rank is valid")
    args, names = _valid(rng)[name]
    for pos, arg_name in zip(_float_positions(args), names):
        wrong = np.asarray(args[pos].flat[0]) if arg_name in _MANY_RANKS.get(name, ()) else args[pos][None]
        bad = _with(args, pos, wrong)
        with pytest.raises(ValueError, match=rf"{name}: {arg_name} (has shape|must be)"):
            getattr(IMPLS[impl], name)(*bad)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", NAMES)
def test_non_arrays_are_rejected(rng, impl, name):
    args, names = _valid(rng)[name]
    pos = _float_positions(args)[0]
    with pytest.raises(TypeError, match=rf"{name}: {names[0]} must be a NumPy array or a CUDA array, got builtins.list"):
        getattr(IMPLS[impl], name)(*_with(args, pos, args[pos].tolist()))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", NAMES)
def test_inputs_are_never_modified(rng, impl, name):
    args, _ = _valid(rng)[name]
    if name == "batch_norm":
        args = list(args[:3]) + [None, None]       # running stats are updated in place, by contract
    before = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    getattr(IMPLS[impl], name)(*args)
    for a, b in zip(args, before):
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("call, err, match", [
    (lambda m: m.conv2d(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 3)), stride=(1, 0)), ValueError, "stride must be >= 1"),
    (lambda m: m.conv2d(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 3)), stride=True), TypeError, "stride must be an int"),
    (lambda m: m.max_pool2d(np.zeros((1, 1, 4, 4)), 2, padding=-1), ValueError, "padding must be >= 0"),
    (lambda m: m.avg_pool2d(np.zeros((2, 1, 0, 4)), 2), ValueError, "every dimension but the batch >= 1"),
    (lambda m: m.adaptive_avg_pool2d(np.zeros((2, 1, 3, 0)), 2), ValueError, "every dimension but the batch >= 1"),
    (lambda m: m.conv2d(np.zeros((1, 0, 4, 4)), np.zeros((1, 0, 3, 3))), ValueError,
     r"x has shape \(1, 0, 4, 4\), expected every dimension but the batch >= 1"),
    (lambda m: m.conv2d(np.zeros((1, 1, 4, 4)), np.zeros((0, 1, 3, 3))), ValueError,
     r"weight has shape \(0, 1, 3, 3\), expected every dimension >= 1"),
    (lambda m: m.softmax(np.zeros(())), ValueError, "at least one dimension"),
    (lambda m: m.leaky_relu(np.zeros(3), "0.1"), TypeError, "negative_slope must be a real number"),
    (lambda m: m.batch_norm(np.zeros((2, 3)), None, None, None, None, eps=-1.0), ValueError, "eps must be in"),
    (lambda m: m.dropout(np.zeros(3), float("nan")), ValueError, "p must be in"),
    (lambda m: m.batch_norm(np.eye(2), None, None, np.zeros(2), np.broadcast_to(1.0, (2,))),
     ValueError, "running_var is read-only"),
])
def test_scalar_and_empty_arguments(impl, call, err, match):
    with pytest.raises(err, match=match):
        call(IMPLS[impl])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("size", SIZES)
def test_a_zero_size_gives_the_reference_result_or_its_error(name, size):
    """Each size in turn set to 0. Where the op is defined (an empty batch, for
    every op, as in torch), functional returns what the reference returns,
    backward included; where not (an empty image, an empty sequence, no
    filters or classes), both raise the same ValueError naming the function."""
    args = lambda: _valid(np.random.default_rng(7), **{size: 0})[name][0]  # noqa: E731
    try:
        expected = getattr(R, name)(*args())
    except ValueError as e:
        assert str(e).startswith(f"{name}: "), str(e)
        with pytest.raises(ValueError, match=re.escape(str(e))):
            getattr(F, name)(*args())
        return
    actual = getattr(F, name)(*args())
    if name in _BACKWARD:       # (outputs..., cache): backward of random output gradients
        grads = [rand(y.shape, y.dtype, np.random.default_rng(8)) for y in expected[:-1]]
        expected, actual = (getattr(m, _BACKWARD[name])(*grads, out[-1])
                            for m, out in ((R, expected), (F, actual)))
    for a, e in zip(*((y if isinstance(y, tuple) else (y,)) for y in (actual, expected))):
        assert (a is None) == (e is None)
        if e is not None:
            assert_close(a, e, name=f"{name} with {size}=0")


_BACKWARD = {name: name + "_backward" for name in ("batch_norm", "rnn_cell", "lstm_cell", "gru_cell", "rnn", "lstm",
                                                   "gru")}
