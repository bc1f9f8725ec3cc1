#!/usr/bin/env bash
# Sets up and runs the whole test suite. The suites that sweep ../shared/data run when that
# folder exists (or CXR_SHARED_DATA points at one).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
if [ -z "${CXR_SHARED_DATA:-}" ] && [ -d ../shared/data ]; then
  export CXR_SHARED_DATA="$(cd ../shared/data && pwd)"
fi
echo "test: shared data sweep: ${CXR_SHARED_DATA:-off (no ../shared/data)}" >&2
# The CLI tests run the cxreview binary, so build the products before the tests.
swift build
exec swift test "$@"
