"""Cached kernels go stale with any source of their folder, not only their own.

Numba keys a cached kernel by the content of the file that defines it, not of
the helpers it inlines from sibling files (kernels/cpu/_math.py's exp, tanh
and row sums; kernels/cuda/reduce.py's block sums). After an edit or an
upgrade that changed only a helper, each kernel using it would go on loading
its old machine code. Here the key of every kernel in kernels/cpu and kernels/cuda
also holds a hash of all the Python sources of its folder: any change there
recompiles that folder's kernels, each on its first call.

Numba has no public hook for a key (NUMBA_CACHE_LOCATOR_CLASSES would be the
user's to set), so `install` puts twins of Numba's file-backed locators in
front of its own, in Numba's order (a directory the user names first, then
__pycache__, then the user-wide cache), answering only for files in these
folders. Numba and numba-cuda keep separate lists; where either lacks the
names used here, nothing is installed and Numba's per-file keys apply.
"""
import functools
import hashlib
import os

_FOLDERS = frozenset(os.path.join(os.path.dirname(os.path.abspath(__file__)), d) for d in ("cpu", "cuda"))


@functools.cache
def _folder_hash(folder):
    """sha256 over the names and contents of the folder's .py files, read once a process."""
    h = hashlib.sha256()
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            with open(os.path.join(folder, name), "rb") as f:
                h.update(name.encode() + b"\0" + f.read() + b"\0")
    return h.hexdigest()


def _folder_stamped(locator):
    """A subclass of Numba's `locator` for the kernel folders' files, whose source
    stamp adds the folder's hash to the file's own."""
    class FolderStamped(locator):
        _fastnn = True

        @classmethod
        def from_function(cls, py_func, py_file):
            if os.path.dirname(os.path.abspath(py_file)) not in _FOLDERS:
                return None
            return super().from_function(py_func, py_file)

        def get_source_stamp(self):
            return super().get_source_stamp(), _folder_hash(os.path.dirname(os.path.abspath(self._py_file)))

    FolderStamped.__name__ = FolderStamped.__qualname__ = "FolderStamped" + locator.__name__.lstrip("_")
    return FolderStamped


def install(caching, locator_names):
    """Put folder-stamped twins of caching.<locator_names> (Numba's order) first
    in caching.CacheImpl's locator list; once per list."""
    try:
        classes = caching.CacheImpl._locator_classes
        locators = [getattr(caching, name) for name in locator_names]
    except AttributeError:
        return
    if not any(getattr(c, "_fastnn", False) for c in classes):
        classes[:0] = [_folder_stamped(c) for c in locators]
