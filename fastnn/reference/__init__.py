"""fastnn.reference: every op of fastnn.functional in plain NumPy.

Same names, signatures and semantics as fastnn.functional, behind the same
argument checks; written to be read, not to be fast. It is the oracle that
the kernels are tested against, and it is itself checked by finite
differences (tests/test_reference.py).
"""
from .activations import (leaky_relu, leaky_relu_backward, relu, relu_backward, sigmoid,
                          sigmoid_backward, tanh, tanh_backward)
from .batchnorm import batch_norm, batch_norm_backward
from .bce import binary_cross_entropy_with_logits
from .conv import conv2d, conv2d_backward
from .dropout import dropout, dropout_backward
from .linear import linear, linear_backward
from .optim import adam_update, rmsprop_update, sgd_update
from .pool import (adaptive_avg_pool2d, adaptive_avg_pool2d_backward, avg_pool2d, avg_pool2d_backward,
                   max_pool2d, max_pool2d_backward)
from .rnn import (gru, gru_backward, gru_cell, gru_cell_backward, lstm, lstm_backward, lstm_cell,
                  lstm_cell_backward, rnn, rnn_backward, rnn_cell, rnn_cell_backward)
from .softmax import cross_entropy, log_softmax, softmax, softmax_backward

__all__ = [
    "conv2d", "conv2d_backward", "max_pool2d", "max_pool2d_backward", "avg_pool2d",
    "avg_pool2d_backward", "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward", "softmax",
    "log_softmax", "softmax_backward", "cross_entropy", "binary_cross_entropy_with_logits", "linear",
    "linear_backward", "relu", "relu_backward", "sigmoid", "sigmoid_backward", "tanh", "tanh_backward",
    "leaky_relu", "leaky_relu_backward", "batch_norm", "batch_norm_backward", "dropout",
    "dropout_backward", "rnn_cell", "rnn_cell_backward", "lstm_cell", "lstm_cell_backward", "gru_cell",
    "gru_cell_backward", "rnn", "rnn_backward", "lstm", "lstm_backward", "gru", "gru_backward",
    "sgd_update", "rmsprop_update", "adam_update",
]
