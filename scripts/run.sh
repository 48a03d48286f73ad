#!/usr/bin/env bash
# The README's main command: the whole mesh on this machine. Installs what is missing,
# builds (release), starts a real Kafka broker (or uses $CDNWARM_KAFKA_BOOTSTRAP), one
# origin, three regions (us-east with two warmer replicas, eu-west, ap-south), each with its
# own nginx edge cache on its own loopback address, a producer and a streamer-bridge; warms
# sample URLs, follows the job live, and prints a per-region table checked against the edges.
# Ctrl-C (or the end) stops everything it started.
#
#   scripts/run.sh [number of sample URLs, default 60]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
preset="${CDNWARM_PRESET:-release}"
CDNWARM_CACHE="${CDNWARM_CACHE:-$HOME/.cache/cdnwarm}"
urls=${1:-60}

scripts/install-deps.sh
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
build="build/$preset"
grpcurl="$CDNWARM_CACHE/bin/grpcurl"

# shellcheck source=lib.sh
. scripts/lib.sh
keep_work=1  # the logs stay for reading
broker_dir=""
stop_all() {
  cleanup
  [ -n "$broker_dir" ] && scripts/kafka.sh stop "$broker_dir" >/dev/null 2>&1 || true
}
trap stop_all EXIT
trap 'echo; echo "stopping"; exit 130' INT TERM

if [ -n "${CDNWARM_KAFKA_BOOTSTRAP:-}" ]; then
  kafka=$CDNWARM_KAFKA_BOOTSTRAP
  echo "Kafka: using $kafka"
else
  broker_dir="$work/kafka"
  scripts/kafka.sh start "$broker_dir" "${CDNWARM_RUN_KAFKA_PORT:-39492}"
  kafka=$(scripts/kafka.sh bootstrap "$broker_dir")
  echo "Kafka: a real single-node broker (KRaft) started at $kafka"
fi

host=cdn.example.test
regions=(us-east eu-west ap-south)
declare -A edge_host=([us-east]=127.0.0.2 [eu-west]=127.0.0.3 [ap-south]=127.0.0.4)
declare -A edge_ports
start_origin "$CDNWARM_CACHE/venv/bin/python3" tests/support/test_origin.py
for r in "${regions[@]}"; do
  start_edge "edge-$r" "${edge_host[$r]}" "pop-$r"
  edge_ports[$r]=$edge_port
  echo "edge $r: nginx proxy_cache at ${edge_host[$r]}:$edge_port"
done
common=(--kafka_bootstrap="$kafka" --instance="demo$RANDOM")
start_named streamer-bridge "$build/streamer-bridge/streamer-bridge" "${common[@]}" \
  --auto_offset_reset=earliest
bridge_addr="127.0.0.1:$grpc_port"
start_named producer "$build/producer/producer" "${common[@]}" \
  --regions=us-east,eu-west,ap-south --allowed_hosts="$host"
producer_addr="127.0.0.1:$grpc_port"
echo "streamer-bridge at $bridge_addr, producer at $producer_addr"
for w in us-east:1 us-east:2 eu-west:1 ap-south:1; do
  r=${w%%:*} n=${w##*:}
  start_named "warmer-$r-$n" "$build/warmer/warmer" --region="$r" --bridge_address="$bridge_addr" \
    --replica_id="warmer-$r-$n" --allowed_hosts="$host" --allow_private_ranges=127.0.0.0/8 \
    --edge_pins="$host:80:${edge_host[$r]}:${edge_ports[$r]}" --verify
  echo "warmer $r #$n at 127.0.0.1:$grpc_port, pinned to its edge"
done
deadline=$((SECONDS + 60))
until [ "$("$grpcurl" -plaintext -d '{}' "$bridge_addr" cdnwarm.v1.Bridge/ListSubscriptions \
          | grep -c '"subscriber_id"')" -eq 4 ]; do
  [ $SECONDS -lt $deadline ] || fail "not every warmer subscribed"
  sleep 0.2
done

for i in $(seq 1 "$urls"); do printf '{"url": "http://%s/static/page-%d.html"}\n' "$host" "$i"; done \
  >"$work/batch.json"
reply=$("$grpcurl" -plaintext -d @ "$producer_addr" cdnwarm.v1.Producer/WarmBatch <"$work/batch.json")
job=$(sed -n 's/.*"job_id": "\([^"]*\)".*/\1/p' <<<"$reply")
echo "job $job: $urls URLs accepted; following it"

# A per-region count from GetJob's JSON (zero counts are omitted there).
count() {
  local v
  v=$(grep -A8 "\"region\": \"$2\"" <<<"$1" | sed -n "s/.*\"$3\": \"\([0-9]*\)\".*/\1/p" | head -1)
  echo "${v:-0}"
}
deadline=$((SECONDS + 300))
while :; do
  state=$("$grpcurl" -plaintext -d "{\"job_id\": \"$job\"}" "$producer_addr" cdnwarm.v1.Producer/GetJob)
  line=""
  for r in "${regions[@]}"; do line+="$(printf '%-9s %4s/%s  ' "$r" "$(count "$state" "$r" warmed)" "$urls")"; done
  printf '\r%s' "$line"
  grep -q '^  "done": true' <<<"$state" && break
  [ $SECONDS -lt $deadline ] || { echo; fail "job not done within 300s"; }
  sleep 0.5
done
echo

printf '\n%-10s %8s %8s %16s\n' region warmed failed "HIT at its edge"
for i in $(seq 1 "$urls"); do echo "url = \"http://$host/static/page-$i.html\""; done >"$work/urls.curl"
for r in "${regions[@]}"; do
  # A plain GET of every URL at this region's edge, as a user there would send.
  hits=$(curl -s -o /dev/null -D - --connect-to "$host:80:${edge_host[$r]}:${edge_ports[$r]}" \
    -K "$work/urls.curl" | tr -d '\r' | grep -ci '^X-Cache-Status: HIT$' || true)
  printf '%-10s %8s %8s %16s\n' "$r" "$(count "$state" "$r" warmed)" \
    "$(count "$state" "$r" failed)" "$hits/$urls"
done
echo
echo "logs: $work (one file per process)"
