#!/usr/bin/env bash
# The cluster fault suite: the whole mesh on the 3-node test cluster (scripts/kafka.sh
# cluster-start; topics with replication factor 3 and min.insync.replicas=2, the services'
# defaults there), under steady load: 3 bridge replicas, 4 warmers, 3 regions, real nginx
# edges, the producer. One after another:
#   a. SIGKILL the leader of the busiest requests partition, then restart it;
#   b. SIGKILL the leader of the busiest results partition, then restart it;
#   c. a controlled shutdown (SIGTERM) of a broker, then its return;
#   d. two brokers down at once, so min.insync.replicas cannot be met: intake answers
#      UNAVAILABLE within the client's deadline, and nothing it said OK to is lost;
#   e. bridge replicas scaled 3 -> 1 -> 3 (SIGTERM, each exits 0) during load;
#   f. Seek(earliest) of us-east while two replicas hold its partitions: every partition
#      moves, and the replay reaches us-east's edge again.
# Between steps it waits for progress (acknowledged URLs), never for a time. The ledger is
# checked at the edges: every URL the producer said OK to is in every region's access log,
# or on the dead-letter topic with a reason (lost = 0); duplicate warms stay within the
# in-flight window; for each event it prints the longest window with no progress, at the
# intake and at each edge. Kafka's own ConsumerGroupCommand then shows every region's
# committed offset at the end of the requests topic.
#
# Usage: cluster_fault_test.sh CLUSTER_DIR PRODUCER BRIDGE WARMER PYTHON ORIGIN_PY
set -euo pipefail
cluster=$1 producer=$2 bridge=$3 warmer=$4 python=$5 origin_py=$6
# shellcheck source=../../scripts/lib.sh
. "$(dirname "$0")/../../scripts/lib.sh"
# shellcheck source=load.sh
. "$(dirname "$0")/load.sh"
here="$(cd "$(dirname "$0")" && pwd)"
client="$here/fault_client.py"
kafka_sh="$lib_dir/kafka.sh"
kafka=$("$kafka_sh" bootstrap "$cluster")
host=$mesh_host
instance="cfault$RANDOM"
requests_topic="warm.requests-$instance" results_topic="warm.results-$instance"
rate=40
partitions=6
max_outstanding=16
events=0  # disruptive events that can re-deliver what was in flight
intake_deadline=10  # the client's gRPC deadline in step d

say() { printf '[cluster-fault %s] %s\n' "$(date +%T)" "$*"; }
start_mesh_edges "$python" "$origin_py"

# No --topic_replication_factor: on 3 brokers the default is 3 with min.insync.replicas 2.
common=(--kafka_bootstrap="$kafka" --instance="$instance" --max_attempts=8
  --min_backoff=200ms --max_backoff=2s --topic_partitions="$partitions"
  "--regions=us-east,eu-west,ap-south")
declare -A bridge_port current_bridge current_warmer
for b in 1 2 3; do bridge_port[$b]=$(free_port); done
declare -A stopped  # replicas stopped on purpose (step e), never revived
start_bridge() {
  launch_grpc_address="127.0.0.1:${bridge_port[$1]}" \
    start_named "streamer-bridge-$1-$2" "$bridge" "${common[@]}" --replica_id="bridge-$1"
  current_bridge[$1]="streamer-bridge-$1-$2"
  unset "stopped[$1]"
}
for b in 1 2 3; do start_bridge $b a; done
# The kubelet's part (restartPolicy: Always): a bridge replica that drained and exited
# because its idempotent result producer failed for good is started again. librdkafka 2.0.2
# (Debian 12's) can raise that fatal error when a produce request fails after a
# min.insync.replicas outage ("sequence desynchronization"; librdkafka #4438, fixed in
# 2.3.0). Draining so that a new process redelivers is the bridge's designed answer
# (streamer-bridge/README.md), so the suite checks what follows it: nothing lost, and the
# redelivered work within the duplicates bound, which counts each restart as an event. Any
# other exit is caught where the replica is next used, and by the final check.
restarts=0 revived=""
revive_bridges() {
  revived=""
  local b name rc
  for b in 1 2 3; do
    name=${current_bridge[$b]}
    [ -z "${stopped[$b]:-}" ] || continue
    kill -0 "${named_pid[$name]}" 2>/dev/null && continue
    grep -q '"the result producer failed for good' "$work/$name.log" || continue
    # Only a clean drain and exit is the designed answer; anything else fails here.
    rc=0
    wait "${named_pid[$name]}" || rc=$?
    if [ "$rc" -ne 0 ] || ! grep -q '"drain finished"' "$work/$name.log"; then
      fail "$name exited $rc after its result producer's fatal error, not drained: $(tail -5 "$work/$name.log")"
    fi
    restarts=$((restarts + 1)) events=$((events + 1)) revived="$revived $b"
    say "   $name drained after its result producer's fatal error: $(grep -o 'failed due to [a-z ]*[0-9]*' "$work/$name.log" | head -1); starting it again"
    start_bridge "$b" "r$restarts"
  done
}
on_progress() { revive_bridges; }
start_named producer "$producer" --kafka_bootstrap="$kafka" --instance="$instance" \
  --regions=us-east,eu-west,ap-south --delivery_timeout=5s --topic_partitions=$partitions
echo "127.0.0.1:$grpc_port" >"$work/producer.addr"
# A warmer tries the replicas of its list in turn: FIRST is the one it subscribes to first.
# start_warmer REGION:N GENERATION FIRST
start_warmer() {
  local r=${1%%:*} n=${1##*:} list="" b
  for b in $3 1 2 3; do [[ ",$list," == *",127.0.0.1:${bridge_port[$b]},"* ]] ||
    list="$list${list:+,}127.0.0.1:${bridge_port[$b]}"; done
  # --verify=false: the ledger counts every 2xx GET of a URL at an edge beyond the first as
  # a duplicate warm, and the verify GET after each MISS is a second GET by design.
  start_named "warmer-$r-$n-$2" "$warmer" --region="$r" --bridge_address="ipv4:$list" \
    --replica_id="warmer-$r-$n" --max_outstanding=$max_outstanding --allowed_hosts="$host" \
    --allow_private_ranges=127.0.0.0/8 --request_timeout=5s --verify=false \
    --edge_pins="$host:80:${edge_host[$r]}:${edge_ports[$r]}"
  current_warmer[$1]="warmer-$r-$n-$2"
}
# us-east on two replicas (step f), the other regions on the third and the first.
start_warmer us-east:1 a 1
start_warmer us-east:2 a 2
start_warmer eu-west:1 a 3
start_warmer ap-south:1 a 1
# subscribed: warmers subscribed over all replicas, or 0 while a region consumed on one has
# a partition with no committed start position.
subscribed() {
  local b
  for b in 1 2 3; do
    bridge_addr="127.0.0.1:${bridge_port[$b]}" mesh_subs "$python"
  done | awk '/^  subscriber / { s++ } /committed -1,/ { bad = 1 } END { print bad ? 0 : s + 0 }'
}
deadline=$((SECONDS + 90))
until [ "$(subscribed)" = 4 ]; do
  [ $SECONDS -lt $deadline ] || fail "not every warmer subscribed: $(subscribed) of 4"
  sleep 0.2
done
# held_by B: "REGION N" for each region bridge replica B holds N > 0 partitions of.
held_by() {
  bridge_addr="127.0.0.1:${bridge_port[$1]}" mesh_subs "$python" | awk '
    /^region / { r = /no consumer on this replica/ ? "" : $2 }
    /^  partition / && r != "" { n[r]++ }
    END { for (r in n) print r, n[r] }'
}
# held B REGION: how many of REGION's partitions bridge replica B holds.
held() { held_by "$1" | awk -v r="$2" '$1 == r { n = $2 } END { print n + 0 }'; }
# commits_ok B REGION: bridge replica B's offset commits of REGION that Kafka accepted.
commits_ok() {
  local metrics
  metrics=$(curl -fsS "http://127.0.0.1:${named_admin_port[${current_bridge[$1]}]}/metrics") ||
    fail "bridge replica $1 did not serve its metrics"
  awk -v r="region=\"$2\"" 'index($0, "cdnwarm_bridge_commits_total{") == 1 && index($0, r) &&
    index($0, "result=\"ok\"") { n += $NF } END { print n + 0 }' <<<"$metrics"
}
# commits_caught_up: waits until every replica has committed, since this call, every region
# it holds partitions of (one commit covers every partition the replica holds). After an
# outage of the offsets' coordinator the work finished meanwhile is committed only then;
# a replica that leaves before is replaced from the older commit, and redelivers more than
# what was in flight, which the duplicates bound below counts per event.
commits_caught_up() {
  local b r deadline=$((SECONDS + 120)) pending
  declare -A base
  revive_bridges
  for b in 1 2 3; do for r in "${mesh_regions[@]}"; do base[$b:$r]=$(commits_ok "$b" "$r"); done; done
  while :; do
    revive_bridges
    # A new process counts its commits from 0: one accepted is what is waited for.
    for b in $revived; do for r in "${mesh_regions[@]}"; do base[$b:$r]=0; done; done
    pending=""
    for b in 1 2 3; do
      for r in $(held_by "$b" | cut -d' ' -f1); do
        [ "$(commits_ok "$b" "$r")" -gt "${base[$b:$r]}" ] || pending="$pending $b:$r"
      done
    done
    [ -n "$pending" ] || return 0
    [ $SECONDS -lt $deadline ] || fail "no offset commit accepted for 120s by replica:region$pending"
    sleep 0.5
  done
}
topics() { "$kafka_sh" tool "$cluster" org.apache.kafka.tools.TopicCommand "$@" 2>/dev/null; }
desc=$(topics --describe --topic "$requests_topic")
grep -q "ReplicationFactor: 3" <<<"$desc" || fail "the requests topic is not replicated 3 times: $desc"
grep -q "min.insync.replicas=2" <<<"$desc" || fail "the requests topic's min.insync.replicas is not 2: $desc"

start_load "$python" "$client" "$host" "$rate"
# busiest TOPIC: the partition with the most records.
busiest() {
  "$kafka_sh" tool "$cluster" org.apache.kafka.tools.GetOffsetShell --topic "$1" 2>/dev/null |
    sort -t: -k3 -n | tail -1 | cut -d: -f2
}
# event LABEL / done_event: an event's window, for the no-progress figures.
event() {
  event_label=$1 event_start=$(date +%s.%N)
  say "$1"
}
done_event() { echo "$event_label $event_start $(date +%s.%N)" >>"$work/ledger/events"; }
progress 200 "at start"
say "stream flowing: $(acked) acknowledged"

# kill_leader STEP TOPIC WHAT: SIGKILL the leader of TOPIC's busiest partition, wait for the
# stream to flow without it, restart it, wait again.
kill_leader() {
  local p node
  p=$(busiest "$2")
  node=$("$kafka_sh" leader "$cluster" "$2" "$p")
  event "$1. SIGKILL node $node, leader of the busiest $3 partition ($p), then restart it"
  "$kafka_sh" node-kill "$cluster" "$node"
  events=$((events + 1))
  progress 80 "with node $node killed"
  "$kafka_sh" node-start "$cluster" "$node"
  progress 80 "after node $node came back"
  done_event
}
kill_leader a "$requests_topic" requests
kill_leader b "$results_topic" results

node=$("$kafka_sh" leader "$cluster" "$requests_topic" 0)
event "c. controlled shutdown of node $node, then its return"
"$kafka_sh" node-stop "$cluster" "$node"
progress 80 "with node $node shut down"
"$kafka_sh" node-start "$cluster" "$node"
progress 80 "after node $node came back"
done_event

keep=$("$kafka_sh" leader "$cluster" "$requests_topic" 0)
down=()
for n in 1 2 3; do [ "$n" = "$keep" ] || down+=("$n"); done
event "d. nodes ${down[*]} down at once: min.insync.replicas=2 cannot be met"
before=$(acked)
pids=()
for n in "${down[@]}"; do "$kafka_sh" node-kill "$cluster" "$n" & pids+=($!); done
for p in "${pids[@]}"; do wait "$p" || fail "node-kill failed"; done
events=$((events + 1))
"$python" "$client" probe "$work/producer.addr" "http://$host/static/probe-d.html" \
  $intake_deadline || fail "intake did not answer UNAVAILABLE within ${intake_deadline}s"
say "   acknowledged while the two were down: $(($(acked) - before))"
pids=()
for n in "${down[@]}"; do "$kafka_sh" node-start "$cluster" "$n" & pids+=($!); done
for p in "${pids[@]}"; do wait "$p" || fail "node-start failed"; done
progress 120 "after nodes ${down[*]} came back"
commits_caught_up
done_event

event "e. bridge replicas scaled 3 -> 1 -> 3 during load"
revive_bridges  # a replica that just drained on its own is started again, then stopped
stopped[2]=1 stopped[3]=1
term "${current_bridge[2]}"
term "${current_bridge[3]}"
events=$((events + 2))
progress 80 "on bridge replica 1 alone"
start_bridge 2 b
start_bridge 3 b
# The warmers moved to replica 1; us-east:2 goes back to replica 2 (a rolling restart), so
# us-east's partitions are split again between two replicas for step f.
term "${current_warmer[us-east:2]}"
start_warmer us-east:2 b 2
deadline=$((SECONDS + 90))
until [ "$(held 1 us-east)" -gt 0 ] && [ "$(held 2 us-east)" -gt 0 ]; do
  revive_bridges
  [ $SECONDS -lt $deadline ] ||
    fail "us-east's partitions did not spread over replicas 1 and 2: $(held 1 us-east) and $(held 2 us-east)"
  sleep 0.2
done
say "   us-east: $(held 1 us-east) partitions on replica 1, $(held 2 us-east) on replica 2"
progress 80 "with three bridge replicas again"
done_event

event "f. Seek(earliest) of us-east while two replicas hold its partitions"
cp "$work/edge-us-east/access.log" "$work/us-east-before-seek.log"
"$python" "$client" seek "127.0.0.1:${bridge_port[3]}" us-east earliest $partitions 2 ||
  fail "Seek(earliest) did not move every partition of us-east across two replicas"
progress 80 "after the seek"
done_event

kill -TERM "$driver"
wait "$driver" || fail "the client failed: $(cat "$work/driver.log")"
say "stream stopped; the ledger, at the edges"
edge_ledger "$python" "$client"
logs=()
for r in "${mesh_regions[@]}"; do logs+=("$work/edge-$r/access.log"); done
"$python" "$client" windows "$work/ledger" "${logs[@]}"

# The replay: every load URL us-east's edge had served before the seek is served again.
"$python" "$client" replayed "$work/us-east-before-seek.log" "$work/edge-us-east/access.log" 120 ||
  fail "Seek(earliest) did not replay everything us-east had warmed"

# Duplicates: at most what was in flight to every subscriber at each disruptive event, and
# one per region for each Warm the client retried (a record that timed out at the producer
# may still have been written). us-east is counted up to the seek, which replays on purpose.
retried=$(cut -d' ' -f3 "$work/ledger/counts")
window=$((events * 4 * max_outstanding + retried * 3))
dups=$("$python" "$client" duplicates "$work/us-east-before-seek.log" \
  "$work/edge-eu-west/access.log" "$work/edge-ap-south/access.log")
say "duplicates $dups, in-flight window $window ($events events x 4 subscribers x $max_outstanding + $retried retried Warms x 3 regions)"
[ "$dups" -le "$window" ] || fail "$dups duplicate warms exceed the in-flight window of $window"

# Kafka's own view: every region's group committed to the end of every requests partition.
deadline=$((SECONDS + 60))
until "$kafka_sh" tool "$cluster" org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
  --describe --all-groups >"$work/groups.txt" 2>/dev/null &&
  [ "$(awk -v t="$requests_topic" '$2 == t && $6 == 0' "$work/groups.txt" | wc -l)" -eq $((3 * partitions)) ]; do
  [ $SECONDS -lt $deadline ] ||
    fail "ConsumerGroupCommand does not show every region at the log end: $(grep -F "$requests_topic" "$work/groups.txt")"
  sleep 1
done
say "ConsumerGroupCommand: 3 regions x $partitions partitions of $requests_topic committed at the log end (lag 0)"

for name in "${current_bridge[@]}" "${current_warmer[@]}" producer; do
  kill -0 "${named_pid[$name]}" 2>/dev/null || fail "$name died: $(tail -5 "$work/$name.log")"
done
if grep -l 'ERROR: AddressSanitizer\|runtime error:\|ThreadSanitizer' "$work"/*.log; then
  fail "a sanitizer report is in the logs above"
fi
say "ok: through every broker and bridge event, every acknowledged URL reached every edge; lost = 0"
