"""Numba kernels only: plain arrays in, plain arrays out; no I/O, no logging."""
