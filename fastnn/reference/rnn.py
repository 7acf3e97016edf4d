"""Elman RNN, LSTM and GRU cells and sequences, with PyTorch's weight layouts.

RNN (Elman 1990; torch.nn.RNNCell), nonlinearity tanh or relu:

    a = x W_ih^T + b_ih + h W_hh^T + b_hh              (N, H)
    h' = tanh(a)  or  relu(a)

    backward: da = dh' (1 - h'^2) for tanh, dh' [h' > 0] for relu
    dx = da W_ih,  dh = da W_hh,  dW_ih = da^T x,  dW_hh = da^T h,  db_ih = db_hh = sum_n da

LSTM (Hochreiter & Schmidhuber 1997; torch.nn.LSTMCell), gates i, f, g, o:

    a = x W_ih^T + b_ih + h W_hh^T + b_hh              (N, 4H), split [i | f | g | o]
    i, f, o = sigmoid(a_i, a_f, a_o),  g = tanh(a_g)
    c' = f * c + i * g,   h' = o * tanh(c')

    backward, with dc' = dc_new + dh_new * o * (1 - tanh(c')^2):
    da_i = dc' g i(1-i),  da_f = dc' c f(1-f),  da_g = dc' i (1-g^2),
    da_o = dh_new tanh(c') o(1-o),  dc = dc' f
    dx = da W_ih,  dh = da W_hh,  dW_ih = da^T x,  dW_hh = da^T h,  db_ih = db_hh = sum_n da

GRU (Cho et al. 2014; torch.nn.GRUCell), gates r, z, n, reset applied to the
hidden projection as torch and cuDNN do:

    gi = x W_ih^T + b_ih,  gh = h W_hh^T + b_hh          (N, 3H), split [r | z | n]
    r = sigmoid(gi_r + gh_r),  z = sigmoid(gi_z + gh_z),  n = tanh(gi_n + r * gh_n)
    h' = (1 - z) * n + z * h

    backward: da_n = dh'(1-z)(1-n^2),  da_z = dh'(h-n) z(1-z),  da_r = da_n gh_n r(1-r)
    dgi = [da_r | da_z | da_n],  dgh = [da_r | da_z | da_n * r]
    dx = dgi W_ih,  dh = dgh W_hh + dh' z,  dW_ih = dgi^T x,  dW_hh = dgh^T h

Sequences run the cell over t = 0..T-1 and backpropagate through time,
summing the weight gradients of every step. A bias that is None is zero and
its gradient is None.
"""
from typing import NamedTuple

import numpy as np

from .. import _checks


def _sigmoid(a):
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)


def _project(x, weight, bias):
    y = x @ weight.T
    return y if bias is None else y + bias


class RNNCellCache(NamedTuple):
    x: np.ndarray
    h: np.ndarray
    weight_ih: np.ndarray
    weight_hh: np.ndarray
    has_bias_ih: bool
    has_bias_hh: bool
    nonlinearity: str
    h_new: np.ndarray        # the output, from which the backward takes the activation's slope


class LSTMCellCache(NamedTuple):
    x: np.ndarray
    h: np.ndarray
    c: np.ndarray
    weight_ih: np.ndarray
    weight_hh: np.ndarray
    has_bias_ih: bool
    has_bias_hh: bool
    gates: np.ndarray        # (N, 4H): i, f, g, o after their nonlinearities
    tanh_c: np.ndarray       # tanh(c')


class GRUCellCache(NamedTuple):
    x: np.ndarray
    h: np.ndarray
    weight_ih: np.ndarray
    weight_hh: np.ndarray
    has_bias_ih: bool
    has_bias_hh: bool
    gates: np.ndarray        # (N, 3H): r, z, n after their nonlinearities
    gh_n: np.ndarray         # h W_hn^T + b_hn, which the reset gate multiplies


def _rnn_step(x, h, weight_ih, weight_hh, bias_ih, bias_hh, nonlinearity):
    a = _project(x, weight_ih, bias_ih) + _project(h, weight_hh, bias_hh)
    h_new = np.tanh(a) if nonlinearity == "tanh" else np.where(a <= 0, a.dtype.type(0), a)
    return h_new, RNNCellCache(x, h, weight_ih, weight_hh, bias_ih is not None, bias_hh is not None,
                               nonlinearity, h_new)


def _rnn_step_backward(dh_new, cache):
    """-> (dx, dh, da, da) with da the (N, H) gradient of the pre-activation, which
    is that of both projections (the GRU's step backward returns the two apart)."""
    y = cache.h_new
    da = dh_new * (1 - y * y) if cache.nonlinearity == "tanh" else np.where(y > 0, dh_new, dh_new.dtype.type(0))
    return da @ cache.weight_ih, da @ cache.weight_hh, da, da


def _lstm_step(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    H = h.shape[1]
    a = _project(x, weight_ih, bias_ih) + _project(h, weight_hh, bias_hh)
    gates = np.concatenate([_sigmoid(a[:, :2 * H]), np.tanh(a[:, 2 * H:3 * H]),
                            _sigmoid(a[:, 3 * H:])], axis=1)
    i, f, g, o = np.split(gates, 4, axis=1)
    c_new = f * c + i * g
    tanh_c = np.tanh(c_new)
    cache = LSTMCellCache(x, h, c, weight_ih, weight_hh, bias_ih is not None, bias_hh is not None,
                          gates, tanh_c)
    return o * tanh_c, c_new, cache


def _lstm_step_backward(dh_new, dc_new, cache):
    """-> (dx, dh, dc, da) with da the (N, 4H) gradient of the gate pre-activations."""
    i, f, g, o = np.split(cache.gates, 4, axis=1)
    dc_total = dc_new + dh_new * o * (1 - cache.tanh_c ** 2)
    da = np.concatenate([dc_total * g * i * (1 - i), dc_total * cache.c * f * (1 - f),
                         dc_total * i * (1 - g * g), dh_new * cache.tanh_c * o * (1 - o)], axis=1)
    return da @ cache.weight_ih, da @ cache.weight_hh, dc_total * f, da


def _gru_step(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    H = h.shape[1]
    gi = _project(x, weight_ih, bias_ih)
    gh = _project(h, weight_hh, bias_hh)
    rz = _sigmoid(gi[:, :2 * H] + gh[:, :2 * H])
    r, z = rz[:, :H], rz[:, H:]
    gh_n = gh[:, 2 * H:]
    n = np.tanh(gi[:, 2 * H:] + r * gh_n)
    cache = GRUCellCache(x, h, weight_ih, weight_hh, bias_ih is not None, bias_hh is not None,
                         np.concatenate([r, z, n], axis=1), gh_n)
    return (1 - z) * n + z * h, cache


def _gru_step_backward(dh_new, cache):
    """-> (dx, dh, dgi, dgh) with dgi, dgh the (N, 3H) gradients of the two projections."""
    r, z, n = np.split(cache.gates, 3, axis=1)
    da_n = dh_new * (1 - z) * (1 - n * n)
    da_z = dh_new * (cache.h - n) * z * (1 - z)
    da_r = da_n * cache.gh_n * r * (1 - r)
    dgi = np.concatenate([da_r, da_z, da_n], axis=1)
    dgh = np.concatenate([da_r, da_z, da_n * r], axis=1)
    return dgi @ cache.weight_ih, dgh @ cache.weight_hh + dh_new * z, dgi, dgh


def _zero_if_none(g, shape, dtype):
    return np.zeros(shape, dtype) if g is None else g


def _cell_backward(fn, step_backward, dh_new, cache):
    """The backward of a cell with one state (RNN, GRU), from its step backward's
    (dx, dh, dgi, dgh), dgi and dgh the gradients of the two projections."""
    dt, shape = cache.x.dtype, cache.h.shape
    _checks.grad_like(fn, "dh_new", dh_new, shape, dt, False)
    dx, dh, dgi, dgh = step_backward(_zero_if_none(dh_new, shape, dt), cache)
    return (dx, dh, dgi.T @ cache.x, dgh.T @ cache.h,
            dgi.sum(axis=0) if cache.has_bias_ih else None,
            dgh.sum(axis=0) if cache.has_bias_hh else None)


# ---------------------------------------------------------------- cells

def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    """x (N, I), h (N, H), weight_ih (H, I), weight_hh (H, H), biases (H,)
    -> (h_new (N, H), cache)."""
    _checks.rnn_cell_args("rnn_cell", 1, x, h, None, weight_ih, weight_hh, bias_ih, bias_hh,
                          allow_device=False)
    return _rnn_step(x, h, weight_ih, weight_hh, bias_ih, bias_hh,
                     _checks.nonlinearity("rnn_cell", nonlinearity))


def rnn_cell_backward(dh_new, cache):
    """dh_new (N, H) or None -> (dx, dh, dweight_ih, dweight_hh, dbias_ih, dbias_hh)."""
    return _cell_backward("rnn_cell_backward", _rnn_step_backward, dh_new, cache)


def lstm_cell(x, h, c, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """x (N, I), h, c (N, H), weight_ih (4H, I), weight_hh (4H, H), biases (4H,)
    -> (h_new (N, H), c_new (N, H), cache)."""
    _checks.rnn_cell_args("lstm_cell", 4, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh,
                          allow_device=False)
    return _lstm_step(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh)


def lstm_cell_backward(dh_new, dc_new, cache):
    """dh_new, dc_new (N, H) or None -> (dx, dh, dc, dweight_ih, dweight_hh, dbias_ih, dbias_hh)."""
    dt, shape = cache.x.dtype, cache.h.shape
    for name, gr in (("dh_new", dh_new), ("dc_new", dc_new)):
        _checks.grad_like("lstm_cell_backward", name, gr, shape, dt, False)
    dh_new, dc_new = _zero_if_none(dh_new, shape, dt), _zero_if_none(dc_new, shape, dt)
    dx, dh, dc, da = _lstm_step_backward(dh_new, dc_new, cache)
    db = da.sum(axis=0)
    return (dx, dh, dc, da.T @ cache.x, da.T @ cache.h,
            db if cache.has_bias_ih else None, db.copy() if cache.has_bias_hh else None)


def gru_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """x (N, I), h (N, H), weight_ih (3H, I), weight_hh (3H, H), biases (3H,)
    -> (h_new (N, H), cache)."""
    _checks.rnn_cell_args("gru_cell", 3, x, h, None, weight_ih, weight_hh, bias_ih, bias_hh,
                          allow_device=False)
    return _gru_step(x, h, weight_ih, weight_hh, bias_ih, bias_hh)


def gru_cell_backward(dh_new, cache):
    """dh_new (N, H) or None -> (dx, dh, dweight_ih, dweight_hh, dbias_ih, dbias_hh)."""
    return _cell_backward("gru_cell_backward", _gru_step_backward, dh_new, cache)


# ------------------------------------------------------------ sequences

class SequenceCache(NamedTuple):
    steps: list              # one cell cache per time step
    has_bias_ih: bool
    has_bias_hh: bool


def _sequence(step, x, h0, H, has_bias_ih, has_bias_hh):
    """Run a one-state cell step(x_t, h) -> (h', cache) over x (T, N, I) from h0 (None:
    zeros) -> (out (T, N, H), h_n, cache)."""
    T, N, _ = x.shape
    h = _zero_if_none(h0, (N, H), x.dtype)
    out, steps = np.empty((T, N, H), x.dtype), []
    for t in range(T):
        h, step_cache = step(x[t], h)
        out[t] = h
        steps.append(step_cache)
    return out, h, SequenceCache(steps, has_bias_ih, has_bias_hh)


def _sequence_backward(fn, step_backward, dout, dh_n, cache):
    """Backpropagation through time of a one-state sequence, the step backward's
    (dx, dh, dgi, dgh) summed over the steps into the weight and bias gradients."""
    first = cache.steps[0]
    T, (N, H), dt = len(cache.steps), first.h.shape, first.x.dtype
    _checks.grad_like(fn, "dout", dout, (T, N, H), dt, False)
    _checks.grad_like(fn, "dh_n", dh_n, (N, H), dt, False)
    dh = _zero_if_none(dh_n, (N, H), dt)
    dx = np.empty((T,) + first.x.shape, dt)
    dw_ih, dw_hh = np.zeros_like(first.weight_ih), np.zeros_like(first.weight_hh)
    db_ih, db_hh = np.zeros(dw_ih.shape[0], dt), np.zeros(dw_ih.shape[0], dt)
    for t in reversed(range(T)):
        step = cache.steps[t]
        dx[t], dh, dgi, dgh = step_backward(dh + dout[t], step)
        dw_ih += dgi.T @ step.x
        dw_hh += dgh.T @ step.h
        db_ih += dgi.sum(axis=0)
        db_hh += dgh.sum(axis=0)
    return (dx, dh, dw_ih, dw_hh, db_ih if cache.has_bias_ih else None,
            db_hh if cache.has_bias_hh else None)


def rnn(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    """x (T, N, I), h0 (N, H) or None -> (out (T, N, H), h_n, cache)."""
    _, _, (T, N, I, H) = _checks.rnn_seq_args("rnn", 1, x, h0, None, weight_ih, weight_hh, bias_ih,
                                              bias_hh, allow_device=False)
    nonlinearity = _checks.nonlinearity("rnn", nonlinearity)
    return _sequence(lambda x_t, h: _rnn_step(x_t, h, weight_ih, weight_hh, bias_ih, bias_hh, nonlinearity),
                     x, h0, H, bias_ih is not None, bias_hh is not None)


def rnn_backward(dout, dh_n, cache):
    """dout (T, N, H); dh_n (N, H) or None
    -> (dx, dh0, dweight_ih, dweight_hh, dbias_ih, dbias_hh)."""
    return _sequence_backward("rnn_backward", _rnn_step_backward, dout, dh_n, cache)


def lstm(x, h0, c0, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """x (T, N, I), h0, c0 (N, H) or None -> (out (T, N, H), h_n, c_n, cache)."""
    _, _, (T, N, I, H) = _checks.rnn_seq_args("lstm", 4, x, h0, c0, weight_ih, weight_hh, bias_ih,
                                              bias_hh, allow_device=False)
    h, c = _zero_if_none(h0, (N, H), x.dtype), _zero_if_none(c0, (N, H), x.dtype)
    out, steps = np.empty((T, N, H), x.dtype), []
    for t in range(T):
        h, c, step = _lstm_step(x[t], h, c, weight_ih, weight_hh, bias_ih, bias_hh)
        out[t] = h
        steps.append(step)
    return out, h, c, SequenceCache(steps, bias_ih is not None, bias_hh is not None)


def lstm_backward(dout, dh_n, dc_n, cache):
    """dout (T, N, H); dh_n, dc_n (N, H) or None
    -> (dx, dh0, dc0, dweight_ih, dweight_hh, dbias_ih, dbias_hh)."""
    first = cache.steps[0]
    T, (N, H), dt = len(cache.steps), first.h.shape, first.x.dtype
    _checks.grad_like("lstm_backward", "dout", dout, (T, N, H), dt, False)
    _checks.grad_like("lstm_backward", "dh_n", dh_n, (N, H), dt, False)
    _checks.grad_like("lstm_backward", "dc_n", dc_n, (N, H), dt, False)
    dh, dc = _zero_if_none(dh_n, (N, H), dt), _zero_if_none(dc_n, (N, H), dt)
    dx = np.empty((T,) + first.x.shape, dt)
    dw_ih, dw_hh = np.zeros_like(first.weight_ih), np.zeros_like(first.weight_hh)
    db = np.zeros(4 * H, dt)
    for t in reversed(range(T)):
        step = cache.steps[t]
        dx[t], dh, dc, da = _lstm_step_backward(dh + dout[t], dc, step)
        dw_ih += da.T @ step.x
        dw_hh += da.T @ step.h
        db += da.sum(axis=0)
    return (dx, dh, dc, dw_ih, dw_hh, db if cache.has_bias_ih else None,
            db.copy() if cache.has_bias_hh else None)


def gru(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """x (T, N, I), h0 (N, H) or None -> (out (T, N, H), h_n, cache)."""
    _, _, (T, N, I, H) = _checks.rnn_seq_args("gru", 3, x, h0, None, weight_ih, weight_hh, bias_ih,
                                              bias_hh, allow_device=False)
    return _sequence(lambda x_t, h: _gru_step(x_t, h, weight_ih, weight_hh, bias_ih, bias_hh),
                     x, h0, H, bias_ih is not None, bias_hh is not None)


def gru_backward(dout, dh_n, cache):
    """dout (T, N, H); dh_n (N, H) or None
    -> (dx, dh0, dweight_ih, dweight_hh, dbias_ih, dbias_hh)."""
    return _sequence_backward("gru_backward", _gru_step_backward, dout, dh_n, cache)
