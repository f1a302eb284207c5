#!/usr/bin/env bash
# Indexing throughput of the release binary on generated photos.
#
#   scripts/bench_index.sh [small|large] [N]     (defaults: small; N = 200 small, 40 large)
#
# small: 250x250 face photos; large: 4000x3000 (12 MP) JPEGs, both q90, made from real photos by
# scripts/make_bench_photos.py into a temporary folder. Indexes them into a fresh library with
# `facegate index --json`, prints photos/s and wall time, then runs again to time the incremental
# no-op run. Environment:
#   FACEGATE_BIN=PATH     binary to measure (default target/release/facegate, built if missing)
#   JOBS=N                passed as --jobs (default: facegate's own default, the core count)
#   GRAIN=SIGMA           large mode: add camera-like noise (bigger, slower-to-decode files)
#   KEEP=1                keep the temporary folder (its path is printed)
#   PYTHON=PATH           a python with Pillow (default: .venv/bin/python, made if missing)
#   SOURCES=DIR           real photos to make the bench photos from (default: ../shared/faces/people,
#                         else sample-images/)
set -euo pipefail

mode=${1:-small}
case "$mode" in
  small) n=${2:-200} ;;
  large) n=${2:-40} ;;
  *) echo "usage: $0 [small|large] [N]" >&2; exit 64 ;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# --- a python with Pillow
python=${PYTHON:-}
if [[ -z "$python" ]]; then
  if [[ -x .venv/bin/python ]] && .venv/bin/python -c 'import PIL' 2>/dev/null; then
    python=.venv/bin/python
  elif python3 -c 'import PIL' 2>/dev/null; then
    python=python3
  else
    echo "setting up .venv with Pillow ..." >&2
    if [[ ! -x .venv/bin/python ]]; then
      python3 -m venv .venv || { rm -rf .venv; }
    fi
    if [[ -x .venv/bin/python ]] && .venv/bin/python -m pip install --quiet pillow; then
      python=.venv/bin/python
    else
      # No venv module (e.g. Debian without python3-venv): fall back to the user site.
      python3 -m pip install --quiet --user pillow
      python=python3
    fi
  fi
fi

# --- the binary
bin=${FACEGATE_BIN:-target/release/facegate}
if [[ ! -x "$bin" ]]; then
  echo "building $bin ..." >&2
  cargo build --release
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/facegate-bench-index.XXXXXX")
if [[ -n "${KEEP:-}" ]]; then
  echo "keeping $tmp" >&2
else
  trap 'rm -rf "$tmp"' EXIT
fi

gen_args=("$mode" "$n" "$tmp/photos" --facegate "$bin")
if [[ "$mode" == large && -n "${GRAIN:-}" ]]; then gen_args+=(--grain "$GRAIN"); fi
if [[ -n "${SOURCES:-}" ]]; then gen_args+=(--sources "$SOURCES"); fi
"$python" scripts/make_bench_photos.py "${gen_args[@]}"
du -sh "$tmp/photos" | awk '{print "photos on disk: " $1}' >&2

index_args=()
if [[ -n "${JOBS:-}" ]]; then index_args+=(--jobs "$JOBS"); fi

# Runs one index pass; prints a summary line from its JSON.
run_index() {
  local label=$1 out=$tmp/$2.json rc=0 t0 t1
  t0=$(date +%s.%N)
  "$bin" --library "$tmp/library" index "$tmp/photos" --json "${index_args[@]}" >"$out" 2>"$tmp/$2.err" || rc=$?
  t1=$(date +%s.%N)
  if [[ $rc -ne 0 && $rc -ne 2 ]]; then
    echo "facegate index failed (exit $rc):" >&2
    cat "$tmp/$2.err" >&2
    exit 1
  fi
  "$python" - "$out" "$t0" "$t1" "$label" "$mode" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
wall = float(sys.argv[3]) - float(sys.argv[2])
label, mode = sys.argv[4], sys.argv[5]
done = s["new"] + s["changed"]
print(f"{label}: {s['photos_seen']} {mode} photos: {s['new']} new, {s['changed']} changed, "
      f"{s['unchanged']} unchanged, {s['failed']} failed; {s['faces']} faces")
print(f"    facegate: {s['seconds']:.2f} s, {s['photos_per_second']:.1f} photos/s | "
      f"wall (process start to exit): {wall:.2f} s"
      + (f", {done / wall:.1f} photos/s" if done else ""))
for f in s["failures"][:5]:
    print(f"    failed: {f['path']}: {f['reason']}")
EOF
}

echo "== $n $mode photos, $(nproc) cores, $("$bin" --version)"
run_index "first run  " first
run_index "second run " second
