#!/usr/bin/env bash
# The main job on the bundled samples: sets up, builds a release binary, copies samples/ into a
# fresh inbox and runs `cxreview watch --once` on it, which writes a PDF report per scan and a
# batch summary, archives the inputs and audits every step; then says where everything is.
# samples/ itself is never moved or changed. Extra arguments go to `cxreview watch`.
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
echo "Research use only. Not for diagnostic use."
exit "$status"
