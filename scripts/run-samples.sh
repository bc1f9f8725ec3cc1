#!/usr/bin/env bash
# Sets up, builds a release binary and classifies the bundled samples.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
swift build -c release --product cxreview >&2
bin=$(swift build -c release --show-bin-path)/cxreview
model_args=()
if [ ! -f "models/cxreview-resnet18.safetensors" ] && [ -z "${CXREVIEW_MODEL:-}" ]; then
  # No trained model ships yet (it comes with the training work): run the pipeline with the
  # random-weight test model, which the output labels as untrained.
  model_args=(--model Tests/Fixtures/e2e/resnet18-random-f16.safetensors)
fi
exec "$bin" classify samples/*.dcm samples/*.png samples/*.jpeg "${model_args[@]}" "$@"
