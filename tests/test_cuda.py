"""kernels/cuda against fastnn.reference, on a real GPU or on Numba's CUDA
simulator (NUMBA_ENABLE_CUDASIM=1): tiny shapes, every kernel family.
Run with: NUMBA_ENABLE_CUDASIM=1 pytest -m cuda"""
import numba
import numpy as np
import pytest

import fastnn.functional as F
import fastnn.reference as R
from fastnn.testing import assert_close, rand

cuda = pytest.importorskip("numba.cuda")
pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not cuda.is_available(),
                                 reason="no CUDA GPU (set NUMBA_ENABLE_CUDASIM=1 for the simulator)"),
              # the simulator runs dropout's hash in NumPy uint64 scalars, whose wrap-around
              # multiply (intended: the hash is arithmetic mod 2^64) warns
              pytest.mark.filterwarnings("ignore:overflow encountered in scalar multiply")]

DTYPES = [np.float32, np.float64]


def dev(a):
    return cuda.to_device(a) if isinstance(a, np.ndarray) else a


def host(a):
    if isinstance(a, tuple):
        return tuple(host(v) for v in a)
    return a.copy_to_host() if hasattr(a, "copy_to_host") else a


# On a real GPU a kernel's first launch for an argument signature goes through
# numba-cuda's dispatcher and later ones through cuda.core (kernels/cuda/_launch.py),
# so there `check` calls each function twice. The first call's results stay alive
# meanwhile: the second call's outputs cannot reuse their memory and pass unwritten.
CALLS = 1 if numba.config.ENABLE_CUDASIM else 2


def check(name, *args, **kwargs):
    """F.<name> on device copies of the array arguments == R.<name> on the host."""
    results = [getattr(F, name)(*[dev(a) for a in args], **{k: dev(v) for k, v in kwargs.items()})
               for _ in range(CALLS)]
    want = getattr(R, name)(*args, **kwargs)
    want = want if isinstance(want, tuple) else (want,)
    for got in results:
        got = host(got)
        got = got if isinstance(got, tuple) else (got,)
        for g, w in zip(got, want):
            if isinstance(w, float):
                assert g == pytest.approx(w, rel=1e-4, nan_ok=True)
            elif w is not None:
                assert isinstance(g, np.ndarray) and g.dtype == w.dtype
                assert_close(g, w, name=name)
    return got


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["one chunk", "chunks", "64-bit"])
def test_conv2d(rng, dtype, mode, monkeypatch):
    from fastnn.kernels.cuda import conv
    if mode == "chunks":      # a column buffer of one image: two chunks, the second from n0 = 1
        monkeypatch.setattr(conv, "CHUNK_ELEMENTS", 2 * 3 * 2 * 3 * 3)
    if mode == "64-bit":      # the per-element kernels of arrays of 2^31 elements or more
        per_element = conv._per_element
        monkeypatch.setattr(conv, "_per_element", lambda wide: per_element(True))
    x, w, b = rand((2, 2, 5, 4), dtype, rng), rand((3, 2, 3, 2), dtype, rng), rand((3,), dtype, rng)
    (y,) = check("conv2d", x, w, b, (2, 1), (1, 0))
    check("conv2d_backward", rand(y.shape, dtype, rng), x, w, (2, 1), (1, 0))


# Pooling tile layouts (kernels/cuda/pool.py): the default, tiles shrunk to 32
# threads so that tiny planes span several tiles both ways, and neither shared
# memory nor 32-bit planes: the per-thread kernels for windows too large to
# tile and planes too large to index in 32 bits (the 2x2 pair's fallback too).
TILES = {"tiles": {}, "small tiles": {"TILE_THREADS": 32}, "per thread": {"TILE_BYTES": 0, "PLANE_LIMIT": 0}}
WINDOWS = [                     # (kernel_size, stride, padding)
    ((3, 2), (2, 1), 1),        # ResNet's 3x3/2 made uneven
    (3, 1, 1),                  # overlapping windows, stride 1
    (2, 3, 0),                  # stride past the window: inputs no window covers
    ((1, 4), (1, 2), (0, 2)),   # 1-row windows, padding on one side only
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k, s, p, tiles", [(2, None, 0, t) for t in TILES]      # the 2x2 pair
                         + [(*w, t) for w in WINDOWS for t in TILES])
def test_pooling(rng, dtype, k, s, p, tiles, monkeypatch):
    from fastnn.kernels.cuda import pool
    for name, value in TILES[tiles].items():
        monkeypatch.setattr(pool, name, value)
    x = rand((2, 2, 9, 19), dtype, rng)     # odd H and W: a row and a column no 2x2 window covers
    x[0, 0, 0, :2] = 0.5                    # a tie
    x[0, 1, 2, 3] = np.nan                  # NaN wins its window(s)
    x[1, 0, :4, :6] = -np.inf               # corner windows of padding and -inf: an input still wins
    for op in ("max_pool2d", "avg_pool2d"):
        (y,) = check(op, x, k, s, p)
        check(op + "_backward", rand(y.shape, dtype, rng), x, k, s, p)
    narrow = rand((1, 1, 5, 6), dtype, rng)  # narrower than the narrowest tile
    for op in ("max_pool2d", "avg_pool2d"):
        (y,) = check(op, narrow, k, s, p)
        check(op + "_backward", rand(y.shape, dtype, rng), narrow, k, s, p)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adaptive_avg_pooling(rng, dtype):
    # overlapping windows of two sizes, more outputs than inputs, global pooling
    x = rand((2, 2, 7, 5), dtype, rng)
    x[0, 1, 2, 3] = np.nan
    for size in ((3, 2), (9, None), 1):
        (y,) = check("adaptive_avg_pool2d", x, size)
        check("adaptive_avg_pool2d_backward", rand(y.shape, dtype, rng), x, size)


@pytest.mark.parametrize("shape, size, lanes", [((3, 50, 4, 3), (4, 3), (1, 1)), ((3, 40, 5, 5), 1, (4, 7)),
                                                ((2, 30, 6, 9), (4, 2), (2, 5)), ((1, 9, 12, 12), 1, (32, 5))],
                         ids=["identity", "global", "overlapping", "a warp an output"])
def test_adaptive_avg_pooling_spans_blocks(rng, shape, size, lanes):
    """Several blocks of threads; outputs of one lane to a warp's worth."""
    from fastnn.kernels.cuda.pool import adaptive_lanes
    x = rand(shape, np.float32, rng)
    (y,) = check("adaptive_avg_pool2d", x, size)
    assert adaptive_lanes(*shape[2:], *y.shape[2:]) == lanes
    check("adaptive_avg_pool2d_backward", rand(y.shape, np.float32, rng), x, size)


def test_pool_tiles_only_planes_indexed_in_32_bits():
    """The tiles index within a plane in 32 bits; a larger input or output plane
    goes to the per-thread kernels (planes that large do not fit a test)."""
    from fastnn.kernels.cuda import pool
    for plane, tiled in ((pool.PLANE_LIMIT - 1, True), (pool.PLANE_LIMIT, False)):
        for kind in ("forward", "avg_backward", "max_backward"):
            assert (pool._tile(kind, 4, 3, 3, 2, 2, 64, 64, plane) is not None) == tiled


# Row layouts of the contiguous-row kernels, forced small so that tiny rows take
# every path: a lane holds 1 element, and a row spreads over up to MAX_ROW_WARPS
# warps, then is read in chunks.
LAYOUTS = {"registers": None, "warps": 8, "chunks": 1, "warps+chunks": 2}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout, shape", [
    ("registers", (3, 5)), ("registers", (9, 37)),  # rows past one block
    ("warps", (5, 37)),             # 2 warps a row, 4 rows a block: the second block's last 3 are past the end
    ("chunks", (9, 37)),            # one warp, a full chunk and a partial one
    ("warps+chunks", (4, 150)),     # 2 warps, 3 chunks: in the last, the second warp reads only padding
])
def test_softmax_and_cross_entropy(rng, dtype, shape, layout, monkeypatch):
    from fastnn.kernels.cuda import softmax
    if LAYOUTS[layout]:
        monkeypatch.setattr(softmax, "LANE_ELEMENTS", ((1, 1),) * len(softmax.LANE_ELEMENTS))
        monkeypatch.setattr(softmax, "MAX_ROW_WARPS", LAYOUTS[layout])
    x = rand(shape, dtype, rng, -4, 4)
    x[-1, :3] = -np.inf, 1e4, -1e4      # extremes: exp underflows to 0, the max dominates
    with_nan = x.copy()
    with_nan[0, -1] = np.nan            # in the last chunk: it must survive the running max and sum
    for axis in (0, 1) if layout == "registers" else (1,):
        for a in (x, with_nan):
            (y,) = check("softmax", a, axis)
            check("log_softmax", a, axis)
            check("softmax_backward", rand(x.shape, dtype, rng), y, axis)
    labels = rng.integers(0, shape[1], shape[0])
    check("cross_entropy", x, labels)
    labels[::2] = 1                     # ignored: also a class here
    probs = rng.dirichlet(np.ones(shape[1]), shape[0]).astype(dtype)
    weight = rand((shape[1],), dtype, rng, 0.5, 2)
    check("cross_entropy", x, labels, weight=weight, ignore_index=1, label_smoothing=0.2, reduction="none")
    check("cross_entropy", x, probs, weight=weight, label_smoothing=0.1, reduction="sum")
    bad = np.zeros(shape[0], np.int64)
    bad[1] = shape[1]
    with pytest.raises(ValueError, match=f"label {shape[1]}"):
        F.cross_entropy(dev(x), dev(bad))


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_classes_on_a_strided_axis(rng, dtype):
    """(N, C, d) logits: the lanes kernels, against labels (with smoothing,
    weights and ignored ones) and probabilities; one unbatched row (C,)."""
    x = rand((2, 5, 33), dtype, rng, -4, 4)       # lanes past one warp of positions
    x[1, :, 3] = np.nan
    labels = rng.integers(0, 5, (2, 33))
    labels[0, ::4] = -100
    probs = np.ascontiguousarray(np.moveaxis(rng.dirichlet(np.ones(5), (2, 33)), -1, 1)).astype(dtype)
    weight = rand((5,), dtype, rng, 0.5, 2)
    check("cross_entropy", x, labels, weight=weight, reduction="none")
    check("cross_entropy", x, labels, label_smoothing=0.3)
    check("cross_entropy", x, probs, weight=weight, label_smoothing=0.2, reduction="none")
    check("cross_entropy", x[0, :, 0].copy(), probs[0, :, 0].copy())
    check("cross_entropy", x[0, :, 0].copy(), np.array(labels[0, 1]), reduction="none")


def test_softmax_row_layout():
    """Rows fill a lane's share first, then more warps, then chunks; float64
    takes two registers an element."""
    from fastnn.kernels.cuda.softmax import BACKWARD, CROSS_ENTROPY, LOG_SOFTMAX, SOFTMAX, _row_layout
    assert _row_layout(5, 4, SOFTMAX) == (1, 1, True)
    assert _row_layout(1000, 4, SOFTMAX) == (32, 1, True)
    assert _row_layout(1000, 8, SOFTMAX) == (16, 2, True)
    assert _row_layout(8000, 4, CROSS_ENTROPY) == (32, 8, True)
    assert _row_layout(8193, 4, SOFTMAX) == (16, 8, False)
    assert _row_layout(1000, 4, LOG_SOFTMAX) == (8, 4, True)
    assert _row_layout(1000, 4, BACKWARD) == (4, 8, True)
    assert _row_layout(50000, 8, BACKWARD) == (2, 8, False)


@pytest.mark.skipif(numba.config.ENABLE_CUDASIM, reason="the simulator has no registers")
def test_softmax_rows_stay_in_registers(rng):
    """The row kernels' speed rests on their chunk being promoted to registers
    (it is only if every loop over it unrolls): no local memory spills."""
    from fastnn.kernels.cuda import softmax
    for L in (1000, 8000):
        x = dev(rand((5, L), np.float32, rng))
        F.softmax_backward(x, F.softmax(x))
        F.log_softmax(x)
        F.cross_entropy(x, dev(np.arange(5)))
        F.cross_entropy(x, dev(np.arange(5)), label_smoothing=0.1)
        F.cross_entropy(x, F.softmax(x))
        for which in range(len(softmax.LANE_ELEMENTS)):
            kernel, _ = softmax._row_kernel(which, np.dtype(np.float32), L)
            assert set(kernel.get_local_mem_per_thread().values()) == {0}


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_and_activations(rng, dtype):
    x, w, b = rand((3, 4), dtype, rng), rand((5, 4), dtype, rng), rand((5,), dtype, rng)
    check("linear", x, w, b)
    check("linear_backward", rand((3, 5), dtype, rng), x, w)
    x3 = rand((2, 3, 4), dtype, rng)        # leading dimensions, as torch
    check("linear", x3, w, b)
    check("linear_backward", rand((2, 3, 5), dtype, rng), x3, w)
    a = rand((2, 7), dtype, rng, -3, 3)
    for name in ("relu", "leaky_relu", "sigmoid", "tanh"):
        (out,) = check(name, a)
        check(name + "_backward", rand(a.shape, dtype, rng), a if "relu" in name else out)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, training", [
    ((4, 3), True), ((2, 3, 2, 2), True), ((2, 3, 2, 2), False),
    ((300, 3), True),           # a thread's walk over a channel: a step of 256 rows
    ((30, 3, 3, 3), True),      # ... of 28 rows and 4 columns, with carries
    ((3, 3, 30, 31), True),     # ... and two slices a channel
    ((0, 3, 2, 2), True), ((0, 3), False),      # an empty batch: no statistics to update
    ((2, 3, 5), True),          # (N, C, L), as BatchNorm1d takes
])
def test_batch_norm(rng, dtype, shape, training):
    x = rand(shape, dtype, rng)
    g, b = rand((3,), dtype, rng), rand((3,), dtype, rng)
    rm, rv = rand((3,), dtype, rng), rand((3,), dtype, rng, 0.5, 2)
    drm, drv = dev(rm), dev(rv)
    y, cache = F.batch_norm(dev(x), dev(g), dev(b), drm, drv, training)
    y_ref, cache_ref = R.batch_norm(x, g, b, rm, rv, training)
    assert_close(host(y), y_ref)
    assert_close(host(drm), rm)
    assert_close(host(drv), rv)
    dy = rand(shape, dtype, rng)
    for a, e in zip(F.batch_norm_backward(dev(dy), cache), R.batch_norm_backward(dy, cache_ref)):
        assert_close(host(a), e)


def test_batch_norm_64_bit_elementwise_kernels(rng, monkeypatch):
    """Arrays of 2^31 elements or more index in 64 bits: forced on a small one."""
    from fastnn.kernels.cuda import batchnorm
    pointwise = batchnorm._pointwise
    monkeypatch.setattr(batchnorm, "_pointwise", lambda wide: pointwise(True))
    x, dy = rand((2, 3, 4, 5), np.float32, rng), rand((2, 3, 4, 5), np.float32, rng)
    g, b = rand((3,), np.float32, rng), rand((3,), np.float32, rng)
    y, cache = F.batch_norm(dev(x), dev(g), dev(b), None, None, True)
    y_ref, cache_ref = R.batch_norm(x, g, b, None, None, True)
    assert_close(host(y), y_ref)
    for a, e in zip(F.batch_norm_backward(dev(dy), cache), R.batch_norm_backward(dy, cache_ref)):
        assert_close(host(a), e)


def test_elementwise_kernels_span_blocks(rng):
    """Several blocks of THREADS * ELEMENTS elements and a partial one: every
    element a thread takes, in every block, is written."""
    from fastnn.kernels.cuda._device import ELEMENTS, THREADS
    a = rand((7, 331), np.float32, rng, -3, 3)
    assert 2 * THREADS * ELEMENTS < a.size < 3 * THREADS * ELEMENTS
    for name in ("relu", "leaky_relu", "sigmoid", "tanh"):
        (out,) = check(name, a)
        check(name + "_backward", rand(a.shape, np.float32, rng), a if "relu" in name else out)
    y, mask = F.dropout(dev(a), 0.3, seed=5)
    y_cpu, mask_cpu = F.dropout(a, 0.3, seed=5)
    np.testing.assert_array_equal(host(mask), mask_cpu)
    assert_close(host(y), y_cpu)
    check("dropout_backward", rand(a.shape, np.float32, rng), mask_cpu, 0.3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits(rng, dtype):
    from fastnn.kernels.cpu.bce import CHUNK
    for shape in ((3, 5), (2, CHUNK + 3)):      # one chunk (block), and two with a tail
        logits = rand(shape, dtype, rng, -8, 8)
        logits[0, 0], logits[0, 1] = 1e4, -1e4
        check("binary_cross_entropy_with_logits", logits, rand(shape, dtype, rng, 0, 1))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_weights(rng, dtype, reduction):
    """Weights read at each element's (o, m, i) clamped to their extents; the
    last shapes need five lanes and are written out through the host."""
    for shape, w_shape, p_shape in (((5, 3), (3,), None), ((4, 6), (4, 1), (6,)), ((3, 4), None, ()),
                                    ((2, 3, 2, 2), (3, 1, 1), (2, 1, 2, 1)), ((2, 3, 2, 2), (2, 1, 2, 1), (3, 1, 2))):
        weight = None if w_shape is None else rand(w_shape, dtype, rng, 0.1, 2)
        pos_weight = None if p_shape is None else rand(p_shape, dtype, rng, 0.1, 4)
        check("binary_cross_entropy_with_logits", rand(shape, dtype, rng, -6, 6), rand(shape, dtype, rng, 0, 1),
              weight, reduction, pos_weight)


def test_loss_modules_scale_their_gradient_on_the_device(rng):
    """backward(dloss) multiplies on the GPU: by a number, or per row ('none')."""
    from fastnn import nn
    x = rand((3, 4, 2), np.float32, rng)
    cases = [(nn.CrossEntropyLoss, rng.integers(0, 4, (3, 2)), (3, 2)),
             (nn.BCEWithLogitsLoss, rand((3, 4, 2), np.float32, rng, 0, 1), (3, 4, 2))]
    for module, target, loss_shape in cases:
        for reduction in ("mean", "none"):
            dloss = 1.5 if reduction == "mean" else rand(loss_shape, np.float32, rng)
            on_host, on_device = module(reduction=reduction), module(reduction=reduction)
            on_host(x, target)
            on_device(dev(x), dev(target))
            assert_close(host(on_device.backward(dev(dloss))), on_host.backward(dloss), name=module.__name__)


def test_dropout_draws_the_same_mask_as_the_cpu(rng):
    x = rand((4, 9), np.float32, rng)
    x[0] = np.nan                       # NaN out where kept and where dropped, as on the CPU
    y, mask = F.dropout(dev(x), 0.4, seed=11)
    y_cpu, mask_cpu = F.dropout(x, 0.4, seed=11)
    np.testing.assert_array_equal(host(mask), mask_cpu)
    np.testing.assert_array_equal(host(y), y_cpu)       # scaled in float32 on both: bit for bit
    assert np.isnan(y_cpu[0]).all() and 0 < mask_cpu[0].sum() < 9
    check("dropout_backward", x, mask_cpu, 0.4)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [(True, True), (True, False), (False, False)])
def test_rnn_cells_and_sequences(rng, dtype, bias):
    _check_rnn(rng, dtype, bias, N=2)


def test_an_empty_batch(rng):
    """N = 0, which torch allows, as on the CPU: empty outputs, weight
    gradients of 0 (some from GEMMs over K = 0) and a loss of NaN."""
    x, w = rand((0, 5), np.float32, rng), rand((3, 5), np.float32, rng)
    check("linear", x, w, rand((3,), np.float32, rng))
    check("linear_backward", rand((0, 3), np.float32, rng), x, w)
    for name in ("relu", "softmax", "log_softmax"):
        check(name, x)
    check("cross_entropy", x, np.zeros(0, np.int64))
    check("binary_cross_entropy_with_logits", x, x)
    images, w = rand((0, 2, 5, 4), np.float32, rng), rand((3, 2, 3, 3), np.float32, rng)
    check("conv2d", images, w, rand((3,), np.float32, rng), 1, 1)
    check("conv2d_backward", rand((0, 3, 5, 4), np.float32, rng), images, w, 1, 1)
    for pool in ("max_pool2d", "avg_pool2d"):
        check(pool, images, 3, 1, 1)
        check(pool + "_backward", rand((0, 2, 5, 4), np.float32, rng), images, 3, 1, 1)
    check("adaptive_avg_pool2d", images, 2)
    check("adaptive_avg_pool2d_backward", rand((0, 2, 2, 2), np.float32, rng), images, 2)
    _check_rnn(rng, np.float32, (False, True), N=0)


def _check_rnn(rng, dtype, bias, N):
    """Every cell and sequence, forward and backward, on the device against the reference."""
    T, I, H = 3, 3, 2
    put = lambda a: None if a is None else dev(a)       # noqa: E731
    same = lambda a: a                                  # noqa: E731
    for kind, G in (("rnn_tanh", 1), ("rnn_relu", 1), ("lstm", 4), ("gru", 3)):
        w = [rand((G * H, I), dtype, rng), rand((G * H, H), dtype, rng),
             rand((G * H,), dtype, rng) if bias[0] else None, rand((G * H,), dtype, rng) if bias[1] else None]
        x, h, c, dh = (rand(shape, dtype, rng) for shape in ((N, I), (N, H), (N, H), (N, H)))
        xs, dout = rand((T, N, I), dtype, rng), rand((T, N, H), dtype, rng)
        nl = kind[4:]
        # (cell forward, its backward, sequence forward, its backward), of module m with arrays placed by d
        calls = {
            "rnn": (lambda m, d: m.rnn_cell(d(x), d(h), *map(d, w), nonlinearity=nl),
                    lambda m, d, cache: m.rnn_cell_backward(d(dh), cache),
                    lambda m, d: m.rnn(d(xs), d(h), *map(d, w), nonlinearity=nl),
                    lambda m, d, cache: m.rnn_backward(d(dout), None, cache)),
            "lstm": (lambda m, d: m.lstm_cell(d(x), d(h), d(c), *map(d, w)),
                     lambda m, d, cache: m.lstm_cell_backward(d(dh), None, cache),
                     lambda m, d: m.lstm(d(xs), d(h), None, *map(d, w)),
                     lambda m, d, cache: m.lstm_backward(d(dout), d(dh), None, cache)),
            "gru": (lambda m, d: m.gru_cell(d(x), d(h), *map(d, w)),
                    lambda m, d, cache: m.gru_cell_backward(d(dh), cache),
                    lambda m, d: m.gru(d(xs), None, *map(d, w)),
                    lambda m, d, cache: m.gru_backward(d(dout), None, cache)),
        }[kind[:3] if kind.startswith("rnn") else kind]
        for forward, backward in (calls[:2], calls[2:]):
            *out, cache = forward(F, put)
            *ref_out, ref_cache = forward(R, same)
            got = list(out) + list(backward(F, put, cache))
            want = list(ref_out) + list(backward(R, same, ref_cache))
            for a, e in zip(got, want):
                assert (a is None) == (e is None)
                if e is not None:
                    assert_close(host(a), e, name=kind)


def test_noncontiguous_device_input_and_device_mixing(rng):
    x = rand((3, 8), np.float32, rng)
    d = dev(x)
    assert_close(host(F.relu(d[:, ::2])), R.relu(x[:, ::2]))
    with pytest.raises(TypeError, match="inputs of one call must all live on the host or all on the GPU"):
        F.linear(d, rand((2, 8), np.float32, rng))


def test_model_and_optimizer_move_to_the_gpu_and_back(rng):
    import fastnn
    from fastnn import nn, optim
    fastnn.manual_seed(0)

    def make():
        # no conv bias before batch norm: its gradient is 0 up to rounding, and Adam would turn
        # that rounding noise into full +-lr steps that differ between devices
        return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, bias=False), nn.BatchNorm2d(2), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 3))
    cpu_model, gpu_model = make(), make()
    gpu_model.load_state_dict(cpu_model.state_dict())
    x, y = rand((2, 1, 4, 4), np.float32, rng), np.array([0, 2])
    loss_fn = nn.CrossEntropyLoss()
    opts = [optim.Adam(m.parameters(), lr=0.1) for m in (cpu_model, gpu_model)]
    gpu_model.to("cuda")
    opts[1].to("cuda")
    for model, opt, xb, yb in ((cpu_model, opts[0], x, y), (gpu_model, opts[1], dev(x), dev(y))):
        for _ in range(2):
            loss_fn(model(xb), yb)
            model.backward(loss_fn.backward())
            opt.step()
            opt.zero_grad()
    gpu_model.to("cpu")
    opts[1].to("cpu")
    for (name, a), b in zip(cpu_model.state_dict().items(), gpu_model.state_dict().values()):
        assert_close(b, a, rtol=1e-4, name=name)
    for a, b in zip(opts[0].state_dict()["state"].values(), opts[1].state_dict()["state"].values()):
        assert_close(b["exp_avg"], a["exp_avg"], rtol=1e-4)


@pytest.mark.parametrize("name, kw", [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
                                      ("RMSprop", dict(lr=0.01, momentum=0.5, weight_decay=0.1)),
                                      ("AdamW", dict(lr=0.01))])
def test_optimizers_on_device_match_the_cpu(rng, name, kw):
    """Two parameter groups, and a third added after a step (its state grows on the device)."""
    from fastnn import optim
    params = [rand((3, 2), np.float64, rng), rand((5,), np.float64, rng), rand((2, 2), np.float64, rng)]
    dparams = [dev(p) for p in params]
    opts = [getattr(optim, name)([{"params": ps[:1]}, {"params": ps[1:2], "lr": 2 * kw["lr"]}], **kw)
            for ps in (params, dparams)]
    for step in range(3):
        if step == 1:
            for opt, ps in zip(opts, (params, dparams)):
                opt.add_param_group({"params": ps[2:], "weight_decay": 0.05})
        grads = [rand(p.shape, np.float64, rng) for p in params[:2 + (step > 0)]]
        opts[0].step(grads)
        opts[1].step([dev(g) for g in grads])
    for a, b in zip(params, dparams):
        assert_close(host(b), a)


def test_device_optimizer_checks_its_grads(rng):
    """A transposed device gradient gives the contiguous one's update; a host one is refused."""
    from fastnn import optim
    start = rand((3, 4), np.float32, rng)
    dparams = [dev(start), dev(start)]
    g = rand((4, 3), np.float32, rng)
    optim.SGD(dparams[:1], lr=0.5).step([dev(g).T])
    optim.SGD(dparams[1:], lr=0.5).step([dev(np.ascontiguousarray(g.T))])
    assert_close(host(dparams[0]), host(dparams[1]))
    assert_close(host(dparams[0]), start - 0.5 * g.T)
    with pytest.raises(TypeError, match=r"grads\[0\] and params\[0\] must live on the same device"):
        optim.SGD(dparams[:1], lr=0.5).step([g.T.copy()])


@pytest.mark.parametrize("dtype, ta, tb, accumulate",
                         [(np.float32, False, False, False), (np.float32, True, False, True),
                          (np.float32, False, True, False), (np.float64, True, True, True)])
@pytest.mark.parametrize("per_thread", [2, 4])
def test_gemm_tiled_kernel_and_cublas(rng, monkeypatch, dtype, ta, tb, accumulate, per_thread):
    """Both GEMM paths (the tiled kernel at each register tile, RxR outputs a
    thread; cuBLAS when CuPy is installed), on a shape that leaves partial tiles
    in every dimension and spans 2x2 blocks of C and two steps of k. C is
    poisoned where it is not accumulated into."""
    from fastnn.kernels.cuda import gemm
    M, N, Kd = 16 * per_thread + 3, 16 * per_thread + 5, 17
    A = rand((Kd, M) if ta else (M, Kd), dtype, rng)
    B = rand((N, Kd) if tb else (Kd, N), dtype, rng)
    C0 = rand((M, N), dtype, rng) if accumulate else np.full((M, N), np.nan, dtype)
    want = (A.T if ta else A) @ (B.T if tb else B) + (C0 if accumulate else 0)
    monkeypatch.setattr(gemm, "_per_thread", lambda M, N: per_thread)
    cupy = gemm._cupy
    for backend in ["tiled"] + (["cublas"] if cupy is not None and per_thread == 2 else []):
        monkeypatch.setattr(gemm, "_cupy", None if backend == "tiled" else cupy)
        C = dev(C0.copy())
        gemm.matmul(dev(A), dev(B), C, ta=ta, tb=tb, accumulate=accumulate)
        assert_close(host(C), want, name=backend)


@pytest.mark.parametrize("accumulate", [False, True])
def test_gemm_splits_k_when_c_has_few_tiles(rng, monkeypatch, accumulate):
    """Split K (conv's dW: a small C, a long K): each split's partial C, then
    their sum in order. K = 150 in chunks of 64 leaves a partial last split."""
    from fastnn.kernels.cuda import gemm
    monkeypatch.setattr(gemm, "_cupy", None)
    monkeypatch.setattr(gemm, "_k_chunk", lambda blocks, K: 64)
    A, B = rand((21, 150), np.float32, rng), rand((19, 150), np.float32, rng)
    C0 = rand((21, 19), np.float32, rng) if accumulate else np.full((21, 19), np.nan, np.float32)
    C = dev(C0.copy())
    gemm.matmul(dev(A), dev(B), C, tb=True, accumulate=accumulate)
    assert_close(host(C), A @ B.T + (C0 if accumulate else 0))


def test_gemm_tiled_kernel_copies_strided_inputs(rng, monkeypatch):
    """The tiled kernel reads A and B as flat C-contiguous matrices: a strided
    view is copied first (on a real GPU, flattening it in place fails; the
    simulator's reshape copies)."""
    from fastnn.kernels.cuda import gemm
    monkeypatch.setattr(gemm, "_cupy", None)
    A, B = rand((13, 22), np.float32, rng), rand((22, 18), np.float32, rng)
    C = dev(np.full((13, 18), np.nan, np.float32))
    gemm.matmul(dev(A)[:, ::2], dev(B)[::2], C)
    assert_close(host(C), A[:, ::2] @ B[::2])


def test_gemm_k_chunk():
    from fastnn.kernels.cuda import gemm
    assert gemm._k_chunk(gemm.BLOCKS_WANTED, 10**6) == 10**6     # enough tiles of C: one split
    assert gemm._k_chunk(36, 32768) == 4096                       # conv's dW at R = 2: 8 splits
    assert gemm._k_chunk(128, 512) == 512                         # an LSTM step's gates: whole
    assert gemm._k_chunk(1, 3 * gemm.MIN_SPLIT) == gemm.MIN_SPLIT
    assert gemm._k_chunk(1, gemm.MIN_SPLIT - 1) == gemm.MIN_SPLIT - 1
    assert gemm._k_chunk(1, 0) == 1


def test_gemm_64_bit_indexing(rng, monkeypatch):
    """Arrays of 2^31 elements or more index in 64 bits: forced on small ones."""
    from fastnn.kernels.cuda import gemm
    monkeypatch.setattr(gemm, "_cupy", None)
    monkeypatch.setattr(gemm, "needs_64_bit", lambda *arrays: True)
    A, B = rand((9, 21), np.float64, rng), rand((19, 9), np.float64, rng)
    C = dev(np.full((21, 19), np.nan, np.float64))
    gemm.matmul(dev(A), dev(B), C, ta=True, tb=True)
    assert_close(host(C), A.T @ B.T)


def test_gemm_register_tile_follows_the_output_size():
    from fastnn.kernels.cuda import gemm
    big = 16 * 4 * 16                        # 16 tiles a side at R = 4: 256 blocks
    assert gemm._per_thread(big, big) == 4
    assert gemm._per_thread(big, big - 64) == 2
    assert gemm._per_thread(64, 2048) == 2   # an LSTM step's gates: R = 4 would give 32 blocks


def test_gemm_rows_past_the_grid_limit(rng, monkeypatch):
    """More tile rows than the grid's y dimension holds: one launch per MAX_GRID_Y rows."""
    from fastnn.kernels.cuda import gemm
    monkeypatch.setattr(gemm, "_cupy", None)
    monkeypatch.setattr(gemm, "MAX_GRID_Y", 2)
    A, B = rand((35, 9), np.float32, rng), rand((9, 20), np.float32, rng)
    C = dev(np.full((35, 20), np.nan, np.float32))
    gemm.matmul(dev(A), dev(B), C)
    assert_close(host(C), A @ B)


@pytest.mark.parametrize("shape, dtype", [((3, 2, 1500), np.float32), ((2, 3, 1), np.float64),
                                          ((1, 4, 7), np.float32)])
def test_channel_sum_in_slices(rng, dtype, shape):
    """conv's bias gradient: one slice, or several (N*P past 8 elements a thread)."""
    from fastnn.kernels.cuda import reduce
    x = rand(shape, dtype, rng)
    out = dev(np.full(shape[1], np.nan, dtype))
    reduce.channel_sum(dev(x), out)
    assert reduce.slices(shape[1], shape[0] * shape[2]) == (3 if shape[2] == 1500 else 1)
    assert_close(host(out), x.sum(axis=(0, 2)))


@pytest.mark.parametrize("shape, dtype", [((700, 45), np.float32), ((3, 70), np.float64), ((1, 1), np.float32)])
def test_column_sum_in_slices(rng, dtype, shape):
    """linear's and the RNNs' bias gradients: partial groups of columns, one or several slices of rows."""
    from fastnn.kernels.cuda import reduce
    x = rand(shape, dtype, rng)
    out = dev(np.full(shape[1], np.nan, dtype))
    reduce.column_sum(dev(x), out)
    assert_close(host(out), x.sum(axis=0))
