"""Recurrent modules with torch.nn's parameter names and layouts:
RNNCell, LSTMCell, GRUCell, and stacked, optionally bidirectional RNN, LSTM
and GRU.

A reverse direction runs the same kernels on the time-reversed sequence and
reverses its output back; a layer's output concatenates its directions
along features (T, N, D*H), which is the next layer's input. Backward walks
the layers top-down, splitting each layer's output gradient by direction
and summing the directions' input gradients.
"""
import math
import warnings

import numpy as np

from .. import _checks
from .. import functional as F
from . import init
from .module import Module
from .parameter import Parameter


def _rnn_param(shape, hidden_size, dtype):
    return Parameter(init.uniform(shape, 1 / math.sqrt(hidden_size), dtype))


class _CellBase(Module):
    GATES = 0

    def __init__(self, input_size, hidden_size, bias=True, dtype=np.float32):
        super().__init__()
        name = type(self).__name__
        self.input_size = _checks.count(name, "input_size", input_size, 1)
        self.hidden_size = _checks.count(name, "hidden_size", hidden_size, 1)
        G, H = self.GATES, hidden_size
        self.weight_ih = _rnn_param((G * H, input_size), H, dtype)
        self.weight_hh = _rnn_param((G * H, H), H, dtype)
        self.bias_ih = _rnn_param((G * H,), H, dtype) if bias else None
        self.bias_hh = _rnn_param((G * H,), H, dtype) if bias else None

    def _weights(self):
        return (self.weight_ih.data, self.weight_hh.data,
                None if self.bias_ih is None else self.bias_ih.data,
                None if self.bias_hh is None else self.bias_hh.data)

    def _accumulate(self, dw_ih, dw_hh, db_ih, db_hh):
        self.weight_ih.accumulate_grad(dw_ih, take=True)
        self.weight_hh.accumulate_grad(dw_hh, take=True)
        if self.bias_ih is not None:
            self.bias_ih.accumulate_grad(db_ih, take=True)
            self.bias_hh.accumulate_grad(db_hh, take=True)

    def _zeros(self, x):
        return np.zeros((_checks.shape_of(x)[0], self.hidden_size), x.dtype)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias_ih is not None}"


class RNNCell(_CellBase):
    """torch.nn.RNNCell, h' = tanh (or relu) of x W_ih^T + b_ih + h W_hh^T + b_hh:
    forward(x (N, I), h or None) -> h'; backward(dh') -> (dx, dh)."""
    GATES = 1

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", dtype=np.float32):
        nonlinearity = _checks.nonlinearity("RNNCell", nonlinearity)
        super().__init__(input_size, hidden_size, bias, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, x, hx=None):
        h_new, self._cache = F.rnn_cell(x, self._zeros(x) if hx is None else hx, *self._weights(),
                                        nonlinearity=self.nonlinearity)
        return h_new

    def backward(self, dh_new):
        dx, dh, *grads = F.rnn_cell_backward(dh_new, self._cache)
        self._accumulate(*grads)
        return dx, dh

    def extra_repr(self):
        return f"{super().extra_repr()}, nonlinearity={self.nonlinearity!r}"


class LSTMCell(_CellBase):
    """forward(x (N, I), hx=(h, c) or None) -> (h', c'); backward(dh', dc'=None) -> (dx, dh, dc)."""
    GATES = 4

    def forward(self, x, hx=None):
        h, c = (self._zeros(x), self._zeros(x)) if hx is None else hx
        h_new, c_new, self._cache = F.lstm_cell(x, h, c, *self._weights())
        return h_new, c_new

    def backward(self, dh_new, dc_new=None):
        dx, dh, dc, *grads = F.lstm_cell_backward(dh_new, dc_new, self._cache)
        self._accumulate(*grads)
        return dx, dh, dc


class GRUCell(_CellBase):
    """forward(x (N, I), h or None) -> h'; backward(dh') -> (dx, dh)."""
    GATES = 3

    def forward(self, x, hx=None):
        h_new, self._cache = F.gru_cell(x, self._zeros(x) if hx is None else hx, *self._weights())
        return h_new

    def backward(self, dh_new):
        dx, dh, *grads = F.gru_cell_backward(dh_new, self._cache)
        self._accumulate(*grads)
        return dx, dh


class _RNNBase(Module):
    """The stacked, bidirectional sequence modules. Each subclass runs one layer in
    one direction with its functional pair:
        _run(x, h0, c0, weights) -> (out, h_n, c_n or None, cache)
        _run_backward(dout, dh_n, dc_n, cache) -> (dx, dh0, dc0 or None, weight grads)"""
    GATES = 0
    HAS_CELL_STATE = False

    # the contract's order, then torch's dropout (torch puts it before bidirectional:
    # the flags must be bools, so a torch-ordered positional call fails loudly)
    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 bidirectional=False, dropout=0.0, dtype=np.float32):
        super().__init__()
        name = type(self).__name__
        self.input_size = _checks.count(name, "input_size", input_size, 1)
        self.hidden_size = _checks.count(name, "hidden_size", hidden_size, 1)
        self.num_layers = _checks.count(name, "num_layers", num_layers, 1)
        self.dropout = _checks.real(name, "dropout", dropout, 0.0, 1.0)
        if self.dropout > 0 and num_layers == 1:
            warnings.warn(f"{name}: dropout acts between stacked layers, so with num_layers=1 "
                          f"it does nothing (as in torch)", stacklevel=2)
        self.bias, self.batch_first, self.bidirectional = (
            _checks.flag(name, flag, v) for flag, v in
            (("bias", bias), ("batch_first", batch_first), ("bidirectional", bidirectional)))
        D, G, H = self.num_directions, self.GATES, hidden_size
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else D * H
            for suffix in self._suffixes():
                setattr(self, f"weight_ih_l{layer}{suffix}", _rnn_param((G * H, in_size), H, dtype))
                setattr(self, f"weight_hh_l{layer}{suffix}", _rnn_param((G * H, H), H, dtype))
                if bias:
                    setattr(self, f"bias_ih_l{layer}{suffix}", _rnn_param((G * H,), H, dtype))
                    setattr(self, f"bias_hh_l{layer}{suffix}", _rnn_param((G * H,), H, dtype))

    @property
    def num_directions(self):
        return 2 if self.bidirectional else 1

    def _suffixes(self):
        return ["", "_reverse"][:self.num_directions]

    def _params(self, layer, suffix):
        names = [f"weight_ih_l{layer}{suffix}", f"weight_hh_l{layer}{suffix}"]
        if self.bias:
            names += [f"bias_ih_l{layer}{suffix}", f"bias_hh_l{layer}{suffix}"]
        return [self._parameters[n] for n in names]

    def forward(self, x, hx=None):
        """x (T, N, I) (or (N, T, I) with batch_first); hx: initial states (L*D, N, H)
        -> (out (T, N, D*H), h_n (L*D, N, H)) for RNN and GRU, (out, (h_n, c_n)) for LSTM."""
        name = type(self).__name__
        if _checks.is_device_array(x):
            raise TypeError(f"{name} (the module) runs on the host; for CUDA arrays call "
                            f"fastnn.functional.rnn / lstm / gru, which run on the GPU")
        _checks.check_ndim(name, "x", x, 3, "(T, N, input_size)")
        if self.batch_first:
            x = np.swapaxes(x, 0, 1)
        T, N, _ = x.shape
        L, D, H = self.num_layers, self.num_directions, self.hidden_size
        if self.HAS_CELL_STATE:
            h0, c0 = (None, None) if hx is None else hx
        else:
            h0, c0 = hx, None
        for nm, s in (("h0", h0), ("c0", c0)):
            if s is not None:
                _checks.check_shape(name, nm, s, (L * D, N, H), "(num_layers * num_directions, N, hidden_size)")
        hn, cn, self._caches, self._masks = [], [], [], []
        inp = x
        for layer in range(L):
            if layer > 0 and self.training and self.dropout > 0:   # on each layer's input but the first
                inp, mask = F.dropout(inp, self.dropout)
                self._masks.append(mask)
            outs = []
            for d, suffix in enumerate(self._suffixes()):
                k = layer * D + d
                seq = inp if d == 0 else inp[::-1]
                weights = [p.data for p in self._params(layer, suffix)]
                weights += [None] * (4 - len(weights))      # without biases: None for both
                out, h, c, cache = self._run(np.ascontiguousarray(seq), None if h0 is None else h0[k],
                                             None if c0 is None else c0[k], weights)
                outs.append(out if d == 0 else out[::-1])
                hn.append(h)
                cn.append(c)
                self._caches.append(cache)
            inp = outs[0] if D == 1 else np.concatenate(outs, axis=2)
        out = np.swapaxes(inp, 0, 1) if self.batch_first else inp
        if self.HAS_CELL_STATE:
            return out, (np.stack(hn), np.stack(cn))
        return out, np.stack(hn)

    def backward(self, dout, dh_n=None, dc_n=None):
        """dout like out; dh_n, dc_n (L*D, N, H) or None -> dx like x. Accumulates .grad."""
        if self.batch_first:
            dout = np.swapaxes(dout, 0, 1)
        L, D, H = self.num_layers, self.num_directions, self.hidden_size
        dinp = np.ascontiguousarray(dout)
        for layer in reversed(range(L)):
            dx_total = None
            for d, suffix in enumerate(self._suffixes()):
                k = layer * D + d
                dslice = dinp[:, :, d * H:(d + 1) * H]
                dslice = np.ascontiguousarray(dslice if d == 0 else dslice[::-1])
                dx, _, _, grads = self._run_backward(dslice, None if dh_n is None else dh_n[k],
                                                     None if dc_n is None else dc_n[k], self._caches[k])
                if d == 1:
                    dx = dx[::-1]
                dx_total = dx if dx_total is None else dx_total + dx
                for p, g in zip(self._params(layer, suffix), grads):
                    p.accumulate_grad(g, take=True)
            dinp = np.ascontiguousarray(dx_total)
            if layer > 0 and self._masks:
                dinp = F.dropout_backward(dinp, self._masks[layer - 1], self.dropout)
        return np.swapaxes(dinp, 0, 1) if self.batch_first else dinp

    def extra_repr(self):
        return (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
                f"bias={self.bias}, batch_first={self.batch_first}, dropout={self.dropout}, "
                f"bidirectional={self.bidirectional}")


class RNN(_RNNBase):
    """torch.nn.RNN (Elman, tanh or relu), with torch's argument order:
    forward(x, h0 or None) -> (out, h_n); backward(dout, dh_n=None) -> dx."""
    GATES = 1

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, dtype=np.float32):
        nonlinearity = _checks.nonlinearity("RNN", nonlinearity)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, bidirectional,
                         dropout=dropout, dtype=dtype)
        self.nonlinearity = nonlinearity

    def _run(self, x, h0, c0, weights):
        out, hn, cache = F.rnn(x, h0, *weights, nonlinearity=self.nonlinearity)
        return out, hn, None, cache

    def _run_backward(self, dout, dhn, dcn, cache):
        dx, dh0, *grads = F.rnn_backward(dout, dhn, cache)
        return dx, dh0, None, grads

    def backward(self, dout, dh_n=None):
        return super().backward(dout, dh_n)

    def extra_repr(self):
        return f"{super().extra_repr()}, nonlinearity={self.nonlinearity!r}"


class LSTM(_RNNBase):
    """torch.nn.LSTM: forward(x, (h0, c0) or None) -> (out, (h_n, c_n));
    backward(dout, dh_n=None, dc_n=None) -> dx."""
    GATES = 4
    HAS_CELL_STATE = True

    def _run(self, x, h0, c0, weights):
        return F.lstm(x, h0, c0, *weights)

    def _run_backward(self, dout, dhn, dcn, cache):
        dx, dh0, dc0, *grads = F.lstm_backward(dout, dhn, dcn, cache)
        return dx, dh0, dc0, grads


class GRU(_RNNBase):
    """torch.nn.GRU: forward(x, h0 or None) -> (out, h_n); backward(dout, dh_n=None) -> dx."""
    GATES = 3

    def _run(self, x, h0, c0, weights):
        out, hn, cache = F.gru(x, h0, *weights)
        return out, hn, None, cache

    def _run_backward(self, dout, dhn, dcn, cache):
        dx, dh0, *grads = F.gru_backward(dout, dhn, cache)
        return dx, dh0, None, grads

    def backward(self, dout, dh_n=None):
        return super().backward(dout, dh_n)
