#!/usr/bin/env python3
"""Writes N distinct benchmark photos made from real face photos.

    make_bench_photos.py small N OUTDIR   # 250x250 face crops, JPEG q90
    make_bench_photos.py large N OUTDIR   # 4000x3000 upscales (12 MP), JPEG q90

Sources: ../shared/faces/people when it exists (read in place, never copied into the
repository), else sample-images/, or --sources DIR. Photos are cycled; every output differs
from every other (crop, scale and brightness vary with the index, and a JPEG comment carries
the index), so content hashes never collide and an indexer cannot skip duplicates.

Face crops are centred on the largest face when --facegate BIN is given: the sources are
indexed once (downscaled) into a throw-away library and the face boxes read from its
database; they are cached in target/bench-cache/face_boxes.json. Without it (or for a photo
where no face is found) the crop is a square from the upper middle of the photo.

Needs Pillow (scripts/bench_index.sh sets up .venv with it when missing).
"""

import argparse
import hashlib
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

try:
    from PIL import Image, ImageChops, ImageEnhance, ImageOps
except ImportError:
    sys.exit("make_bench_photos.py needs Pillow: python3 -m pip install --user pillow "
             "(or run scripts/bench_index.sh, which sets up .venv)")

ROOT = Path(__file__).resolve().parent.parent
EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp"}
SMALL_SIDE = 250
LARGE_SIZE = (4000, 3000)
QUALITY = 90
# Long side of the copies indexed to find the faces.
LOCATE_SIDE = 800


def default_sources():
    for d in (ROOT.parent / "shared" / "faces" / "people", ROOT / "sample-images"):
        if d.is_dir() and any(p.suffix.lower() in EXTENSIONS for p in d.rglob("*")):
            return d
    return None


def list_sources(d):
    return sorted(p for p in Path(d).rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS)


def load(path):
    """The photo upright (EXIF orientation applied, as facegate does) and in RGB."""
    img = Image.open(path)
    img = ImageOps.exif_transpose(img)
    return img.convert("RGB")


def file_key(path):
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"


def locate_faces(sources, facegate):
    """{file_key: [x0, y0, x1, y1] of the largest face, in upright source pixels, or None}."""
    cache_file = ROOT / "target" / "bench-cache" / "face_boxes.json"
    try:
        cache = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cache = {}
    missing = [p for p in sources if file_key(p) not in cache]
    if missing:
        t0 = time.time()
        print(f"locating faces in {len(missing)} source photos with {facegate} ...", file=sys.stderr)
        with tempfile.TemporaryDirectory(prefix="facegate-locate-") as tmp:
            tmp = Path(tmp)
            (tmp / "src").mkdir()
            scale = {}
            for i, p in enumerate(missing):
                try:
                    img = load(p)
                except OSError as e:
                    print(f"  cannot read {p}: {e}", file=sys.stderr)
                    continue
                f = min(1.0, LOCATE_SIDE / max(img.size))
                if f < 1.0:
                    img = img.resize((max(1, round(img.width * f)), max(1, round(img.height * f))),
                                     Image.BILINEAR)
                name = f"{i:05d}.jpg"
                img.save(tmp / "src" / name, quality=95)
                scale[name] = (p, f)
            cmd = [str(facegate), "--library", str(tmp / "lib"), "index", str(tmp / "src"), "--json"]
            run = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if run.returncode not in (0, 2):
                print(f"  facegate failed ({run.returncode}): {run.stderr.strip()[-500:]}", file=sys.stderr)
                return {}
            best = {}
            with sqlite3.connect(tmp / "lib" / "library.db") as db:
                rows = db.execute("SELECT p.path, f.x0, f.y0, f.x1, f.y1 FROM faces f "
                                  "JOIN photos p ON p.id = f.photo_id")
                for path, x0, y0, x1, y1 in rows:
                    name = Path(path).name
                    area = (x1 - x0) * (y1 - y0)
                    if name in scale and (name not in best or area > best[name][0]):
                        best[name] = (area, (x0, y0, x1, y1))
            for name, (p, f) in scale.items():
                box = best.get(name)
                cache[file_key(p)] = [c / f for c in box[1]] if box else None
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        cache_file.write_text(json.dumps(cache, indent=0))
        found = sum(1 for p in missing if cache.get(file_key(p)))
        print(f"  faces in {found} of {len(missing)} ({time.time() - t0:.1f} s)", file=sys.stderr)
    return {file_key(p): cache.get(file_key(p)) for p in sources}


def window(cx, cy, w, h, iw, ih):
    """A w x h box (clipped to the image) centred on (cx, cy) as far as the image allows."""
    w, h = min(w, iw), min(h, ih)
    x = min(max(cx - w / 2, 0), iw - w)
    y = min(max(cy - h / 2, 0), ih - h)
    return (round(x), round(y), round(x + w), round(y + h))


def face_centre(img, box):
    if box:
        x0, y0, x1, y1 = box
        return (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0)
    # No face known: portraits have it in the upper middle.
    side = min(img.size)
    return img.width / 2, (img.height - side) * 0.3 + side / 2, side / 2.2


def vary(img, i, rng):
    """A slight, index-dependent brightness change (content differs per output)."""
    return ImageEnhance.Brightness(img).enhance(1.0 + 0.004 * ((i % 11) - 5) + rng.uniform(-0.002, 0.002))


def make_one(job):
    mode, i, round_, src, box, out, grain = job
    rng = random.Random(i)
    img = load(src)
    cx, cy, face = face_centre(img, box)
    if mode == "small":
        side = face * (2.0 + 0.15 * (round_ % 5))
        cx += rng.uniform(-0.04, 0.04) * side
        cy += rng.uniform(-0.04, 0.04) * side
        side = min(side, img.width, img.height)
        crop = img.crop(window(cx, cy, side, side, img.width, img.height))
        result = crop.resize((SMALL_SIDE, SMALL_SIDE), Image.LANCZOS)
    else:
        aw, ah = LARGE_SIZE
        if img.width * ah >= img.height * aw:
            w, h = img.height * aw / ah, img.height
        else:
            w, h = img.width, img.width * ah / aw
        shrink = 1.0 - 0.03 * (round_ % 6)
        w, h = w * shrink, h * shrink
        cx += rng.uniform(-0.02, 0.02) * w
        cy += rng.uniform(-0.02, 0.02) * h
        crop = img.crop(window(cx, cy, w, h, img.width, img.height))
        result = crop.resize(LARGE_SIZE, Image.BICUBIC)
        if grain > 0:
            # Sensor-like noise: upscaled photos are smoother than camera output, so they encode
            # smaller and decode faster than real 12 MP JPEGs.
            noise = Image.effect_noise(result.size, grain).convert("RGB")
            result = ImageChops.add(result, noise, scale=1.0, offset=-128)
    result = vary(result, i, rng)
    comment = f"facegate bench {mode} #{i} from {src.name}".encode()
    result.save(out, format="JPEG", quality=QUALITY, comment=comment)
    return out.stat().st_size


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["small", "large"])
    ap.add_argument("n", type=int)
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--sources", type=Path, help="folder of real photos (default: ../shared/faces/people, else sample-images/)")
    ap.add_argument("--facegate", type=Path, help="facegate binary used to centre crops on faces")
    ap.add_argument("--grain", type=float, default=0.0,
                    help="large mode: add Gaussian noise of this sigma (e.g. 6) for camera-like file sizes")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args()

    src_dir = a.sources or default_sources()
    sources = list_sources(src_dir) if src_dir else []
    if not sources:
        sys.exit("no source photos: ../shared/faces/people and sample-images/ are empty or missing (use --sources DIR)")
    boxes = {}
    if a.facegate:
        if os.access(a.facegate, os.X_OK):
            boxes = locate_faces(sources, a.facegate)
        else:
            print(f"{a.facegate} is not executable; crops will not be centred on faces", file=sys.stderr)
    # Sources with a known face first, so that small runs use them.
    sources.sort(key=lambda p: boxes.get(file_key(p)) is None)

    a.outdir.mkdir(parents=True, exist_ok=True)
    jobs = []
    for i in range(a.n):
        src = sources[i % len(sources)]
        out = a.outdir / f"{a.mode}_{i:05d}.jpg"
        jobs.append((a.mode, i, i // len(sources), src, boxes.get(file_key(src)), out, a.grain))
    t0 = time.time()
    with Pool(max(1, a.jobs)) as pool:
        sizes = pool.map(make_one, jobs, chunksize=1 if a.mode == "large" else 8)
    digests = {hashlib.sha256(j[5].read_bytes()).hexdigest() for j in jobs}
    if len(digests) != len(jobs):
        sys.exit(f"only {len(digests)} distinct files among {len(jobs)}")
    print(f"wrote {a.n} {a.mode} photos ({sum(sizes) / 1e6:.1f} MB, {sum(sizes) / 1e3 / a.n:.0f} KB each) "
          f"from {len(sources)} sources in {src_dir or 'given paths'} to {a.outdir} in {time.time() - t0:.1f} s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
