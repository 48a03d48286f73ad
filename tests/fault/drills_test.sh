#!/usr/bin/env bash
# The drills: what Kubernetes does every day, under steady load on the whole mesh (a real
# broker of its own, real nginx edges, two bridge replicas behind one address list, four
# warmers), one after another:
#   a. a rolling restart of every warmer: SIGTERM, wait for the exit, start again;
#   b. SIGTERM and restart of each bridge replica, keeping its replica id, while warmers
#      hold slow warms (an origin path that answers after 20 s);
#   c. Seek(timestamp) of one region during load (a replay from the start of the load),
#      both replicas up, called on each;
#   d. a rebalance while a region is paused (its warmer gone, its backlog past
#      --buffer_limit), then the backlog drained;
#   e. the results topic refuses every record (max.message.bytes), then heals: the bridges
#      say so in readiness and their logs, drain and exit 0, and are restarted;
#   f. a URL that kills the warmer fetching it: dead-lettered after --max_attempts, with a
#      reason, and nothing else lost.
# Between steps it waits for progress (acknowledged URLs), never for a time. The ledger is
# checked at the edges: every URL the producer said OK to is in the access log of every
# region it targets, or on the dead-letter topic with a reason. It asserts lost = 0,
# dead-lettered without a fetch = 0, every SIGTERM exit 0 within drain timeout + 5 s, and
# each bridge's peak RSS within its bound.
#
# Usage: drills_test.sh PRODUCER BRIDGE WARMER PYTHON ORIGIN_PY
set -euo pipefail
producer=$1 bridge=$2 warmer=$3 python=$4 origin_py=$5
# shellcheck source=../../scripts/lib.sh
. "$(dirname "$0")/../../scripts/lib.sh"
# shellcheck source=load.sh
. "$(dirname "$0")/load.sh"
here="$(cd "$(dirname "$0")" && pwd)"
client="$here/fault_client.py"
host=$mesh_host
instance="drill$RANDOM"
rate=40
partitions=6
max_attempts=4
drain=5            # lib.sh's launch gives every service --drain_timeout=5s
term_budget=$((drain + 5))
buffer_limit=300
# Peak RSS of a bridge under this load, ASan build included; a bridge that reads a paused
# region's backlog into memory goes far past it.
rss_bound_kb=${CDNWARM_DRILL_RSS_BOUND_KB:-600000}

say() { printf '[drills %s] %s\n' "$(date +%T)" "$*"; }
start_broker 39892
start_mesh_edges "$python" "$origin_py"

# --idle_grace: long enough that ap-south keeps its group (and pauses) while its warmer is
# away in step d, short enough that a replica whose last ap-south warmer left (step f)
# hands its partitions to the other one within the ledger's wait.
common=(--kafka_bootstrap="$kafka" --instance="$instance" --max_attempts="$max_attempts"
  --min_backoff=200ms --max_backoff=2s --buffer_limit="$buffer_limit" --idle_grace=30s
  --topic_partitions="$partitions" --regions="us-east,eu-west,ap-south")
declare -A bridge_admin
bridge_port=([1]=$(free_port) [2]=$(free_port))
start_bridge() {
  launch_grpc_address="127.0.0.1:${bridge_port[$1]}" \
    start_named "streamer-bridge-$1-$2" "$bridge" "${common[@]}" --replica_id="bridge-$1"
  bridge_admin[$1]=$admin_port
  current_bridge[$1]="streamer-bridge-$1-$2"
}
declare -A current_bridge current_warmer
start_bridge 1 a
start_bridge 2 a
bridges="ipv4:127.0.0.1:${bridge_port[1]},127.0.0.1:${bridge_port[2]}"
start_named producer-a "$producer" --kafka_bootstrap="$kafka" --instance="$instance" \
  --regions=us-east,eu-west,ap-south --delivery_timeout=5s --topic_partitions=$partitions
echo "127.0.0.1:$grpc_port" >"$work/producer.addr"
# start_warmer REGION:N GENERATION [BRIDGE_ADDRESSES]
start_warmer() {
  local r=${1%%:*} n=${1##*:}
  start_named "warmer-$r-$n-$2" "$warmer" --region="$r" --bridge_address="${3:-$bridges}" \
    --replica_id="warmer-$r-$n" --max_outstanding=16 --allowed_hosts="$host" \
    --allow_private_ranges=127.0.0.0/8 --request_timeout=90s \
    --edge_pins="$host:80:${edge_host[$r]}:${edge_ports[$r]}"
  current_warmer[$1]="warmer-$r-$n-$2"
}
warmers=(us-east:1 us-east:2 eu-west:1 ap-south:1)
for w in "${warmers[@]}"; do start_warmer "$w" a; done
bridge_addr="127.0.0.1:${bridge_port[1]}"
deadline=$((SECONDS + 90))
until [ "$(mesh_ready "$python" 4)" = 3 ]; do
  [ $SECONDS -lt $deadline ] || fail "not every warmer subscribed: $(mesh_subs "$python")"
  sleep 0.2
done

load_start=$(date +%s)
start_load "$python" "$client" "$host" "$rate"
# Peak RSS (VmHWM) of every bridge process, checked before it goes.
peak_rss() {
  local name=$1 kb
  kb=$(awk '/^VmHWM/ {print $2}' "/proc/${named_pid[$name]}/status")
  say "   $name peak RSS ${kb} kB (bound ${rss_bound_kb} kB)"
  [ "$kb" -le "$rss_bound_kb" ] || fail "$name peak RSS ${kb} kB is past its bound"
}
origin_count() {
  "$python" -c 'import json,sys,urllib.request
print(json.load(urllib.request.urlopen(sys.argv[1], timeout=10))["by_path"].get(sys.argv[2], 0))' \
    "http://127.0.0.1:$origin_port/stats" "$1"
}
# paused REGION: the bridge replica (1 or 2) that reports the region paused, or 0.
# The metrics are read whole before grep: grep -q on curl's pipe exits at its match, curl
# then fails writing the rest ("Failed writing body"), and pipefail turns a match into a miss.
paused() {
  local b metrics
  for b in 1 2; do
    metrics=$(curl -fsS "http://127.0.0.1:${bridge_admin[$b]}/metrics") || continue
    if grep -q "^cdnwarm_bridge_paused{region=\"$1\"} 1" <<<"$metrics"; then
      echo "$b"
      return
    fi
  done
  echo 0
}
progress 200 "at start"
say "stream flowing: $(acked) acknowledged"

say "a. rolling restart of every warmer"
for w in "${warmers[@]}"; do
  term "${current_warmer[$w]}"
  start_warmer "$w" b
  progress 40 "after ${current_warmer[$w]} came back"
done

say "b. SIGTERM and restart of each bridge replica while warmers hold slow warms"
for b in 1 2; do
  slow=()
  # Query parameters in canonical (sorted) order: the edge logs the URL as warmed.
  for i in 1 2 3 4 5 6; do slow+=("http://$host/slow?drill=b$b-$i&ms=20000"); done
  before=$(origin_count /slow)
  "$python" "$client" warm "$work/producer.addr" "$work/ledger/acked-slow" all "${slow[@]}"
  deadline=$((SECONDS + 60))
  until [ "$(origin_count /slow)" -ge $((before + 6)) ]; do
    [ $SECONDS -lt $deadline ] || fail "the slow warms never reached the origin"
    sleep 0.2
  done
  peak_rss "${current_bridge[$b]}"
  term "${current_bridge[$b]}"
  start_bridge "$b" b
  progress 80 "after bridge replica $b restarted"
done

# To the start of the load: a replay of everything, while deliveries are out. (A seek to a
# later time skips what the region had not finished before it: that is what a seek
# forward asks for, and the ledger would count it lost.)
say "c. Seek(start of the load) of eu-west during load, called on each replica"
for b in 1 2; do
  "$python" "$client" seek "127.0.0.1:${bridge_port[$b]}" eu-west $(($(date +%s) - load_start + 1)) \
    $partitions ||
    fail "Seek on bridge replica $b did not move every partition"
  progress 40 "after the seek on bridge replica $b"
done

say "d. a rebalance while ap-south is paused, then its backlog drained"
term "${current_warmer[ap-south:1]}"
deadline=$((SECONDS + 120))
until holder=$(paused ap-south) && [ "$holder" != 0 ]; do
  [ $SECONDS -lt $deadline ] || fail "ap-south never paused at --buffer_limit=$buffer_limit"
  sleep 0.2
done
other=$((3 - holder))
say "   ap-south paused; a second ap-south warmer joins through bridge replica $other only"
start_warmer ap-south:2 a "127.0.0.1:${bridge_port[$other]}"
progress 80 "after the rebalance"
start_warmer ap-south:1 c
progress 200 "while ap-south's backlog drains"

say "e. the results topic refuses every record, then heals"
results_topic="warm.results-$instance"
"$lib_dir/kafka.sh" configure "$broker_dir" "$results_topic" max.message.bytes=64
for b in 1 2; do
  deadline=$((SECONDS + 60))
  until grep -q 'a record can never be stored' "$work/${current_bridge[$b]}.log"; do
    [ $SECONDS -lt $deadline ] || fail "bridge replica $b never reported the refused results"
    sleep 0.2
  done
done
"$lib_dir/kafka.sh" configure "$broker_dir" "$results_topic" max.message.bytes=1048588
for b in 1 2; do
  pid=${named_pid[${current_bridge[$b]}]}
  # The bridge drains on its own once a record can never be stored.
  deadline=$((SECONDS + term_budget))
  while kill -0 "$pid" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || fail "${current_bridge[$b]} did not drain after the refusal"
    sleep 0.05
  done
  rc=0
  wait "$pid" || rc=$?
  [ "$rc" -eq 0 ] || fail "${current_bridge[$b]} exited $rc after the refusal"
  start_bridge "$b" c
done
progress 120 "after the results topic healed"

say "f. a URL that kills the warmer fetching it"
poison="http://$host/poison?ms=30000"
"$python" "$client" warm "$work/producer.addr" "$work/ledger/acked-poison" ap-south "$poison"
# One ap-south warmer, so the warmer that fetches it is the one that dies, each time it
# reaches the origin.
term "${current_warmer[ap-south:2]}"
unset 'current_warmer[ap-south:2]'
for attempt in $(seq 1 $max_attempts); do
  deadline=$((SECONDS + 120))
  until [ "$(origin_count /poison)" -ge "$attempt" ]; do
    [ $SECONDS -lt $deadline ] || fail "attempt $attempt of the poison URL never came"
    sleep 0.1
  done
  kill -KILL "${named_pid[${current_warmer[ap-south:1]}]}"
  wait "${named_pid[${current_warmer[ap-south:1]}]}" 2>/dev/null || true
  start_warmer ap-south:1 "p$attempt"
done
progress 120 "after the poison URL"

kill -TERM "$driver"
wait "$driver" || fail "the client failed: $(cat "$work/driver.log")"
# nginx logs a request when it ends: a killed warmer's poison fetch at the latest when the
# origin answers it (30 s).
deadline=$((SECONDS + 90))
until [ "$(grep -c 'GET /poison' "$work/edge-ap-south/access.log")" -ge $max_attempts ]; do
  [ $SECONDS -lt $deadline ] || fail "the poison URL's fetches are not in ap-south's access log"
  sleep 0.5
done
say "stream stopped; the ledger, at the edges"
for b in 1 2; do peak_rss "${current_bridge[$b]}"; done
edge_ledger "$python" "$client"
grep -qF "$poison" "$work/dlq.json" || fail "the poison URL is not on the dead-letter topic"
[ "$(origin_count /poison)" -eq $max_attempts ] ||
  fail "the poison URL was fetched $(origin_count /poison) times, not --max_attempts=$max_attempts"

for name in "${current_bridge[@]}" "${current_warmer[@]}" producer-a; do
  kill -0 "${named_pid[$name]}" 2>/dev/null || fail "$name died: $(tail -5 "$work/$name.log")"
done
if grep -l 'ERROR: AddressSanitizer\|runtime error:\|ThreadSanitizer' "$work"/*.log; then
  fail "a sanitizer report is in the logs above"
fi
say "ok: every acknowledged URL reached every targeted edge or the dead-letter topic; lost = 0"
