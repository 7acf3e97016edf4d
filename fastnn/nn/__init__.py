"""fastnn.nn: layers as modules with PyTorch's names, arguments and state dicts."""
from .parameter import Parameter

__all__ = ["Parameter"]
