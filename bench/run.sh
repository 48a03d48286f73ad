#!/usr/bin/env bash
# The benchmark suite: every figure against its baseline in the same run, on a real Kafka
# broker (KRaft, loopback) and real nginx edges. Installs what is missing, builds the
# bench preset (the services and the load generators, no tests), starts its own broker
# unless $CDNWARM_KAFKA_BOOTSTRAP is given, and writes
# DIR/results.jsonl (one line per scenario), DIR/report.json, DIR/chart.png and a table on
# stdout.
#
#   bench/run.sh [--smoke] [--only PHASES] [--out DIR] [--build DIR]
#
#   --smoke      seconds-long runs of every scenario (what CI runs so nothing rots)
#   --only P,..  some of the phases: producer, bridge, warmer, e2e, backlog, instructions
#                (default all)
#   --out DIR    where the report goes (default build/bench-report)
#   --build DIR  binaries already built (skips install and build; CI passes its own)
set -eEuo pipefail
# A command that fails without calling fail() still says where.
trap 'echo "[bench] failed (status $?) at line $LINENO: $BASH_COMMAND" >&2' ERR
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
CDNWARM_CACHE="${CDNWARM_CACHE:-$HOME/.cache/cdnwarm}"
smoke=0 out="build/bench-report" build="" phases=producer,bridge,warmer,e2e,backlog,instructions
while [ $# -gt 0 ]; do
  case $1 in
    --smoke) smoke=1 ;;
    --only) phases=${2:?--only needs phases}; shift ;;
    --out) out=${2:?--out needs a directory}; shift ;;
    --build) build=${2:?--build needs a directory}; shift ;;
    *) echo "usage: bench/run.sh [--smoke] [--only PHASES] [--out DIR] [--build DIR]" >&2; exit 2 ;;
  esac
  shift
done

if [ -z "$build" ]; then
  scripts/install-deps.sh bench
  # build/run: the bench preset shares scripts/run.sh's build directory and adds the load
  # generators, so after the README's first command only they are compiled.
  cmake --preset bench >/dev/null
  cmake --build --preset bench
  build=build/run
fi
build=$(cd "$build" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
results="$out/results.jsonl"
: >"$results"

# Sizes: the full run takes about 6 minutes here (warm-ups included); --smoke about 1.
regions=us-east,eu-west,ap-south
if [ "$smoke" = 1 ]; then
  produce=2000 fanout=1000 timed=2s saturate=300 latency_for=2s backlog=20000 counted=100
  warm_for=1s warm_backlogs=1
else
  produce=200000 fanout=100000 timed=10s saturate=20000 latency_for=15s backlog=1000000 counted=3000
  warm_for=30s warm_backlogs=3
fi
connections=32  # unary Warm calls, warmer exchanges and wrk/h2load connections in flight
credit=256      # each bench subscriber's max_outstanding

# The simulated edges' cache files and the broker's log go to memory when it can: on this
# VM's ext4, nginx spent a third of all CPU creating cache files (inode allocation), which
# measured the disk, not the mesh.
work_fs=disk
if [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm work_fs=tmpfs; fi
# shellcheck source=../scripts/lib.sh
. scripts/lib.sh
# Extra flags for the e2e mesh's warmers, for experiments: CDNWARM_BENCH_WARMER_FLAGS.
read -ra mesh_warmer_flags <<<"${CDNWARM_BENCH_WARMER_FLAGS:-}"
trap 'exit 130' INT TERM

bench="$build/bench/cdnwarm-bench"
python="$CDNWARM_CACHE/venv/bin/python3"
say() { printf '[bench] %s\n' "$*" >&2; }
# run_bench SCENARIO [flags]: one scenario; its JSON line goes to the results.
run_bench() {
  say "$1"
  bench_into "$results" "$@"
}
# warm_up SCENARIO ARGS...: a discarded run. The broker's JVM compiles each request path
# once it is hot, and a path first used by the measured run was measured half interpreted:
# 30 s of unary Warm took the broker from 1.0 to 0.35 cores at 1.7 times the calls/s.
warm_up() {
  say "$1 (warm-up, not recorded)"
  bench_into /dev/null "$@"
}
# bench_into FILE SCENARIO ARGS...: cdnwarm-bench with this run's broker, regions and run id,
# its result appended to FILE.
bench_into() {
  local into=$1
  shift
  "$bench" "$@" --kafka_bootstrap="$kafka" --regions="$regions" --run="$run" >>"$into" ||
    fail "cdnwarm-bench $1 failed"
}
# memory NAME PID: the service's peak resident memory so far.
memory() {
  local peak
  peak=$(awk '/^VmHWM:/ { print $2 / 1024 }' "/proc/$2/status")
  printf '{"scenario": "memory", "service": "%s", "peak_rss_mib": %s}\n' "$1" "$peak" >>"$results"
}
# metrics_after RUN: every service's metrics now, in DIR/metrics/RUN-SERVICE.txt, and RUN
# in DIR/metrics/runs. The difference between two runs' snapshots shows where a run's
# latency went (the record and task ages, the warmers' waits for a slot): report.py reads it.
metrics_after() {
  local name
  for name in producer streamer-bridge warmer-us-east-1 warmer-us-east-2 warmer-eu-west-1 \
    warmer-ap-south-1; do
    [ -n "${named_admin_port[$name]:-}" ] || continue
    # Only a whole snapshot lands: report.py skips a service whose snapshot is missing.
    if curl -sf "http://127.0.0.1:${named_admin_port[$name]}/metrics" \
      >"$out/metrics/$1-$name.part"; then
      mv "$out/metrics/$1-$name.part" "$out/metrics/$1-$name.txt"
    else
      rm -f "$out/metrics/$1-$name.part"
      say "no metrics from $name after $1"
    fi
  done
  echo "$1" >>"$out/metrics/runs"
}
# stop_helper PID: SIGTERM one started service and wait for it.
stop_helper() { kill -TERM "$1"; wait "$1" 2>/dev/null || true; }

if [ -n "${CDNWARM_KAFKA_BOOTSTRAP:-}" ]; then
  kafka=$CDNWARM_KAFKA_BOOTSTRAP
else
  start_broker "${CDNWARM_BENCH_KAFKA_PORT:-39592}"
fi
say "Kafka at $kafka; report in $out"
run="r$RANDOM$RANDOM"
# The allocator the services were linked with (cmake/Allocator.cmake): what ldd shows.
allocator=system
case $(ldd "$build/streamer-bridge/streamer-bridge") in
  *libtcmalloc*) allocator=tcmalloc ;;
  *libjemalloc*) allocator=jemalloc ;;
  *libasan* | *libtsan*) allocator=sanitizer ;;
esac
printf '{"scenario": "settings", "smoke": %s, "producer_linger_ms": 2, "producer_bulk_linger_ms": 10, "results_linger_ms": 5, "acks": "all", "idempotence": true, "cpus": %s, "work_dir": "%s", "allocator": "%s"}\n' \
  "$([ $smoke = 1 ] && echo true || echo false)" "$(nproc)" "$work_fs" "$allocator" >>"$results"

# want PHASE: true when the phase is to run.
want() { [[ ",$phases," == *",$1,"* ]]; }
# valgrind cannot run AddressSanitizer's binaries (the ci preset's, which CI's smoke run
# uses); the bench preset's, which first-run's smoke run uses, have none.
if want instructions && grep -q libasan <<<"$(ldd "$build/producer/producer")"; then
  say "instructions: skipped: $build is built with AddressSanitizer, which valgrind cannot run"
  phases=$(tr ',' '\n' <<<"$phases" | grep -vx instructions | paste -sd, -)
fi

# 1. Producer intake: bare librdkafka produce of the same records with the producer's
#    settings, then WarmBatch and unary Warm through the producer, into one topic.
if want producer; then
  instance="bp$run"
  start_named producer "$build/producer/producer" --kafka_bootstrap="$kafka" --instance="$instance" \
    --regions="$regions" --allowed_hosts="$mesh_host"
  producer_addr="127.0.0.1:$grpc_port"
  # A discarded first round warms the broker's JIT, so the first figure is not penalised.
  warm_up produce-bare --topic="warm.requests-$instance" --count="$produce"
  run_bench produce-bare --topic="warm.requests-$instance" --count="$produce"
  run_bench warm-batch --producer="$producer_addr" --count="$produce" --per_message=1
  run_bench warm-batch --producer="$producer_addr" --count="$produce"
  warm_up warm-unary --producer="$producer_addr" --concurrency=64 --duration="$warm_for"
  run_bench warm-unary --producer="$producer_addr" --concurrency=64 --duration="$timed"
  memory producer "${named_pid[producer]}"
  stop_helper "${named_pid[producer]}"
fi

# 2. Bridge fan-out: a backlog fanned out to 3 regions x 2 subscribers that ack everything,
#    against bare consumers (one group per region) and a bare gRPC streaming pump.
if want bridge; then
  instance="bb$run"
  start_named streamer-bridge "$build/streamer-bridge/streamer-bridge" --kafka_bootstrap="$kafka" \
    --instance="$instance" --auto_offset_reset=earliest
  bridge_addr="127.0.0.1:$grpc_port"
  bridge_pid=${named_pid[streamer-bridge]}
  # The first backlogs, fanned out and discarded, warm the broker's fetch and result paths
  # (the bridge's CPU per delivery fell by a third over three of them); the last is measured.
  for ((backlog_round = warm_backlogs; backlog_round >= 0; backlog_round--)); do
    "$bench" produce-bare --kafka_bootstrap="$kafka" --topic="warm.requests-$instance" \
      --count="$fanout" --run="$run" >/dev/null || fail "could not load the fan-out backlog"
    [ $backlog_round = 0 ] ||
      warm_up fanout --bridge="$bridge_addr" --count="$fanout" --subscribers=2 --concurrency="$credit"
  done
  run_bench consume-bare --topic="warm.requests-$instance" --count="$fanout"
  run_bench fanout --bridge="$bridge_addr" --count="$fanout" --subscribers=2 --concurrency="$credit"
  # The pump streams the same bytes in the same message sizes: as many deliveries per
  # message as the fan-out's SubscribeBatched streams carried on average.
  per_message=$(python3 -c 'import json, sys
r = [r for r in map(json.loads, open(sys.argv[1])) if r["scenario"] == "fanout"][-1]
print(max(1, round(r["deliveries_per_message"])))' "$results")
  run_bench grpc-pump --count="$fanout" --subscribers=2 --per_message="$per_message"
  memory streamer-bridge "$bridge_pid"
  stop_helper "$bridge_pid"
fi

# 3. Warmer: its task path against one nginx edge vs. wrk, and over HTTP/2 vs. h2load.
if want warmer; then
  start_static_origin
  start_edge edge-bench 127.0.0.2 pop-bench
  url_path="/bench/$run/edge/0"
  curl -sf -o /dev/null -H "Host: $mesh_host" "http://127.0.0.2:$edge_port$url_path" ||
    fail "the edge did not answer $url_path"
  run_bench warmer-get --edge_pin="$mesh_host:80:127.0.0.2:$edge_port" --concurrency="$connections" \
    --duration="$timed"
  say wrk
  python3 bench/http_baseline.py wrk --connections="$connections" --duration="${timed%s}" \
    --host="$mesh_host" "http://127.0.0.2:$edge_port$url_path" >>"$results" || fail "wrk failed"
  # HTTP/2 (the warmer asks for it over TLS only): a TLS edge with a test CA made here, the
  # warmer multiplexing its exchanges on one connection, h2load with one connection and as
  # many streams.
  make_ca edge-ca
  make_cert edge edge-ca "DNS:$mesh_host"
  start_edge edge-bench-tls 127.0.0.2 pop-bench "$work/edge.crt" "$work/edge.key"
  curl -sf -o /dev/null --cacert "$work/edge-ca.crt" --connect-to "$mesh_host:443:127.0.0.2:$edge_port" \
    "https://$mesh_host$url_path" || fail "the TLS edge did not answer $url_path"
  run_bench warmer-get --scheme=https --ca_file="$work/edge-ca.crt" --concurrency="$connections" \
    --edge_pin="$mesh_host:443:127.0.0.2:$edge_port" --duration="$timed"
  say h2load
  python3 bench/http_baseline.py h2load --connections=1 --streams="$connections" \
    --duration="${timed%s}" "https://127.0.0.2:$edge_port$url_path" >>"$results" ||
    fail "h2load failed"
fi

# 4. End to end through the whole mesh: saturation, then latency at half of it.
if want e2e; then
  instance="be$run"
  [ -n "${origin_port:-}" ] || start_static_origin
  start_mesh "$build/producer/producer" "$build/streamer-bridge/streamer-bridge" \
    "$build/warmer/warmer" "" "$python" "" "$kafka" "$instance"
  topics=(--topic="warm.requests-$instance" --results_topic="warm.results-$instance")
  mkdir -p "$out/metrics"
  : >"$out/metrics/runs"
  metrics_after start
  # Each intake path's saturation, and its latency at fractions of that saturation: unary
  # Warm for unary, a WarmBatch stream for batch (until 2026-12-06 the unary latency runs
  # were paced at fractions of the batch saturation, a load the unary path cannot carry).
  run_bench e2e-saturate --intake=batch --producer="$producer_addr" "${topics[@]}" \
    --count="$saturate"
  run_bench e2e-saturate --intake=unary --concurrency=64 --producer="$producer_addr" \
    "${topics[@]}" --count="$saturate"
  # rate INTAKE FRACTION: that fraction of the intake's measured saturation, in URLs/s.
  rate() {
    python3 -c 'import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
r = [r for r in rows if r["scenario"] == "e2e-saturate" and r["intake"] == sys.argv[2]][-1]
print(max(1.0, r["rate"] / r["regions"] * float(sys.argv[3])))' "$results" "$1" "$2"
  }
  metrics_after saturate
  for fraction in 0.1 0.25 0.5; do
    run_bench e2e-latency --intake=unary --producer="$producer_addr" "${topics[@]}" \
      --rate="$(rate unary "$fraction")" --duration="$latency_for"
    metrics_after "latency-unary-$fraction"
  done
  for fraction in 0.25 0.5; do
    run_bench e2e-latency --intake=batch --producer="$producer_addr" "${topics[@]}" \
      --rate="$(rate batch "$fraction")" --duration="$latency_for"
    metrics_after "latency-batch-$fraction"
  done
  for name in producer streamer-bridge warmer-us-east-1 warmer-eu-west-1 warmer-ap-south-1; do
    memory "e2e $name" "${named_pid[$name]}"
  done
fi

# 5. The bridge's memory with a large backlog it cannot deliver: every region subscribed,
#    no acks, so it buffers up to its limits.
if want backlog; then
  instance="bm$run"
  start_named streamer-bridge-backlog "$build/streamer-bridge/streamer-bridge" \
    --kafka_bootstrap="$kafka" --instance="$instance" --auto_offset_reset=earliest
  backlog_addr="127.0.0.1:$grpc_port"
  backlog_pid=${named_pid[streamer-bridge-backlog]}
  "$bench" produce-bare --kafka_bootstrap="$kafka" --topic="warm.requests-$instance" \
    --count="$backlog" --run="$run" >/dev/null || fail "could not load the backlog"
  run_bench bridge-backlog --bridge="$backlog_addr" --pid="$backlog_pid" --count="$backlog" \
    --concurrency="$credit"
fi

# 6. Instructions per URL at each stage, which unlike seconds hold on a busy machine: the
#    mesh of the e2e phase with every service under valgrind's callgrind. After a warm-up
#    batch the counters are zeroed (callgrind_control -z), COUNTED URLs go through by
#    WarmBatch and are warmed in 3 regions, and the counters are dumped (-d). Per URL for the
#    producer; per region delivery (delivery, ack, result record) for the bridge; per region
#    warm (the GET and its verify GET, the ack) for the warmers, all of them together.
if want instructions; then
  command -v callgrind_control >/dev/null 2>&1 ||
    fail "valgrind is missing (scripts/install-deps.sh bench installs it)"
  # The e2e phase's mesh and edges go first: this one starts its own.
  for name in warmer-ap-south-1 warmer-eu-west-1 warmer-us-east-2 warmer-us-east-1 \
    producer streamer-bridge edge-us-east edge-eu-west edge-ap-south; do
    if [ -n "${named_pid[$name]:-}" ]; then stop_helper "${named_pid[$name]}"; unset "named_pid[$name]"; fi
  done
  rm -rf "$work"/edge-*
  instance="bi$run"
  [ -n "${origin_port:-}" ] || start_static_origin
  for s in producer streamer-bridge warmer; do
    printf '#!/bin/sh
exec valgrind --tool=callgrind --callgrind-out-file=%s/callgrind.%s.%%p "%s" "$@"\n' \
      "$work" "$s" "$build/$s/$s" >"$work/callgrind-$s"
    chmod +x "$work/callgrind-$s"
  done
  say "instructions: the mesh under callgrind"
  start_mesh "$work/callgrind-producer" "$work/callgrind-streamer-bridge" "$work/callgrind-warmer" \
    "" "$python" "" "$kafka" "$instance"
  topics=(--topic="warm.requests-$instance" --results_topic="warm.results-$instance")
  "$bench" e2e-saturate --kafka_bootstrap="$kafka" --regions="$regions" --run="$run-warm-up" \
    --producer="$producer_addr" "${topics[@]}" --count=50 >/dev/null || fail "the warm-up batch failed"
  counted_pids=()
  for name in producer streamer-bridge warmer-us-east-1 warmer-us-east-2 warmer-eu-west-1 \
    warmer-ap-south-1; do
    counted_pids+=("${named_pid[$name]}")
    callgrind_control -z "${named_pid[$name]}" >/dev/null 2>&1 || fail "callgrind_control -z $name failed"
  done
  "$bench" e2e-saturate --kafka_bootstrap="$kafka" --regions="$regions" --run="$run-counted" \
    --producer="$producer_addr" "${topics[@]}" --count="$counted" >/dev/null ||
    fail "the counted batch failed"
  for pid in "${counted_pids[@]}"; do
    callgrind_control -d "$pid" >/dev/null 2>&1 || fail "callgrind_control -d $pid failed"
  done
  # ir SERVICE: instructions in the dumps (callgrind.SERVICE.PID.N) made after the zeroing.
  ir() {
    cat "$work"/callgrind."$1".*.[0-9]* | awk '/^summary:/ { n += $2 } END { print n + 0 }'
  }
  printf '{"scenario": "instructions", "urls": %s, "regions": 3, "producer": %s, "streamer_bridge": %s, "warmer": %s}\n' \
    "$counted" "$(ir producer)" "$(ir streamer-bridge)" "$(ir warmer)" >>"$results"
fi

/usr/bin/python3 bench/report.py "$results" "$out" "$phases"
