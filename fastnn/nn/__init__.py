"""fastnn.nn: layers as modules with PyTorch's names, arguments and state dicts.

Each module's forward(x) keeps what its backward needs; backward(dy) returns
dx and accumulates its parameters' .grad, so a training step reads

    loss = loss_fn(model(x), y)
    model.backward(loss_fn.backward())
    opt.step(); opt.zero_grad()
"""
from . import init
from .layers import (AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, BCEWithLogitsLoss, Conv2d,
                     CrossEntropyLoss, Dropout, Embedding, Flatten, Identity, LeakyReLU, Linear, MaxPool2d,
                     ReLU, ResidualBlock, Sequential, Sigmoid, Softmax, Tanh)
from .module import Module
from .parameter import Parameter
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

__all__ = ["Parameter", "Module", "init", "Linear", "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
           "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "Flatten", "BatchNorm1d", "BatchNorm2d",
           "Dropout", "Embedding", "Identity", "Sequential", "CrossEntropyLoss", "BCEWithLogitsLoss",
           "ResidualBlock", "RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU"]
