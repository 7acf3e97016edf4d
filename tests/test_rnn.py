"""kernels/cpu/rnn.py (Elman RNN, LSTM and GRU cells and sequences) against fastnn.reference."""
import numpy as np
import pytest

import fastnn.functional as F
import fastnn.reference as R
from fastnn.testing import DTYPES, assert_close, noncontiguous, rand

SIZES = [(1, 3, 1), (4, 5, 3), (3, 2, 7), (8, 16, 16)]     # N, I, H: batch 1, hidden 1, I != H


def _weights(rng, dtype, gates, I, H, bias):
    w = dict(weight_ih=rand((gates * H, I), dtype, rng), weight_hh=rand((gates * H, H), dtype, rng))
    w["bias_ih"] = rand((gates * H,), dtype, rng) if bias else None
    w["bias_hh"] = rand((gates * H,), dtype, rng) if bias else None
    return w


def _compare(got, want, names):
    for name, g, w in zip(names, got, want):
        assert (g is None) == (w is None), name
        if w is not None:
            assert g.dtype == w.dtype, name
            assert_close(g, w, name=name)


def _unchanged(arrays, copies):
    for a, b in zip(arrays, copies):
        if a is not None:
            np.testing.assert_array_equal(a, b)


LSTM_GRADS = ["dx", "dh", "dc", "dweight_ih", "dweight_hh", "dbias_ih", "dbias_hh"]
GRU_GRADS = ["dx", "dh", "dweight_ih", "dweight_hh", "dbias_ih", "dbias_hh"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N, I, H", SIZES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_cell_matches_reference(rng, dtype, N, I, H, bias, nonlinearity):
    x, h = rand((N, I), dtype, rng), rand((N, H), dtype, rng)
    w = _weights(rng, dtype, 1, I, H, bias)
    inputs = [x, h, *w.values()]
    copies = [None if a is None else a.copy() for a in inputs]
    h1, cache = F.rnn_cell(x, h, **w, nonlinearity=nonlinearity)
    h2, ref_cache = R.rnn_cell(x, h, **w, nonlinearity=nonlinearity)
    _compare((h1,), (h2,), ["h_new"])
    if nonlinearity == "relu" and h2.size >= 12:
        assert (h2 == 0).any() and (h2 > 0).any(), "both sides of relu's kink"
    dh = rand((N, H), dtype, rng)
    _compare(F.rnn_cell_backward(dh, cache), R.rnn_cell_backward(dh, ref_cache), GRU_GRADS)
    _compare(F.rnn_cell_backward(None, cache), R.rnn_cell_backward(None, ref_cache), GRU_GRADS)
    _unchanged(inputs, copies)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N, I, H", SIZES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("grads_given", [(True, True), (True, False), (False, True)])
def test_lstm_cell_matches_reference(rng, dtype, N, I, H, bias, grads_given):
    x, h, c = rand((N, I), dtype, rng), rand((N, H), dtype, rng), rand((N, H), dtype, rng)
    w = _weights(rng, dtype, 4, I, H, bias)
    inputs = [x, h, c, *w.values()]
    copies = [None if a is None else a.copy() for a in inputs]
    h1, c1, cache = F.lstm_cell(x, h, c, **w)
    h2, c2, ref_cache = R.lstm_cell(x, h, c, **w)
    _compare((h1, c1), (h2, c2), ["h_new", "c_new"])
    dh = rand((N, H), dtype, rng) if grads_given[0] else None
    dc = rand((N, H), dtype, rng) if grads_given[1] else None
    _compare(F.lstm_cell_backward(dh, dc, cache), R.lstm_cell_backward(dh, dc, ref_cache), LSTM_GRADS)
    _unchanged(inputs, copies)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N, I, H", SIZES)
@pytest.mark.parametrize("bias", [True, False])
def test_gru_cell_matches_reference(rng, dtype, N, I, H, bias):
    x, h = rand((N, I), dtype, rng), rand((N, H), dtype, rng)
    w = _weights(rng, dtype, 3, I, H, bias)
    h1, cache = F.gru_cell(x, h, **w)
    h2, ref_cache = R.gru_cell(x, h, **w)
    _compare((h1,), (h2,), ["h_new"])
    dh = rand((N, H), dtype, rng)
    _compare(F.gru_cell_backward(dh, cache), R.gru_cell_backward(dh, ref_cache), GRU_GRADS)
    _compare(F.gru_cell_backward(None, cache), R.gru_cell_backward(None, ref_cache), GRU_GRADS)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("T, N, I, H", [(1, 2, 3, 4), (5, 3, 4, 2), (7, 1, 2, 1), (4, 6, 8, 8)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("initial_state", [True, False])
@pytest.mark.parametrize("final_grads", [True, False])
def test_lstm_sequence_matches_reference(rng, dtype, T, N, I, H, bias, initial_state, final_grads):
    x = rand((T, N, I), dtype, rng)
    h0 = rand((N, H), dtype, rng) if initial_state else None
    c0 = rand((N, H), dtype, rng) if initial_state else None
    w = _weights(rng, dtype, 4, I, H, bias)
    out, hn, cn, cache = F.lstm(x, h0, c0, **w)
    out_r, hn_r, cn_r, ref_cache = R.lstm(x, h0, c0, **w)
    _compare((out, hn, cn), (out_r, hn_r, cn_r), ["out", "h_n", "c_n"])
    dout = rand((T, N, H), dtype, rng)
    dhn = rand((N, H), dtype, rng) if final_grads else None
    dcn = rand((N, H), dtype, rng) if final_grads else None
    dhn_copy = None if dhn is None else dhn.copy()
    _compare(F.lstm_backward(dout, dhn, dcn, cache), R.lstm_backward(dout, dhn, dcn, ref_cache),
             LSTM_GRADS)
    _unchanged([dhn], [dhn_copy])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("T, N, I, H", [(1, 2, 3, 4), (5, 3, 4, 2), (7, 1, 2, 1), (4, 6, 8, 8)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("initial_state", [True, False])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_sequence_matches_reference(rng, dtype, T, N, I, H, bias, initial_state, nonlinearity):
    x = rand((T, N, I), dtype, rng)
    h0 = rand((N, H), dtype, rng) if initial_state else None
    w = _weights(rng, dtype, 1, I, H, bias)
    out, hn, cache = F.rnn(x, h0, **w, nonlinearity=nonlinearity)
    out_r, hn_r, ref_cache = R.rnn(x, h0, **w, nonlinearity=nonlinearity)
    _compare((out, hn), (out_r, hn_r), ["out", "h_n"])
    dout = rand((T, N, H), dtype, rng)
    for dhn in (rand((N, H), dtype, rng), None):
        dhn_copy = None if dhn is None else dhn.copy()
        _compare(F.rnn_backward(dout, dhn, cache), R.rnn_backward(dout, dhn, ref_cache), GRU_GRADS)
        _unchanged([dhn], [dhn_copy])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("T, N, I, H", [(1, 2, 3, 4), (5, 3, 4, 2), (7, 1, 2, 1)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("final_grad", [True, False])
def test_gru_sequence_matches_reference(rng, dtype, T, N, I, H, bias, final_grad):
    x, h0 = rand((T, N, I), dtype, rng), rand((N, H), dtype, rng)
    w = _weights(rng, dtype, 3, I, H, bias)
    out, hn, cache = F.gru(x, h0, **w)
    out_r, hn_r, ref_cache = R.gru(x, h0, **w)
    _compare((out, hn), (out_r, hn_r), ["out", "h_n"])
    dout = rand((T, N, H), dtype, rng)
    dhn = rand((N, H), dtype, rng) if final_grad else None
    _compare(F.gru_backward(dout, dhn, cache), R.gru_backward(dout, dhn, ref_cache), GRU_GRADS)


def test_rnn_noncontiguous_inputs(rng):
    x, h, c = rand((3, 4), np.float32, rng), rand((3, 5), np.float32, rng), rand((3, 5), np.float32, rng)
    w = _weights(rng, np.float32, 4, 4, 5, True)
    w_nc = {k: noncontiguous(v) for k, v in w.items()}
    for a, b in zip(F.lstm_cell(noncontiguous(x), noncontiguous(h), c, **w_nc)[:2], F.lstm_cell(x, h, c, **w)[:2]):
        np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.parametrize("call, err, match", [
    (lambda w: F.lstm_cell(np.zeros((2, 3)), np.zeros((2, 4)), np.zeros((2, 4)), np.zeros((12, 3)), np.zeros((16, 4))),
     ValueError, r"weight_ih has shape \(12, 3\), expected \(16, 3\)"),
    (lambda w: F.lstm_cell(np.zeros((2, 3)), np.zeros((2, 4)), np.zeros((2, 4)), np.zeros((16, 3)), np.zeros((16, 5))),
     ValueError, r"weight_hh has shape \(16, 5\), expected \(20, 5\)"),
    (lambda w: F.lstm_cell(np.zeros((2, 3)), np.zeros((3, 4)), np.zeros((2, 4)), np.zeros((16, 3)), np.zeros((16, 4))),
     ValueError, r"h has shape \(3, 4\), expected \(2, 4\)"),
    (lambda w: F.gru_cell(np.zeros((2, 3)), np.zeros((2, 4)), np.zeros((12, 3)), np.zeros((12, 4)), np.zeros(11)),
     ValueError, r"bias_ih has shape \(11,\), expected \(12,\)"),
    (lambda w: F.gru(np.zeros((2, 3)), None, np.zeros((12, 3)), np.zeros((12, 4))), ValueError, "x must be 3-D"),
    (lambda w: F.rnn_cell(np.zeros((2, 3)), np.zeros((2, 4)), np.zeros((4, 3)), np.zeros((8, 4))),
     ValueError, r"rnn_cell: weight_hh has shape \(8, 4\), expected \(4, 4\)"),
    (lambda w: F.rnn(np.zeros((1, 2, 3)), None, np.zeros((4, 3)), np.zeros((4, 4)), nonlinearity="sigmoid"),
     ValueError, "rnn: nonlinearity must be 'tanh' or 'relu', got 'sigmoid'"),
    (lambda w: F.rnn_cell(np.zeros((2, 3)), np.zeros((2, 4)), np.zeros((4, 3)), np.zeros((4, 4)), nonlinearity=None),
     ValueError, "rnn_cell: nonlinearity must be 'tanh' or 'relu', got None"),
    (lambda w: F.lstm(np.zeros((2, 2, 3), np.float32), None, None, np.zeros((16, 3)), np.zeros((16, 4))),
     TypeError, "weight_ih has dtype float64"),
])
def test_rnn_rejects_bad_input(call, err, match):
    with pytest.raises(err, match=match):
        call(None)


def test_rnn_backward_rejects_bad_incoming_gradients(rng):
    w = _weights(rng, np.float64, 4, 3, 2, True)
    *_, cache = F.lstm(rand((4, 2, 3), np.float64, rng), None, None, **w)
    with pytest.raises(ValueError, match=r"dout has shape \(4, 2, 3\), expected \(4, 2, 2\)"):
        F.lstm_backward(np.zeros((4, 2, 3)), None, None, cache)
    with pytest.raises(TypeError, match="dh_n has dtype float32"):
        F.lstm_backward(np.zeros((4, 2, 2)), np.zeros((2, 2), np.float32), None, cache)
