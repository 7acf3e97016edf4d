"""Weight initialisers, and the generator every module draws from.

Defaults follow torch.nn: Linear and Conv2d draw weights and biases from
U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform_ with a = sqrt(5));
RNNs draw everything from U(-1/sqrt(H), 1/sqrt(H)); Embedding from N(0, 1).
He (Kaiming) and Xavier (Glorot) initialisers are available for the course's
deeper nets. fastnn.manual_seed(s) reseeds the generator, as torch.manual_seed.
"""
import math

import numpy as np

_rng = np.random.default_rng()


def manual_seed(seed):
    """Reseed the generator that module initialisation draws from."""
    global _rng
    _rng = np.random.default_rng(seed)


def generator():
    return _rng


def fan_in_and_out(shape):
    """fan_in, fan_out of a weight (out, in) or (K, C, R, S), as torch computes them."""
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def uniform(shape, bound, dtype=np.float32):
    return _rng.uniform(-bound, bound, size=shape).astype(dtype)


def normal(shape, std=1.0, dtype=np.float32):
    return (_rng.standard_normal(shape) * std).astype(dtype)


def torch_default(shape, fan_in, dtype=np.float32):
    """torch's Linear/Conv default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    return uniform(shape, 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0, dtype)


def kaiming_normal(shape, dtype=np.float32, gain=math.sqrt(2.0)):
    """He et al. 2015: N(0, gain^2 / fan_in), the right scale before ReLU."""
    return normal(shape, gain / math.sqrt(fan_in_and_out(shape)[0]), dtype)


def kaiming_uniform(shape, dtype=np.float32, gain=math.sqrt(2.0)):
    return uniform(shape, gain * math.sqrt(3.0 / fan_in_and_out(shape)[0]), dtype)


def xavier_uniform(shape, dtype=np.float32, gain=1.0):
    """Glorot & Bengio 2010: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))."""
    fi, fo = fan_in_and_out(shape)
    return uniform(shape, gain * math.sqrt(6.0 / (fi + fo)), dtype)


def xavier_normal(shape, dtype=np.float32, gain=1.0):
    fi, fo = fan_in_and_out(shape)
    return normal(shape, gain * math.sqrt(2.0 / (fi + fo)), dtype)
