"""The whole pipeline, measured the way a user feels it (run by `Scripts/bench pipeline`).

Serves real JPEGs (a mix of 0.3, 2 and 8 MP, every URL a distinct image) on loopback, pipes the
URLs into fetch-image, runs recognizers and notifiers under Scripts/supervise and a mail-sink
as the gateway, then reports:
  phase 1, all URLs at once: images/s from the first URL read to the last notification
           accepted, against the classifier alone on the same images (`recognize classify`,
           same batch size and threads) measured in the same run;
  phase 2, URLs paced at half the phase-1 rate: p50/p95/p99 latency from URL read to
           notification accepted;
  per stage (from `notify-xml --trace`): download, store, queue waits, decode, inference,
           database, XML, POST; peak RSS per worker; CPU utilisation of the machine.
Prints one `pipeline: key=value ...` line and writes a JSON report.
"""
import argparse
import glob
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime

SIZES = [("0.3mp", 640, 480), ("2mp", 1632, 1224), ("8mp", 3264, 2448)]
STAGES = [
    ("download", lambda t: t["fetch"]["downloadMs"]),
    ("store", lambda t: t["fetch"]["storeMs"]),
    ("recognize_queue_wait", lambda t: t["recognition"]["queueWaitMs"]),
    ("decode", lambda t: t["recognition"]["decodeMs"]),
    ("inference_batch", lambda t: t["recognition"]["inferenceMs"]),
    ("database", lambda t: t["recognition"]["databaseMs"]),
    ("notify_queue_wait", lambda t: t["notifyQueueWaitMs"]),
    ("xml", lambda t: t["renderMs"]),
    ("post", lambda t: t["postMs"]),
]


def log(message):
    print(f"bench pipeline: {message}", file=sys.stderr, flush=True)


def parse_date(text):
    # ISO-8601 with fractional seconds and a +0000 / Z offset, as MessageCoding writes it.
    return datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(p / 100 * (len(ordered) - 1)))))
    return ordered[index]


def make_images(root, cache):
    """Each sample JPEG at each size, named so that index % 3 cycles through the sizes."""
    samples = sorted(glob.glob(os.path.join(root, "Models/samples/*.jpg")))[:4]
    wanted = []
    for s, sample in enumerate(samples):
        for z, (label, width, height) in enumerate(SIZES):
            wanted.append((f"{s * len(SIZES) + z:02d}-{label}-{os.path.basename(sample)}", sample, width, height))
    os.makedirs(cache, exist_ok=True)
    for name, sample, width, height in wanted:
        target = os.path.join(cache, name)
        if os.path.exists(target):
            continue
        log(f"making {name}")
        temp = os.path.join(cache, "part.v")
        subprocess.run(["vips", "thumbnail", sample, temp, str(width), "--height", str(height),
                        "--size", "force"], check=True)
        subprocess.run(["vips", "copy", temp, f"{target}.part.jpg[Q=88,strip]"], check=True)
        os.rename(f"{target}.part.jpg", target)
        os.remove(temp)
    return [os.path.join(cache, name) for name, *_ in wanted]


def wait_for_file(path, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if os.path.exists(path) and os.path.getsize(path) > 0:
            return open(path).read().strip()
        time.sleep(0.05)
    raise SystemExit(f"bench pipeline: {path} did not appear within {seconds} s")


def process_table():
    """pid -> (command line, utime+stime jiffies, VmRSS kB, VmHWM kB) for our executables."""
    table = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            stat = open(f"/proc/{pid}/stat").read()
            status = open(f"/proc/{pid}/status").read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        jiffies = int(fields[11]) + int(fields[12])
        rss = hwm = 0
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
        table[int(pid)] = ([c.decode(errors="replace") for c in cmdline if c], jiffies, rss, hwm)
    return table


def machine_jiffies():
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields), idle


class Sampler(threading.Thread):
    """Samples our processes' peak RSS and open descriptors every 0.25 s."""

    def __init__(self, bin_dir):
        super().__init__(daemon=True)
        self.bin_dir = bin_dir
        self.stop = threading.Event()
        self.peak = {}        # pid -> (role, peak kB)
        self.fds = {}         # pid -> (role, first count, last count)
        self.jiffies = {}     # pid -> (role, last CPU jiffies seen), for processes that exit

    def role(self, cmd):
        if not cmd or not cmd[0].startswith(self.bin_dir):
            return None
        name = os.path.basename(cmd[0])
        return name if name in ("fetch-image", "recognize", "notify-xml", "mail-sink") else None

    def run(self):
        while not self.stop.is_set():
            for pid, (cmd, jiffies, rss, hwm) in process_table().items():
                role = self.role(cmd)
                if role is None:
                    continue
                self.jiffies[pid] = (role, jiffies)
                self.peak[pid] = (role, max(hwm, self.peak.get(pid, (role, 0))[1]))
                try:
                    count = len(os.listdir(f"/proc/{pid}/fd"))
                except OSError:
                    continue
                first = self.fds.get(pid, (role, count, count))[1]
                self.fds[pid] = (role, first, count)
            self.stop.wait(0.25)


def read_traces(path):
    traces = {}
    if os.path.exists(path):
        for line in open(path):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            traces.setdefault(record["imageID"], record)
    return traces


def run_fetch(bin_dir, home, origin, numbers, rate, out_path):
    """Feeds /img/N.jpg URLs to one fetch-image (paced at `rate` per second, or all at once)."""
    fetch = subprocess.Popen([os.path.join(bin_dir, "fetch-image"), "--home", home, "--allow-private",
                              "--format", "json", "--no-progress", "--log-level", "warning"],
                             stdin=subprocess.PIPE, stdout=open(out_path, "w"),
                             stderr=open(os.path.join(home, "logs", "fetch-image.log"), "a"))
    started = time.time()
    for i, n in enumerate(numbers):
        if rate:
            delay = started + i / rate - time.time()
            if delay > 0:
                time.sleep(delay)
        fetch.stdin.write(f"{origin}/img/{n}.jpg\tbench {n}\n".encode())
        fetch.stdin.flush()
    fetch.stdin.close()
    return fetch


def fetched_ids(path):
    ids = []
    for line in open(path):
        result = json.loads(line)
        if result.get("status") == "ok" and result.get("imageID"):
            ids.append(result["imageID"])
    return ids


def wait_delivered(trace_path, ids, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        traces = read_traces(trace_path)
        if all(i in traces for i in ids):
            return traces
        time.sleep(0.2)
    traces = read_traces(trace_path)
    missing = [i for i in ids if i not in traces]
    raise SystemExit(f"bench pipeline: {len(missing)} of {len(ids)} images were not notified within {timeout} s")


def stage_figures(records):
    figures = {}
    for name, get in STAGES:
        values = []
        for record in records:
            try:
                values.append(get(record))
            except (KeyError, TypeError):
                pass
        if values:
            figures[name] = {"p50_ms": round(statistics.median(values), 2), "p95_ms": round(percentile(values, 95), 2)}
    return figures


def classifier_bound(bin_dir, root, files, batch, threads, features):
    """`recognize classify` (the analyzers alone) on the same images with the same batch size,
    threads and features."""
    chosen = ["--features", features] if features else []
    run = subprocess.run([os.path.join(bin_dir, "recognize"), "classify", "--format", "json", "--batch-size", str(batch),
                          "--threads", str(threads), *chosen, *files], cwd=root, capture_output=True, text=True)
    for line in run.stderr.splitlines():
        match = re.search(r"\(([0-9.]+) images/s\)", line)
        if match:
            return float(match.group(1))
    raise SystemExit(f"bench pipeline: recognize classify gave no rate:\n{run.stderr[-2000:]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--images", type=int, default=300, help="images in phase 1 (all at once)")
    parser.add_argument("--paced-images", type=int, default=0, help="images in phase 2 (default: images / 2)")
    cores = os.cpu_count() or 2
    parser.add_argument("--recognizers", type=int, default=cores, help="default: one per core, as Scripts/supervise")
    parser.add_argument("--notifiers", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--threads", type=int, default=0, help="inference threads per recognizer (default: cores / recognizers)")
    parser.add_argument("--bound-threads", type=int, default=os.cpu_count() or 2,
                        help="threads of the classifier-alone run (default: all cores, its best)")
    parser.add_argument("--features", default="", help="recognize --features for the pipeline and the analyzers-alone run (default: recognize's)")
    parser.add_argument("--recognize-args", default="", help="extra arguments for every recognizer")
    parser.add_argument("--notify-args", default="", help="extra arguments for every notifier")
    parser.add_argument("--report", help="JSON report path (default: bench-pipeline.json in the work dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--database", default="",
                        help="run every worker on PostgreSQL (bus, labels, image bytes) at this URL; use an empty database")
    args = parser.parse_args()
    if args.database:
        # Every worker (and fetch-image) reads it from the environment, as --database.
        os.environ["IMAGE_PIPELINE_DATABASE_URL"] = args.database
    paced_count = args.paced_images or max(1, args.images // 2)
    args.threads = args.threads or max(1, cores // max(1, args.recognizers))
    bin_dir = os.path.realpath(args.bin)

    variants = make_images(args.root, os.path.join(args.root, ".bench-cache", "pipeline-images"))
    work = tempfile.mkdtemp(prefix="bench-pipeline-")
    home = os.path.join(work, "home")
    os.makedirs(os.path.join(home, "logs"))
    variants_dir = os.path.join(work, "variants")
    os.makedirs(variants_dir)
    for path in variants:
        os.symlink(path, os.path.join(variants_dir, os.path.basename(path)))
    report_path = args.report or os.path.join(work, "bench-pipeline.json")
    children = []

    def stop_all():
        for child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in reversed(children):
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()

    try:
        # The classifier alone first, on a quiet machine, on the same images in the same mix.
        bound_files = [variants[i % len(variants)] for i in range(max(48, min(args.images, 96)))]
        log(f"classifier alone: {len(bound_files)} images, batch {args.batch_size}, {args.bound_threads} thread(s)")
        bound = classifier_bound(bin_dir, args.root, bound_files, args.batch_size, args.bound_threads, args.features)

        server = subprocess.Popen([sys.executable, os.path.join(args.root, "Scripts/chaos_server.py"), variants_dir,
                                   os.path.join(args.root, "Tests/Fixtures/bad"), os.path.join(work, "http.port")],
                                  stdout=subprocess.DEVNULL, stderr=open(os.path.join(home, "logs", "http.log"), "w"))
        children.append(server)
        origin = f"http://127.0.0.1:{wait_for_file(os.path.join(work, 'http.port'), 30)}"
        sink = subprocess.Popen([os.path.join(bin_dir, "mail-sink"), "--port", "0", "--port-file", os.path.join(work, "sink.port"),
                                 "--outbox", os.path.join(home, "outbox")],
                                stdout=subprocess.DEVNULL, stderr=open(os.path.join(home, "logs", "mail-sink.log"), "w"))
        children.append(sink)
        gateway = f"http://127.0.0.1:{wait_for_file(os.path.join(work, 'sink.port'), 30)}/messages"
        trace_path = os.path.join(home, "trace.jsonl")
        supervise_out = os.path.join(work, "supervise.out")
        supervise = subprocess.Popen(
            [os.path.join(args.root, "Scripts/supervise"), "--home", home, "--bin", bin_dir,
             "--recognizers", str(args.recognizers), "--notifiers", str(args.notifiers),
             "--recognize-args", f"--batch-size {args.batch_size} --threads {args.threads} --log-level warning "
             + (f"--features {args.features} " if args.features else "") + args.recognize_args,
             "--notify-args", f"--gateway-url {gateway} --to bench@example.org --trace {trace_path} --log-level warning {args.notify_args}"],
            cwd=args.root, stdout=open(supervise_out, "w"), stderr=subprocess.STDOUT)
        children.append(supervise)
        sampler = Sampler(bin_dir)
        sampler.start()
        # Ready when every recognizer has loaded its model (they log nothing at warning level,
        # so wait for the processes and a moment for the model to load).
        deadline = time.time() + 120
        while time.time() < deadline:
            roles = [sampler.role(cmd) for cmd, *_ in process_table().values()]
            if roles.count("recognize") >= args.recognizers and roles.count("notify-xml") >= args.notifiers:
                break
            time.sleep(0.2)
        time.sleep(3)

        # Phase 1: everything at once.
        log(f"phase 1: {args.images} images at once")
        total_before, idle_before = machine_jiffies()
        procs_before = {pid: j for pid, (_, j, _, _) in process_table().items()}
        fetch = run_fetch(bin_dir, home, origin, range(args.images), None, os.path.join(work, "fetch1.jsonl"))
        fetch.wait()
        ids1 = fetched_ids(os.path.join(work, "fetch1.jsonl"))
        traces = wait_delivered(trace_path, ids1, 60 + args.images)
        total_after, idle_after = machine_jiffies()
        procs_after = process_table()
        phase1 = [traces[i] for i in ids1]
        start = min(parse_date(t["fetch"]["requestedAt"]) for t in phase1)
        end = max(parse_date(t["deliveredAt"]) for t in phase1)
        rate = len(phase1) / (end - start)
        busy = 1 - (idle_after - idle_before) / max(1, total_after - total_before)
        cpu_by_role = {}
        ticks = os.sysconf("SC_CLK_TCK")
        seen = dict(sampler.jiffies)
        for pid, (cmd, jiffies, _, _) in procs_after.items():
            role = sampler.role(cmd)
            if role:
                seen[pid] = (role, jiffies)
        for pid, (role, jiffies) in seen.items():
            used = (jiffies - procs_before.get(pid, 0)) / ticks
            cpu_by_role[role] = round(cpu_by_role.get(role, 0) + used / (end - start) * 100, 1)
        latencies1 = [(parse_date(t["deliveredAt"]) - parse_date(t["fetch"]["requestedAt"])) * 1000 for t in phase1]

        # Phase 2: paced at half the maximum rate.
        paced_rate = rate / 2
        log(f"phase 2: {paced_count} images at {paced_rate:.1f}/s")
        numbers = range(args.images, args.images + paced_count)
        fetch = run_fetch(bin_dir, home, origin, numbers, paced_rate, os.path.join(work, "fetch2.jsonl"))
        fetch.wait()
        ids2 = fetched_ids(os.path.join(work, "fetch2.jsonl"))
        traces = wait_delivered(trace_path, ids2, 60 + paced_count)
        phase2 = [traces[i] for i in ids2]
        latencies2 = [(parse_date(t["deliveredAt"]) - parse_date(t["fetch"]["requestedAt"])) * 1000 for t in phase2]
        sampler.stop.set()
        sampler.join()

        peak_rss = {}
        for pid, (role, kb) in sampler.peak.items():
            peak_rss.setdefault(role, []).append(kb)
        fds = {}
        for pid, (role, first, last) in sampler.fds.items():
            fds.setdefault(role, []).append([first, last])
        report = {
            "configuration": {"images": args.images, "paced_images": paced_count, "recognizers": args.recognizers,
                              "notifiers": args.notifiers, "batch_size": args.batch_size, "threads": args.threads,
                              "classifier_alone_threads": args.bound_threads,
                              "cores": os.cpu_count(), "image_mix": [s[0] for s in SIZES]},
            "classifier_alone_images_per_s": round(bound, 2),
            "phase1": {"images": len(phase1), "seconds": round(end - start, 2), "images_per_s": round(rate, 2),
                       "ratio_to_classifier": round(rate / bound, 3),
                       "latency_ms": {p: round(percentile(latencies1, q), 1) for p, q in (("p50", 50), ("p95", 95), ("p99", 99))},
                       "stages": stage_figures(phase1), "cpu_busy_percent": round(busy * 100, 1),
                       "cpu_percent_by_worker_kind": cpu_by_role},
            "phase2": {"images": len(phase2), "rate_per_s": round(paced_rate, 2),
                       "latency_ms": {p: round(percentile(latencies2, q), 1) for p, q in (("p50", 50), ("p95", 95), ("p99", 99))},
                       "stages": stage_figures(phase2)},
            "peak_rss_kb": {role: sorted(values) for role, values in peak_rss.items()},
            "open_fds_first_last": fds,
            "gateway_attempts_over_1": sum(1 for t in phase1 + phase2 if t["attempts"] > 1),
        }
        with open(report_path, "w") as f:
            json.dump(report, f, indent=2)
        print(json.dumps(report, indent=2), file=sys.stderr)
        p2 = report["phase2"]["latency_ms"]
        print(f"pipeline: images={len(phase1)} images_per_s={rate:.1f} classifier_alone_per_s={bound:.1f} "
              f"ratio={rate / bound:.2f} paced_per_s={paced_rate:.1f} p50_ms={p2['p50']} p95_ms={p2['p95']} "
              f"p99_ms={p2['p99']} cpu_busy_percent={busy * 100:.0f} recognizers={args.recognizers} "
              f"notifiers={args.notifiers} batch={args.batch_size} threads={args.threads} report={report_path}")
    finally:
        stop_all()
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
            for leftover in glob.glob(os.path.join(work, "*")):
                if os.path.abspath(leftover) != os.path.abspath(report_path):
                    if os.path.isdir(leftover) and not os.path.islink(leftover):
                        shutil.rmtree(leftover, ignore_errors=True)
                    else:
                        os.remove(leftover)


if __name__ == "__main__":
    main()
