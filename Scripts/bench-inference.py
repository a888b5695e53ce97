#!/usr/bin/env python3
"""Compare EfficientNet-Lite0 speed: onnxruntime vs this project's XNNPACK engine, same machine, same run.

Prints ms/image for batch 1 and 8 with 1 and 2 threads. Not a test: figures only.

    Scripts/bench-inference.py            # both engines (builds the Swift tests in release: slow the first time)
    Scripts/bench-inference.py --ort-only # onnxruntime only

Needs the pip packages onnxruntime and numpy.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "Models", "efficientnet-lite0.onnx")
GOLDEN = os.path.join(ROOT, "Tests", "Fixtures", "golden", "cat.jpg.rgb")


def sample_input():
    rgb = np.fromfile(GOLDEN, dtype=np.uint8).reshape(224, 224, 3).astype(np.float32)
    return ((rgb - 127.0) / 128.0).transpose(2, 0, 1)[None]


def bench_ort(iterations):
    one = sample_input()
    results = {}
    for batch in (1, 8):
        for threads in (1, 2):
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            session = ort.InferenceSession(MODEL, options, providers=["CPUExecutionProvider"])
            name = session.get_inputs()[0].name
            data = np.ascontiguousarray(np.repeat(one, batch, axis=0))
            for _ in range(3):
                session.run(None, {name: data})
            wall, cpu = [], []
            for _ in range(iterations):
                # Thread CPU time is robust on a loaded shared machine (only meaningful with 1 thread,
                # where onnxruntime computes on the calling thread); wall time is what users see.
                start, cpu_start = time.perf_counter(), time.thread_time()
                session.run(None, {name: data})
                cpu.append(1000 * (time.thread_time() - cpu_start) / batch)
                wall.append(1000 * (time.perf_counter() - start) / batch)
            results[(batch, threads)] = (statistics.median(wall), min(wall), statistics.median(cpu))
    return results


def bench_swift(iterations):
    env = dict(os.environ, INFERENCE_BENCH="1", INFERENCE_BENCH_ITERATIONS=str(iterations), PIPELINE_TARGETS="InferenceTests")
    command = ["swift", "test", "-c", "release", "--scratch-path", os.path.join(ROOT, ".build-inference"), "--filter", "benchmark"]
    output = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True).stdout
    results = {}
    pattern = r"BENCH xnnpack batch=(\d+) threads=(\d+) wall_median=([\d.]+) wall_best=([\d.]+) thread_cpu_median=([\d.]+)"
    for match in re.finditer(pattern, output):
        results[(int(match[1]), int(match[2]))] = (float(match[3]), float(match[4]), float(match[5]))
    if not results:
        sys.exit("no BENCH lines from swift test:\n" + output[-3000:])
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--ort-only", action="store_true")
    args = parser.parse_args()
    ort_results = bench_ort(args.iterations)
    swift_results = {} if args.ort_only else bench_swift(args.iterations)
    print("ms per image; wall median / wall best / calling-thread CPU median (CPU only meaningful for 1 thread)")
    print(f"{'batch':>5} {'threads':>7} {'onnxruntime':>26}   {'xnnpack (this engine)':>26}")
    for key in sorted(ort_results):
        o = ort_results[key]
        s = swift_results.get(key)
        swift_text = f"{s[0]:7.2f} /{s[1]:7.2f} /{s[2]:7.2f}" if s else "-"
        print(f"{key[0]:>5} {key[1]:>7} {o[0]:7.2f} /{o[1]:7.2f} /{o[2]:7.2f}   {swift_text:>26}")


if __name__ == "__main__":
    main()
