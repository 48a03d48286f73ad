#!/usr/bin/env bash
# The README's main command: the whole mesh on this machine. Installs what is missing for
# it (scripts/install-deps.sh run, or broker), builds only the services (the run preset: no
# tests, no benchmarks), and starts Kafka: the one in $CDNWARM_KAFKA_BOOTSTRAP if given,
# else a real single-node broker if the scripts have set one up (scripts/test.sh or
# scripts/kafka.sh fetch), else librdkafka's in-memory mock cluster (CDNWARM_KAFKA=mock or
# =broker forces the choice). Then one origin, three regions (us-east with two warmer
# replicas, eu-west, ap-south), each with its own nginx edge cache on its own loopback
# address, a producer and a streamer-bridge; warms sample URLs, follows the job live, and
# prints a per-region table checked against the edges.
# Ctrl-C (or the end) stops everything it started.
#
#   scripts/run.sh [--stay] [number of sample URLs, default 60]
#
# --stay keeps the mesh running after the table (until Ctrl-C) and prints the addresses
# for the README's cdnwarm and grpcurl examples.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
CDNWARM_CACHE="${CDNWARM_CACHE:-$HOME/.cache/cdnwarm}"
usage() { echo "usage: scripts/run.sh [--stay] [number of sample URLs, 1-100000]" >&2; exit 2; }
# A problem the user can fix: one line on what is wrong and what to do.
die() { echo "run.sh: $*" >&2; exit 1; }
stay=0
if [ "${1:-}" = --stay ]; then stay=1; shift; fi
[ $# -le 1 ] || usage
urls=${1:-60}
case $urls in
  '' | *[!0-9]* | 0 | ???????*) usage ;;  # more than 7 digits would overflow the test below
esac
[ "$urls" -le 100000 ] || usage

# Kafka, decided first: it says what to install.
kafka_mode=${CDNWARM_KAFKA:-}
if [ -z "$kafka_mode" ]; then
  if [ -n "${CDNWARM_KAFKA_BOOTSTRAP:-}" ]; then kafka_mode=given
  elif scripts/kafka.sh installed; then kafka_mode=broker
  else kafka_mode=mock
  fi
fi
case $kafka_mode in
  given)
    [ -n "${CDNWARM_KAFKA_BOOTSTRAP:-}" ] ||
      die "CDNWARM_KAFKA=given needs CDNWARM_KAFKA_BOOTSTRAP=host:port of a Kafka cluster"
    ;;
  broker | mock) ;;
  *) die "CDNWARM_KAFKA=$kafka_mode: must be given, broker or mock (or unset to choose)" ;;
esac
if [ "$kafka_mode" = given ]; then
  # Every bootstrap address refusing is the common mistake; say so before building.
  reachable=0
  IFS=, read -ra servers <<<"$CDNWARM_KAFKA_BOOTSTRAP"
  for hp in "${servers[@]}"; do
    h=${hp%:*} p=${hp##*:}
    case $p in '' | *[!0-9]*) die "CDNWARM_KAFKA_BOOTSTRAP=$CDNWARM_KAFKA_BOOTSTRAP: \"$hp\" is not host:port" ;; esac
    if timeout 5 bash -c "exec 3<>/dev/tcp/$h/$p" 2>/dev/null; then reachable=1; break; fi
  done
  [ "$reachable" = 1 ] || die "nothing accepts connections at CDNWARM_KAFKA_BOOTSTRAP=$CDNWARM_KAFKA_BOOTSTRAP: start Kafka there, or unset it for a broker of run.sh's own (CDNWARM_KAFKA=broker) or the mock cluster"
fi

# Install and build only what the demo runs: the run preset has no tests and no benchmarks.
# CDNWARM_RUN_BUILD names binaries already built (as the tests do) and skips both.
if [ -n "${CDNWARM_RUN_BUILD:-}" ]; then
  build=$CDNWARM_RUN_BUILD
else
  if [ "$kafka_mode" = broker ]; then scripts/install-deps.sh broker; else scripts/install-deps.sh run; fi
  cmake --preset run >/dev/null
  cmake --build --preset run
  build="build/run"
fi
grpcurl="$CDNWARM_CACHE/bin/grpcurl"

# shellcheck source=lib.sh
. scripts/lib.sh
keep_work=1  # the logs stay for reading
trap 'echo; echo "stopping"; exit 130' INT TERM

instance="demo$RANDOM"
case $kafka_mode in
  given)
    kafka=$CDNWARM_KAFKA_BOOTSTRAP
    echo "Kafka: using $kafka"
    ;;
  broker)
    start_broker "${CDNWARM_RUN_KAFKA_PORT:-39492}"
    echo "Kafka: a real single-node broker (KRaft) started at $kafka"
    ;;
  mock)
    start_kafka_mock "$build/common/kafka/cdnwarm-kafka-mock" "$instance"
    echo "Kafka: NO BROKER; using librdkafka's in-memory MOCK cluster at $kafka (not durable,"
    echo "       demo only). For a real broker: CDNWARM_KAFKA=broker, or CDNWARM_KAFKA_BOOTSTRAP."
    ;;
esac

# The web console, when it was built (Node.js and npm; scripts/install-deps.sh installs them).
[ ! -f "$build/console/index.html" ] || mesh_console_dir="$root/$build/console"
start_mesh "$build/producer/producer" "$build/streamer-bridge/streamer-bridge" \
  "$build/warmer/warmer" "$grpcurl" "$CDNWARM_CACHE/venv/bin/python3" tests/support/test_origin.py \
  "$kafka" "$instance"
regions=("${mesh_regions[@]}")
for r in "${regions[@]}"; do
  echo "region $r: nginx edge at ${edge_host[$r]}:${edge_ports[$r]}, warmers pinned to it"
done
echo "streamer-bridge at $bridge_addr, producer at $producer_addr; logs in $work"
mesh_urls "$urls"
echo "warming $urls sample URLs as one job (scripts/cdnwarm warm -f - --watch):"
set +e
scripts/cdnwarm --producer "$producer_addr" warm -f - --watch --watch-timeout 300 \
  <"$work/urls.txt" | tee "$work/job.txt"
status=${PIPESTATUS[0]}
set -e
[ "$status" -le 1 ] || fail "the job did not finish (cdnwarm exit status $status)"
job=$(sed -n 's/^job \([^:]*\):.*/\1/p' "$work/job.txt" | head -1)
state=$("$grpcurl" -plaintext -d "{\"job_id\": \"$job\"}" "$producer_addr" cdnwarm.v1.Producer/GetJob)

printf '\n%-10s %8s %8s %16s\n' region warmed failed "HIT at its edge"
for r in "${regions[@]}"; do
  printf '%-10s %8s %8s %16s\n' "$r" "$(region_count "$state" "$r" warmed)" \
    "$(region_count "$state" "$r" failed)" "$(edge_hits "$r")/$urls"
done
echo
if [ -n "${console_port:-}" ]; then
  keep=""
  [ "$stay" = 1 ] || keep="; scripts/run.sh --stay keeps it running"
  echo "web console: http://127.0.0.1:$console_port/jobs/$job  (the demo needs no token$keep)"
else
  echo "web console: not built (needs Node.js and npm: scripts/install-deps.sh run, then run again)"
fi
echo "logs: $work (one file per process)"
if [ "$stay" = 1 ]; then
  cat >"$work/env" <<ENV
export CDNWARM_PRODUCER=$producer_addr CDNWARM_BRIDGE=$bridge_addr
export PRODUCER=$producer_addr BRIDGE=$bridge_addr WARMER=${warmer_addr[eu-west:1]}
export ORIGIN=http://127.0.0.1:$origin_port PATH=$CDNWARM_CACHE/bin:$root/scripts:\$PATH
ENV
  echo "the mesh keeps running; in another shell: . $work/env  (then the README's examples)"
  echo "Ctrl-C stops everything"
  while :; do sleep 3600 & wait $!; done
fi
