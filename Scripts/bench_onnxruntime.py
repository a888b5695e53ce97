"""onnxruntime on the same ONNX file and the same preprocessed images as `recognize bench`.

Prints one JSON line per configuration, in the same shape as `recognize bench`, so that
Scripts/bench can put both side by side. Preprocessing uses pyvips with exactly the calls the
Swift Preprocessor makes (Scripts/vips_preprocess.py).
"""
import argparse
import json
import statistics
import time

import numpy as np
import onnxruntime as ort
import vips_preprocess  # Scripts/: the Swift Preprocessor's libvips calls


def preprocess(path, resize, size, mean, std):
    with open(path, "rb") as file:
        rgb = vips_preprocess.rgb(file.read(), resize, size, size)
    pixels = np.frombuffer(rgb, dtype=np.uint8).reshape(size, size, 3).astype(np.float32)
    return ((pixels - np.array(mean, np.float32)) / np.array(std, np.float32)).transpose(2, 0, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--descriptor", required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("photos", nargs="+")
    args = parser.parse_args()

    with open(args.descriptor) as handle:
        spec = json.load(handle)["input"]
    images = [preprocess(p, spec["resize"], spec["width"], spec["mean"], spec["std"]) for p in args.photos]
    batch = np.stack([images[i % len(images)] for i in range(args.batch)])

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    session.run(None, {name: batch})  # warm-up
    samples = []
    for _ in range(args.iterations):
        start = time.perf_counter()
        session.run(None, {name: batch})
        samples.append((time.perf_counter() - start) * 1000)
    median = statistics.median(samples)
    print(json.dumps({"stage": "inference", "engine": "onnxruntime", "batch": args.batch, "threads": args.threads,
                      "median_ms_per_batch": median, "median_ms_per_image": median / args.batch,
                      "images_per_s": args.batch * 1000 / median}, sort_keys=True))


if __name__ == "__main__":
    main()
