#!/usr/bin/env bash
# Sets up and runs the whole test suite, then the numerical suites once more on the portable
# kernels. The suites that sweep ../shared/data run when that folder exists (or CXR_SHARED_DATA
# points at one). Arguments (e.g. --filter X) run just those tests, once.
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
# The PACS round trip (WatcherTests/DICOMNetworkWatchTests) runs a private Orthanc on loopback ports.
# Debian's orthanc package is installed when apt can (CXR_NO_ORTHANC=1 skips that), with its system
# service kept from starting (policy-rc.d) and then disabled; without it, that one test is skipped.
if [ ! -x /usr/sbin/Orthanc ] && [ -z "${CXR_NO_ORTHANC:-}" ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null 2>&1 &&
      $sudo chmod +x /usr/sbin/policy-rc.d && made_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends orthanc >/dev/null 2>&1 ||
    echo "test: orthanc could not be installed" >&2
  [ -z "$made_policy" ] || $sudo rm -f /usr/sbin/policy-rc.d
  if command -v systemctl >/dev/null 2>&1; then $sudo systemctl disable --now orthanc >/dev/null 2>&1 || true; fi
fi
if [ -x /usr/sbin/Orthanc ]; then
  echo "test: PACS round trip: $(/usr/sbin/Orthanc --version 2>/dev/null | head -1 || echo Orthanc)" >&2
else
  echo "test: PACS round trip: skipped (no Orthanc)" >&2
fi
echo "test: shared data sweep: ${CXR_SHARED_DATA:-off (no ../shared/data)}" >&2
echo "test: kernels: CXR_KERNEL=${CXR_KERNEL:-auto}, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-auto}" >&2
# The mutation fuzz run (CLITests/MutationFuzzTests): mutants of the DICOM, PNG and JPEG
# fixtures for this many seconds; it fails on a crash, a hang, a non-finite probability or a
# decoder child over 1 GB. CXR_FUZZ_SEED chooses another sequence of mutants.
export CXR_FUZZ_SECONDS="${CXR_FUZZ_SECONDS:-90}"
echo "test: mutation fuzz: ${CXR_FUZZ_SECONDS} s, seed ${CXR_FUZZ_SEED:-1}" >&2
# The CLI tests run the cxreview binary, so build the products before the tests.
swift build
if [ $# -gt 0 ] || [ -n "${CXR_KERNEL:-}" ]; then
  exec swift test "$@"
fi
# The whole suite on the kernels this CPU gets, then the numerical suites again on the portable
# ones, so that a result which holds only for one kernel family fails here.
swift test
echo "test: the numerical suites again with CXR_KERNEL=portable OPENBLAS_CORETYPE=Prescott" >&2
CXR_KERNEL=portable OPENBLAS_CORETYPE=Prescott exec swift test --skip-build \
  --filter 'TrainingTests|KernelsTests|ResNetTests|CAMTests'
