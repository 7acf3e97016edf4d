"""fastnn.kernels.cpu: the Numba kernels for the CPU, one family per file.

They take preallocated, C-contiguous outputs and check nothing; use
fastnn.functional for validated calls. Each compiles on first use and is
cached on disk (cache=True).
"""
from numba.core import caching as _caching

from .._cache import install as _install_cache_keys

# before any kernel is defined: each finds its cache locator as it is decorated
_install_cache_keys(_caching, ("UserProvidedCacheLocator", "InTreeCacheLocator", "UserWideCacheLocator"))

from .conv import conv2d_backward, conv2d_forward, col2im, im2col  # noqa: E402
from .pool import (adaptive_avg_pool2d_backward, adaptive_avg_pool2d_forward, avg_pool2d_backward,
                   avg_pool2d_forward, max_pool2d_2x2_backward, max_pool2d_2x2_forward, max_pool2d_backward,
                   max_pool2d_forward)
from .activations import (leaky_relu_backward, leaky_relu_forward, relu_backward, relu_forward,
                          sigmoid_backward, sigmoid_forward, tanh_backward, tanh_forward)
from .batchnorm import (batch_norm_backward, batch_norm_forward_eval, batch_norm_forward_train,
                        running_inv_std, update_running_stats)
from .dropout import dropout_backward, dropout_forward
from .linear import linear_backward, linear_forward
from .softmax import (cross_entropy_forward_backward, cross_entropy_probs_forward_backward, softmax_backward,
                      softmax_forward)
from .bce import bce_with_logits_forward_backward
from .rnn import (gru_backward, gru_cell_backward, gru_cell_forward, gru_forward, lstm_backward,
                  lstm_cell_backward, lstm_cell_forward, lstm_forward, rnn_backward, rnn_cell_backward,
                  rnn_cell_forward, rnn_forward)
from .optim import adam_step, rmsprop_step, sgd_step
from ._blas import map_packing_buffers as _map_packing_buffers  # noqa: E402

_map_packing_buffers()      # one small GEMM, so that later ones run at full speed: see _blas.py
