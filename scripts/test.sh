#!/usr/bin/env bash
# Sets up and runs the whole test suite. The suites that sweep ../shared/data run when that
# folder exists (or CXR_SHARED_DATA points at one).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
if [ -z "${CXR_SHARED_DATA:-}" ] && [ -d ../shared/data ]; then
  export CXR_SHARED_DATA="$(cd ../shared/data && pwd)"
fi
# CXR_KERNEL=portable runs on the slowest, portable kernels, to show that the numerical suites
# do not depend on the CPU's: our own kernels read CXR_KERNEL at run time; OpenBLAS chooses its
# kernels when it loads, from OPENBLAS_CORETYPE (Prescott: SSE3 only), so that is set here.
if [ "${CXR_KERNEL:-}" = portable ]; then
  export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-Prescott}"
fi
echo "test: shared data sweep: ${CXR_SHARED_DATA:-off (no ../shared/data)}" >&2
echo "test: kernels: CXR_KERNEL=${CXR_KERNEL:-auto}, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-auto}" >&2
# The CLI tests run the cxreview binary, so build the products before the tests.
swift build
exec swift test "$@"
