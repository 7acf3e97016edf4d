"""kernels/_cache.py: a cached kernel is recompiled when any source of its
folder changes (a helper it inlines from a sibling file), and loaded from the
cache while none does."""
import os
import subprocess
import sys
import textwrap

import numba.core.caching

from fastnn.kernels import _cache
from fastnn.kernels.cpu import softmax_forward

KERNEL = """
from numba import njit
from ._helper import step

@njit(cache=True)
def kernel(x):
    return step(x)
"""
HELPER = """
from numba import njit

@njit(inline="always")
def step(x):
    return x + {}
"""
# A fresh process each time, as a user's next session: the folder joins the
# kernel folders, then the kernel is imported and called once.
RUN = """
import sys
from fastnn.kernels import _cache, cpu
_cache._FOLDERS = _cache._FOLDERS | {{{folder!r}}}
sys.path.insert(0, {root!r})
from pkg.kern import kernel
print(kernel(1), kernel.stats.cache_hits[kernel.signatures[0]])
"""


def test_a_helper_edit_recompiles_its_folders_kernels(tmp_path):
    folder = tmp_path / "pkg"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "kern.py").write_text(KERNEL)

    def run(increment):
        (folder / "_helper.py").write_text(HELPER.format(increment))
        code = RUN.format(folder=str(folder), root=str(tmp_path))
        out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                             env={k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}, timeout=300)
        assert out.returncode == 0, out.stderr
        value, hits = out.stdout.split()
        return int(value), int(hits)

    assert run(1) == (2, 0)         # compiled, and cached
    assert run(1) == (2, 1)         # nothing changed: loaded from the cache
    assert run(5) == (6, 0)         # only the helper changed: compiled again, not the stale 2


def test_the_folder_hash_covers_every_python_source_and_nothing_else(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    first = _cache._folder_hash.__wrapped__(str(tmp_path))
    (tmp_path / "notes.txt").write_text("not a source")
    assert _cache._folder_hash.__wrapped__(str(tmp_path)) == first
    (tmp_path / "b.py").write_text("")
    second = _cache._folder_hash.__wrapped__(str(tmp_path))
    (tmp_path / "a.py").write_text("x = 2\n")
    assert len({first, second, _cache._folder_hash.__wrapped__(str(tmp_path))}) == 3


def test_fastnns_kernels_are_stamped_and_others_are_not():
    locator = softmax_forward._cache._impl.locator
    folder = os.path.dirname(os.path.abspath(softmax_forward.py_func.__code__.co_filename))
    assert locator.get_source_stamp()[1] == _cache._folder_hash(folder)
    stamped = [c for c in numba.core.caching.CacheImpl._locator_classes if getattr(c, "_fastnn", False)]
    assert len(stamped) == 3        # installed once, however often the package is imported
    assert all(c.from_function(test_fastnns_kernels_are_stamped_and_others_are_not, __file__) is None
               for c in stamped)
