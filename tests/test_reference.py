"""The oracle's own proof: every reference backward against central finite
differences (float64, odd shapes), and hand-computed forwards and optimizer
steps. Everything else in the suite trusts fastnn.reference because of this file."""
import math

import numpy as np
import pytest

from fastnn import reference as ref
from fastnn.reference.dropout import uniform_stream
from fastnn.testing import assert_close, numerical_grad, rand

FD_RTOL = 1e-6   # central differences with eps=1e-6 in float64


def fd_check(f, inputs, dys, analytic, names=None):
    """For each name, compare analytic[name] with d(sum(f(**inputs) * dys))/d(input)."""
    for name in names or analytic:
        def f_of(v, name=name):
            return f(**{**inputs, name: v})
        num = numerical_grad(f_of, inputs[name], dys)
        assert_close(analytic[name], num, rtol=FD_RTOL, name=f"d{name}")


# --------------------------------------------------------------- conv / pool

CONV_CASES = [  # (N, C, H, W), (K, R, S), stride, padding
    ((2, 3, 5, 4), (2, 3, 2), (2, 1), (1, 0)),
    ((1, 1, 6, 7), (3, 3, 3), 2, 1),
    ((2, 2, 3, 3), (1, 1, 1), 1, 0),
    ((1, 2, 4, 5), (2, 5, 5), 1, 2),
]


@pytest.mark.parametrize("xs, ws, stride, padding", CONV_CASES)
def test_conv2d_backward_matches_finite_differences(rng, xs, ws, stride, padding):
    x = rand(xs, rng=rng)
    w = rand((ws[0], xs[1], ws[1], ws[2]), rng=rng)
    b = rand((ws[0],), rng=rng)
    y = ref.conv2d(x, w, b, stride, padding)
    dy = rand(y.shape, rng=rng)
    dx, dw, db = ref.conv2d_backward(dy, x, w, stride, padding)
    fd_check(lambda x, w, b: ref.conv2d(x, w, b, stride, padding), dict(x=x, w=w, b=b), dy,
             dict(x=dx, w=dw, b=db))


def test_conv2d_hand_computed():
    x = np.array([[[[1., 2., 0.], [0., -1., 3.], [2., 1., 1.]]]])
    w = np.array([[[[1., -1.], [2., 0.5]]]])
    # y[i,j] = x[i,j] - x[i,j+1] + 2 x[i+1,j] + 0.5 x[i+1,j+1] + b
    y = ref.conv2d(x, w, np.array([0.25]))
    assert_close(y[0, 0], np.array([[1 - 2 + 0 - 0.5, 2 - 0 - 2 + 1.5],
                                    [0 + 1 + 4 + 0.5, -1 - 3 + 2 + 0.5]]) + 0.25)
    # padding 1, stride 2 picks corners of the padded 5x5 grid
    y = ref.conv2d(x, w, None, stride=2, padding=1)
    assert y.shape == (1, 1, 2, 2)
    assert_close(y[0, 0], np.array([[0.5 * 1, 2 * 2 + 0.5 * 0], [0.5 * 2, -1 - 3 + 2 * 1 + 0.5 * 1]]))


POOL_CASES = [  # x shape, kernel, stride, padding
    ((2, 3, 5, 6), 2, None, 0),
    ((1, 2, 7, 5), (3, 2), (2, 1), (1, 1)),
    ((2, 1, 4, 4), 3, 1, 1),
    ((1, 1, 3, 3), 3, None, 0),
]


@pytest.mark.parametrize("xs, k, s, p", POOL_CASES)
@pytest.mark.parametrize("op", ["max", "avg"])
def test_pool_backward_matches_finite_differences(rng, xs, k, s, p, op):
    fwd, bwd = {"max": (ref.max_pool2d, ref.max_pool2d_backward),
                "avg": (ref.avg_pool2d, ref.avg_pool2d_backward)}[op]
    x = rand(xs, rng=rng)
    y = fwd(x, k, s, p)
    dy = rand(y.shape, rng=rng)
    fd_check(lambda x: fwd(x, k, s, p), dict(x=x), dy, dict(x=bwd(dy, x, k, s, p)))


@pytest.mark.parametrize("xs, size", [((2, 2, 7, 5), 3), ((1, 1, 3, 2), (5, 4)), ((1, 2, 4, 6), (1, None))])
def test_adaptive_avg_pool_backward_matches_finite_differences(rng, xs, size):
    x = rand(xs, rng=rng)
    y = ref.adaptive_avg_pool2d(x, size)
    dy = rand(y.shape, rng=rng)
    fd_check(lambda x: ref.adaptive_avg_pool2d(x, size), dict(x=x), dy,
             dict(x=ref.adaptive_avg_pool2d_backward(dy, x, size)))


def test_adaptive_avg_pool_hand_computed():
    # 3 columns -> 2: windows [0, 2) and [1, 3) share column 1
    x = np.array([[[[1., 2., 4.], [8., 16., 32.]]]])
    assert_close(ref.adaptive_avg_pool2d(x, (1, 2))[0, 0], [[27 / 4, 54 / 4]])
    # 2 columns -> 3: windows [0, 1), [0, 2), [1, 2)
    assert_close(ref.adaptive_avg_pool2d(x[..., :2], (2, 3))[0, 0], [[1., 1.5, 2.], [8., 12., 16.]])
    # column 1 gets a quarter of both windows' gradients
    assert_close(ref.adaptive_avg_pool2d_backward(np.array([[[[4., 8.]]]]), x, (1, 2))[0, 0],
                 [[1., 3., 2.], [1., 3., 2.]])


def test_pool_hand_computed():
    x = np.array([[[[1., 5., 2.], [3., 4., 8.], [0., -1., 6.]]]])
    assert_close(ref.max_pool2d(x, 2, 1)[0, 0], np.array([[5., 8.], [4., 8.]]))
    # padding 1 with -inf: each 2x2 stride-2 window holds one to four inputs
    assert_close(ref.max_pool2d(x, 2, 2, 1)[0, 0], np.array([[1., 5.], [3., 8.]]))
    # avg counts the zero padding in the divisor (count_include_pad=True)
    assert_close(ref.avg_pool2d(x, 2, 2, 1)[0, 0], np.array([[1 / 4, 7 / 4], [3 / 4, 17 / 4]]))
    # ties go to the first maximum in row-major window order
    t = np.array([[[[2., 2.], [2., 1.]]]])
    assert_close(ref.max_pool2d_backward(np.array([[[[3.]]]]), t, 2)[0, 0], [[3., 0.], [0., 0.]])


# ----------------------------------------------------------- softmax / loss

@pytest.mark.parametrize("shape, axis", [((3, 5), -1), ((4, 3, 2), 1), ((2, 3), 0), ((1, 1), -1)])
def test_softmax_backward_matches_finite_differences(rng, shape, axis):
    x = rand(shape, rng=rng, low=-3, high=3)
    y = ref.softmax(x, axis)
    dy = rand(shape, rng=rng)
    fd_check(lambda x: ref.softmax(x, axis), dict(x=x), dy,
             dict(x=ref.softmax_backward(dy, y, axis)))


@pytest.mark.parametrize("n, c", [(5, 7), (1, 3), (4, 1)])
def test_cross_entropy_gradient_matches_finite_differences(rng, n, c):
    logits = rand((n, c), rng=rng, low=-4, high=4)
    target = rng.integers(0, c, size=n)
    _, dlogits = ref.cross_entropy(logits, target)
    num = numerical_grad(lambda v: np.array(ref.cross_entropy(v, target)[0]), logits, np.array(1.0))
    assert_close(dlogits, num, rtol=FD_RTOL)


@pytest.mark.parametrize("shape", [(5, 4), (2, 4, 3), (4,)])
@pytest.mark.parametrize("options", [dict(weight=True, ignore_index=1, label_smoothing=0.2, reduction="sum"),
                                     dict(weight=True, ignore_index=-100), dict(label_smoothing=0.3),
                                     dict(weight=True, label_smoothing=0.1, probs=True),
                                     dict(reduction="none", probs=True)], ids=str)
def test_cross_entropy_options_gradient_matches_finite_differences(rng, shape, options):
    """Class weights, ignored labels, label smoothing, probability targets,
    K-dimensional and unbatched logits, each reduction ('none': of the sum)."""
    options = dict(options)
    C = shape[1] if len(shape) > 1 else shape[0]
    rows = shape[:1] + shape[2:] if len(shape) > 1 else ()
    logits = rand(shape, rng=rng, low=-4, high=4)
    if options.pop("probs", False):
        target = np.moveaxis(rng.dirichlet(np.ones(C), size=rows), -1, 1 if len(shape) > 1 else 0).copy()
    else:
        target = rng.integers(0, C, size=rows)
    if options.pop("weight", False):
        options["weight"] = rand((C,), rng=rng, low=0.2, high=2)
    _, dlogits = ref.cross_entropy(logits, target, **options)
    num = numerical_grad(lambda v: np.array(ref.cross_entropy(v, target, **options)[0]).sum(), logits,
                         np.array(1.0))
    assert_close(dlogits, num, rtol=FD_RTOL)


@pytest.mark.parametrize("shape, w_shape, p_shape", [((6,), None, None), ((3, 4), (4,), (3, 1)),
                                                      ((2, 1, 3), (2, 1, 1), (3,))])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_gradient_matches_finite_differences(rng, shape, w_shape, p_shape, reduction):
    logits, target = rand(shape, rng=rng, low=-5, high=5), rand(shape, rng=rng, low=0, high=1)
    options = dict(weight=None if w_shape is None else rand(w_shape, rng=rng, low=0.2, high=2),
                   pos_weight=None if p_shape is None else rand(p_shape, rng=rng, low=0.2, high=4),
                   reduction=reduction)
    _, dlogits = ref.binary_cross_entropy_with_logits(logits, target, **options)
    num = numerical_grad(lambda v: np.array(ref.binary_cross_entropy_with_logits(v, target, **options)[0]).sum(),
                         logits, np.array(1.0))
    assert_close(dlogits, num, rtol=FD_RTOL)


def test_bce_with_logits_hand_computed():
    # -(y log s + (1 - y) log(1 - s)) with s = sigmoid(x): s(0) = 1/2, s(log 3) = 3/4
    logits, target = np.array([0.0, math.log(3.0)]), np.array([1.0, 0.25])
    loss, d = ref.binary_cross_entropy_with_logits(logits, target)
    assert loss == pytest.approx((math.log(2) - (0.25 * math.log(0.75) + 0.75 * math.log(0.25))) / 2)
    assert_close(d, np.array([0.5 - 1.0, 0.75 - 0.25]) / 2)
    # weight w and pos_weight p: -w (p y log s + (1 - y) log(1 - s)), gradient w ((1 + (p - 1) y) s - p y)
    w, p = np.array([2.0, 0.5]), np.array([3.0, 4.0])
    each, d = ref.binary_cross_entropy_with_logits(logits, target, w, "none", p)
    assert_close(each, np.array([2 * 3 * math.log(2), -0.5 * (4 * 0.25 * math.log(0.75) + 0.75 * math.log(0.25))]))
    assert_close(d, np.array([2 * (3 * 0.5 - 3), 0.5 * ((1 + 3 * 0.25) * 0.75 - 4 * 0.25)]))


def test_softmax_and_loss_hand_computed():
    x = np.array([[0.0, math.log(3.0)], [1e4, 1e4 - math.log(3.0)]])
    assert_close(ref.softmax(x), np.array([[0.25, 0.75], [0.75, 0.25]]))
    assert_close(ref.log_softmax(x), np.log(np.array([[0.25, 0.75], [0.75, 0.25]])))
    loss, d = ref.cross_entropy(x, np.array([1, 1]))
    assert loss == pytest.approx(-(math.log(0.75) + math.log(0.25)) / 2)
    assert_close(d, np.array([[0.25, -0.25], [0.75, -0.75]]) / 2)
    # float32 logits at the top of the range stay finite
    big = np.array([[3e38, -3e38, 0.0]], np.float32)
    assert_close(ref.softmax(big), np.array([[1.0, 0.0, 0.0]], np.float32))


# ---------------------------------------------------- linear / activations

@pytest.mark.parametrize("lead", [(4,), (), (2, 3)])
def test_linear_backward_matches_finite_differences(rng, lead):
    x, w, b = rand(lead + (3,), rng=rng), rand((5, 3), rng=rng), rand((5,), rng=rng)
    dy = rand(lead + (5,), rng=rng)
    dx, dw, db = ref.linear_backward(dy, x, w)
    fd_check(lambda x, w, b: ref.linear(x, w, b), dict(x=x, w=w, b=b), dy, dict(x=dx, w=dw, b=db))
    assert_close(ref.linear(np.array([[1., 2.]]), np.array([[3., -1.], [0.5, 2.]]), np.array([1., -1.])),
                 np.array([[2., 3.5]]))


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "sigmoid", "tanh"])
def test_activation_backward_matches_finite_differences(rng, name):
    x = rand((3, 4, 5), rng=rng, low=-3, high=3)
    x[np.abs(x) < 1e-3] = 0.5          # keep relu's kink out of the difference stencil
    dy = rand(x.shape, rng=rng)
    fwd, bwd = getattr(ref, name), getattr(ref, name + "_backward")
    arg = x if name in ("relu", "leaky_relu") else fwd(x)
    fd_check(lambda x: fwd(x), dict(x=x), dy, dict(x=bwd(dy, arg)))


def test_activations_hand_computed():
    x = np.array([-2.0, -0.0, 0.5, 800.0, -800.0])
    assert_close(ref.relu(x), [0, 0, 0.5, 800, 0])
    assert_close(ref.leaky_relu(x, 0.1), [-0.2, 0, 0.5, 800, -80])
    assert_close(ref.sigmoid(x), [1 / (1 + math.e ** 2), 0.5, 1 / (1 + math.e ** -0.5), 1.0, 0.0])
    assert_close(ref.tanh(np.array([0.5])), [math.tanh(0.5)])


# --------------------------------------------------------------- batch norm

@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 4, 3), (2, 1, 1, 2)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_backward_matches_finite_differences(rng, shape, training):
    x = rand(shape, rng=rng, low=-2, high=3)
    C = shape[1]
    gamma, beta = rand((C,), rng=rng, low=0.5, high=1.5), rand((C,), rng=rng)
    rm, rv = rand((C,), rng=rng), rand((C,), rng=rng, low=0.5, high=2)

    def f(x, gamma, beta):
        return ref.batch_norm(x, gamma, beta, rm.copy(), rv.copy(), training)[0]

    y, cache = ref.batch_norm(x, gamma, beta, rm.copy(), rv.copy(), training)
    dy = rand(shape, rng=rng)
    dx, dgamma, dbeta = ref.batch_norm_backward(dy, cache)
    fd_check(f, dict(x=x, gamma=gamma, beta=beta), dy, dict(x=dx, gamma=dgamma, beta=dbeta))


def test_batch_norm_hand_computed():
    x = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 16.0]])
    rm, rv = np.array([0.5, 1.0]), np.array([2.0, 4.0])
    y, _ = ref.batch_norm(x, np.array([2.0, 1.0]), np.array([0.0, 1.0]), rm, rv, True, 0.5, 0.0)
    s = math.sqrt(8 / 3)
    assert_close(y, np.array([[-4 / s, 1 - 2 / math.sqrt(8)], [0.0, 1 - 2 / math.sqrt(8)],
                              [4 / s, 1 + 4 / math.sqrt(8)]]))
    # running stats: momentum 0.5 toward the mean (3, 12) and the unbiased variance (4, 12)
    assert_close(rm, [1.75, 6.5])
    assert_close(rv, [3.0, 8.0])
    y, _ = ref.batch_norm(x, None, None, rm, rv, training=False, eps=0.0)
    assert_close(y[0], [(1 - 1.75) / math.sqrt(3), (10 - 6.5) / math.sqrt(8)])


# ----------------------------------------------------------------- dropout

def test_dropout_backward_matches_finite_differences(rng):
    x = rand((4, 6), rng=rng)
    dy = rand(x.shape, rng=rng)
    y, mask = ref.dropout(x, 0.3, seed=7)
    fd_check(lambda x: ref.dropout(x, 0.3, seed=7)[0], dict(x=x), dy,
             dict(x=ref.dropout_backward(dy, mask, 0.3)))


def test_dropout_stream_is_uniform_and_seeded():
    u = uniform_stream(123, 200_000)
    assert 0 <= u.min() and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.005 and abs(u.var() - 1 / 12) < 0.002
    x = np.linspace(-1, 1, 1000).reshape(10, 100)
    y1, m1 = ref.dropout(x, 0.25, seed=5)
    y2, m2 = ref.dropout(x, 0.25, seed=5)
    _, m3 = ref.dropout(x, 0.25, seed=6)
    assert np.array_equal(m1, m2) and np.array_equal(y1, y2) and not np.array_equal(m1, m3)
    assert_close(y1[m1], x[m1] / 0.75)
    assert np.all(y1[~m1] == 0)


# ------------------------------------------------------------------- RNNs

RNN_SIZES = [(3, 4, 5), (1, 2, 1), (2, 1, 3)]   # N, I, H


@pytest.mark.parametrize("N, I, H", RNN_SIZES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_cell_backward_matches_finite_differences(rng, N, I, H, bias, nonlinearity):
    p = dict(x=rand((N, I), rng=rng), h=rand((N, H), rng=rng),
             weight_ih=rand((H, I), rng=rng), weight_hh=rand((H, H), rng=rng),
             bias_ih=rand((H,), rng=rng) if bias else None,
             bias_hh=rand((H,), rng=rng) if bias else None)
    dh = rand((N, H), rng=rng)
    _, cache = ref.rnn_cell(**p, nonlinearity=nonlinearity)
    grads = dict(zip(["x", "h", "weight_ih", "weight_hh", "bias_ih", "bias_hh"],
                     ref.rnn_cell_backward(dh, cache)))
    names = [k for k in grads if p[k] is not None]
    assert all(grads[k] is None for k in grads if p[k] is None)
    fd_check(lambda **q: ref.rnn_cell(**q, nonlinearity=nonlinearity)[0], p, dh, grads, names)


@pytest.mark.parametrize("N, I, H", RNN_SIZES)
@pytest.mark.parametrize("bias", [True, False])
def test_lstm_cell_backward_matches_finite_differences(rng, N, I, H, bias):
    p = dict(x=rand((N, I), rng=rng), h=rand((N, H), rng=rng), c=rand((N, H), rng=rng),
             weight_ih=rand((4 * H, I), rng=rng), weight_hh=rand((4 * H, H), rng=rng),
             bias_ih=rand((4 * H,), rng=rng) if bias else None,
             bias_hh=rand((4 * H,), rng=rng) if bias else None)
    dh, dc = rand((N, H), rng=rng), rand((N, H), rng=rng)
    h_new, c_new, cache = ref.lstm_cell(**p)
    grads = dict(zip(["x", "h", "c", "weight_ih", "weight_hh", "bias_ih", "bias_hh"],
                     ref.lstm_cell_backward(dh, dc, cache)))
    names = [k for k in grads if p[k] is not None]
    assert all(grads[k] is None for k in grads if p[k] is None)
    fd_check(lambda **q: ref.lstm_cell(**q)[:2], p, (dh, dc), grads, names)


@pytest.mark.parametrize("N, I, H", RNN_SIZES)
@pytest.mark.parametrize("bias", [True, False])
def test_gru_cell_backward_matches_finite_differences(rng, N, I, H, bias):
    p = dict(x=rand((N, I), rng=rng), h=rand((N, H), rng=rng),
             weight_ih=rand((3 * H, I), rng=rng), weight_hh=rand((3 * H, H), rng=rng),
             bias_ih=rand((3 * H,), rng=rng) if bias else None,
             bias_hh=rand((3 * H,), rng=rng) if bias else None)
    dh = rand((N, H), rng=rng)
    _, cache = ref.gru_cell(**p)
    grads = dict(zip(["x", "h", "weight_ih", "weight_hh", "bias_ih", "bias_hh"],
                     ref.gru_cell_backward(dh, cache)))
    names = [k for k in grads if p[k] is not None]
    fd_check(lambda **q: ref.gru_cell(**q)[0], p, dh, grads, names)


@pytest.mark.parametrize("T", [1, 4])
@pytest.mark.parametrize("with_final_grad", [True, False])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_sequence_backward_matches_finite_differences(rng, T, with_final_grad, nonlinearity):
    N, I, H = 2, 3, 4
    p = dict(x=rand((T, N, I), rng=rng), h0=rand((N, H), rng=rng),
             weight_ih=rand((H, I), rng=rng), weight_hh=rand((H, H), rng=rng),
             bias_ih=rand((H,), rng=rng), bias_hh=rand((H,), rng=rng))
    dout = rand((T, N, H), rng=rng)
    dh_n = rand((N, H), rng=rng) if with_final_grad else None
    *_, cache = ref.rnn(**p, nonlinearity=nonlinearity)
    grads = dict(zip(["x", "h0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"],
                     ref.rnn_backward(dout, dh_n, cache)))
    fd_check(lambda **q: ref.rnn(**q, nonlinearity=nonlinearity)[:2], p, (dout, dh_n), grads)


@pytest.mark.parametrize("T", [1, 4])
@pytest.mark.parametrize("with_final_grads", [True, False])
def test_lstm_sequence_backward_matches_finite_differences(rng, T, with_final_grads):
    N, I, H = 2, 3, 2
    p = dict(x=rand((T, N, I), rng=rng), h0=rand((N, H), rng=rng), c0=rand((N, H), rng=rng),
             weight_ih=rand((4 * H, I), rng=rng), weight_hh=rand((4 * H, H), rng=rng),
             bias_ih=rand((4 * H,), rng=rng), bias_hh=rand((4 * H,), rng=rng))
    dout = rand((T, N, H), rng=rng)
    dh_n = rand((N, H), rng=rng) if with_final_grads else None
    dc_n = rand((N, H), rng=rng) if with_final_grads else None
    *_, cache = ref.lstm(**p)
    grads = dict(zip(["x", "h0", "c0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"],
                     ref.lstm_backward(dout, dh_n, dc_n, cache)))
    fd_check(lambda **q: ref.lstm(**q)[:3], p, (dout, dh_n, dc_n), grads)


@pytest.mark.parametrize("T", [1, 4])
@pytest.mark.parametrize("with_final_grad", [True, False])
def test_gru_sequence_backward_matches_finite_differences(rng, T, with_final_grad):
    N, I, H = 2, 3, 2
    p = dict(x=rand((T, N, I), rng=rng), h0=rand((N, H), rng=rng),
             weight_ih=rand((3 * H, I), rng=rng), weight_hh=rand((3 * H, H), rng=rng),
             bias_ih=rand((3 * H,), rng=rng), bias_hh=rand((3 * H,), rng=rng))
    dout = rand((T, N, H), rng=rng)
    dh_n = rand((N, H), rng=rng) if with_final_grad else None
    *_, cache = ref.gru(**p)
    grads = dict(zip(["x", "h0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"],
                     ref.gru_backward(dout, dh_n, cache)))
    fd_check(lambda **q: ref.gru(**q)[:2], p, (dout, dh_n), grads)


def test_rnn_cell_hand_computed():
    # H = 2, I = 1: a = w_ih x + w_hh h + b_ih + b_hh, then tanh or relu
    x, h = np.array([[2.0]]), np.array([[1.0, -1.0]])
    w_ih, w_hh = np.array([[0.5], [-1.0]]), np.array([[1.0, 0.5], [0.25, 2.0]])
    b_ih, b_hh = np.array([0.1, 0.2]), np.array([-0.3, 0.4])
    a = [2 * 0.5 + 1.0 - 0.5 + 0.1 - 0.3, 2 * -1.0 + 0.25 - 2.0 + 0.2 + 0.4]      # [1.3, -3.15]
    assert_close(ref.rnn_cell(x, h, w_ih, w_hh, b_ih, b_hh)[0], [[math.tanh(a[0]), math.tanh(a[1])]])
    assert_close(ref.rnn_cell(x, h, w_ih, w_hh, b_ih, b_hh, "relu")[0], [[1.3, 0.0]])


def test_lstm_cell_hand_computed():
    # H = 1, I = 1: a = [i, f, g, o] pre-activations = w_ih * x + w_hh * h
    x, h, c = np.array([[2.0]]), np.array([[-1.0]]), np.array([[0.5]])
    w_ih, w_hh = np.array([[1.0], [0.5], [-1.0], [0.25]]), np.array([[1.0], [2.0], [0.5], [-1.0]])
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    i, f, g, o = sig(1.0), sig(-1.0), math.tanh(-2.5), sig(1.5)
    c_new = f * 0.5 + i * g
    h_new, c_out, _ = ref.lstm_cell(x, h, c, w_ih, w_hh)
    assert_close(c_out, [[c_new]])
    assert_close(h_new, [[o * math.tanh(c_new)]])


def test_gru_cell_hand_computed():
    x, h = np.array([[1.0]]), np.array([[0.5]])
    w_ih, w_hh = np.array([[0.5], [-1.0], [2.0]]), np.array([[1.0], [1.0], [-2.0]])
    b_hh = np.array([0.0, 0.0, 0.5])
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    r, z = sig(0.5 + 0.5), sig(-1.0 + 0.5)
    n = math.tanh(2.0 + r * (-1.0 + 0.5))
    h_new, _ = ref.gru_cell(x, h, w_ih, w_hh, None, b_hh)
    assert_close(h_new, [[(1 - z) * n + z * 0.5]])


# -------------------------------------------------------------- optimizers

def test_sgd_momentum_nesterov_hand_computed():
    p, buf = np.array([1.0, -2.0]), np.zeros(2)
    g1, g2 = np.array([0.5, 1.0]), np.array([-1.0, 2.0])
    kw = dict(lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.1)
    ref.sgd_update(p, g1, buf, first_step=True, **kw)
    # first step: buf = g + wd p (no dampening)
    assert_close(buf, [0.6, 0.8])
    assert_close(p, [1 - 0.06, -2 - 0.08])
    ref.sgd_update(p, g2, buf, **kw)
    d = g2 + 0.1 * np.array([0.94, -2.08])
    assert_close(buf, 0.9 * np.array([0.6, 0.8]) + 0.5 * d)
    p2, buf2 = np.array([1.0]), np.zeros(1)
    ref.sgd_update(p2, np.array([2.0]), buf2, lr=0.5, momentum=0.5, nesterov=True, first_step=True)
    assert_close(p2, [1 - 0.5 * (2 + 0.5 * 2)])


def test_rmsprop_hand_computed():
    p, v, buf = np.array([1.0]), np.array([0.0]), np.array([0.0])
    ref.rmsprop_update(p, np.array([2.0]), v, buf, lr=0.01, alpha=0.9, eps=0.0)
    assert_close(v, [0.4])
    assert_close(p, [1 - 0.01 * 2 / math.sqrt(0.4)])
    ref.rmsprop_update(p, np.array([2.0]), v, buf, lr=0.01, alpha=0.9, eps=0.0, momentum=0.5)
    v2 = 0.9 * 0.4 + 0.1 * 4
    assert_close(buf, [2 / math.sqrt(v2)])


def test_adam_and_adamw_hand_computed():
    # step 1: m_hat = g, v_hat = g^2, so the update is lr * g / (|g| + eps)
    p, m, v = np.array([1.0, -1.0]), np.zeros(2), np.zeros(2)
    ref.adam_update(p, np.array([0.3, -4.0]), m, v, 1, lr=0.1, eps=0.0)
    assert_close(p, [0.9, -0.9])
    ref.adam_update(p, np.array([0.3, 4.0]), m, v, 2, lr=0.1, eps=0.0)
    m2 = np.array([0.9 * 0.03 + 0.03, 0.9 * -0.4 + 0.4])
    v2 = np.array([0.999 * 0.001 * 0.09 + 0.001 * 0.09, 0.999 * 0.016 + 0.016])
    assert_close(m, m2)
    assert_close(p, [0.9, -0.9] - 0.1 / (1 - 0.81) * m2 / (np.sqrt(v2) / math.sqrt(1 - 0.999 ** 2)))
    # AdamW shrinks p by lr*wd before the step; Adam adds wd*p to the gradient
    p = np.array([2.0])
    ref.adam_update(p, np.array([1.0]), np.zeros(1), np.zeros(1), 1, lr=0.1, eps=0.0,
                    weight_decay=0.5, decoupled=True)
    assert_close(p, [2.0 * 0.95 - 0.1])


def test_functional_and_reference_share_names_and_signatures():
    import inspect

    import fastnn.functional as F
    for name in F.__all__:
        assert hasattr(ref, name), f"fastnn.reference lacks {name}"
        assert inspect.signature(getattr(F, name)) == inspect.signature(getattr(ref, name)), name
