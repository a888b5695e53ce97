#!/usr/bin/env python3
"""Near-duplicate precision and recall on real photos: every photo of the scikit-image wheel's data
set and four edits of each (resized to half, re-encoded at JPEG quality 30, cropped 8% on every
side, mirrored), fingerprinted by `recognize classify --features similarity`; prints, per Hamming
distance threshold, the precision and recall of "same photo" over all pairs, and how often the
embedding ranks a photo's own copies above every other photo. Run via Scripts/eval-duplicates."""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pyvips

# Photographs and photomicrographs; drawings, synthetic patterns and near-blank frames are left out.
PHOTOS = ["astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png", "clock_motion.png", "coffee.png",
          "coins.png", "color.png", "grass.png", "gravel.png", "hubble_deep_field.jpg", "ihc.png", "moon.png",
          "motorcycle_left.png", "motorcycle_right.png", "page.png", "retina.jpg", "rocket.jpg", "text.png"]


def edits(image: pyvips.Image):
    w, h = image.width, image.height
    yield "resized", image.resize(0.5).jpegsave_buffer(Q=85)
    yield "recompressed", image.jpegsave_buffer(Q=30)
    dx, dy = int(w * 0.08), int(h * 0.08)
    yield "cropped", image.crop(dx, dy, w - 2 * dx, h - 2 * dy).jpegsave_buffer(Q=90)
    yield "mirrored", image.fliphor().jpegsave_buffer(Q=90)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheel", type=Path, required=True, help="the scikit-image wheel")
    ap.add_argument("--recognize", type=Path, required=True, help="the recognize binary")
    ap.add_argument("--rule", help="BITS,COSINE: also score 'hash within BITS or centred cosine at least COSINE'")
    ap.add_argument("--pipeline", action="store_true",
                    help="also run the images through fetch-image, recognize and `list-images duplicates` (same directory as --recognize)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files, source = [], {}
        with zipfile.ZipFile(args.wheel) as wheel:
            for photo in PHOTOS:
                raw = wheel.read(f"skimage/data/{photo}")
                image = pyvips.Image.new_from_buffer(raw, "")
                if image.bands == 1:
                    image = image.colourspace("srgb")
                if image.bands == 4:
                    image = image.flatten()
                stem = Path(photo).stem
                original = Path(tmp) / f"{stem}.png"
                original.write_bytes(image.pngsave_buffer())
                files.append(original)
                source[str(original)] = stem
                for kind, data in edits(image):
                    path = Path(tmp) / f"{stem}-{kind}.jpg"
                    path.write_bytes(data)
                    files.append(path)
                    source[str(path)] = stem
        out = subprocess.run([str(args.recognize), "classify", "--features", "similarity", "--format", "json",
                              *map(str, files)], check=True, capture_output=True, text=True).stdout
        rows = [json.loads(line) for line in out.splitlines()]
        if args.pipeline:
            pipeline_groups(args.recognize.parent, files, source, Path(tmp) / "home")
    hashes = {r["file"]: int(r["similarity"]["perceptualHash"], 16) for r in rows}
    vectors = {}
    import base64
    for r in rows:
        raw = base64.b64decode(r["similarity"]["embedding"])
        vectors[r["file"]] = [b - 256 if b > 127 else b for b in raw]
    pairs = list(itertools.combinations(sorted(hashes), 2))
    positives = sum(1 for a, b in pairs if source[a] == source[b])
    print(f"{len(PHOTOS)} photos x 5 versions = {len(hashes)} images, {len(pairs)} pairs, {positives} same-photo pairs")
    print("max distance  precision  recall   (pairs within the distance count as duplicates)")
    for threshold in range(0, 21, 2):
        found = [(a, b) for a, b in pairs if bin(hashes[a] ^ hashes[b]).count("1") <= threshold]
        true = sum(1 for a, b in found if source[a] == source[b])
        precision = true / len(found) if found else 1.0
        print(f"{threshold:12d}  {precision:9.3f}  {true / positives:6.3f}")
    per_edit = {}
    for a, b in pairs:
        if source[a] == source[b] and (Path(a).stem == source[a] or Path(b).stem == source[b]):
            edit = (Path(b).stem if Path(a).stem == source[a] else Path(a).stem).split("-")[-1]
            per_edit.setdefault(edit, []).append(bin(hashes[a] ^ hashes[b]).count("1"))
    print("distance original-to-copy by edit (max / median):",
          {k: (max(v), sorted(v)[len(v) // 2]) for k, v in sorted(per_edit.items())})
    closest_other = min(bin(hashes[a] ^ hashes[b]).count("1") for a, b in pairs if source[a] != source[b])
    print(f"closest pair of different photos: {closest_other} bits")

    def cosine(x, y):
        dot = sum(p * q for p, q in zip(x, y))
        nx, ny = sum(p * p for p in x) ** 0.5, sum(q * q for q in y) ** 0.5
        return dot / (nx * ny) if nx and ny else 0.0
    hits = 0
    for query in vectors:
        ranked = sorted((f for f in vectors if f != query), key=lambda f: -cosine(vectors[query], vectors[f]))
        own = sum(1 for f in vectors if f != query and source[f] == source[query])
        hits += all(source[f] == source[query] for f in ranked[:own])
    print(f"embedding: for {hits} of {len(vectors)} images the {4} other versions of the same photo rank first")
    # Centred on the set's mean (as list-images duplicates centres on the database's).
    dims = len(next(iter(vectors.values())))
    mean = [sum(v[i] for v in vectors.values()) / len(vectors) for i in range(dims)]
    centred = {f: [x - m for x, m in zip(v, mean)] for f, v in vectors.items()}
    same = sorted(cosine(centred[a], centred[b]) for a, b in pairs if source[a] == source[b])
    other = sorted(cosine(centred[a], centred[b]) for a, b in pairs if source[a] != source[b])
    print(f"centred cosine, same photo: min {same[0]:.3f} p5 {same[len(same) // 20]:.3f} median {same[len(same) // 2]:.3f}; "
          f"different photos: max {other[-1]:.3f} p99 {other[len(other) * 99 // 100]:.3f} median {other[len(other) // 2]:.3f}")
    worst = max(((a, b) for a, b in pairs if source[a] != source[b]), key=lambda p: cosine(centred[p[0]], centred[p[1]]))
    print(f"  most alike different photos: {Path(worst[0]).stem} / {Path(worst[1]).stem}")
    if args.rule:
        bits, floor = map(float, args.rule.split(","))
        found = [(a, b) for a, b in pairs
                 if bin(hashes[a] ^ hashes[b]).count("1") <= bits or cosine(centred[a], centred[b]) >= floor]
        true = sum(1 for a, b in found if source[a] == source[b])
        print(f"rule hash <= {bits:.0f} bits or centred cosine >= {floor}: precision {true / max(1, len(found)):.3f}, "
              f"recall {true / positives:.3f}")
    return 0


def pipeline_groups(bin_dir: Path, files, source, home: Path) -> None:
    """The real path: fetch-image (file:// URLs), recognize --once until every image is in the
    store, then `list-images duplicates`; scores the groups as same-photo pairs."""
    urls = "".join(f"file://{f}\t{Path(f).name}\n" for f in files)
    subprocess.run([str(bin_dir / "fetch-image"), "--home", str(home), "--allow-file"], input=urls, text=True,
                   check=True, capture_output=True)
    for _ in range(200):
        listed = subprocess.run([str(bin_dir / "list-images"), "--home", str(home), "--format", "json", "--limit", "10000"],
                                capture_output=True, text=True)
        if listed.returncode == 0 and len(json.loads(listed.stdout)) >= len(files):
            break
        subprocess.run([str(bin_dir / "recognize"), "run", "--home", str(home), "--once", "--batch-size", "8"],
                       check=True, capture_output=True)
    by_name = {Path(f).name: source[str(f)] for f in files}
    out = subprocess.run([str(bin_dir / "list-images"), "duplicates", "--home", str(home), "--format", "json"],
                         check=True, capture_output=True, text=True).stdout
    groups = [[by_name[image["name"]] for image in group["images"]] for group in json.loads(out)]
    predicted = [(a, b) for group in groups for a, b in itertools.combinations(group, 2)]
    true = sum(1 for a, b in predicted if a == b)
    positives = sum(len(list(itertools.combinations(range(5), 2))) for _ in set(by_name.values()))
    whole = sum(1 for group in groups if len(group) == 5 and len(set(group)) == 1)
    print(f"pipeline (list-images duplicates, defaults): {len(groups)} groups, {whole} of {len(set(by_name.values()))} photos "
          f"grouped whole with nothing else; pair precision {true / max(1, len(predicted)):.3f}, recall {true / positives:.3f}")
    for group in groups:
        if len(set(group)) > 1:
            print(f"  mixed group: {sorted(set(group))}")


if __name__ == "__main__":
    sys.exit(main())
