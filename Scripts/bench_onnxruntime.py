"""onnxruntime on the same ONNX file and the same preprocessed images as `pipeline-bench classifier`.

Three modes (preprocessing uses pyvips with exactly the calls the Swift Preprocessor makes,
Scripts/vips_preprocess.py):
  default            time one configuration, print one JSON line shaped like `pipeline-bench classifier`'s.
  --serve            timing server: print a ready line, then for each stdin line N run N timed
                     inferences and print their ms per batch (the protocol of `pipeline-bench classifier --serve`).
  --compare COMMAND  start `COMMAND --serve` (e.g. "pipeline-bench classifier") and this script with --serve side by side and
                     alternate short timing rounds between them (order swapped every round; the idle
                     engine is SIGSTOPped), so both engines see the same machine load; print medians
                     per engine, their ratio, and the median and range of the per-round ratios
                     ours/onnxruntime as one JSON line. With --compare-int8 and --int8-model, four engines:
                     ours and onnxruntime on the fp32 file and on its INT8 version, with their ratios.
"""
import argparse
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import time

import numpy as np
import vips_preprocess  # Scripts/: the Swift Preprocessor's libvips calls


def preprocess(path, resize, size, mean, std):
    with open(path, "rb") as file:
        rgb = vips_preprocess.rgb(file.read(), resize, size, size)
    pixels = np.frombuffer(rgb, dtype=np.uint8).reshape(size, size, 3).astype(np.float32)
    return ((pixels - np.array(mean, np.float32)) / np.array(std, np.float32)).transpose(2, 0, 1)


def raw_input(args):
    """One fixed input from raw RGB bytes (`--rgb`), normalised as `pipeline-bench model` does, in
    the layout the ONNX file declares (`--layout`)."""
    pixels = np.fromfile(args.rgb, dtype=np.uint8).astype(np.float32)
    if args.input_size:
        _, height, width = (int(v) for v in args.input_size.split(","))
        pixels = pixels.reshape(height, width, 3)
    else:
        side = int(round((pixels.size / 3) ** 0.5))
        pixels = pixels.reshape(side, side, 3)
    if args.normalize == "unit":
        pixels = pixels / 127.5 - 1
    elif args.normalize == "imagenet":
        pixels = (pixels / 255 - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
    else:  # bgr-mean
        pixels = pixels[..., ::-1] - np.array([104, 117, 123], np.float32)
    return np.ascontiguousarray(pixels.transpose(2, 0, 1) if args.layout == "nchw" else pixels, dtype=np.float32)


def make_session(args):
    import onnxruntime as ort  # only the engine processes need it

    if args.rgb:
        images = [raw_input(args)]
    else:
        with open(args.descriptor) as handle:
            spec = json.load(handle)["input"]
        images = [preprocess(p, spec["resize"], spec["width"], spec["mean"], spec["std"]) for p in args.photos]
    batch = np.stack([images[i % len(images)] for i in range(args.batch)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: batch}
    session.run(None, feed)  # warm-up
    return lambda: session.run(None, feed)


def timed(run, count):
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def serve(args):
    run = make_session(args)
    print(json.dumps({"ready": True, "engine": "onnxruntime", "batch": args.batch, "threads": args.threads}), flush=True)
    for line in sys.stdin:
        count = int(line.strip() or 0)
        if count <= 0:
            break
        print(json.dumps({"samples_ms_per_batch": timed(run, count)}), flush=True)


class Engine:
    """A `--serve` process: one configuration loaded, answering timing requests on its pipes.

    Stopped (SIGSTOP) between its rounds: both engines' thread pools spin for tens of ms after a run
    (onnxruntime's for ~50-70 ms), which on 2 cores would slow the other engine's next round.
    """

    def __init__(self, command):
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready = json.loads(self.process.stdout.readline() or "{}")
        if not ready.get("ready"):
            sys.exit(f"bench: engine did not start: {' '.join(command)}")
        self.pause()

    def pause(self):
        os.kill(self.process.pid, signal.SIGSTOP)

    def round(self, count):
        os.kill(self.process.pid, signal.SIGCONT)
        self.process.stdin.write(f"{count}\n")
        self.process.stdin.flush()
        samples = json.loads(self.process.stdout.readline())["samples_ms_per_batch"]
        self.pause()
        return samples

    def close(self):
        os.kill(self.process.pid, signal.SIGCONT)
        self.process.stdin.close()
        self.process.wait()


def compare(args):
    """Alternating rounds of two engines (ours and onnxruntime on one file) or, with --compare-int8 and
    --int8-model, four: ours and onnxruntime on the fp32 file and on its INT8 (QDQ) version."""
    config = ["--batch-sizes", str(args.batch), "--thread-counts", str(args.threads)]
    raw = ["--rgb", args.rgb, "--normalize", args.normalize, "--layout", args.layout] if args.rgb else ["--descriptor", args.descriptor]
    if args.input_size:
        raw += ["--input-size", args.input_size]

    def onnxruntime(model):
        return Engine([sys.executable, __file__, "--serve", "--model", model, *raw,
                       "--batch", str(args.batch), "--threads", str(args.threads), *args.photos])

    engines = {"ours": Engine([*shlex.split(args.compare), "--serve", *config, *args.photos]), "theirs": onnxruntime(args.model)}
    if args.compare_int8 and args.int8_model:
        engines["ours_int8"] = Engine([*shlex.split(args.compare_int8), "--serve", *config, *args.photos])
        engines["theirs_int8"] = onnxruntime(args.int8_model)
    pairs = [("ours", "theirs")] + ([("ours_int8", "theirs_int8"), ("ours_int8", "theirs"), ("ours_int8", "ours"),
                                     ("theirs_int8", "theirs")] if "ours_int8" in engines else [])
    samples = {name: [] for name in engines}
    ratios = {pair: [] for pair in pairs}
    try:
        for index in range(args.rounds):
            # Rotate who goes first each round so no engine always follows the same one's cache/thread state.
            order = list(engines.items())
            order = order[index % len(order):] + order[:index % len(order)]
            medians = {}
            for name, engine in order:
                values = engine.round(args.round_iterations)
                samples[name] += values
                medians[name] = statistics.median(values)
            for a, b in pairs:
                ratios[(a, b)].append(medians[a] / medians[b])
    finally:
        for engine in engines.values():
            engine.close()
    result = {"stage": "inference-compare", "batch": args.batch, "threads": args.threads,
              "rounds": args.rounds, "round_iterations": args.round_iterations}
    for name, values in samples.items():
        median = statistics.median(values)
        result[f"{name}_median_ms_per_image"] = median / args.batch
        result[f"{name}_images_per_s"] = args.batch * 1000 / median
    a, b = statistics.median(samples["ours"]), statistics.median(samples["theirs"])
    result.update({"ratio_of_medians": a / b, "median_round_ratio": statistics.median(ratios[("ours", "theirs")]),
                   "round_ratio_min": min(ratios[("ours", "theirs")]), "round_ratio_max": max(ratios[("ours", "theirs")])})
    for (x, y), values in ratios.items():
        if (x, y) != ("ours", "theirs"):
            result[f"ratio_{x}_to_{y}"] = statistics.median(values)
            result[f"ratio_{x}_to_{y}_range"] = [min(values), max(values)]
    print(json.dumps(result, sort_keys=True))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--descriptor", help="the model descriptor (input size, resize, mean/std) for photos")
    parser.add_argument("--rgb", help="instead of photos: one raw RGB input of the model's size")
    parser.add_argument("--normalize", choices=["unit", "bgr-mean", "imagenet"], default="unit",
                        help="with --rgb: [-1, 1], BGR minus the mean, or ImageNet's mean and std on 0-1 values")
    parser.add_argument("--input-size", help="with --rgb: C,H,W of a model whose input size is open (else a square)")
    parser.add_argument("--layout", choices=["nchw", "nhwc"], default="nchw", help="with --rgb: the layout the ONNX input declares")
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--iterations", type=int, default=20, help="timed runs in the default mode")
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--compare", metavar="COMMAND", help="our benchmark command to compare against, e.g. '.build/release/pipeline-bench classifier'")
    parser.add_argument("--compare-int8", metavar="COMMAND", help="with --int8-model: our command on the INT8 file (four engines)")
    parser.add_argument("--int8-model", help="the INT8 (QDQ) version of --model, for onnxruntime in the four-engine comparison")
    parser.add_argument("--rounds", type=int, default=10, help="alternating rounds in --compare mode")
    parser.add_argument("--round-iterations", type=int, default=5, help="timed runs per engine per round")
    parser.add_argument("photos", nargs="*")
    args = parser.parse_args()
    if not args.rgb and (not args.descriptor or not args.photos):
        parser.error("give --descriptor and photos, or --rgb")
    if args.serve:
        serve(args)
    elif args.compare:
        compare(args)
    else:
        samples = timed(make_session(args), args.iterations)
        median = statistics.median(samples)
        print(json.dumps({"stage": "inference", "engine": "onnxruntime", "batch": args.batch, "threads": args.threads,
                          "median_ms_per_batch": median, "median_ms_per_image": median / args.batch,
                          "images_per_s": args.batch * 1000 / median}, sort_keys=True))


if __name__ == "__main__":
    main()
