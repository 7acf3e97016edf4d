"""Thread safety: a thread-safe Numba threading layer is in use (never the
`workqueue` fallback, which aborts the process under concurrent calls), and
concurrent calls from several Python threads into every kernel family give
the same results as serial ones."""
import os
import subprocess
import sys
import threading

import numba
import numpy as np
import pytest

import fastnn.functional as F
from fastnn import optim
from fastnn.testing import rand


def _run(code, **env):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, **env}, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_fastnn_selects_a_thread_safe_layer():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    code = ("import numpy as np, numba, fastnn.functional as F; F.relu(np.ones(1 << 17));"
            "print(numba.threading_layer())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() in ("omp", "tbb")


def test_an_explicit_user_choice_is_respected():
    code = "import fastnn, numba; print(numba.config.THREADING_LAYER)"
    assert _run(code, NUMBA_THREADING_LAYER="omp") == "omp"


def test_only_small_cpu_work_is_run_serially():
    from fastnn.kernels.cpu._threads import PARALLEL_MIN, serial_if_small
    n = numba.get_num_threads()
    for work, inside in ((PARALLEL_MIN - 1, 1), (PARALLEL_MIN, n), (None, n)):   # None: a GPU call
        with serial_if_small(work):
            assert numba.get_num_threads() == inside, work
        assert numba.get_num_threads() == n


def test_serial_calls_restore_the_thread_count_in_a_fresh_process_and_thread():
    # the first call of a process, in a thread of its own, before any parallel kernel:
    # serial_if_small's setters need the threading layer up (kernels/cpu/_threads.py)
    code = ("import threading, numba, numpy as np, fastnn.functional as F\n"
            "from fastnn.kernels.cpu._threads import serial_if_small\n"
            "seen = []\n"
            "def call():\n"
            "    with serial_if_small(1):\n"
            "        seen.append(numba.get_num_threads())\n"
            "    seen.append(numba.get_num_threads())\n"
            "    F.relu(np.ones(8, np.float32))\n"
            "    seen.append(numba.get_num_threads())\n"
            "t = threading.Thread(target=call); t.start(); t.join()\n"
            "print(*seen, numba.config.NUMBA_NUM_THREADS)")
    inside, after, after_kernel, total = map(int, _run(code).split())
    assert (inside, after, after_kernel) == (1, total, total)


def _families(rng):
    """One closure per kernel family, each large enough to run on both threads."""
    x = rand((8, 16, 32, 32), np.float32, rng)
    w = rand((16, 16, 3, 3), np.float32, rng)
    xw, ww = rand((4, 32, 12, 12), np.float32, rng), rand((32, 32, 3, 3), np.float32, rng)
    logits = rand((512, 300), np.float32, rng)
    target = rng.integers(0, 300, 512)
    seq = rand((6, 16, 32), np.float32, rng)
    wi, wh = rand((4 * 64, 32), np.float32, rng), rand((4 * 64, 64), np.float32, rng)
    dout = rand((6, 16, 64), np.float32, rng)
    return {
        "conv": lambda: F.conv2d_backward(F.conv2d(x, w, None, 1, 1), x, w, 1, 1),
        "winograd": lambda: F.conv2d_backward(F.conv2d(xw, ww, None, 1, 1), xw, ww, 1, 1),
        "pool": lambda: F.max_pool2d_backward(F.max_pool2d(x, 2), x, 2),
        "adaptive_pool": lambda: F.adaptive_avg_pool2d_backward(F.adaptive_avg_pool2d(x, 3), x, 3),
        "softmax": lambda: F.cross_entropy(logits, target)[1] + F.softmax(logits),
        "activations": lambda: F.tanh(F.sigmoid(F.relu(x))),
        "batch_norm": lambda: F.batch_norm_backward(x, F.batch_norm(x, None, None, None, None)[1]),
        "dropout": lambda: F.dropout(x, 0.3, seed=4)[0],
        "lstm": lambda: F.lstm_backward(dout, None, None, F.lstm(seq, None, None, wi, wh)[3]),
        "linear": lambda: F.linear_backward(logits, logits, logits[:300].copy()),
    }


def _flatten(result):
    if isinstance(result, tuple):
        return [a for r in result for a in _flatten(r)]
    return [result] if isinstance(result, np.ndarray) else []


def test_concurrent_calls_give_the_serial_results(rng):
    families = _families(rng)
    expected = {name: _flatten(fn()) for name, fn in families.items()}
    errors = []

    def worker(seed):
        order = list(families)
        np.random.default_rng(seed).shuffle(order)
        try:
            for _ in range(3):
                for name in order:
                    for got, want in zip(_flatten(families[name]()), expected[name]):
                        np.testing.assert_array_equal(got, want, err_msg=name)
        except Exception as e:          # collected: an assert in a thread would be lost
            errors.append(e)
    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert numba.threading_layer() in ("omp", "tbb")


def test_concurrent_optimizers(rng):
    """Separate optimizers stepping in separate threads do not disturb each other."""
    grads = [rand((1 << 17,), np.float32, rng) for _ in range(3)]

    def trajectory():
        params = [np.ones(1 << 17, np.float32) for _ in range(3)]
        opt = optim.Adam(params, lr=0.01)
        for _ in range(5):
            opt.step(grads)
        return params
    want = trajectory()
    results = [None] * 4

    def worker(i):
        results[i] = trajectory()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        for a, b in zip(r, want):
            np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_import_compiles_nothing_and_a_second_process_loads_kernels_from_the_cache(tmp_path):
    code = ("import fastnn.kernels.cpu as k, numba;"
            "import fastnn;"
            "d = [getattr(k, n) for n in dir(k) if isinstance(getattr(k, n), numba.core.registry.CPUDispatcher)];"
            "assert d and all(not f.signatures for f in d), 'compiled at import';"
            "import numpy as np, fastnn.functional as F;"
            "F.softmax(np.ones((3, 4))); F.relu(np.ones(5));"
            "print(k.softmax_forward.stats.cache_hits and 1 or 0, len(k.softmax_forward.stats.cache_misses))")
    env = {"NUMBA_CACHE_DIR": str(tmp_path)}
    first = _run(code, **env)
    second = _run(code, **env)
    assert first.split()[1] != "0", "the first process should have compiled (cold cache)"
    assert second == "1 0", f"the second process should load from the cache, got {second}"
