#!/usr/bin/env bash
# Detection quality: recall per face height and precision on ../shared/wider-dev, and faces found
# in tight portraits and rotated heads made from ../shared/faces (see benches/detect.rs).
#   scripts/bench_detect.sh                                   # the models in models/
#   FACEGATE_MODELS=models/blazeface scripts/bench_detect.sh  # BlazeFace, for comparison
#   FACEGATE_BENCH_STEP=4 scripts/bench_detect.sh             # every 4th WIDER photo
set -euo pipefail
cd "$(dirname "$0")/.."
export FACEGATE_MODELS="${FACEGATE_MODELS:-models}"
case "$FACEGATE_MODELS" in /*) ;; *) FACEGATE_MODELS="$PWD/$FACEGATE_MODELS" ;; esac
exec cargo bench --quiet --bench detect
