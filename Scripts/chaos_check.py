"""Verification half of Scripts/chaos: did every fetched image arrive exactly once everywhere?

Usage:
  python3 chaos_check.py drained HOME BIN FETCH_JSONL   exit 0 when the pipeline is drained
  python3 chaos_check.py verify  HOME BIN FETCH_JSONL SINK_URL KILLED_PIDS_FILE
      prints `key=value` figures on stdout (one per line) and every problem on stderr as
      `chaos: problem: ...`; exit 1 when anything was lost, duplicated or left behind.
With IMAGE_PIPELINE_DATABASE_URL set (Scripts/chaos --database), the label store is read
from PostgreSQL with psql and bus-admin reads the PostgreSQL bus; otherwise HOME/labels.sqlite.
Standard library only (sqlite3 module, ElementTree, urllib), so no pip package is needed.
"""
import json
import os
import sqlite3
import subprocess
import sys
import urllib.request
import xml.etree.ElementTree as ET

BAD_KINDS = ("/missing/", "/html/", "/trunc/", "/bomb/")
WORK_QUEUES = ("recognize", "notify")
DEAD_QUEUES = ("recognize.dead", "notify.dead")


DATABASE = os.environ.get("IMAGE_PIPELINE_DATABASE_URL", "")


def label_rows(home, sql):
    """Rows of `sql` on the label store: SQLite in HOME, or PostgreSQL's pipeline_labels schema."""
    if not DATABASE:
        db = sqlite3.connect(f"file:{os.path.join(home, 'labels.sqlite')}?mode=ro", uri=True)
        try:
            return list(db.execute(sql))
        finally:
            db.close()
    out = subprocess.run(["psql", DATABASE, "-XAtq", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                          "-c", "SET search_path TO pipeline_labels", "-c", sql],
                         check=True, capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        if line:
            rows.append(tuple(int(v) if v.isdigit() else v for v in line.split("\t")))
    return rows


def fetch_results(path):
    results = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                results.append(json.loads(line))
    return results


def bus_status(home, bin_dir):
    out = subprocess.run([os.path.join(bin_dir, "bus-admin"), "status", "--home", home, "--format", "json"],
                         check=True, capture_output=True, text=True).stdout
    report = json.loads(out)
    queues = {q["stats"]["queue"]: q["stats"] for q in report["queues"]}
    pending = sum(t.get("pendingFanOuts", 0) for t in report["topics"])
    return queues, pending


def outbox_ids(home):
    """Image id of every stored notification, one entry per outbox file."""
    outbox = os.path.join(home, "outbox")
    ids = []
    if not os.path.isdir(outbox):
        return ids
    for name in os.listdir(outbox):
        if not name.endswith(".xml"):
            continue
        try:
            root = ET.parse(os.path.join(outbox, name)).getroot()
            ids.append(root.findtext("image/id"))
        except ET.ParseError:
            ids.append(None)
    return ids


def in_work(queues):
    return sum(queues.get(q, {}).get(k, 0) for q in WORK_QUEUES for k in ("visible", "inFlight", "delayed"))


def drained(home, bin_dir, fetch_path):
    fetched = {r["imageID"] for r in fetch_results(fetch_path) if r.get("status") == "ok"}
    delivered = set(outbox_ids(home))
    queues, pending = bus_status(home, bin_dir)
    return fetched <= delivered and in_work(queues) == 0 and pending == 0


def verify(home, bin_dir, fetch_path, sink, killed_path):
    problems = []
    figures = {}
    results = fetch_results(fetch_path)
    ok = [r for r in results if r.get("status") == "ok"]
    fetched = {r["imageID"] for r in ok}
    bad = [r for r in results if any(k in r.get("url", "") for k in BAD_KINDS)]
    figures["images"] = len(results)
    figures["fetched"] = len(fetched)
    figures["bad"] = len(bad)
    for r in results:
        is_bad = any(k in r.get("url", "") for k in BAD_KINDS)
        if is_bad and r.get("status") != "failed":
            problems.append(f"bad input was accepted: {r.get('url')} -> {r.get('status')}")
        if not is_bad and r.get("status") != "ok":
            problems.append(f"good image not fetched: {r.get('url')} -> {r.get('status')} {r.get('error')}")
    if len(fetched) != len(ok):
        problems.append(f"{len(ok) - len(fetched)} fetched images share an id (generator bug)")

    # Labels: one images row per fetched image, no label twice, nothing unexpected.
    store = "PostgreSQL" if DATABASE else "labels.sqlite"
    rows = dict(label_rows(home, "SELECT id, (SELECT COUNT(*) FROM labels WHERE image_id = images.id) FROM images"))
    labelled = fetched & set(rows)
    figures["labelled"] = len(labelled)
    for image in sorted(fetched - set(rows)):
        problems.append(f"image {image} has no row in {store}")
    for image in sorted(set(rows) - fetched):
        problems.append(f"{store} holds an image nobody fetched: {image}")
    no_labels = [i for i in labelled if rows[i] == 0]
    figures["unlabelled"] = len(no_labels)
    for image, name, count in label_rows(
            home, "SELECT image_id, name, COUNT(*) FROM labels GROUP BY image_id, name HAVING COUNT(*) > 1"):
        problems.append(f"label {name!r} stored {count} times for image {image}")
    for term, seq, count in label_rows(
            home, "SELECT term, image_seq, COUNT(*) FROM label_terms GROUP BY term, image_seq HAVING COUNT(*) > 1"):
        problems.append(f"label term {term!r} stored {count} times for image seq {seq}")

    # Notifications: exactly one accepted message per fetched image.
    ids = outbox_ids(home)
    counts = {}
    for image in ids:
        counts[image] = counts.get(image, 0) + 1
    figures["notified"] = len(fetched & set(counts))
    for image in sorted(fetched - set(counts)):
        problems.append(f"image {image} was never notified")
    for image, count in sorted(counts.items(), key=lambda kv: str(kv[0])):
        if count > 1:
            problems.append(f"image {image} notified {count} times")
        if image not in fetched:
            problems.append(f"outbox holds a notification for an image nobody fetched: {image}")
    with urllib.request.urlopen(sink + "/stats", timeout=10) as response:
        stats = json.load(response)
    figures["duplicates_suppressed"] = stats.get("duplicates", 0)
    figures["gateway_failures"] = stats.get("failedOnPurpose", 0)
    if stats.get("accepted") != len(fetched):
        problems.append(f"the sink accepted {stats.get('accepted')} messages for {len(fetched)} fetched images")
    if stats.get("rejected", 0):
        problems.append(f"the sink rejected {stats['rejected']} messages (invalid XML?)")

    # The bus: nothing in flight or waiting, no dead letters, no unfinished fan-out.
    queues, pending = bus_status(home, bin_dir)
    figures["inflight"] = in_work(queues)
    figures["dead"] = sum(queues.get(q, {}).get(k, 0) for q in DEAD_QUEUES for k in ("visible", "inFlight", "delayed"))
    if figures["inflight"]:
        problems.append(f"{figures['inflight']} messages still in the recognize/notify queues")
    if figures["dead"]:
        problems.append(f"{figures['dead']} dead letters (see `bus-admin peek --home {home} recognize.dead` / notify.dead)")
    if pending:
        problems.append(f"{pending} unfinished fan-outs in topics")
    archived = queues.get("archive.image.stored", {}).get("visible", 0)
    figures["archived"] = archived
    if archived != len(fetched):
        problems.append(f"archive.image.stored holds {archived} messages for {len(fetched)} fetched images")

    # Temporary files: bus tmp/ dirs, the image store's .tmp/, the sink's .tmp/.
    # A process killed with SIGKILL while writing a bus message cannot remove its temp file
    # (named `<pid>.<random>.<suffix>`); those orphans are expected and `bus-admin check
    # --repair` reclaims them. Any other leftover (from a SIGTERMed or healthy process) is a bug.
    killed = set(open(killed_path).read().split()) if os.path.exists(killed_path) else set()
    leftovers, orphans = [], []
    for top, dirs, files in os.walk(os.path.join(home, "bus")):
        if os.path.basename(top) == "tmp":
            for f in files:
                (orphans if f.split(".")[0] in killed else leftovers).append(os.path.join(top, f))
    # The image store's temporary files; with PostgreSQL, those of the local copies' cache.
    for image_tmp in (os.path.join(home, "images", ".tmp"), os.path.join(home, "image-cache", ".tmp")):
        if os.path.isdir(image_tmp):
            leftovers += [os.path.join(image_tmp, f) for f in os.listdir(image_tmp)]
    sink_tmp = os.path.join(home, "outbox", ".tmp")
    if os.path.isdir(sink_tmp):
        leftovers += [os.path.join(sink_tmp, f) for f in os.listdir(sink_tmp)]
    figures["tmp"] = len(leftovers)
    figures["orphans_repaired"] = len(orphans)
    for path in leftovers[:10]:
        problems.append(f"temporary file left behind: {path}")
    quarantine = os.path.join(home, "bus", "quarantine")
    if os.path.isdir(quarantine) and os.listdir(quarantine):
        problems.append(f"{len(os.listdir(quarantine))} files in {quarantine}")

    if orphans and not leftovers:
        subprocess.run([os.path.join(bin_dir, "bus-admin"), "check", "--repair", "--home", home, "--tmp-age", "0"],
                       capture_output=True, text=True)
    for command in (["bus-admin", "check", "--home", home, "--tmp-age", "0"], ["list-images", "check", "--home", home]):
        run = subprocess.run([os.path.join(bin_dir, command[0])] + command[1:], capture_output=True, text=True)
        if run.returncode != 0:
            problems.append(f"`{' '.join(command)}` failed: {(run.stdout + run.stderr).strip()[:300]}")

    for key, value in figures.items():
        print(f"{key}={value}")
    for problem in problems:
        print(f"chaos: problem: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "drained":
        sys.exit(0 if drained(*sys.argv[2:5]) else 1)
    sys.exit(verify(*sys.argv[2:7]))
