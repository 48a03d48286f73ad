#!/usr/bin/env python3
"""cdnwarm's contracts used from Python (grpcio, stubs generated from proto/) the way
another service would: a deploy pipeline that publishes a release's URLs and waits for
every region, and an operator job that brings a new region up on the backlog.

  client_e2e.py pipeline PRODUCER URL_FILE REGION,REGION,...
      WarmBatch of every URL of the file (streamed), then WatchJob until done: every region
      must report exactly that many warmed, none failed or pending. Bad input must come back
      as INVALID_ARGUMENT naming the problem, an unknown job as NOT_FOUND.
  client_e2e.py join-region BRIDGE REGION
      Waits for the region's first subscriber and partitions, Seek(earliest), then waits
      until the region has worked off the whole backlog (lag 0, nothing outstanding).
"""
import os
import sys
import time

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../scripts"))
import cdnwarm_client as cw  # noqa: E402

DEADLINE_S = 180


def check(cond, message):
    if not cond:
        sys.exit(f"FAIL: {message}")


def expect_error(code, fn, mentions):
    try:
        fn()
    except grpc.RpcError as e:
        check(e.code() == code, f"expected {code.name}, got {e.code().name}: {e.details()}")
        check(mentions in e.details(), f"error {e.details()!r} does not name {mentions!r}")
        return
    sys.exit(f"FAIL: expected {code.name}, the call succeeded")


def pipeline(address, url_file, regions):
    producer = cw.Producer(address)
    with open(url_file, encoding="utf-8") as f:
        urls = [line.strip() for line in f if line.strip()]
    expect_error(grpc.StatusCode.INVALID_ARGUMENT,
                 lambda: producer.warm("http://user:secret@cdn.example.test/x"), "userinfo")
    expect_error(grpc.StatusCode.NOT_FOUND, lambda: producer.get_job("j-no-such-job"),
                 "j-no-such-job")

    reply = producer.warm_batch(iter(urls), cw.task_options(source="release-42"))
    check(reply.accepted == len(urls) and reply.rejected_count == 0,
          f"batch: {reply.accepted} accepted, {reply.rejected_count} rejected of {len(urls)}")
    print(f"pipeline: job {reply.job_id} with {reply.accepted} URLs")

    updates, job = 0, None
    for job in producer.watch(reply.job_id, timeout=DEADLINE_S):
        updates += 1
    check(job is not None and job.done, f"job not done within {DEADLINE_S}s: {job}")
    check(job.total_tasks == len(urls), f"total_tasks {job.total_tasks} != {len(urls)}")
    by_region = {r.region: r for r in job.regions}
    check(sorted(by_region) == sorted(regions), f"regions {sorted(by_region)} != {regions}")
    for name, r in by_region.items():
        check(r.warmed == len(urls) and r.failed == 0 and r.pending == 0 and r.done,
              f"{name}: warmed {r.warmed} failed {r.failed} pending {r.pending}")
    print(f"pipeline: done in every region after {updates} WatchJob updates")


def join_region(address, region):
    bridge = cw.Bridge(address)
    deadline = time.monotonic() + DEADLINE_S

    def region_info():
        reply = bridge.subscriptions(region)
        return next((r for r in reply.regions if r.region == region), None)

    def started(info):
        return info is not None and info.subscribers and info.partitions and \
            all(p.committed_offset >= 0 for p in info.partitions)

    info = region_info()
    # Polling the bridge's own view: the region's group has joined, owns partitions and has
    # committed where it starts.
    while not started(info) and time.monotonic() < deadline:
        time.sleep(0.2)
        info = region_info()
    check(started(info), f"region {region} never started: {info}")
    # Known to the bridge (--regions) since it started, before any of these tasks: anchored
    # there, so the warmer that starts only now still has every task before it.
    start = sum(p.committed_offset for p in info.partitions)
    ends = sum(p.end_offset for p in info.partitions)
    check(start < ends, f"a known region starts where it was anchored, not at the end: {info}")

    seek = bridge.seek(region, earliest=True)
    check(len(seek.partitions) == len(info.partitions),
          f"seek moved {len(seek.partitions)} of {len(info.partitions)} partitions")
    check(all(p.committed_offset == 0 for p in seek.partitions),
          f"earliest is not offset 0 on this fresh topic: {seek}")
    backlog = ends
    print(f"join-region: {region} started at {start} of {ends} (anchored when the bridge "
          f"started); Seek(earliest) replays all {backlog}")

    while time.monotonic() < deadline:
        info = region_info()
        ends = sum(p.end_offset for p in info.partitions)
        if ends >= backlog and cw.region_lag(info) == 0 and info.outstanding == 0 \
                and info.buffered == 0 and all(p.committed_offset >= 0 for p in info.partitions):
            print(f"join-region: {region} worked off all {ends} tasks")
            return
        time.sleep(0.2)
    sys.exit(f"FAIL: {region} did not work off its backlog within {DEADLINE_S}s: {info}")


def main(argv):
    if len(argv) == 4 and argv[0] == "pipeline":
        return pipeline(argv[1], argv[2], argv[3].split(","))
    if len(argv) == 3 and argv[0] == "join-region":
        return join_region(argv[1], argv[2])
    sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
