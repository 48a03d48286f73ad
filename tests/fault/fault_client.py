#!/usr/bin/env python3
"""The fault suite's client and its ledger.

  fault_client.py drive PRODUCER_FILE HOST OUT_DIR RATE
      Sends one unary Warm per URL (http://HOST/static/fault-N.html) at RATE per second
      until SIGTERM, reading the producer's address from PRODUCER_FILE before every attempt
      (the suite restarts the producer on a new port). An error is retried, as a client
      would, until the producer answers OK. Appends "url job_id" to OUT_DIR/acked for every
      OK and keeps OUT_DIR/counts ("sent acked") current.
  fault_client.py ledger PRODUCER_FILE OUT_DIR REGIONS EDGE_LOG... TIMEOUT
      Waits until every acknowledged job is done (GetJob), then prints the ledger: sent,
      acknowledged, warmed and failed per region, duplicates (2xx GETs of one URL at one
      edge beyond the first), lost (acknowledged but not WARMED or FAILED everywhere).
      Writes it as JSON to OUT_DIR/ledger.json.
"""
import collections
import json
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../scripts"))
import cdnwarm_client as cw  # noqa: E402

RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
             grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.CANCELLED,
             grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}


def producer_at(path):
    return cw.Producer(Path(path).read_text().strip(), timeout=10.0)


def drive(producer_file, host, out, rate):
    out = Path(out)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    acked_file = open(out / "acked", "a", buffering=1)
    sent = acked = 0
    producer, address = None, None
    n = 0
    next_at = time.monotonic()
    while not stop.is_set():
        url = f"http://{host}/static/fault-{n}.html"
        n += 1
        sent += 1
        backoff = 0.1
        while not stop.is_set():
            current = Path(producer_file).read_text().strip()
            if current != address:
                if producer:
                    producer.close()
                producer, address = producer_at(producer_file), current
            try:
                reply = producer.warm(url)
            except grpc.RpcError as e:
                if e.code() not in RETRYABLE:
                    print(f"drive: {url}: {e.code().name}: {e.details()}", file=sys.stderr)
                    break
                stop.wait(backoff)  # a client's retry backoff, not synchronisation
                backoff = min(backoff * 2, 2.0)
                continue
            acked += 1
            acked_file.write(f"{url} {reply.job_id}\n")
            break
        (out / "counts.tmp").write_text(f"{sent} {acked}\n")
        os.replace(out / "counts.tmp", out / "counts")
        next_at = max(next_at + 1.0 / rate, time.monotonic() - 1.0)
        stop.wait(max(0.0, next_at - time.monotonic()))  # pacing the load
    acked_file.close()


def edge_duplicates(log):
    """2xx GETs of one path beyond the first, from an nginx access log (combined format)."""
    gets = collections.Counter()
    for line in Path(log).read_text(errors="replace").splitlines():
        m = re.search(r'"GET (\S+) HTTP/[\d.]+" (\d{3}) ', line)
        if m and m.group(2).startswith("2") and "/static/fault-" in m.group(1):
            gets[m.group(1)] += 1
    return sum(c - 1 for c in gets.values())


def ledger(producer_file, out, regions, edge_logs, timeout):
    out = Path(out)
    regions = regions.split(",")
    sent, acked_count = map(int, (out / "counts").read_text().split())
    acked = [line.split() for line in (out / "acked").read_text().splitlines() if line]
    producer = producer_at(producer_file)
    pending = {job: url for url, job in acked}
    final = {}
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for job in list(pending):
            try:
                state = producer.get_job(job)
            except grpc.RpcError as e:
                if e.code() in RETRYABLE:
                    continue
                raise
            if state.done:
                final[job] = state
                del pending[job]
        if pending:
            time.sleep(0.5)  # polling job state, bounded by the deadline
    per_region = {r: collections.Counter() for r in regions}
    lost = []
    for url, job in acked:
        state = final.get(job)
        if state is None:
            lost.append(url)
            continue
        reported = {p.region: p for p in state.regions}
        for r in regions:
            p = reported.get(r)
            if p is None or p.warmed + p.failed != state.total_tasks or state.total_tasks == 0:
                lost.append(url)
                break
            per_region[r]["warmed"] += p.warmed
            per_region[r]["failed"] += p.failed
    duplicates = {}
    for log in edge_logs:
        duplicates[Path(log).parent.name] = edge_duplicates(log)
    result = {
        "sent": sent,
        "acknowledged": len(acked),
        "warmed": {r: per_region[r]["warmed"] for r in regions},
        "failed": {r: per_region[r]["failed"] for r in regions},
        "duplicates": duplicates,
        "lost": len(lost),
        "lost_urls": lost[:20],
    }
    (out / "ledger.json").write_text(json.dumps(result, indent=2) + "\n")
    print("ledger:")
    print(f"  sent          {sent}")
    print(f"  acknowledged  {len(acked)}")
    for r in regions:
        print(f"  {r:<13} warmed {per_region[r]['warmed']}, failed {per_region[r]['failed']}")
    for edge, d in duplicates.items():
        print(f"  duplicates at {edge}: {d}")
    print(f"  lost          {len(lost)}" + (f"  e.g. {lost[:5]}" if lost else ""))
    return 0 if not lost and acked_count == len(acked) else 1


def main(argv):
    if len(argv) >= 5 and argv[1] == "drive":
        drive(argv[2], argv[3], argv[4], float(argv[5]))
        return 0
    if len(argv) >= 6 and argv[1] == "ledger":
        return ledger(argv[2], argv[3], argv[4], argv[5:-1], float(argv[-1]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
