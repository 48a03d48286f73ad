#!/usr/bin/env python3
"""The fault suite's client and its ledger.

  fault_client.py drive PRODUCER_FILE HOST OUT_DIR RATE
      Sends one unary Warm per URL (http://HOST/static/fault-N.html) at RATE per second
      until SIGTERM, reading the producer's address from PRODUCER_FILE before every attempt
      (the suite restarts the producer on a new port). An error is retried, as a client
      would, until the producer answers OK. Appends "url job_id" to OUT_DIR/acked for every
      OK, its time to OUT_DIR/ack-times, and keeps OUT_DIR/counts ("sent acked retried")
      current.
  fault_client.py ledger PRODUCER_FILE OUT_DIR REGIONS EDGE_LOG... TIMEOUT
      Waits until every acknowledged job is done (GetJob), then prints the ledger: sent,
      acknowledged, warmed and failed per region, duplicates (2xx GETs of one URL at one
      edge beyond the first), lost (acknowledged but not WARMED or FAILED everywhere).
      Writes it as JSON to OUT_DIR/ledger.json.
  fault_client.py warm PRODUCER_FILE OUT_FILE REGIONS URL...
      One Warm per URL, targeted at REGIONS (comma-separated, or "all"); appends
      "url job_id regions" to OUT_FILE for every OK.
  fault_client.py seek BRIDGE_ADDRESS REGION SECONDS_AGO|earliest PARTITIONS [MIN_REPLICAS]
      Seek(timestamp = now - SECONDS_AGO, or earliest) of REGION; prints every partition
      moved and the replica that moved it; fails unless all PARTITIONS moved, by at least
      MIN_REPLICAS (default 1) different replicas.
  fault_client.py probe PRODUCER_FILE URL DEADLINE
      One Warm of URL with a gRPC deadline of DEADLINE seconds while Kafka cannot take it;
      prints the status and how long the answer took; fails unless the answer is
      UNAVAILABLE, before the deadline.
  fault_client.py duplicates EDGE_LOG...
      Prints the 2xx GETs of one load URL beyond the first, summed over the logs.
  fault_client.py replayed BEFORE_LOG AFTER_LOG TIMEOUT
      Waits up to TIMEOUT seconds until every load URL served in BEFORE_LOG (an access log
      copied at a seek) is served once more in AFTER_LOG (the same log, growing); fails if
      one is not, or if BEFORE_LOG has none.
  fault_client.py windows OUT_DIR EDGE_LOG...
      For each event of OUT_DIR/events ("label start end", Unix seconds), the longest
      window with no progress within it, in seconds: between two acknowledged URLs
      (OUT_DIR/ack-times) and between two 2xx GETs at each region's edge (EDGE_LOG, in a
      directory named edge-REGION; whole seconds). Prints a table and writes
      OUT_DIR/windows.json.
  fault_client.py edge-ledger PRODUCER_FILE OUT_DIR REGIONS DLQ_JSON EDGE_LOG... TIMEOUT
      The drills' ledger, checked where users see it: waits for every acknowledged job
      (OUT_DIR/acked*), then every acknowledged URL must have reached the edge access log
      (EDGE_LOG, in a directory named edge-REGION) of each region it targets, or be on the
      dead-letter topic (DLQ_JSON: kcat -J lines) with a reason. Prints and asserts lost = 0
      and dead-lettered without a fetch = 0; writes OUT_DIR/edge-ledger.json.
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
from urllib.parse import urlparse

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
    times_file = open(out / "ack-times", "a", buffering=1)
    sent = acked = retried = 0
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
                retried += 1
                stop.wait(backoff)  # a client's retry backoff, not synchronisation
                backoff = min(backoff * 2, 2.0)
                continue
            acked += 1
            acked_file.write(f"{url} {reply.job_id}\n")
            times_file.write(f"{time.time():.3f}\n")
            break
        (out / "counts.tmp").write_text(f"{sent} {acked} {retried}\n")
        os.replace(out / "counts.tmp", out / "counts")
        next_at = max(next_at + 1.0 / rate, time.monotonic() - 1.0)
        stop.wait(max(0.0, next_at - time.monotonic()))  # pacing the load
    acked_file.close()
    times_file.close()


def load_gets(log):
    """2xx GETs of each load URL (/static/fault-N) in an nginx access log (combined format)."""
    gets = collections.Counter()
    for line in Path(log).read_text(errors="replace").splitlines():
        m = re.search(r'"GET (\S+) HTTP/[\d.]+" (\d{3}) ', line)
        if m and m.group(2).startswith("2") and "/static/fault-" in m.group(1):
            gets[m.group(1)] += 1
    return gets


def edge_duplicates(log):
    """2xx GETs of one load URL beyond the first, from an nginx access log."""
    return sum(c - 1 for c in load_gets(log).values())


def replayed(before_log, after_log, timeout):
    """Waits until every load URL of BEFORE_LOG (a copy of the log taken at a seek) was
    served once more in AFTER_LOG, the same log now."""
    before = load_gets(before_log)
    deadline = time.monotonic() + timeout
    while True:
        after = load_gets(after_log)
        missing = [p for p, n in before.items() if after[p] < n + 1]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.5)  # polling the access log, bounded by the deadline
    print(f"replay: {len(before) - len(missing)} of {len(before)} URLs served before the seek "
          f"were served again" + (f"; not: {missing[:5]}" if missing else ""))
    return 1 if missing or not before else 0


def ledger(producer_file, out, regions, edge_logs, timeout):
    out = Path(out)
    regions = regions.split(",")
    sent, acked_count = map(int, (out / "counts").read_text().split()[:2])
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


def read_acked(out):
    """(url, job, regions or None) of every acknowledged URL in OUT_DIR/acked*."""
    rows = []
    for f in sorted(Path(out).glob("acked*")):
        for line in f.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2:
                rows.append((parts[0], parts[1], parts[2].split(",") if len(parts) > 2 else None))
    return rows


def warm(producer_file, out_file, regions, urls):
    producer = producer_at(producer_file)
    options = None
    if regions != "all":
        options = cw.pb.producer.TaskOptions(target_regions=regions.split(","))
    with open(out_file, "a", buffering=1) as f:
        for url in urls:
            reply = producer.warm(url, options)
            f.write(f"{url} {reply.job_id} {regions if regions != 'all' else ''}".rstrip() + "\n")
    return 0


def seek(address, region, seconds_ago, partitions, min_replicas=1):
    import datetime
    bridge = cw.Bridge(address, timeout=60.0)
    where = {"earliest": True}
    if seconds_ago != "earliest":
        where = {"timestamp": datetime.datetime.now(datetime.timezone.utc)
                 - datetime.timedelta(seconds=float(seconds_ago))}
    deadline = time.monotonic() + 60
    while True:
        try:
            reply = bridge.seek(region, **where)
            break
        except grpc.RpcError as e:
            # Right after a bridge restart the region's warmer may still be joining its
            # group again: an operator would retry, and so does this.
            if e.code() == grpc.StatusCode.FAILED_PRECONDITION and time.monotonic() < deadline:
                time.sleep(0.5)
                continue
            print(f"seek {region}: {e.code().name}: {e.details()}", file=sys.stderr)
            return 1
    moved = {p.partition: p for p in reply.partitions}
    for p in sorted(moved):
        print(f"  partition {p} -> offset {moved[p].committed_offset} (moved by {moved[p].replica})")
    if sorted(moved) != list(range(partitions)):
        print(f"seek {region}: moved {sorted(moved)}, expected 0..{partitions - 1}",
              file=sys.stderr)
        return 1
    replicas = {p.replica for p in moved.values()}
    if len(replicas) < min_replicas:
        print(f"seek {region}: moved by {sorted(replicas)}, expected {min_replicas} replicas",
              file=sys.stderr)
        return 1
    return 0


def probe(producer_file, url, deadline):
    producer = cw.Producer(Path(producer_file).read_text().strip(), timeout=deadline)
    start = time.monotonic()
    try:
        reply = producer.warm(url)
    except grpc.RpcError as e:
        took = time.monotonic() - start
        print(f"probe: {e.code().name} after {took:.1f}s (deadline {deadline:.0f}s): {e.details()}")
        return 0 if e.code() == grpc.StatusCode.UNAVAILABLE and took < deadline else 1
    print(f"probe: OK (job {reply.job_id}) after {time.monotonic() - start:.1f}s: "
          "Kafka took a record it should not have")
    return 1


EDGE_TIME = re.compile(r'\[(\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] "GET (\S+) '
                       r'HTTP/[\d.]+" (\d{3}) ')


def edge_times(log):
    """Unix seconds of every 2xx GET of a load URL in an nginx access log (combined format)."""
    import datetime
    times = []
    for line in Path(log).read_text(errors="replace").splitlines():
        m = EDGE_TIME.search(line)
        if m and m.group(3).startswith("2") and "/static/fault-" in m.group(2):
            at = datetime.datetime.strptime(m.group(1), "%d/%b/%Y:%H:%M:%S %z")
            times.append(at.timestamp())
    return sorted(times)


def longest_gap(times, start, end):
    """The longest stretch of [start, end] with none of TIMES (sorted) in it."""
    points = [start] + [t for t in times if start < t < end] + [end]
    return max(b - a for a, b in zip(points, points[1:]))


def windows(out, edge_logs):
    out = Path(out)
    events = []
    for line in (out / "events").read_text().splitlines():
        label, start, end = line.rsplit(" ", 2)
        events.append((label, float(start), float(end)))
    acks = sorted(float(t) for t in (out / "ack-times").read_text().split())
    edges = {Path(log).parent.name.removeprefix("edge-"): edge_times(log) for log in edge_logs}
    rows = []
    print("longest window with no progress, per event (seconds):")
    print(f"  {'event':<58} {'intake':>7} " + " ".join(f"{r:>9}" for r in edges))
    for label, start, end in events:
        row = {"event": label, "seconds": round(end - start, 1),
               "intake": round(longest_gap(acks, start, end), 1),
               "edges": {r: round(longest_gap(t, start, end), 1) for r, t in edges.items()}}
        rows.append(row)
        print(f"  {label[:58]:<58} {row['intake']:>7} "
              + " ".join(f"{row['edges'][r]:>9}" for r in edges))
    (out / "windows.json").write_text(json.dumps(rows, indent=2) + "\n")
    return 0


def edge_paths(log):
    """Request targets of GETs in an nginx access log (combined format), any status."""
    paths = collections.Counter()
    for line in Path(log).read_text(errors="replace").splitlines():
        m = re.search(r'"GET (\S+) HTTP/[\d.]+" (\d{3}) ', line)
        if m:
            paths[m.group(1)] += 1
    return paths


def target_of(url):
    u = urlparse(url)
    return u.path + (f"?{u.query}" if u.query else "")


def dead_letters(dlq_json):
    """url -> reason (the cdnwarm-error header) of every dead letter."""
    out = {}
    for line in Path(dlq_json).read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        headers = record.get("headers") or []
        pairs = dict(zip(headers[0::2], headers[1::2]))
        out[record.get("key") or ""] = pairs.get("cdnwarm-error", "")
    return out


def edge_ledger(producer_file, out, regions, dlq_json, edge_logs, timeout):
    out = Path(out)
    regions = regions.split(",")
    acked = read_acked(out)
    producer = producer_at(producer_file)
    pending = {job for _, job, _ in acked}
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for job in list(pending):
            try:
                if producer.get_job(job).done:
                    pending.discard(job)
            except grpc.RpcError as e:
                if e.code() not in RETRYABLE:
                    raise
        if pending:
            time.sleep(0.5)  # polling job state, bounded by the deadline
    at_edge = {Path(log).parent.name.removeprefix("edge-"): edge_paths(log) for log in edge_logs}
    dead = dead_letters(dlq_json)
    lost, dead_without_fetch, reached = [], [], collections.Counter()
    for url, job, targets in acked:
        for r in targets or regions:
            if at_edge.get(r, {}).get(target_of(url)):
                reached[r] += 1
            elif not dead.get(url):
                lost.append(f"{url} ({r})")
    for url, reason in dead.items():
        if not any(paths.get(target_of(url)) for paths in at_edge.values()):
            dead_without_fetch.append(f"{url}: {reason}")
    result = {
        "acknowledged": len(acked),
        "reached_edge": dict(reached),
        "dead_lettered": len(dead),
        "dead_letter_reasons": sorted(set(dead.values()))[:10],
        "jobs_not_done": len(pending),
        "jobs_not_done_examples": sorted(pending)[:10],
        "lost": len(lost),
        "lost_examples": lost[:20],
        "dead_lettered_without_fetch": len(dead_without_fetch),
        "dead_lettered_without_fetch_examples": dead_without_fetch[:20],
    }
    (out / "edge-ledger.json").write_text(json.dumps(result, indent=2) + "\n")
    print("edge ledger:")
    print(f"  acknowledged                    {len(acked)}")
    for r in regions:
        print(f"  reached the {r:<8} edge         {reached[r]}")
    print(f"  dead-lettered                   {len(dead)}  {result['dead_letter_reasons']}")
    print(f"  jobs not done                   {len(pending)}")
    print(f"  lost                            {len(lost)}" + (f"  e.g. {lost[:5]}" if lost else ""))
    print(f"  dead-lettered without a fetch   {len(dead_without_fetch)}"
          + (f"  e.g. {dead_without_fetch[:5]}" if dead_without_fetch else ""))
    return 0 if not lost and not dead_without_fetch and not pending else 1


def main(argv):
    if len(argv) >= 6 and argv[1] == "warm":
        return warm(argv[2], argv[3], argv[4], argv[5:])
    if len(argv) in (6, 7) and argv[1] == "seek":
        return seek(argv[2], argv[3], argv[4], int(argv[5]), int(argv[6]) if len(argv) > 6 else 1)
    if len(argv) == 5 and argv[1] == "probe":
        return probe(argv[2], argv[3], float(argv[4]))
    if len(argv) >= 3 and argv[1] == "duplicates":
        print(sum(edge_duplicates(log) for log in argv[2:]))
        return 0
    if len(argv) == 5 and argv[1] == "replayed":
        return replayed(argv[2], argv[3], float(argv[4]))
    if len(argv) >= 4 and argv[1] == "windows":
        return windows(argv[2], argv[3:])
    if len(argv) >= 8 and argv[1] == "edge-ledger":
        return edge_ledger(argv[2], argv[3], argv[4], argv[5], argv[6:-1], float(argv[-1]))
    if len(argv) >= 5 and argv[1] == "drive":
        drive(argv[2], argv[3], argv[4], float(argv[5]))
        return 0
    if len(argv) >= 6 and argv[1] == "ledger":
        return ledger(argv[2], argv[3], argv[4], argv[5:-1], float(argv[-1]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
