#!/usr/bin/env bash
# The fault suite: a steady stream of URLs through the whole mesh (real broker of its own,
# real nginx edges, two bridge replicas behind one address list as a Kubernetes Service
# would give them) while processes die and the edge fails:
#   1. SIGKILL a warmer mid-transfer, restart it;
#   2. SIGKILL one bridge replica while the other runs, then SIGKILL the only one left and
#      restart it;
#   3. SIGKILL the producer and restart it while the client retries;
#   4. freeze the Kafka broker (SIGSTOP) and SIGTERM a bridge replica meanwhile: it exits 0
#      within its budget; then stop the broker and restart it;
#   5. eu-west's edge refuses connections, then answers 503, then answers slowly, then
#      recovers.
# Between steps it waits for the stream to make progress (acknowledged URLs), never for a
# time. At the end the ledger: every URL that got an OK reply is WARMED or FAILED in every
# region (lost = 0); duplicate warms stay within the in-flight window; every process still
# meant to run is alive, and no log holds a sanitizer report.
#
# Usage: fault_test.sh PRODUCER BRIDGE WARMER PYTHON ORIGIN_PY
set -euo pipefail
producer=$1 bridge=$2 warmer=$3 python=$4 origin_py=$5
# shellcheck source=../../scripts/lib.sh
. "$(dirname "$0")/../../scripts/lib.sh"
# shellcheck source=load.sh
. "$(dirname "$0")/load.sh"
here="$(cd "$(dirname "$0")" && pwd)"
client="$here/fault_client.py"
host=$mesh_host
instance="fault$RANDOM"
rate=40
max_outstanding=16
events=0  # disruptive events that can re-deliver what was in flight

say() { printf '[fault %s] %s\n' "$(date +%T)" "$*"; }
start_broker 39792
start_mesh_edges "$python" "$origin_py"

common=(--kafka_bootstrap="$kafka" --instance="$instance" --max_attempts=8
  --min_backoff=200ms --max_backoff=2s)
bridge_port=([1]=$(free_port) [2]=$(free_port))
start_bridge() {
  launch_grpc_address="127.0.0.1:${bridge_port[$1]}" \
    start_named "streamer-bridge-$1-$2" "$bridge" "${common[@]}" --replica_id="bridge-$1"
}
start_bridge 1 a
start_bridge 2 a
bridges="ipv4:127.0.0.1:${bridge_port[1]},127.0.0.1:${bridge_port[2]}"
start_producer() {
  start_named "producer-$1" "$producer" --kafka_bootstrap="$kafka" --instance="$instance" \
    --regions=us-east,eu-west,ap-south --delivery_timeout=5s
  echo "127.0.0.1:$grpc_port" >"$work/producer.addr"
}
start_producer a
# --verify=false: the ledger counts every 2xx GET of a URL at an edge beyond the first as a
# duplicate warm, and the verify GET after each MISS is a second GET by design. This suite
# is about delivery under faults; the drills and the other suites run with verify on.
start_warmer() {
  local r=${1%%:*} n=${1##*:}
  start_named "warmer-$r-$n-$2" "$warmer" --region="$r" --bridge_address="$bridges" \
    --replica_id="warmer-$r-$n" --max_outstanding=$max_outstanding --allowed_hosts="$host" \
    --allow_private_ranges=127.0.0.0/8 --request_timeout=5s --verify=false \
    --edge_pins="$host:80:${edge_host[$r]}:${edge_ports[$r]}"
}
for w in us-east:1 us-east:2 eu-west:1 ap-south:1; do start_warmer "$w" a; done
bridge_addr="127.0.0.1:${bridge_port[1]}"
deadline=$((SECONDS + 90))
until [ "$(mesh_ready "$python" 4)" = 3 ]; do
  [ $SECONDS -lt $deadline ] || fail "not every warmer subscribed: $(mesh_subs "$python")"
  sleep 0.2
done

start_load "$python" "$client" "$host" "$rate"
kill_named() { kill -KILL "${named_pid[$1]}"; wait "${named_pid[$1]}" 2>/dev/null || true; }
progress 200 "at start"
say "stream flowing: $(acked) acknowledged"

say "1. SIGKILL warmer us-east:1 mid-transfer, restart it"
kill_named warmer-us-east-1-a
events=$((events + 1))
progress 80 "with one us-east warmer"
start_warmer us-east:1 b
progress 80 "after the warmer came back"

say "2. SIGKILL bridge replica 1 while replica 2 runs"
kill_named streamer-bridge-1-a
events=$((events + 1))
progress 120 "on bridge replica 2"
say "   SIGKILL the only replica left (2), restart it"
kill_named streamer-bridge-2-a
events=$((events + 1))
start_bridge 2 b
progress 120 "after bridge replica 2 restarted"
start_bridge 1 b

say "3. SIGKILL the producer, restart it; the client retries"
kill_named producer-a
events=$((events + 1))
start_producer b
progress 120 "after the producer restarted"

say "4. freeze the Kafka broker (SIGSTOP: a long GC pause, or a network that drops packets)"
# Kubernetes rolls a bridge meanwhile: its last results and its lookups wait on a broker
# that neither answers nor closes the connection, and its drain may spend its whole budget
# (acks and results 3.75 s, leaving the groups 2 s, the results' last flush 2 s, 1 s for
# librdkafka's destroys). It exits 0 within it; what it could not store is redelivered.
# Replica 2 is the one every warmer reconnected to in step 2: it holds every region's
# partitions.
broker_pid=$(cat "$broker_dir/broker.pid")
kill -STOP "$broker_pid"
say "   SIGTERM bridge replica 2 while the broker is frozen"
term_budget=$((5 + 2 + 2 + 1 + 3)) term streamer-bridge-2-b
events=$((events + 1))
kill -CONT "$broker_pid"
start_bridge 2 c
progress 120 "after the broker thawed"
say "   stop the Kafka broker, restart it"
"$lib_dir/kafka.sh" stop "$broker_dir"
events=$((events + 1))
"$lib_dir/kafka.sh" resume "$broker_dir"
progress 120 "after the broker restarted"

say "5. eu-west's edge: refused, then 503, then slow, then recovered"
edge_port_fixed=${edge_ports[eu-west]}
kill_named edge-eu-west
progress 120 "while eu-west's edge refuses connections"
run_nginx "$work/edge-eu-west-503" "$work/edge-eu-west/access.log" "
  server { listen ${edge_host[eu-west]}:$edge_port_fixed; location / { return 503; } }"
progress 60 "while eu-west's edge answers 503"
deadline=$((SECONDS + 60))
until [ "$(grep -c '" 503 ' "$work/edge-eu-west/access.log")" -ge 5 ]; do
  [ $SECONDS -lt $deadline ] || fail "eu-west's edge served no 503s to the warmer"
  sleep 0.2
done
kill_named edge-eu-west-503
edge_http_extra="limit_req_zone \$server_name zone=slow:1m rate=10r/s;" \
  edge_location_extra="limit_req zone=slow burst=10000;" \
  start_edge edge-eu-west "${edge_host[eu-west]}" pop-eu-west
progress 120 "while eu-west's edge is slow"
kill_named edge-eu-west
start_edge edge-eu-west "${edge_host[eu-west]}" pop-eu-west
progress 80 "after eu-west's edge recovered"
events=$((events + 1))

kill -TERM "$driver"
wait "$driver" || fail "the client failed: $(cat "$work/driver.log")"
say "stream stopped; waiting for every acknowledged URL to finish everywhere"
logs=()
for r in "${mesh_regions[@]}"; do logs+=("$work/edge-$r/access.log"); done
"$python" "$client" ledger "$work/producer.addr" "$work/ledger" us-east,eu-west,ap-south \
  "${logs[@]}" 240 || fail "the ledger does not balance: $(cat "$work/ledger/ledger.json")"

# Duplicates: at most what was in flight to every subscriber at each disruptive event.
window=$((events * 4 * max_outstanding))
dups=$("$python" -c 'import json,sys; print(sum(json.load(open(sys.argv[1]))["duplicates"].values()))' \
  "$work/ledger/ledger.json")
say "duplicates $dups, in-flight window $window ($events events x 4 subscribers x $max_outstanding)"
[ "$dups" -le "$window" ] || fail "$dups duplicate warms exceed the in-flight window of $window"

for name in streamer-bridge-1-b streamer-bridge-2-c producer-b warmer-us-east-1-b \
  warmer-us-east-2-a warmer-eu-west-1-a warmer-ap-south-1-a; do
  kill -0 "${named_pid[$name]}" 2>/dev/null || fail "$name died: $(tail -5 "$work/$name.log")"
done
if grep -l 'ERROR: AddressSanitizer\|runtime error:\|ThreadSanitizer' "$work"/*.log; then
  fail "a sanitizer report is in the logs above"
fi
say "ok: every acknowledged URL finished in every region through every fault; lost = 0"
