"""Parameter: an array with a gradient slot, as torch.nn.Parameter."""
import numpy as np


class Parameter:
    """A trainable array. `data` is the array itself (updated in place by
    optimizers); `grad` is None until a backward fills it, then an array of
    data's shape and dtype that later backwards accumulate into, as torch."""

    __slots__ = ("data", "grad")

    def __init__(self, data):
        self.data = data if hasattr(data, "__cuda_array_interface__") else np.ascontiguousarray(data)
        self.grad = None

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    def accumulate_grad(self, g, take=False):
        """grad += g. The first g starts grad: as a copy, or, with take=True, as g
        itself. take is for a gradient that its caller has just computed and
        holds nowhere else, as the modules' backwards do (torch's AccumulateGrad
        likewise keeps an unshared gradient): it saves a copy of every parameter
        a step, and on the GPU a kernel launch each."""
        if self.grad is None:
            self.grad = g if take else _copy(g)
        elif isinstance(g, np.ndarray):
            self.grad += g
        else:
            from ..kernels.cuda import add
            add(self.grad, g, self.grad)

    def __repr__(self):
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


def _copy(g):
    if isinstance(g, np.ndarray):
        return g.copy()
    from ..kernels.cuda import device_copy
    return device_copy(g)
