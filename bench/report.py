#!/usr/bin/env python3
"""Turns bench/run.sh's results.jsonl into report.json, a table on stdout and chart.png.

    report.py RESULTS_JSONL OUT_DIR

Every throughput figure is shown as a ratio to its baseline from the same run, with the
target the project aims at and the CPU the load generator used.
"""
import json
import re
import sys
from pathlib import Path

# (figure, scenario, baseline scenario, target ratio or None)
RATIOS = [
    ("producer WarmBatch", "warm-batch", "produce-bare", 0.70),
    ("producer WarmBatch, 1 URL/message", "warm-batch-single", "produce-bare", None),
    ("producer unary Warm", "warm-unary", "produce-bare", None),
    ("bridge fan-out vs gRPC pump", "fanout", "grpc-pump", 0.60),
    ("bridge fan-out vs bare consume", "fanout", "consume-bare", None),
    ("warmer GETs vs wrk", "warmer-get", "wrk-get", 0.50),
    ("warmer GETs vs h2load", "warmer-get-h2", "h2load-get", None),
]
LATENCY_TARGET_P99_MS = 50.0
LATENCY_TARGET_P999_MS = 100.0
BACKLOG_TARGET_MIB = 256.0


def load(path):
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    by = {}
    for r in rows:
        by.setdefault(r["scenario"], []).append(r)
    return rows, by


def one(by, scenario):
    return by.get(scenario, [None])[-1]


def build(rows, by, metrics_dir=None):
    report = {"settings": one(by, "settings"), "throughput": [], "latency": None,
              "memory": [], "targets_met": True, "raw": rows}
    for figure, name, base, target in RATIOS:
        r, b = one(by, name), one(by, base)
        if r is None or b is None:
            continue
        ratio = r["rate"] / b["rate"] if b["rate"] else None
        met = None if target is None or ratio is None else ratio >= target
        report["throughput"].append({
            "figure": figure, "rate": r["rate"], "unit": r["unit"],
            "baseline": base, "baseline_rate": b["rate"], "ratio": ratio, "target": target,
            "met": met, "lg_cpu_cores": r.get("lg_cpu_cores"),
            "baseline_lg_cpu_cores": b.get("lg_cpu_cores")})
        if met is False:
            report["targets_met"] = False
    # Saturation and the latency sweep per intake path (rows before 2026-12-06 have none:
    # batch saturation, unary latency).
    sats = {r.get("intake", "batch"): r for r in by.get("e2e-saturate", [])}
    if sats:
        report["e2e_saturation"] = [
            {"intake": intake, "rate": r["rate"], "unit": r["unit"], "urls": r["urls"],
             "duplicates": r["duplicates"], "lg_cpu_cores": r["lg_cpu_cores"]}
            for intake, r in sats.items()]
        report["latency_sweep"] = []
        for r in by.get("e2e-latency", []):
            intake = r.get("intake", "unary")
            sat = sats.get(intake, sats.get("batch"))
            if sat is None:
                continue
            report["latency_sweep"].append(
                dict({k: v for k, v in r.items() if k != "scenario"}, intake=intake,
                     load=round(r["target_rate"] / (sat["rate"] / sat["regions"]), 2)))
        # Where each run's time went, from the services' histograms (run.sh's snapshots).
        stages = stage_quantiles(metrics_dir) if metrics_dir else []
        if len(stages) == len(report["latency_sweep"]):
            for lat, st in zip(report["latency_sweep"], stages):
                lat["stages"] = st
        elif stages:
            report["stages_note"] = (f"{len(stages)} metrics snapshots for "
                                     f"{len(report['latency_sweep'])} latency runs: not shown")
        # The target is judged at the highest load of each intake (half of its saturation).
        report["latency"] = []
        for intake in sorted({r["intake"] for r in report["latency_sweep"]}):
            lat = max((r for r in report["latency_sweep"] if r["intake"] == intake),
                      key=lambda r: r["load"])
            met = (lat.get("warmed_p99_ms", 1e9) <= LATENCY_TARGET_P99_MS and
                   lat.get("warmed_p999_ms", 1e9) <= LATENCY_TARGET_P999_MS)
            lat.update(target_p99_ms=LATENCY_TARGET_P99_MS,
                       target_p999_ms=LATENCY_TARGET_P999_MS, met=met)
            report["latency"].append(lat)
            report["targets_met"] &= met
    for m in by.get("memory", []):
        report["memory"].append({"service": m["service"], "peak_rss_mib": m["peak_rss_mib"]})
    ins = one(by, "instructions")
    if ins:
        deliveries = ins["urls"] * ins["regions"]
        report["instructions"] = [
            {"stage": "producer intake", "per": "URL", "instructions": ins["producer"] / ins["urls"]},
            {"stage": "bridge delivery + ack + result", "per": "region delivery",
             "instructions": ins["streamer_bridge"] / deliveries},
            {"stage": "warmer GET + verify + ack", "per": "region warm",
             "instructions": ins["warmer"] / deliveries}]
    backlog = one(by, "bridge-backlog")
    if backlog:
        met = backlog["peak_rss_mib"] <= BACKLOG_TARGET_MIB
        report["backlog"] = dict(backlog, target_mib=BACKLOG_TARGET_MIB, met=met)
        report["targets_met"] &= met
    return report


# Histograms whose differences between two of run.sh's metrics snapshots show where an
# e2e latency run's time went, each merged over the services and labels that have it.
STAGES = [
    ("producer: Kafka ack", "cdnwarm_producer_delivery_seconds"),
    ("bridge: record age at read", "cdnwarm_bridge_record_age_seconds"),
    ("warmer: task age at delivery", "cdnwarm_warmer_task_age_seconds"),
    ("warmer: wait for a slot", "cdnwarm_warmer_queued_seconds"),
    ("warmer: HTTP exchange", "cdnwarm_warmer_total_seconds"),
]


def histograms(path):
    """{name: {upper bound: cumulative count}}, summed over label sets."""
    out = {}
    for line in path.read_text().splitlines():
        m = re.match(r'(\w+)_bucket\{(.*)\} (\S+)$', line)
        if not m:
            continue
        le = re.search(r'le="([^"]*)"', m.group(2)).group(1)
        bound = float("inf") if le == "+Inf" else float(le)
        h = out.setdefault(m.group(1), {})
        h[bound] = h.get(bound, 0) + float(m.group(3))
    return out


def stage_quantiles(metrics_dir):
    """Per latency run (in run order): [{stage, count, p50, p99, p999}], as bucket bounds."""
    runs_file = metrics_dir / "runs"
    if not runs_file.exists():
        return []
    runs = runs_file.read_text().split()
    out = []
    for before, after in zip(runs, runs[1:]):
        if not after.startswith("latency-"):
            continue
        totals = {}
        for path in metrics_dir.glob(f"{after}-*.txt"):
            service = path.name[len(after) + 1:]
            earlier = metrics_dir / f"{before}-{service}"
            # Without the earlier snapshot the difference would hold everything before.
            if not earlier.exists() or earlier.stat().st_size == 0:
                continue
            prev = histograms(earlier)
            for name, h in histograms(path).items():
                t = totals.setdefault(name, {})
                for bound, c in h.items():
                    t[bound] = t.get(bound, 0) + c - prev.get(name, {}).get(bound, 0)
        stages = []
        for label, name in STAGES:
            h = sorted(totals.get(name, {}).items())
            n = h[-1][1] if h else 0
            if n <= 0:
                continue
            # A quantile in the +Inf bucket is None: beyond the largest bound.
            q = {key: next((b if b != float("inf") else None) for b, c in h if c >= frac * n)
                 for key, frac in (("p50", 0.5), ("p99", 0.99), ("p999", 0.999))}
            stages.append(dict(q, stage=label, count=n))
        out.append(stages)
    return out


def bound(seconds):
    """A stage's quantile: the bucket bound it lies under, or beyond the largest."""
    return "beyond the buckets" if seconds is None else f"<= {seconds * 1e3:g} ms"


def mark(met):
    return {True: "met", False: "MISSED", None: ""}[met]


def table(report):
    lines = [f"{'figure':32} {'rate':>16} {'baseline':>24} {'ratio':>6} {'target':>7} "
             f"{'':6} {'load gen cpu':>12}"]
    for t in report["throughput"]:
        target = f">={t['target']:.2f}" if t["target"] is not None else ""
        lines.append(
            f"{t['figure']:32} {t['rate']:>9,.0f} {t['unit']:6} {t['baseline']:>13} "
            f"{t['baseline_rate']:>10,.0f} {t['ratio']:>6.2f} {target:>7} {mark(t['met']):6} "
            f"{t['lg_cpu_cores']:>5.2f} cores")
    for sat in report.get("e2e_saturation", []):
        lines.append(f"{'end to end, saturated, ' + sat['intake']:32} {sat['rate']:>9,.0f} "
                     f"{sat['unit']} ({sat['urls']:.0f} URLs, {sat['duplicates']:.0f} duplicates, "
                     f"load gen {sat['lg_cpu_cores']:.2f} cores)")
    for lat in report.get("latency_sweep", []):
        target = ""
        if "met" in lat:
            target = (f" (target p99 <= {LATENCY_TARGET_P99_MS:.0f}, p99.9 <= "
                      f"{LATENCY_TARGET_P999_MS:.0f}: {mark(lat['met'])})")
        call = f"; Warm call p99 {lat['call_p99_ms']:.1f} ms" if "call_p99_ms" in lat else ""
        lines.append(
            f"{'end to end latency, ' + lat['intake']:32} at {lat['rate']:,.0f} URLs/s "
            f"({lat['load']:.0%} of its saturation): warmed everywhere p50 "
            f"{lat['warmed_p50_ms']:.1f} ms, p99 {lat['warmed_p99_ms']:.1f} ms, p99.9 "
            f"{lat['warmed_p999_ms']:.1f} ms{target}; seen on the results topic p50 "
            f"{lat['observed_p50_ms']:.1f} ms, p99 {lat['observed_p99_ms']:.1f} ms{call}")
        if "outside_get_p99_ms" in lat:
            lines.append(
                f"{'':32}    all but the last region's warm GET p50 "
                f"{lat['outside_get_p50_ms']:.1f} ms, p99 {lat['outside_get_p99_ms']:.1f} ms; "
                f"a warm GET p50 {lat['get_p50_ms']:.1f} ms, p99 {lat['get_p99_ms']:.1f} ms")
        for st in lat.get("stages", []):
            lines.append(
                f"{'':32}    {st['stage']:30} p50 {bound(st['p50'])}, p99 {bound(st['p99'])}, "
                f"p99.9 {bound(st['p999'])} ({st['count']:,.0f})")
    if "stages_note" in report:
        lines.append(f"{'':32}    stages: {report['stages_note']}")
    for m in report["memory"]:
        lines.append(f"{'peak memory ' + m['service']:32} {m['peak_rss_mib']:>9.1f} MiB")
    b = report.get("backlog")
    if b:
        lines.append(f"{'bridge, backlog held':32} {b['peak_rss_mib']:>9.1f} MiB peak with "
                     f"{b['backlog_tasks']:,.0f} tasks waiting in 3 regions "
                     f"(target <= {BACKLOG_TARGET_MIB:.0f}: {mark(b['met'])})")
    for i in report.get("instructions", []):
        lines.append(f"{'instructions, ' + i['stage']:32} {i['instructions']:>12,.0f} per {i['per']}")
    s = report.get("settings") or {}
    lines.append(f"settings: acks={s.get('acks')}, idempotence, producer linger.ms="
                 f"{s.get('producer_linger_ms')} (unary), "
                 f"{s.get('producer_bulk_linger_ms', s.get('producer_linger_ms'))} (batches), "
                 f"results linger.ms={s.get('results_linger_ms')}, "
                 f"allocator {s.get('allocator', 'system')}, "
                 f"{s.get('cpus')} CPUs, work dir on {s.get('work_dir')}{', SMOKE RUN (numbers are not meaningful)' if s.get('smoke') else ''}")
    return "\n".join(lines)


def chart(report, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 2]})
    t = report["throughput"]
    names = [x["figure"] for x in t]
    ratios = [x["ratio"] for x in t]
    bars = left.barh(names, ratios, color=["#4c72b0" if x["met"] is not False else "#c44e52" for x in t])
    for bar, x in zip(bars, t):
        left.text(bar.get_width(), bar.get_y() + bar.get_height() / 2,
                  f" {x['rate']:,.0f} vs {x['baseline_rate']:,.0f} {x['unit']}", va="center", fontsize=8)
        if x["target"] is not None:
            left.plot([x["target"]] * 2, [bar.get_y(), bar.get_y() + bar.get_height()], "k--", lw=1)
    left.invert_yaxis()
    left.set_xlabel("throughput / baseline in the same run (dashed: target)")
    left.set_xlim(0, max([1.0] + [r or 0 for r in ratios]) * 1.6)
    left.set_title("Throughput against baselines")
    sweep = report.get("latency_sweep") or []
    if sweep:
        for intake, marker in [("unary", "-"), ("batch", "--")]:
            rows = sorted((r for r in sweep if r["intake"] == intake), key=lambda r: r["load"])
            if not rows:
                continue
            loads = [r["load"] * 100 for r in rows]
            for key, label, style in [("warmed_p50_ms", "p50", "o"), ("warmed_p99_ms", "p99", "s"),
                                      ("warmed_p999_ms", "p99.9", "^")]:
                right.plot(loads, [r[key] for r in rows], style + marker,
                           label=f"{intake}: warmed everywhere {label}")
        right.axhline(LATENCY_TARGET_P99_MS, color="k", ls="--", lw=1, label="p99 target")
        right.axhline(LATENCY_TARGET_P999_MS, color="k", ls=":", lw=1, label="p99.9 target")
        right.set_yscale("log")
        right.set_xlabel("load, % of its intake's measured saturation")
        right.set_ylabel("ms from Warm reply (unary) or write (batch)")
        right.set_title("End-to-end latency percentiles")
        right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# What each phase of bench/run.sh must have reported.
EXPECTED = {
    "producer": ["produce-bare", "warm-batch", "warm-batch-single", "warm-unary", "memory"],
    "bridge": ["consume-bare", "fanout", "grpc-pump", "memory"],
    "warmer": ["warmer-get", "wrk-get", "warmer-get-h2", "h2load-get"],
    "e2e": ["e2e-saturate", "e2e-latency", "memory"],
    "backlog": ["bridge-backlog"],
    "instructions": ["instructions"],
}


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: report.py RESULTS_JSONL OUT_DIR [PHASES]")
    rows, by = load(sys.argv[1])
    phases = sys.argv[3].split(",") if len(sys.argv) == 4 else list(EXPECTED)
    missing = sorted({s for p in phases for s in EXPECTED.get(p, []) if s not in by})
    if missing:
        sys.exit(f"report: no result from {', '.join(missing)}")
    out = Path(sys.argv[2])
    report = build(rows, by, out / "metrics")
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    try:
        chart(report, out / "chart.png")
        print(f"report: {out / 'report.json'}, chart: {out / 'chart.png'}")
    except ImportError:
        print(f"report: {out / 'report.json'} (no chart: matplotlib is not installed)")


if __name__ == "__main__":
    main()
