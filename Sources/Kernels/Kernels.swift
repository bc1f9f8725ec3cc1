// Module Kernels: filled in by the commits that follow.
