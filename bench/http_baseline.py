#!/usr/bin/env python3
"""Runs wrk or h2load against one URL and prints its result as a cdnwarm-bench JSON line,
with the CPU the tool used (user + system of the child), for bench/run.sh.

    http_baseline.py wrk|h2load --connections C [--streams S] --duration SECONDS [--host H] URL
"""
import argparse
import json
import re
import resource
import subprocess
import sys
import time


def run(cmd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        sys.exit(f"{cmd[0]} exited {proc.returncode}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout, wall, cpu


def number(pattern, text, what):
    m = re.search(pattern, text, re.MULTILINE)
    if not m:
        sys.exit(f"no {what} in the output:\n{text}")
    return float(m.group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tool", choices=["wrk", "h2load"])
    ap.add_argument("--connections", type=int, required=True)
    ap.add_argument("--streams", type=int, default=1, help="h2load: streams per connection")
    ap.add_argument("--duration", type=int, required=True)
    ap.add_argument("--host", default="")
    ap.add_argument("url")
    a = ap.parse_args()
    header = ["-H", f"Host: {a.host}"] if a.host else []
    if a.tool == "wrk":
        # One thread, as the warmer's engine is one thread.
        out, wall, cpu = run(["wrk", "-t1", f"-c{a.connections}", f"-d{a.duration}s", *header, a.url])
        rate = number(r"^Requests/sec:\s+([\d.]+)", out, "Requests/sec")
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*", out)
        seconds = a.duration
    else:
        # One client thread, as the warmer's engine; connections x streams in flight.
        out, wall, cpu = run(["h2load", "-t1", f"-c{a.connections}", f"-m{a.streams}",
                              f"-D{a.duration}", *header, a.url])
        rate = number(r"finished in [\d.]+\w+, ([\d.]+) req/s", out, "req/s")
        failed = number(r"requests: .* (\d+) failed", out, "failed count")
        errors = failed > 0
        seconds = a.duration
    if errors:
        sys.exit(f"{a.tool} saw errors:\n{out}")
    print(json.dumps({
        "scenario": f"{a.tool}-get",
        "count": round(rate * seconds),
        "seconds": seconds,
        "rate": rate,
        "unit": "gets/s",
        "connections": a.connections,
        "in_flight": a.connections * (a.streams if a.tool == "h2load" else 1),
        "lg_cpu_s": cpu,
        "lg_cpu_cores": cpu / wall if wall > 0 else 0,
    }))


if __name__ == "__main__":
    main()
