"""Elman RNN, LSTM and GRU on the GPU: the GEMMs by gemm.py, one fused kernel for the
gates of a step (one thread per (row, hidden unit)), and the same sequence
structure as kernels/cpu/rnn.py (input projection of all steps hoisted into
one GEMM; weight gradients by one GEMM over all steps). Math: see that file.
Constants are of the arrays' dtype, as in activations.py: a bare `1 - z` would
make a float32 kernel compute in float64.
"""
import math

from numba import cuda

from ._device import THREADS, add, blocks_for, flat, rows, step, view
from ._launch import kernel
from .activations import sigmoid
from .gemm import matmul
from .reduce import column_sum


@cuda.jit(device=True)
def _bias(b, has, k):
    """b[k], or 0 for a bias that is None (a dummy array then stands in for it)."""
    return b[k] if has else b.dtype.type(0)


@kernel
def _rnn_gates_forward(gi, gh, b_ih, b_hh, hi, hh, relu, h_new):
    idx = cuda.grid(1)
    N, H = h_new.shape
    if idx >= N * H:
        return
    n, j = idx // H, idx % H
    zero = h_new.dtype.type(0)
    a = gi[n, j] + gh[n, j] + _bias(b_ih, hi, j) + _bias(b_hh, hh, j)
    if relu:
        h_new[n, j] = zero if a <= zero else a      # NaN stays NaN
    else:
        h_new[n, j] = math.tanh(a)


@kernel
def _rnn_gates_backward(dh_new, h_new, relu, da):
    idx = cuda.grid(1)
    N, H = h_new.shape
    if idx >= N * H:
        return
    n, j = idx // H, idx % H
    zero, one = da.dtype.type(0), da.dtype.type(1)
    y = h_new[n, j]
    if relu:
        da[n, j] = dh_new[n, j] if y > zero else zero
    else:
        da[n, j] = dh_new[n, j] * (one - y * y)


@kernel
def _lstm_gates_forward(gi, gh, b_ih, b_hh, hi, hh, c, gates, c_new, tanh_c, h_new):
    idx = cuda.grid(1)
    N, H = c.shape
    if idx >= N * H:
        return
    n, j = idx // H, idx % H
    a0 = gi[n, j] + gh[n, j] + _bias(b_ih, hi, j) + _bias(b_hh, hh, j)
    a1 = gi[n, H + j] + gh[n, H + j] + _bias(b_ih, hi, H + j) + _bias(b_hh, hh, H + j)
    a2 = gi[n, 2 * H + j] + gh[n, 2 * H + j] + _bias(b_ih, hi, 2 * H + j) + _bias(b_hh, hh, 2 * H + j)
    a3 = gi[n, 3 * H + j] + gh[n, 3 * H + j] + _bias(b_ih, hi, 3 * H + j) + _bias(b_hh, hh, 3 * H + j)
    one = c.dtype.type(1)
    i, f, g, o = sigmoid(a0, one), sigmoid(a1, one), math.tanh(a2), sigmoid(a3, one)
    cn = f * c[n, j] + i * g
    tc = math.tanh(cn)
    gates[n, j], gates[n, H + j], gates[n, 2 * H + j], gates[n, 3 * H + j] = i, f, g, o
    c_new[n, j], tanh_c[n, j], h_new[n, j] = cn, tc, o * tc


@kernel
def _lstm_gates_backward(dh_new, dc_new, gates, c, tanh_c, da, dc):
    idx = cuda.grid(1)
    N, H = c.shape
    if idx >= N * H:
        return
    n, j = idx // H, idx % H
    one = da.dtype.type(1)
    i, f, g, o = gates[n, j], gates[n, H + j], gates[n, 2 * H + j], gates[n, 3 * H + j]
    tc = tanh_c[n, j]
    dct = dc_new[n, j] + dh_new[n, j] * o * (one - tc * tc)
    da[n, j] = dct * g * i * (one - i)
    da[n, H + j] = dct * c[n, j] * f * (one - f)
    da[n, 2 * H + j] = dct * i * (one - g * g)
    da[n, 3 * H + j] = dh_new[n, j] * tc * o * (one - o)
    dc[n, j] = dct * f


@kernel
def _gru_gates_forward(gi, gh, b_ih, b_hh, hi, hh, h, gates, gh_n, h_new):
    idx = cuda.grid(1)
    N, H = h.shape
    if idx >= N * H:
        return
    n, j = idx // H, idx % H
    one = h.dtype.type(1)
    r = sigmoid(gi[n, j] + _bias(b_ih, hi, j) + gh[n, j] + _bias(b_hh, hh, j), one)
    z = sigmoid(gi[n, H + j] + _bias(b_ih, hi, H + j) + gh[n, H + j] + _bias(b_hh, hh, H + j), one)
    hn = gh[n, 2 * H + j] + _bias(b_hh, hh, 2 * H + j)
    nn = math.tanh(gi[n, 2 * H + j] + _bias(b_ih, hi, 2 * H + j) + r * hn)
    gates[n, j], gates[n, H + j], gates[n, 2 * H + j] = r, z, nn
    gh_n[n, j] = hn
    h_new[n, j] = (one - z) * nn + z * h[n, j]


@kernel
def _gru_gates_backward(dh_new, gates, gh_n, h, dgi, dgh, dh_direct):
    idx = cuda.grid(1)
    N, H = h.shape
    if idx >= N * H:
        return
    n, j = idx // H, idx % H
    one = h.dtype.type(1)
    r, z, nn = gates[n, j], gates[n, H + j], gates[n, 2 * H + j]
    d = dh_new[n, j]
    da_n = d * (one - z) * (one - nn * nn)
    da_z = d * (h[n, j] - nn) * z * (one - z)
    da_r = da_n * gh_n[n, j] * r * (one - r)
    dgi[n, j], dgi[n, H + j], dgi[n, 2 * H + j] = da_r, da_z, da_n
    dgh[n, j], dgh[n, H + j], dgh[n, 2 * H + j] = da_r, da_z, da_n * r
    dh_direct[n, j] = d * z


def _biases(b_ih, b_hh, like):
    """(b_ih, b_hh, has_ih, has_hh), the C-contiguous array `like` seen flat standing
    in for a bias that is None: any 1-D array of the dtype will do, of any size
    (an empty batch's too), since the kernel never reads it."""
    dummy = flat(like)
    return (dummy if b_ih is None else b_ih, dummy if b_hh is None else b_hh,
            b_ih is not None, b_hh is not None)


def _grid(c):
    return blocks_for(c.shape[0] * c.shape[1]), THREADS


def rnn_cell_forward(x, h, w_ih, w_hh, b_ih, b_hh, relu, h_new, gh):
    matmul(x, w_ih, h_new, tb=True)
    matmul(h, w_hh, gh, tb=True)
    bi, bh, hi, hh = _biases(b_ih, b_hh, gh)
    _rnn_gates_forward[_grid(h_new)](h_new, gh, bi, bh, hi, hh, relu, h_new)


def rnn_cell_backward(dh_new, x, h, w_ih, w_hh, h_new, relu, dx, dh, dw_ih, dw_hh, db, da):
    _rnn_gates_backward[_grid(h_new)](dh_new, h_new, relu, da)
    matmul(da, w_ih, dx)
    matmul(da, w_hh, dh)
    matmul(da, x, dw_ih, ta=True)
    matmul(da, h, dw_hh, ta=True)
    column_sum(da, db)


def lstm_cell_forward(x, h, c, w_ih, w_hh, b_ih, b_hh, gates, c_new, tanh_c, h_new, gh):
    matmul(x, w_ih, gates, tb=True)
    matmul(h, w_hh, gh, tb=True)
    bi, bh, hi, hh = _biases(b_ih, b_hh, gates)
    _lstm_gates_forward[_grid(c)](gates, gh, bi, bh, hi, hh, c, gates, c_new, tanh_c, h_new)


def lstm_cell_backward(dh_new, dc_new, x, h, c, w_ih, w_hh, gates, tanh_c,
                       dx, dh, dc, dw_ih, dw_hh, db, da):
    _lstm_gates_backward[_grid(c)](dh_new, dc_new, gates, c, tanh_c, da, dc)
    matmul(da, w_ih, dx)
    matmul(da, w_hh, dh)
    matmul(da, x, dw_ih, ta=True)
    matmul(da, h, dw_hh, ta=True)
    column_sum(da, db)


def gru_cell_forward(x, h, w_ih, w_hh, b_ih, b_hh, gates, gh_n, h_new, gi, gh):
    matmul(x, w_ih, gi, tb=True)
    matmul(h, w_hh, gh, tb=True)
    bi, bh, hi, hh = _biases(b_ih, b_hh, gi)
    _gru_gates_forward[_grid(h)](gi, gh, bi, bh, hi, hh, h, gates, gh_n, h_new)


def gru_cell_backward(dh_new, x, h, w_ih, w_hh, gates, gh_n,
                      dx, dh, dw_ih, dw_hh, db_ih, db_hh, dgi, dgh, dh_direct):
    _gru_gates_backward[_grid(h)](dh_new, gates, gh_n, h, dgi, dgh, dh_direct)
    matmul(dgi, w_ih, dx)
    matmul(dgh, w_hh, dh)
    add(dh, dh_direct, dh)
    matmul(dgi, x, dw_ih, ta=True)
    matmul(dgh, h, dw_hh, ta=True)
    column_sum(dgi, db_ih)
    column_sum(dgh, db_hh)


def _flat(a):
    return view(a, (a.shape[0] * a.shape[1], a.shape[2]))


def rnn_forward(x, w_ih, w_hh, b_ih, b_hh, relu, hs, gh):
    T = x.shape[0]
    matmul(_flat(x), w_ih, _flat(rows(hs, 1, T + 1)), tb=True)
    bi, bh, hi, hh = _biases(b_ih, b_hh, gh)
    for t in range(T):
        h_new = step(hs, t + 1)
        matmul(step(hs, t), w_hh, gh, tb=True)
        _rnn_gates_forward[_grid(h_new)](h_new, gh, bi, bh, hi, hh, relu, h_new)


def rnn_backward(dout, dh, x, w_ih, w_hh, hs, relu, dx, dw_ih, dw_hh, db, da):
    T = x.shape[0]
    for t in range(T - 1, -1, -1):
        da_t = step(da, t)
        add(step(dout, t), dh, da_t)
        _rnn_gates_backward[_grid(dh)](da_t, step(hs, t + 1), relu, da_t)
        matmul(da_t, w_hh, dh)
    _sequence_grads(da, da, x, hs, w_ih, dx, dw_ih, dw_hh)
    column_sum(_flat(da), db)


def lstm_forward(x, w_ih, w_hh, b_ih, b_hh, hs, cs, gates, tanh_c, gh):
    T = x.shape[0]
    matmul(_flat(x), w_ih, _flat(gates), tb=True)
    bi, bh, hi, hh = _biases(b_ih, b_hh, gh)
    for t in range(T):
        g, c = step(gates, t), step(cs, t)
        matmul(step(hs, t), w_hh, gh, tb=True)
        _lstm_gates_forward[_grid(c)](g, gh, bi, bh, hi, hh, c, g, step(cs, t + 1),
                                      step(tanh_c, t), step(hs, t + 1))


def lstm_backward(dout, dh, dc, x, w_ih, w_hh, hs, cs, gates, tanh_c, dx, dw_ih, dw_hh, db, da, dh_t):
    T = x.shape[0]
    for t in range(T - 1, -1, -1):
        da_t = step(da, t)
        add(step(dout, t), dh, dh_t)
        _lstm_gates_backward[_grid(dh)](dh_t, dc, step(gates, t), step(cs, t), step(tanh_c, t), da_t, dc)
        matmul(da_t, w_hh, dh)
    _sequence_grads(da, da, x, hs, w_ih, dx, dw_ih, dw_hh)
    column_sum(_flat(da), db)


def gru_forward(x, w_ih, w_hh, b_ih, b_hh, hs, gates, gh_n, gi, gh):
    T = x.shape[0]
    matmul(_flat(x), w_ih, _flat(gi), tb=True)
    bi, bh, hi, hh = _biases(b_ih, b_hh, gh)
    for t in range(T):
        h = step(hs, t)
        matmul(h, w_hh, gh, tb=True)
        _gru_gates_forward[_grid(h)](step(gi, t), gh, bi, bh, hi, hh, h, step(gates, t), step(gh_n, t),
                                     step(hs, t + 1))


def gru_backward(dout, dh, x, w_ih, w_hh, hs, gates, gh_n, dx, dw_ih, dw_hh, db_ih, db_hh,
                 dgi, dgh, dh_t, dh_direct):
    T = x.shape[0]
    for t in range(T - 1, -1, -1):
        dgh_t = step(dgh, t)
        add(step(dout, t), dh, dh_t)
        _gru_gates_backward[_grid(dh)](dh_t, step(gates, t), step(gh_n, t), step(hs, t), step(dgi, t),
                                       dgh_t, dh_direct)
        matmul(dgh_t, w_hh, dh)
        add(dh, dh_direct, dh)
    _sequence_grads(dgi, dgh, x, hs, w_ih, dx, dw_ih, dw_hh)
    column_sum(_flat(dgi), db_ih)
    column_sum(_flat(dgh), db_hh)


def _sequence_grads(dgi, dgh, x, hs, w_ih, dx, dw_ih, dw_hh):
    T = x.shape[0]
    matmul(_flat(dgi), w_ih, _flat(dx))
    matmul(_flat(dgi), _flat(x), dw_ih, ta=True)
    matmul(_flat(dgh), _flat(rows(hs, 0, T)), dw_hh, ta=True)
