#!/usr/bin/env python3
"""Eyeball check for models/blazeface-full-range.onnx: run it on real photos and print (and draw)
the decoded faces, so a person can see that boxes and keypoints land on faces.

    .venv/bin/python scripts/check_detector.py [IMAGE ...] [--draw /tmp/facegate-check]

Each image is letterboxed whole to 192x192 (no tiling), so small faces in big group photos are
expected to be missed. All images go through the model as one batch, which also exercises the
dynamic batch dimension. Decoding follows shared/notes/models.md ("Detector: MediaPipe BlazeFace,
full range"); this is a reference for the Rust decoder, kept deliberately plain.
"""
import argparse
import glob
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageDraw

S = 192  # input size, also the scale of the regressor outputs
GRID = 48
KEYPOINTS = ["right_eye", "left_eye", "nose_tip", "mouth", "right_ear", "left_ear"]  # subject's sides
DEFAULT_IMAGES = ["/work/shared/faces/people/obama/*.jpg", "/work/shared/faces/groups/*.jpg"]

# One anchor per cell of the 48x48 grid, row-major, centred in the cell, in [0, 1] coordinates.
ys, xs = np.mgrid[0:GRID, 0:GRID]
ANCHORS = np.stack([(xs.ravel() + 0.5) / GRID, (ys.ravel() + 0.5) / GRID], axis=1)


def letterbox(img):
    """Fit the image into SxS keeping aspect, centred on a zero (black) border.
    Returns the model input (already x/127.5 - 1) and (scale, pad_x, pad_y) to undo it."""
    scale = S / max(img.size)
    w, h = max(1, round(img.width * scale)), max(1, round(img.height * scale))
    canvas = Image.new("RGB", (S, S))
    pad_x, pad_y = (S - w) // 2, (S - h) // 2
    canvas.paste(img.resize((w, h), Image.BILINEAR), (pad_x, pad_y))
    return np.asarray(canvas, np.float32) / 127.5 - 1.0, (scale, pad_x, pad_y)


def decode(reg, logit, threshold):
    """Raw outputs for one image -> (scores [K], boxes [K,4] x0,y0,x1,y1, keypoints [K,6,2]) in
    letterbox pixels, for anchors whose sigmoid score passes the threshold."""
    # MediaPipe clips logits to +-100 before the sigmoid; float64 keeps exp() from overflowing.
    score = 1.0 / (1.0 + np.exp(-np.clip(logit[:, 0].astype(np.float64), -100, 100)))
    keep = score >= threshold
    r, a = reg[keep], ANCHORS[keep]
    centre = r[:, 0:2] / S + a
    half = r[:, 2:4] / S / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1) * S
    kps = (r[:, 4:16].reshape(-1, 6, 2) / S + a[:, None, :]) * S
    return score[keep], boxes, kps


def iou(box, boxes):
    lo, hi = np.maximum(box[:2], boxes[:, :2]), np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / (area(box) + area(boxes) - inter)


def weighted_nms(scores, boxes, kps, iou_threshold=0.3):
    """MediaPipe-style: each cluster (IoU > threshold with its best detection) is replaced by the
    score-weighted mean of its boxes and keypoints, keeping the best score."""
    order = np.argsort(-scores)
    scores, boxes, kps = scores[order], boxes[order], kps[order]
    out = []
    while len(scores):
        group = iou(boxes[0], boxes) > iou_threshold
        group[0] = True
        w = scores[group][:, None]
        out.append((scores[0], (boxes[group] * w).sum(0) / w.sum(),
                    (kps[group] * w[:, :, None]).sum(0) / w.sum()))
        scores, boxes, kps = scores[~group], boxes[~group], kps[~group]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("images", nargs="*", help=f"default: {' '.join(DEFAULT_IMAGES)}")
    ap.add_argument("--model", default=str(Path(__file__).parent.parent / "models/blazeface-full-range.onnx"))
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--draw", default="/tmp/facegate-check", help="folder for annotated PNGs ('' = none)")
    args = ap.parse_args()
    paths = args.images or sorted(p for g in DEFAULT_IMAGES for p in glob.glob(g))

    images = [Image.open(p).convert("RGB") for p in paths]
    batch, boxes_back = zip(*(letterbox(im) for im in images))
    session = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])
    regs, logits = session.run(["regressors", "classificators"], {"input": np.stack(batch)})

    if args.draw:
        Path(args.draw).mkdir(parents=True, exist_ok=True)
    for path, img, (scale, pad_x, pad_y), reg, logit in zip(paths, images, boxes_back, regs, logits):
        faces = weighted_nms(*decode(reg, logit, args.threshold))
        print(f"{path} ({img.width}x{img.height}): {len(faces)} face(s)")
        draw = ImageDraw.Draw(img)
        lw = max(2, img.width // 300)
        for score, box, kps in faces:
            # Undo the letterbox: back to original image pixels.
            box = (box - [pad_x, pad_y, pad_x, pad_y]) / scale
            kps = (kps - [pad_x, pad_y]) / scale
            print(f"  score {score:.3f}  box x0={box[0]:.0f} y0={box[1]:.0f} x1={box[2]:.0f} y1={box[3]:.0f}  "
                  + " ".join(f"{n}=({x:.0f},{y:.0f})" for n, (x, y) in zip(KEYPOINTS, kps)))
            draw.rectangle(box.tolist(), outline=(0, 255, 0), width=lw)
            colours = [(255, 0, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255), (255, 128, 0), (0, 255, 255)]
            for (x, y), colour in zip(kps, colours):
                r = 2 * lw
                draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)
        if args.draw:
            img.save(Path(args.draw) / (Path(path).stem + ".png"))
    if args.draw:
        print(f"annotated images in {args.draw} (keypoint colours: right eye red, left eye blue, "
              "nose yellow, mouth magenta, right ear orange, left ear cyan)")


if __name__ == "__main__":
    main()
