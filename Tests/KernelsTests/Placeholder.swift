// Tests for Kernels: filled in by the commits that follow.
