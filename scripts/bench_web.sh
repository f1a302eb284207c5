#!/usr/bin/env bash
# Speed of the web app over a 100k-face library (see benches/web.rs). The library is built once by
# the scale benchmark and kept under target/bench-web/; later runs measure the pages only.
#   scripts/bench_web.sh            # 100,000 faces
#   scripts/bench_web.sh 20000      # another size (its own library)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-100000}"
lib="$PWD/target/bench-web/lib-$n"
if [ ! -e "$lib/library.db" ]; then
  rm -rf "$lib"
  mkdir -p "$(dirname "$lib")"
  echo "building a $n-face library in $lib (once; several minutes)" >&2
  FACEGATE_BENCH_KEEP="$lib" FACEGATE_BENCH_BREAKDOWN=0 cargo bench --quiet --bench persons_scale -- "$n" >&2
fi
exec cargo bench --quiet --bench web -- "$lib"
