"""fastnn.kernels: compiled kernels. `cpu` holds the Numba @njit kernels,
`cuda` the numba.cuda ones (imported on first GPU use, so that fastnn works
on machines without CUDA)."""
