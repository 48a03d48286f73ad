"""Checks a metrics dump against the Prometheus text format with prometheus_client's parser.

Usage: check_exposition.py SAMPLE_BINARY
"""
import math
import subprocess
import sys

from prometheus_client.parser import text_string_to_metric_families


def main() -> int:
    text = subprocess.run([sys.argv[1]], check=True, capture_output=True, text=True).stdout
    families = {f.name: f for f in text_string_to_metric_families(text)}

    # The parser strips _total from counter family names.
    req = families["cdnwarm_requests"]
    assert req.type == "counter", req.type
    assert req.documentation == "RPCs served, by \\ and\nline.", repr(req.documentation)
    samples = {tuple(sorted(s.labels.items())): s.value for s in req.samples}
    assert samples[(("code", "OK"), ("rpc", "Warm"))] == 42, samples
    tricky = (("code", "caf\u00e9"), ("rpc", "quote\"back\\slash\nnewline"))
    assert samples[tricky] == 0.5, samples

    gauge = families["cdnwarm_queue_depth"]
    assert gauge.type == "gauge" and gauge.samples[0].value == -3.25, gauge

    hist = families["cdnwarm_latency_seconds"]
    assert hist.type == "histogram", hist.type
    buckets = {s.labels["le"]: s.value for s in hist.samples if s.name.endswith("_bucket")}
    expected = {0.001: 1, 0.01: 2, 0.1: 3, 1.0: 4, math.inf: 5}
    got = {float(le): v for le, v in buckets.items()}
    assert got == expected, got
    count = [s.value for s in hist.samples if s.name.endswith("_count")]
    total = [s.value for s in hist.samples if s.name.endswith("_sum")]
    assert count == [5] and abs(total[0] - 5.2225) < 1e-9, (count, total)

    # prometheus-cpp leaves out a family until it has a child.
    assert "cdnwarm_empty" not in families or not families["cdnwarm_empty"].samples
    print(f"ok: {len(families)} families parsed by prometheus_client")
    return 0


if __name__ == "__main__":
    sys.exit(main())
