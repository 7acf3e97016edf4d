"""Numerics: large float32 reductions stay accurate, NaN in gives NaN out."""
import numpy as np
import pytest

import fastnn.functional as F
from fastnn.testing import assert_close, rand


def test_float32_bias_gradients_stay_accurate_at_large_sizes(rng):
    # 2^18 terms per channel, all near 10: a float32 running sum would drift by ~1e-3 relative
    dy = (10 + rng.standard_normal((64, 4, 64, 64))).astype(np.float32)
    x, w = np.zeros((64, 1, 64, 64), np.float32), np.zeros((4, 1, 1, 1), np.float32)
    _, _, db = F.conv2d_backward(dy, x, w)
    assert_close(db, dy.astype(np.float64).sum(axis=(0, 2, 3)), rtol=1e-6)
    dy2 = (10 + rng.standard_normal((1 << 18, 3))).astype(np.float32)
    _, _, db2 = F.linear_backward(dy2, np.zeros((1 << 18, 2), np.float32), np.zeros((3, 2), np.float32))
    assert_close(db2, dy2.astype(np.float64).sum(axis=0), rtol=1e-6)


def test_float32_softmax_of_a_long_row_sums_to_one(rng):
    x = rand((2, 1 << 20), np.float32, rng, -2, 2)
    assert_close(F.softmax(x).astype(np.float64).sum(axis=1), np.ones(2), rtol=1e-5)


def _nan_at(shape, index, rng):
    x = rand(shape, np.float32, rng)
    x[index] = np.nan
    return x


@pytest.mark.parametrize("name, call, check", [
    ("linear", lambda x, r: F.linear(x, rand((3, 4), np.float32, r)), lambda y: np.isnan(y[1]).all() and not np.isnan(y[0]).any()),
    ("batch_norm", lambda x, r: F.batch_norm(x, None, None, None, None)[0],
     lambda y: np.isnan(y[:, 2]).all() and not np.isnan(y[:, [0, 1, 3]]).any()),
    ("dropout", lambda x, r: F.dropout(x, 0.0)[0], lambda y: np.isnan(y[1, 2]) and np.isnan(y).sum() == 1),
    ("dropout everything", lambda x, r: F.dropout(x, 1.0)[0],
     lambda y: np.isnan(y[1, 2]) and np.isnan(y).sum() == 1),
    ("dropout backward everything", lambda x, r: F.dropout_backward(x, np.zeros(x.shape, bool), 1.0),
     lambda y: np.isnan(y[1, 2]) and np.isnan(y).sum() == 1),
    ("lstm_cell", lambda x, r: F.lstm_cell(x, rand((5, 2), np.float32, r), rand((5, 2), np.float32, r),
                                           rand((8, 4), np.float32, r), rand((8, 2), np.float32, r))[0],
     lambda y: np.isnan(y[1]).all() and not np.isnan(y[0]).any()),
    ("rnn_cell", lambda x, r: F.rnn_cell(x, rand((5, 2), np.float32, r), rand((2, 4), np.float32, r),
                                         rand((2, 2), np.float32, r))[0],
     lambda y: np.isnan(y[1]).all() and not np.isnan(y[0]).any()),
    ("rnn_cell relu", lambda x, r: F.rnn_cell(x, rand((5, 2), np.float32, r), rand((2, 4), np.float32, r),
                                              rand((2, 2), np.float32, r), nonlinearity="relu")[0],
     lambda y: np.isnan(y[1]).all() and not np.isnan(y[0]).any()),
    ("gru_cell", lambda x, r: F.gru_cell(x, rand((5, 2), np.float32, r), rand((6, 4), np.float32, r),
                                         rand((6, 2), np.float32, r))[0],
     lambda y: np.isnan(y[1]).all() and not np.isnan(y[0]).any()),
    ("log_softmax", lambda x, r: F.log_softmax(x), lambda y: np.isnan(y[1]).all() and not np.isnan(y[0]).any()),
])
def test_nan_in_gives_nan_out(rng, name, call, check):
    assert check(call(_nan_at((5, 4), (1, 2), rng), rng)), name


def test_nan_propagates_through_pools_and_optimizers(rng):
    x = _nan_at((1, 1, 4, 4), (0, 0, 0, 0), rng)
    assert np.isnan(F.avg_pool2d(x, 2)[0, 0, 0, 0]) and np.isnan(F.max_pool2d(x, 2)[0, 0, 0, 0])
    from fastnn import optim
    p = np.ones(4, np.float32)
    optim.Adam([p], lr=0.1).step([np.array([1, np.nan, 1, 1], np.float32)])
    assert np.isnan(p[1]) and not np.isnan(p[[0, 2, 3]]).any()
