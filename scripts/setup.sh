#!/usr/bin/env bash
# Installs what CXReview needs on Debian 12 when it is missing (needs root or sudo), then checks
# the Swift toolchain. Safe to run again: it installs nothing that is already there.
set -euo pipefail

packages=(
  pkg-config
  libdcmtk-dev dcmtk          # DICOM decoding; the dcm*2pnm tools render references in the sweep tests
  libopenjp2-7-dev            # JPEG 2000 and HTJ2K pixel data (Debian's DCMTK has no JPEG 2000 codec)
  libgdcm-tools               # gdcmconv --raw: an independent JPEG 2000 decoder for the sweep tests
  libopenblas-dev             # dsyrk and LAPACK for calibrate-ood; the sgemm reference in the kernel tests
  libpng-dev libjpeg62-turbo-dev
  libcairo2-dev libpango1.0-dev fonts-dejavu-core   # figures and reports
  fonts-noto-cjk              # Chinese, Japanese and Korean file names in reports (else printed as [U+XXXX])
  poppler-utils               # pdftotext/pdfinfo/pdfimages in the report tests
  dicom3tools                 # dciodvfy/dcentvfy: independent checks of the DICOM results (DICOMResultsTests)
  pixelmed-apps               # DicomSRValidator: an independent check of the results' TID 1500 SR
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
  for d in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
    [ -x "$d/swift" ] && export PATH="$d:$PATH"
  done
fi
if ! command -v swift >/dev/null 2>&1; then
  echo "setup: no Swift toolchain found. Install Swift 6 for Linux (swift.org) and put its usr/bin on PATH." >&2
  exit 1
fi
