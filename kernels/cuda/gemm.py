"""C = op(A) @ op(B) (+ C): the GEMM under convolution, linear and the RNNs.

With CuPy installed the product goes to cuBLAS. Otherwise a classic tiled
kernel (Kirk & Hwu, "Programming Massively Parallel Processors", ch. 5):
each 16x16 block of threads computes a 16x16 tile of C, staging 16x16 tiles
of A and B through shared memory so each global element is read K/16 times
instead of K times. op() is a transpose chosen by flag, never a copy.
"""
import numba
from numba import cuda

from ._device import as_device
from ._launch import kernel

TILE = 16
_tiled = {}

try:                      # cuBLAS through CuPy, when present (never under the simulator)
    import cupy as _cupy
    import cupy.cublas  # noqa: F401  (loads the submodule behind _cupy.cublas)
except ImportError:
    _cupy = None
if numba.config.ENABLE_CUDASIM:
    _cupy = None


def _tiled_kernel(dtype):
    """The tiled kernel for one dtype (shared arrays need a compile-time type)."""
    if dtype in _tiled:
        return _tiled[dtype]
    nbt = numba.from_dtype(dtype)

    @kernel
    def gemm(A, B, C, ta, tb, accumulate, zero):
        M, N = C.shape
        K = A.shape[0] if ta else A.shape[1]
        sA = cuda.shared.array((TILE, TILE), nbt)
        sB = cuda.shared.array((TILE, TILE), nbt)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        row = cuda.blockIdx.y * TILE + ty
        col = cuda.blockIdx.x * TILE + tx
        acc = zero
        for t in range((K + TILE - 1) // TILE):
            ka, kb = t * TILE + tx, t * TILE + ty
            if row < M and ka < K:
                sA[ty, tx] = A[ka, row] if ta else A[row, ka]
            else:
                sA[ty, tx] = zero
            if col < N and kb < K:
                sB[ty, tx] = B[col, kb] if tb else B[kb, col]
            else:
                sB[ty, tx] = zero
            cuda.syncthreads()
            for k in range(TILE):
                acc += sA[ty, k] * sB[k, tx]
            cuda.syncthreads()
        if row < M and col < N:
            C[row, col] = C[row, col] + acc if accumulate else acc

    _tiled[dtype] = gemm
    return gemm


def matmul(A, B, C, ta=False, tb=False, accumulate=False):
    """C (M, N) <- op(A) @ op(B), or C += that with accumulate. op(X) = X^T when its flag is set."""
    M, N = C.shape
    if M == 0 or N == 0:
        return
    if _cupy is not None:
        # cuBLAS writes C in place: C = alpha op(A) op(B) + beta C, no temporary
        a, b, c = (_cupy.asarray(v) for v in (A, B, C))
        _cupy.cublas.gemm("T" if ta else "N", "T" if tb else "N", a, b, out=c,
                          alpha=1.0, beta=1.0 if accumulate else 0.0)
        return
    A, B = as_device(A), as_device(B)
    kernel = _tiled_kernel(C.dtype)
    grid = ((N + TILE - 1) // TILE, (M + TILE - 1) // TILE)
    kernel[grid, (TILE, TILE)](A, B, C, ta, tb, accumulate, C.dtype.type(0))

