#!/usr/bin/env bash
# The main job on the bundled samples: sets up, builds a release binary, copies samples/ into a
# fresh inbox and runs `cxreview watch --once` on it, which writes a PDF report per scan and a
# batch summary, archives the inputs and audits every step; then says where everything is.
# Then the DICOM network path on loopback: a second watcher listens (C-STORE SCP), DCMTK's storescu
# sends it the samples' DICOM scans, and their results come back as DICOM objects, listed at the end.
# samples/ itself is never moved or changed. Extra arguments go to the first `cxreview watch`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
swift build -c release --product cxreview >&2
bin=$(swift build -c release --show-bin-path)/cxreview
run="out/samples-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$run/inbox"
cp samples/*.dcm samples/*.png samples/*.jpeg "$run/inbox/"
status=0
"$bin" watch "$run/inbox" --out "$run/reports" --once --settle 0 --summary-every 3600 --status-every 3600 "$@" || status=$?
echo
echo "reports:         $run/reports/ ($(ls "$run/reports" | grep -vc '^summary-') per-scan PDFs)"
echo "triage summary:  $(ls "$run"/reports/summary-*.pdf 2>/dev/null | head -1)"
echo "inputs archived: $run/inbox/archive/   failed: $run/inbox/failed/"
echo "audit log:       $run/inbox/.cxreview/audit.jsonl (check: $bin audit verify $run/inbox)"

# The DICOM network path, on 127.0.0.1 only. storescu proposes each file's own transfer syntax
# (--required; -xy adds JPEG baseline, the compressed sample), so nothing is converted on the way.
net="$run/network"
mkdir -p "$net/inbox"
port=$((20000 + RANDOM % 20000))
while (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
"$bin" watch "$net/inbox" --out "$net/reports" --dicom-out "$net/dicom" --listen "$port" --ae-title CXREVIEW \
  --study-settle 1 --settle 0 --status-every 3600 2>"$net/watch.log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 240); do echoscu -aec CXREVIEW 127.0.0.1 "$port" 2>/dev/null && break; sleep 0.5; done
echo
echo "DICOM network demo: storescu sends the samples' DICOM scans to cxreview watch --listen $port"
storescu --required -xy -aet SAMPLES -aec CXREVIEW 127.0.0.1 "$port" samples/*.dcm || status=$?
want=$((3 * $(ls samples/*.dcm | wc -l)))
for _ in $(seq 1 240); do [ "$(ls "$net/dicom" 2>/dev/null | wc -l)" -ge "$want" ] && break; sleep 0.5; done
kill -TERM "$pid"; wait "$pid" || status=$?
echo "DICOM results in $net/dicom/ (each in its scan's study; watcher log: $net/watch.log):"
for f in "$net"/dicom/*.dcm; do
  [ -e "$f" ] || { echo "  none: see $net/watch.log"; status=1; break; }
  printf '  %s  %s\n' "$(basename "$f" | cut -c1-40)…" \
    "$(dcmdump -q +P 0008,0016 +P 0008,103E "$f" | sed -E 's/^[^=[]*[=[]//; s/\].*//; s/ *#.*//' | paste -sd '|' | sed 's/|/: /')"
done
[ "$(ls "$net/dicom" 2>/dev/null | wc -l)" -ge "$want" ] || status=1
echo "Research use only. Not for diagnostic use."
exit "$status"
