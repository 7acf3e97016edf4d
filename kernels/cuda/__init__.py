"""fastnn.kernels.cuda: numba.cuda kernels, mirroring fastnn.kernels.cpu name
for name, so that fastnn.functional runs the same code on either device.

They take preallocated device outputs and check nothing. This package is
imported on first GPU use only; importing fastnn needs no GPU or toolkit.
Tested on a real GPU when one is present and on Numba's simulator
(NUMBA_ENABLE_CUDASIM=1) otherwise.
"""
from .._cache import install as _install_cache_keys

try:
    from numba.cuda.core import caching as _caching
except ImportError:          # an older numba-cuda: its per-file keys apply
    pass
else:                        # before any kernel is defined (see kernels/_cache.py)
    _install_cache_keys(_caching, ("_UserProvidedCacheLocator", "_InTreeCacheLocator",
                                   "_UserWideCacheLocator"))

from ._device import (add, as_contiguous, copy_into, device_copy,  # noqa: E402
                      device_empty, device_zeros, fill, flat, rows, scale, to_host, view)
from .activations import (leaky_relu_backward, leaky_relu_forward, relu_backward, relu_forward,
                          sigmoid_backward, sigmoid_forward, tanh_backward, tanh_forward)
from .bce import bce_with_logits_forward_backward
from .batchnorm import (batch_norm_backward, batch_norm_forward_eval, batch_norm_forward_train,
                        running_inv_std, update_running_stats)
from .conv import col2im, conv2d_backward, conv2d_forward, im2col
from .dropout import dropout_backward, dropout_forward
from .gemm import matmul
from .linear import linear_backward, linear_forward
from ._memory import cached_bytes, empty_cache
from .pool import (adaptive_avg_pool2d_backward, adaptive_avg_pool2d_forward, avg_pool2d_backward,
                   avg_pool2d_forward, max_pool2d_2x2_backward, max_pool2d_2x2_forward, max_pool2d_backward,
                   max_pool2d_forward)
from .rnn import (gru_backward, gru_cell_backward, gru_cell_forward, gru_forward, lstm_backward,
                  lstm_cell_backward, lstm_cell_forward, lstm_forward, rnn_backward, rnn_cell_backward,
                  rnn_cell_forward, rnn_forward)
from .softmax import (cross_entropy_forward_backward, cross_entropy_probs_forward_backward, softmax_backward,
                      softmax_forward)
from .optim import adam_step, rmsprop_step, sgd_step
