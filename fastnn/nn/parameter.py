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

    def accumulate_grad(self, g):
        """grad += g (grad starts as a copy of the first g)."""
        if isinstance(g, np.ndarray):
            if self.grad is None:
                self.grad = g.copy()
            else:
                self.grad += g
            return
        from ..kernels.cuda import add, device_copy
        if self.grad is None:
            self.grad = device_copy(g)
        else:
            add(self.grad, g, self.grad)

    def __repr__(self):
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"
