"""Elman RNN, LSTM and GRU: cell steps with fused gates, and whole sequences.

A cell step is two BLAS GEMMs (input and hidden projections) and ONE fused
kernel that adds the biases, applies every gate nonlinearity and updates the
state; its backward is one fused pass producing the gate pre-activation
gradients, then GEMMs. The math, PyTorch's gate orders and layouts:

  RNN   a = gi + gh (+ b_ih + b_hh)                  (N, H)
        h' = tanh(a) or relu(a);  da = dh' (1 - h'^2), or dh' [h' > 0]
  LSTM  a = gi + gh (+ b_ih + b_hh) = [i|f|g|o]       (N, 4H)
        i, f, o = sigmoid, g = tanh;  c' = f c + i g;  h' = o tanh(c')
        da_i = dc' g i(1-i), da_f = dc' c f(1-f), da_g = dc' i (1-g^2),
        da_o = dh' tanh(c') o(1-o),  with dc' = dc_new + dh' o (1 - tanh(c')^2)
  GRU   r, z = sigmoid(gi_rz + gh_rz);  n = tanh(gi_n + r gh_n);  h' = (1-z) n + z h
        da_n = dh'(1-z)(1-n^2), da_z = dh'(h-n) z(1-z), da_r = da_n gh_n r(1-r)
        dgi = [da_r|da_z|da_n], dgh = [da_r|da_z|r da_n], dh = dgh W_hh + dh' z

Sequences of T steps hoist the input projection of every step into one
(T*N, I) x (I, G*H) GEMM before the recurrence. The backward runs the
recurrence in reverse with one (N, G*H) x (G*H, H) GEMM per step, then forms
dx, dW_ih, dW_hh and the bias gradients with one GEMM (or column sum) each
over all T steps: hidden states are kept as hs (T+1, N, H), hs[0] = h0, so
h_{t-1} for every t is the contiguous block hs[:T].
Reference: fastnn/reference/rnn.py.
"""
import numpy as np
from numba import njit, prange

from ._math import FASTMATH, sigmoid, tanh
from .linear import column_sum


# ------------------------------------------------------------- fused gates

@njit(cache=True, inline="always")
def _bias(b, k, zero):
    """b[k], or zero when the bias is None (compiled away per call signature)."""
    if b is None:
        return zero
    return b[k]


@njit(cache=True, inline="always")
def _preact(gi, gh, b_ih, b_hh, n, k, zero):
    """Pre-activation k of row n: both projections plus both biases."""
    return gi[n, k] + gh[n, k] + _bias(b_ih, k, zero) + _bias(b_hh, k, zero)


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def lstm_gates_forward(gi, gh, b_ih, b_hh, c, gates, c_new, tanh_c, h_new):
    """gi, gh (N, 4H) projections -> gates (N, 4H) activated, c_new, tanh(c_new), h_new (N, H).
    gates may be gi itself: each element is read before it is written."""
    N, H = c.shape
    one, zero = c.dtype.type(1), c.dtype.type(0)
    for n in prange(N):
        for j in range(H):
            i = sigmoid(_preact(gi, gh, b_ih, b_hh, n, j, zero), one)
            f = sigmoid(_preact(gi, gh, b_ih, b_hh, n, H + j, zero), one)
            g = tanh(_preact(gi, gh, b_ih, b_hh, n, 2 * H + j, zero), one)
            o = sigmoid(_preact(gi, gh, b_ih, b_hh, n, 3 * H + j, zero), one)
            cn = f * c[n, j] + i * g
            tc = tanh(cn, one)
            gates[n, j], gates[n, H + j], gates[n, 2 * H + j], gates[n, 3 * H + j] = i, f, g, o
            c_new[n, j], tanh_c[n, j], h_new[n, j] = cn, tc, o * tc


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def lstm_gates_backward(dh_new, dc_new, gates, c, tanh_c, da, dc):
    """-> da (N, 4H), the gradient of the gate pre-activations, and dc (N, H)."""
    N, H = c.shape
    one = c.dtype.type(1)           # a bare 1 (an int) would lift float32 to float64
    for n in prange(N):
        for j in range(H):
            i, f, g, o = gates[n, j], gates[n, H + j], gates[n, 2 * H + j], gates[n, 3 * H + j]
            tc = tanh_c[n, j]
            dct = dc_new[n, j] + dh_new[n, j] * o * (one - tc * tc)
            da[n, j] = dct * g * i * (one - i)
            da[n, H + j] = dct * c[n, j] * f * (one - f)
            da[n, 2 * H + j] = dct * i * (one - g * g)
            da[n, 3 * H + j] = dh_new[n, j] * tc * o * (one - o)
            dc[n, j] = dct * f


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def gru_gates_forward(gi, gh, b_ih, b_hh, h, gates, gh_n, h_new):
    """gi, gh (N, 3H) projections -> gates [r|z|n] (N, 3H), gh_n = (h W_hn^T + b_hn), h_new (N, H)."""
    N, H = h.shape
    one = h.dtype.type(1)
    zero = h.dtype.type(0)
    for n in prange(N):
        for j in range(H):
            bi_r, bh_r = _bias(b_ih, j, zero), _bias(b_hh, j, zero)
            bi_z, bh_z = _bias(b_ih, H + j, zero), _bias(b_hh, H + j, zero)
            bi_n, bh_n = _bias(b_ih, 2 * H + j, zero), _bias(b_hh, 2 * H + j, zero)
            r = sigmoid(gi[n, j] + bi_r + gh[n, j] + bh_r, one)
            z = sigmoid(gi[n, H + j] + bi_z + gh[n, H + j] + bh_z, one)
            hn = gh[n, 2 * H + j] + bh_n
            nn = tanh(gi[n, 2 * H + j] + bi_n + r * hn, one)
            gates[n, j], gates[n, H + j], gates[n, 2 * H + j] = r, z, nn
            gh_n[n, j] = hn
            h_new[n, j] = (one - z) * nn + z * h[n, j]


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def gru_gates_backward(dh_new, gates, gh_n, h, dgi, dgh, dh_direct):
    """-> dgi, dgh (N, 3H), the gradients of the two projections, and dh_direct = dh' z."""
    N, H = h.shape
    one = h.dtype.type(1)
    for n in prange(N):
        for j in range(H):
            r, z, nn = gates[n, j], gates[n, H + j], gates[n, 2 * H + j]
            d = dh_new[n, j]
            da_n = d * (one - z) * (one - nn * nn)
            da_z = d * (h[n, j] - nn) * z * (one - z)
            da_r = da_n * gh_n[n, j] * r * (one - r)
            dgi[n, j], dgi[n, H + j], dgi[n, 2 * H + j] = da_r, da_z, da_n
            dgh[n, j], dgh[n, H + j], dgh[n, 2 * H + j] = da_r, da_z, da_n * r
            dh_direct[n, j] = d * z


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def rnn_gates_forward(gi, gh, b_ih, b_hh, relu, h_new):
    """gi, gh (N, H) projections -> h_new = tanh (relu when `relu`) of their sum plus
    the biases. h_new may be gi."""
    N, H = h_new.shape
    one, zero = h_new.dtype.type(1), h_new.dtype.type(0)
    for n in prange(N):
        for j in range(H):
            a = _preact(gi, gh, b_ih, b_hh, n, j, zero)
            if relu:
                h_new[n, j] = zero if a <= zero else a      # NaN stays NaN
            else:
                h_new[n, j] = tanh(a, one)


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def rnn_gates_backward(dh_new, h_new, relu, da):
    """-> da (N, H), the gradient of the pre-activation, from h_new itself:
    tanh' = 1 - h'^2, relu' = [h' > 0]. da may be dh_new."""
    N, H = h_new.shape
    one, zero = h_new.dtype.type(1), h_new.dtype.type(0)
    for n in prange(N):
        for j in range(H):
            y = h_new[n, j]
            if relu:
                da[n, j] = dh_new[n, j] if y > zero else zero
            else:
                da[n, j] = dh_new[n, j] * (one - y * y)


# ----------------------------------------------------------------- cells

def rnn_cell_forward(x, h, w_ih, w_hh, b_ih, b_hh, relu, h_new, gh):
    """One step. h_new (N, H) is the output (kept for the backward); gh (N, H) is scratch."""
    np.matmul(x, w_ih.T, out=h_new)          # gi, overwritten in place by h_new
    np.matmul(h, w_hh.T, out=gh)
    rnn_gates_forward(h_new, gh, b_ih, b_hh, relu, h_new)


def rnn_cell_backward(dh_new, x, h, w_ih, w_hh, h_new, relu, dx, dh, dw_ih, dw_hh, db, da):
    """Gradients of one step; db (H,) is the gradient of either bias; da (N, H) is scratch."""
    rnn_gates_backward(dh_new, h_new, relu, da)
    np.matmul(da, w_ih, out=dx)
    np.matmul(da, w_hh, out=dh)
    _weight_grads(da, x, h, dw_ih, dw_hh)
    column_sum(da, db)



def lstm_cell_forward(x, h, c, w_ih, w_hh, b_ih, b_hh, gates, c_new, tanh_c, h_new, gh):
    """One step. gates (N, 4H), c_new, tanh_c, h_new (N, H) are outputs (kept for the
    backward); gh (N, 4H) is scratch."""
    np.matmul(x, w_ih.T, out=gates)          # gi, overwritten in place by the activated gates
    np.matmul(h, w_hh.T, out=gh)
    lstm_gates_forward(gates, gh, b_ih, b_hh, c, gates, c_new, tanh_c, h_new)


def _weight_grads(da, x, h, dw_ih, dw_hh):
    np.matmul(da.T, x, out=dw_ih)
    np.matmul(da.T, h, out=dw_hh)


def lstm_cell_backward(dh_new, dc_new, x, h, c, w_ih, w_hh, gates, tanh_c,
                       dx, dh, dc, dw_ih, dw_hh, db, da):
    """Gradients of one step; db (4H,) is the gradient of either bias; da (N, 4H) is scratch."""
    lstm_gates_backward(dh_new, dc_new, gates, c, tanh_c, da, dc)
    np.matmul(da, w_ih, out=dx)
    np.matmul(da, w_hh, out=dh)
    _weight_grads(da, x, h, dw_ih, dw_hh)
    column_sum(da, db)


def gru_cell_forward(x, h, w_ih, w_hh, b_ih, b_hh, gates, gh_n, h_new, gi, gh):
    """One step. gates (N, 3H), gh_n, h_new (N, H) are outputs; gi, gh (N, 3H) are scratch."""
    np.matmul(x, w_ih.T, out=gi)
    np.matmul(h, w_hh.T, out=gh)
    gru_gates_forward(gi, gh, b_ih, b_hh, h, gates, gh_n, h_new)


def gru_cell_backward(dh_new, x, h, w_ih, w_hh, gates, gh_n,
                      dx, dh, dw_ih, dw_hh, db_ih, db_hh, dgi, dgh, dh_direct):
    """Gradients of one step; dgi, dgh (N, 3H) and dh_direct (N, H) are scratch."""
    gru_gates_backward(dh_new, gates, gh_n, h, dgi, dgh, dh_direct)
    np.matmul(dgi, w_ih, out=dx)
    np.matmul(dgh, w_hh, out=dh)
    dh += dh_direct
    np.matmul(dgi.T, x, out=dw_ih)
    np.matmul(dgh.T, h, out=dw_hh)
    column_sum(dgi, db_ih)
    column_sum(dgh, db_hh)


# ------------------------------------------------------------- sequences

def _rows(a):
    """(T, N, K) seen as (T*N, K), no copy; explicit sizes, so T*N = 0 works too."""
    return a.reshape(a.shape[0] * a.shape[1], a.shape[2])


def rnn_forward(x, w_ih, w_hh, b_ih, b_hh, relu, hs, gh):
    """x (T, N, I). In: hs[0] (N, H). Out: hs (T+1, N, H). gh (N, H) is scratch.
    Every step's gi is computed at once into hs[1:], which each step then
    overwrites with its h'."""
    T = x.shape[0]
    np.matmul(_rows(x), w_ih.T, out=_rows(hs[1:]))
    for t in range(T):
        np.matmul(hs[t], w_hh.T, out=gh)
        rnn_gates_forward(hs[t + 1], gh, b_ih, b_hh, relu, hs[t + 1])


def rnn_backward(dout, dh, x, w_ih, w_hh, hs, relu, dx, dw_ih, dw_hh, db, da):
    """In: dout (T, N, H); dh (N, H) the gradient of h_n, overwritten with that of h0.
    Out: dx (T, N, I), dw_ih, dw_hh, db (H,). Scratch: da (T, N, H)."""
    T = x.shape[0]
    for t in range(T - 1, -1, -1):
        np.add(dout[t], dh, out=da[t])
        rnn_gates_backward(da[t], hs[t + 1], relu, da[t])
        np.matmul(da[t], w_hh, out=dh)
    _sequence_grads(da, da, x, hs, w_ih, dx, dw_ih, dw_hh)
    column_sum(_rows(da), db)


def lstm_forward(x, w_ih, w_hh, b_ih, b_hh, hs, cs, gates, tanh_c, gh):
    """x (T, N, I). In: hs[0], cs[0] (N, H) initial states. Out: hs, cs (T+1, N, H),
    gates (T, N, 4H), tanh_c (T, N, H). gh (N, 4H) is scratch."""
    T = x.shape[0]
    np.matmul(_rows(x), w_ih.T, out=_rows(gates))   # every step's gi at once
    for t in range(T):
        np.matmul(hs[t], w_hh.T, out=gh)
        lstm_gates_forward(gates[t], gh, b_ih, b_hh, cs[t], gates[t], cs[t + 1], tanh_c[t], hs[t + 1])


def lstm_backward(dout, dh, dc, x, w_ih, w_hh, hs, cs, gates, tanh_c, dx, dw_ih, dw_hh, db, da, dh_t):
    """In: dout (T, N, H); dh, dc (N, H) the gradients of h_n, c_n, overwritten with those
    of h0, c0. Out: dx (T, N, I), dw_ih, dw_hh, db (4H,). Scratch: da (T, N, 4H), dh_t (N, H)."""
    T = x.shape[0]
    for t in range(T - 1, -1, -1):
        np.add(dout[t], dh, out=dh_t)
        lstm_gates_backward(dh_t, dc, gates[t], cs[t], tanh_c[t], da[t], dc)
        np.matmul(da[t], w_hh, out=dh)
    _sequence_grads(da, da, x, hs, w_ih, dx, dw_ih, dw_hh)
    column_sum(_rows(da), db)


def gru_forward(x, w_ih, w_hh, b_ih, b_hh, hs, gates, gh_n, gi, gh):
    """x (T, N, I). In: hs[0] (N, H). Out: hs (T+1, N, H), gates (T, N, 3H), gh_n (T, N, H).
    Scratch: gi (T, N, 3H), gh (N, 3H)."""
    T = x.shape[0]
    np.matmul(_rows(x), w_ih.T, out=_rows(gi))
    for t in range(T):
        np.matmul(hs[t], w_hh.T, out=gh)
        gru_gates_forward(gi[t], gh, b_ih, b_hh, hs[t], gates[t], gh_n[t], hs[t + 1])


def gru_backward(dout, dh, x, w_ih, w_hh, hs, gates, gh_n, dx, dw_ih, dw_hh, db_ih, db_hh,
                 dgi, dgh, dh_t, dh_direct):
    """In: dout (T, N, H); dh (N, H) the gradient of h_n, overwritten with that of h0.
    Out: dx, dw_ih, dw_hh, db_ih, db_hh. Scratch: dgi, dgh (T, N, 3H), dh_t, dh_direct (N, H)."""
    T = x.shape[0]
    for t in range(T - 1, -1, -1):
        np.add(dout[t], dh, out=dh_t)
        gru_gates_backward(dh_t, gates[t], gh_n[t], hs[t], dgi[t], dgh[t], dh_direct)
        np.matmul(dgh[t], w_hh, out=dh)
        dh += dh_direct
    _sequence_grads(dgi, dgh, x, hs, w_ih, dx, dw_ih, dw_hh)
    column_sum(_rows(dgi), db_ih)
    column_sum(_rows(dgh), db_hh)


def _sequence_grads(dgi, dgh, x, hs, w_ih, dx, dw_ih, dw_hh):
    """dx = dgi W_ih, dW_ih = dgi^T x, dW_hh = dgh^T h_{t-1}: one GEMM each over all T
    steps (dgi, dgh the gradients of the input and hidden projections; the same
    array for the RNN and the LSTM)."""
    T = x.shape[0]
    np.matmul(_rows(dgi), w_ih, out=_rows(dx))
    np.matmul(_rows(dgi).T, _rows(x), out=dw_ih)
    np.matmul(_rows(dgh).T, _rows(hs[:T]), out=dw_hh)
