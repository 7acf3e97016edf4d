"""C = op(A) @ op(B) (+ C): the GEMM under convolution, linear and the RNNs.

With CuPy installed the product goes to cuBLAS. Otherwise a tiled kernel
(Kirk & Hwu, "Programming Massively Parallel Processors", ch. 5-6; Volkov &
Demmel, "Benchmarking GPUs to tune dense linear algebra", SC 2008):

- a block of 16x16 threads computes a (16R)x(16R) tile of C, staging
  16x(16R) slices of op(A) and op(B) through shared memory, so each global
  element is read K/(16R) times instead of K times;
- each thread keeps an RxR block of C in registers, on R adjacent rows and
  R adjacent columns. Per step of k it reads its R values of each slice row
  in one 16-byte shared load (R = 4, float32) and does R*R FMAs. An SM
  serves one warp-wide shared load pass a cycle against four warp FMAs:
  at R = 4 a step's 16 FMAs take 4 cycles and its loads 3 passes, so the
  FMAs set the pace. The kernel before (one output a thread) made 20 loads
  per 16 FMAs, which held it near a fifth of the FMA peak; R = 2 is at half.
- R is 4 when that still gives BLOCKS_WANTED blocks, else 2: an RNN step's
  gates, (64, 4H), would leave most of an H100 idle at R = 4.
- Products with too few tiles of C for that and a long K (conv's dW: a
  64x576 C from K = N*OH*OW, 36 blocks) split K too: blockIdx.z takes one
  range of k and writes its own partial C, and reduce.add_slices adds the
  partials in order (deterministic, no atomics).

SASS (bench/sass_counts.py, sm_90, float32, R = 4): a slice (16 values of
k) takes 368 instructions: 256 FFMA, 32 LDS.128, and the 8 global loads of
the next slice with their bounds, about 7 instructions each besides the
load and its shared store. A and B are read as flat C-contiguous arrays at
u32 offsets (row * ld + k): an element's address is then one IMAD.WIDE from
the offset. Indexing them as 2-D arrays took 398: 64-bit index products,
the strides reloaded for every load; 64-bit sums and compares took 431.
Keeping each load's offset in a register across slices cut 7 more but took
72 registers instead of 64, which costs a block per SM. 64 registers, no
spills. Not yet timed on a GPU.

op() is a transpose chosen by flag, compiled in: the slice loads read along
whichever axis of A or B is contiguous, so a warp's loads stay coalesced.
"""
import functools

import numba
import numpy as np
from numba import cuda

from ._device import MAX_GRID_Y, as_contiguous, as_device, device_empty, flat, needs_64_bit, u32, view
from ._launch import kernel
from .reduce import add_slices

TILE = 16                 # threads a side of a block, and the k-depth of a step
BLOCKS_WANTED = 256       # about two blocks per SM on an H100 (132 SMs)
MIN_SPLIT = 1024          # values of k a split of K runs at least: shorter splits would gain less
                          # than their extra launch and partial C cost (an RNN step's K = 512 stays whole)
SHARED_ALIGNMENT = None if numba.config.ENABLE_CUDASIM else 16   # the simulator takes none

try:                      # cuBLAS through CuPy, when present (never under the simulator)
    import cupy as _cupy
    import cupy.cublas  # noqa: F401  (loads the submodule behind _cupy.cublas)
except ImportError:
    _cupy = None
if numba.config.ENABLE_CUDASIM:
    _cupy = None


@functools.cache
def _tiled_kernel(dtype, R, ta, tb, wide):
    """The tiled kernel for one dtype, RxR outputs a thread and op() (shared
    and local arrays take compile-time types and shapes). Indices are unsigned
    32-bit, or signed 64-bit when `wide` (_device.needs_64_bit)."""
    nbt = numba.from_dtype(dtype)
    index = numba.int64 if wide else u32
    T = TILE * R                  # the block's tile of C is T x T
    PADDED = T + 4                # a slice row: 16-byte aligned, and a warp's column stores spread over banks

    @cuda.jit(device=True)
    def slice_element(e, along_k):
        """(k, i) of element e of a TILE x T slice whose contiguous axis in memory
        is k (along_k) or i: consecutive threads take consecutive elements of it."""
        if along_k:
            return index(e % TILE), index(e // TILE)
        return index(e // T), index(e % T)

    @kernel
    def gemm(A, lda, B, ldb, K, C, accumulate, zero, y0, k_chunk):
        """C[z] (+)= the product over k in [z * k_chunk, (z + 1) * k_chunk) for
        z = blockIdx.z: C is (splits of K, M, N). A and B are flat C-contiguous
        matrices with rows of lda and ldb elements."""
        # Sizes in index's type too: Numba compares an unsigned integer with a
        # signed one in float64.
        M, N = index(C.shape[1]), index(C.shape[2])
        lda, ldb = index(lda), index(ldb)
        z = index(cuda.blockIdx.z)
        k_start = z * index(k_chunk)
        K = index(min(index(K), k_start + index(k_chunk)))
        # sA[k, i] = op(A)[m0 + i, k0 + k], sB[k, j] = op(B)[k0 + k, n0 + j]
        sA = cuda.shared.array((TILE, PADDED), nbt, alignment=SHARED_ALIGNMENT)
        sB = cuda.shared.array((TILE, PADDED), nbt, alignment=SHARED_ALIGNMENT)
        acc = cuda.local.array((R, R), nbt)        # registers: every index is a constant
        b = cuda.local.array(R, nbt)
        tx, ty = index(cuda.threadIdx.x), index(cuda.threadIdx.y)
        t = ty * index(TILE) + tx
        # This thread's rows and columns of the tile start here. Signed 64-bit, so
        # that LLVM sees the R loads from a slice row as adjacent and merges them.
        i0, j0 = numba.int64(ty * R), numba.int64(tx * R)
        m0, n0 = index(cuda.blockIdx.y + y0) * index(T), index(cuda.blockIdx.x) * index(T)
        for i in range(R):
            for j in range(R):
                acc[i, j] = zero
        k0 = k_start
        while k0 < K:
            for r in range(R):
                e = t + index(r * TILE * TILE)
                k, i = slice_element(e, not ta)
                row, kk = index(m0 + i), index(k0 + k)
                at = index(index(kk * lda) + row) if ta else index(index(row * lda) + kk)
                sA[k, i] = A[at] if row < M and kk < K else zero
                k, j = slice_element(e, tb)
                col, kk = index(n0 + j), index(k0 + k)
                at = index(index(col * ldb) + kk) if tb else index(index(kk * ldb) + col)
                sB[k, j] = B[at] if col < N and kk < K else zero
            cuda.syncthreads()
            k = u32(0)
            while k < u32(TILE):       # unrolled by NVVM; a range(TILE) loop was not
                for j in range(R):
                    b[j] = sB[k, j0 + j]
                for i in range(R):
                    a = sA[k, i0 + i]
                    for j in range(R):
                        acc[i, j] += a * b[j]
                k += u32(1)
            cuda.syncthreads()
            k0 += index(TILE)
        for i in range(R):
            row = m0 + index(i0 + i)
            for j in range(R):
                col = n0 + index(j0 + j)
                if row < M and col < N:
                    C[z, row, col] = C[z, row, col] + acc[i, j] if accumulate else acc[i, j]

    return gemm


def _per_thread(M, N):
    """R: 4 when its tiles of C still make BLOCKS_WANTED blocks, else 2."""
    return 4 if -(-M // (TILE * 4)) * -(-N // (TILE * 4)) >= BLOCKS_WANTED else 2


def _k_chunk(blocks, K):
    """The k-range of one split of K: all of K when the tiles of C make
    BLOCKS_WANTED blocks, else a multiple of TILE of at least MIN_SPLIT."""
    splits = min(-(-BLOCKS_WANTED // blocks), K // MIN_SPLIT)
    if splits <= 1:
        return max(K, 1)
    return -(-K // (splits * TILE)) * TILE


def matmul(A, B, C, ta=False, tb=False, accumulate=False):
    """C (M, N) <- op(A) @ op(B), or C += that with accumulate. op(X) = X^T when its flag is set."""
    if C.size == 0:
        return
    if _cupy is None or A.size == 0:         # cuBLAS refuses K = 0 (a leading dimension of 0)
        tiled_matmul(A, B, C, ta, tb, accumulate)
        return
    cublas_matmul(A, B, C, ta, tb, accumulate)


_SCALARS = {np.dtype(t): (np.ones((), t), np.zeros((), t)) for t in (np.float32, np.float64)}


def cublas_matmul(A, B, C, ta=False, tb=False, accumulate=False):
    """matmul by cuBLAS (CuPy installed; C C-contiguous), called on the arrays'
    pointers. In cuBLAS's column-major terms a row-major C is C^T, so this asks
    for C^T = op(B)^T op(A)^T, which reads A and B as they lie. Through CuPy's
    arrays (three made a call, then cupy.cublas.gemm) an LSTM over 50 steps,
    fwd + bwd, took 35.0 ms on an H100 host, and lstm_cell 396 us; on the
    pointers, 17.4 ms and 251 us (same process). A product now costs 30 us
    of host time, 24 of them in cuBLAS's own sgemm call."""
    from cupy_backends.cuda.libs import cublas
    A, B = as_contiguous(A), as_contiguous(B)
    (M, N), K = C.shape, A.shape[0] if ta else A.shape[1]
    one, zero = _SCALARS[C.dtype]
    gemm = cublas.sgemm if C.dtype == np.float32 else cublas.dgemm
    handle = _cupy.cuda.device.get_cublas_handle()       # on CuPy's current stream: the default one
    mode = cublas.getPointerMode(handle)
    cublas.setPointerMode(handle, cublas.CUBLAS_POINTER_MODE_HOST)      # alpha and beta on the host
    try:
        gemm(handle, int(tb), int(ta), N, M, K, one.ctypes.data, _pointer(B), B.shape[1], _pointer(A),
             A.shape[1], (one if accumulate else zero).ctypes.data, _pointer(as_device(C)), N)
    finally:
        cublas.setPointerMode(handle, mode)


def _pointer(a):
    return a.device_ctypes_pointer.value or 0


def tiled_matmul(A, B, C, ta=False, tb=False, accumulate=False):
    """matmul by the tiled kernel, CuPy or not (C not empty, C-contiguous)."""
    (M, N), A, B = C.shape, as_contiguous(A), as_contiguous(B)
    K = A.shape[0] if ta else A.shape[1]
    R = _per_thread(M, N)
    rows, cols = -(-M // (TILE * R)), -(-N // (TILE * R))
    k_chunk = _k_chunk(rows * cols, K)
    splits = max(1, -(-K // k_chunk))
    out = view(C, (1, M, N)) if splits == 1 else device_empty((splits, M, N), C.dtype)
    gemm = _tiled_kernel(C.dtype, R, ta, tb, needs_64_bit(A, B, out))
    for y0 in range(0, rows, MAX_GRID_Y):           # tile rows past the grid's y limit: more launches
        gemm[(cols, min(MAX_GRID_Y, rows - y0), splits), (TILE, TILE)](
            flat(A), A.shape[1], flat(B), B.shape[1], K, out, accumulate and splits == 1, C.dtype.type(0),
            y0, k_chunk)
    if splits > 1:
        add_slices(view(out, (splits, C.size)), flat(C), accumulate)
