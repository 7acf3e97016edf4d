"""Non-temporal stores, for buffers that another core reads next.

A kernel that fills a scratch buffer which BLAS then reads on both cores
leaves the buffer's lines shared between the cores' caches. Filling it again
on the next call has to take each line back from the other core before
writing it (a read-for-ownership probe), and on this machine that made
Winograd's input transform 2.5x slower (1.13 ms against 0.44) whenever its
two threads ran on different physical cores. A non-temporal store writes
the line without reading it first, so the probe is not waited on; the
buffer then goes to memory rather than to this core's cache, which the
GEMM that reads it next does not mind (it streams the whole buffer anyway).

store_nontemporal(a, i, j, v) is a[i, j] = v with LLVM's !nontemporal
metadata; the loop vectoriser keeps the metadata, so a loop of them becomes
vmovntps/vmovntpd.
"""
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def store_nontemporal(typingctx, a, i, j, v):
    """a[i, j] = v for a 2-D array a, as a non-temporal store (no bounds check, no wraparound)."""
    if not (isinstance(a, types.Array) and a.ndim == 2 and isinstance(i, types.Integer)
            and isinstance(j, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        aty, ity, jty, vty = sig.args
        ary = context.make_array(aty)(context, builder, args[0])
        idx = [context.cast(builder, args[1], ity, types.intp),
               context.cast(builder, args[2], jty, types.intp)]
        ptr = cgutils.get_item_pointer(context, builder, aty, ary, idx, wraparound=False)
        store = builder.store(context.cast(builder, args[3], vty, aty.dtype), ptr)
        store.set_metadata("nontemporal", builder.module.add_metadata([ir.IntType(32)(1)]))
        return context.get_dummy_value()
    return types.void(a, i, j, v), codegen
