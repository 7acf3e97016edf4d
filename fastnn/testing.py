"""Helpers for testing kernels against fastnn.reference.

    rand(shape, dtype, rng)            random values of a shape and dtype (never all 0 or 1)
    assert_close(actual, expected)     relative error with a tolerance chosen by dtype
    numerical_grad(f, x, dy)           central-difference d(sum(f(x) * dy))/dx, float64

Outputs are poisoned by tests/conftest.py: every array fastnn.functional
allocates starts as NaN there (fastnn._alloc), so an unwritten element fails.
"""
import numpy as np

DTYPES = [np.float32, np.float64]

# Relative error allowed, measured against the largest |expected|: float32
# results of sums over hundreds of terms agree to ~1e-6; 1e-4 leaves room for
# a different summation order without hiding a wrong term.
RTOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-10}


def rand(shape, dtype=np.float64, rng=None, low=-1.0, high=1.0):
    rng = np.random.default_rng() if rng is None else rng
    return rng.uniform(low, high, size=shape).astype(dtype)


def assert_close(actual, expected, rtol=None, name="result"):
    """NaNs must match exactly; elsewhere max|a - e| <= rtol * max(max|e|, 1)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{name}: shape {actual.shape} != {expected.shape}"
    if rtol is None:
        rtol = max(RTOL.get(actual.dtype, 1e-10), RTOL.get(expected.dtype, 1e-10))
    a64, e64 = actual.astype(np.float64), expected.astype(np.float64)
    nan_a, nan_e = np.isnan(a64), np.isnan(e64)
    assert np.array_equal(nan_a, nan_e), (
        f"{name}: NaN at {np.argwhere(nan_a != nan_e)[:5].tolist()} in only one of actual/expected")
    ok = ~nan_a
    inf_a, inf_e = np.isinf(a64) & ok, np.isinf(e64) & ok
    assert np.array_equal(a64[inf_a | inf_e], e64[inf_a | inf_e]), f"{name}: infinities differ"
    fin = ok & ~inf_a & ~inf_e
    if not fin.any():
        return
    scale = max(float(np.abs(e64[fin]).max()), 1.0)
    err = np.abs(a64[fin] - e64[fin])
    worst = float(err.max())
    assert worst <= rtol * scale, (
        f"{name}: max abs error {worst:.3e} exceeds {rtol:.1e} * {scale:.3e} "
        f"(at {np.argwhere(fin)[err.argmax()].tolist()}: {a64[fin][err.argmax()]!r} vs "
        f"{e64[fin][err.argmax()]!r})")


def numerical_grad(f, x, dy, eps=1e-6):
    """Central differences of L(x) = sum(f(x) * dy) w.r.t. x (float64 arrays).
    f may return a tuple; then dy is a tuple of the same length (None = ignore)."""
    x = x.astype(np.float64)
    grad = np.empty_like(x)
    dys = dy if isinstance(dy, tuple) else (dy,)

    def loss(v):
        out = f(v)
        outs = out if isinstance(out, tuple) else (out,)
        return sum(float(np.sum(o * d)) for o, d in zip(outs, dys) if d is not None)

    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = loss(x)
        flat[i] = old - eps
        down = loss(x)
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return grad


def noncontiguous(a):
    """The same values as `a` in a non-contiguous view (every other element of a wider array)."""
    wide = np.empty(a.shape[:-1] + (2 * a.shape[-1],), a.dtype) if a.ndim else None
    if wide is None:
        return a
    wide[..., ::2] = a
    wide[..., 1::2] = np.nan
    return wide[..., ::2]


def _as_tuple(v):
    return v if isinstance(v, tuple) else (v,)


def compare_with_reference(name, *args, **kwargs):
    """Call fastnn.functional.<name> and fastnn.reference.<name> on the same
    arguments; assert that every output agrees and that no input array was
    modified. Returns the functional outputs."""
    from fastnn import functional, reference
    arrays = [a for a in list(args) + list(kwargs.values()) if isinstance(a, np.ndarray)]
    before = [a.copy() for a in arrays]
    got = functional.__dict__[name](*args, **kwargs)
    for a, b in zip(arrays, before):
        assert np.array_equal(a, b, equal_nan=True), f"{name} modified one of its inputs"
    ref_args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    ref_kwargs = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in kwargs.items()}
    want = reference.__dict__[name](*ref_args, **ref_kwargs)
    floats = [a.dtype for a in arrays if a.dtype.kind == "f"]
    scalar_rtol = RTOL[floats[0]] if floats else None   # Python-float outputs: the inputs' precision
    for i, (g, w) in enumerate(zip(_as_tuple(got), _as_tuple(want))):
        if w is None or g is None:
            assert g is None and w is None, f"{name} output {i}: {g!r} vs {w!r}"
        elif isinstance(w, float):
            assert isinstance(g, float), f"{name} output {i}: expected a Python float, got {type(g)}"
            assert_close(np.array(g), np.array(w), rtol=scalar_rtol, name=f"{name} output {i}")
        elif isinstance(w, np.ndarray):
            assert g.dtype == w.dtype, f"{name} output {i}: dtype {g.dtype} != {w.dtype}"
            assert_close(g, w, name=f"{name} output {i}")
    return got
