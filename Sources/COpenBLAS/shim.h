// OpenBLAS (Debian libopenblas-dev, pthread flavour): CBLAS plus the thread-count controls, and the
// two LAPACK routines of its bundled LAPACK that Kernels/LinearAlgebra+OpenBLAS.swift calls.
#include <cblas.h>

// Debian's libopenblas-dev ships no lapacke.h, so the Fortran entry points are declared here.
// Fortran calling convention: every argument by pointer, matrices column-major, `info` written
// on return (0: success; > 0: the leading minor of that order is not positive definite; < 0: the
// argument at that position is invalid). `uplo_length` is gfortran's hidden length of the
// character argument (pass 1); OpenBLAS's own C implementations ignore it. The caller owns `a`,
// which is overwritten in place. Not thread-safe with respect to `a`; otherwise reentrant.

/// Cholesky factorisation A = L·Lᵀ ('L') or Uᵀ·U ('U') of a symmetric positive definite matrix.
void dpotrf_(const char *uplo, const blasint *n, double *a, const blasint *lda, blasint *info, size_t uplo_length);
/// The inverse of A from dpotrf_'s factor, into the same triangle.
void dpotri_(const char *uplo, const blasint *n, double *a, const blasint *lda, blasint *info, size_t uplo_length);
