#!/usr/bin/env bash
# The test cluster (scripts/kafka.sh cluster-start, 3 KRaft nodes) and what acks=all and
# min.insync.replicas=2 promise on it, seen with Kafka's own TopicCommand and kcat:
#   - a topic made with replication factor 3 and min.insync.replicas=2 has 3 in sync;
#   - with the leader of partition 0 killed (SIGKILL), writes with acks=all still succeed;
#   - with a second node stopped (controlled), acks=all writes are refused, not lost;
#   - both nodes back, every partition is in sync again, and every acknowledged record
#     is there exactly once.
#
# Usage: kafka_cluster_test.sh CLUSTER_DIR
set -euo pipefail
dir=$1
here="$(cd "$(dirname "$0")" && pwd)"
kafka="$here/../../scripts/kafka.sh"
bootstrap=$("$kafka" bootstrap "$dir")
topic="cluster-test-$RANDOM$RANDOM"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
topics() { "$kafka" tool "$dir" org.apache.kafka.tools.TopicCommand "$@" 2>/dev/null; }
# produce FROM TO [TIMEOUT_MS]: records FROM..TO, acks=all, idempotent; the exit status
# says whether all were acked within the timeout (default 60 s: a killed leader is replaced
# once the controller fences it, after its 9 s session).
produce() {
  seq "$1" "$2" | kcat -P -b "$bootstrap" -t "$topic" -X acks=all \
    -X message.timeout.ms="${3:-60000}" -X enable.idempotence=true 2>"$work/produce.err"
}
in_sync() {  # every partition of the topic has all 3 replicas in sync
  [ -z "$(topics --describe --topic "$topic" --under-replicated-partitions)" ]
}

topics --create --topic "$topic" --partitions 3 --replication-factor 3 \
  --config min.insync.replicas=2 >/dev/null || fail "TopicCommand could not create $topic"
desc=$(topics --describe --topic "$topic")
grep -q "ReplicationFactor: 3" <<<"$desc" || fail "not 3 replicas: $desc"
grep -q "min.insync.replicas=2" <<<"$desc" || fail "min.insync.replicas is not 2: $desc"
deadline=$((SECONDS + 60))
until in_sync; do [ $SECONDS -lt $deadline ] || fail "never in sync: $desc"; sleep 0.5; done
produce 1 100 || fail "acks=all with 3 nodes: $(cat "$work/produce.err")"
echo "a topic with 3 replicas and min.insync.replicas=2 took 100 records"

leader=$("$kafka" leader "$dir" "$topic" 0)
"$kafka" node-kill "$dir" "$leader"
produce 101 200 || fail "acks=all with node $leader killed: $(cat "$work/produce.err")"
echo "the leader of partition 0 (node $leader) killed: 100 more records acked by the other two"

other=$((leader % 3 + 1))
"$kafka" node-stop "$dir" "$other"
if produce 201 210 15000; then fail "acks=all was acked with only one node up"; fi
grep -qi "not enough in-sync replicas\|NOT_ENOUGH_REPLICAS\|timed out" "$work/produce.err" ||
  fail "the refusal does not say why: $(cat "$work/produce.err")"
echo "with node $other stopped too, acks=all writes are refused: $(grep -oi 'not enough in-sync replicas\|timed out' "$work/produce.err" | sort -u | tr '\n' ' ')"

"$kafka" node-start "$dir" "$leader"
"$kafka" node-start "$dir" "$other"
deadline=$((SECONDS + 120))
until in_sync; do
  [ $SECONDS -lt $deadline ] || fail "not in sync 120s after the restarts: $(topics --describe --topic "$topic")"
  sleep 0.5
done
kcat -C -b "$bootstrap" -t "$topic" -o beginning -e -q >"$work/read" 2>/dev/null
# The refused batch may have reached a log before the refusal (not acked is not absent),
# but never twice; every acked record is there once.
awk '$1 <= 200' "$work/read" | sort -n >"$work/acked"
seq 1 200 >"$work/want"
if ! cmp -s "$work/acked" "$work/want"; then
  fail "acked records after the faults are not 1..200 exactly once: $(diff "$work/want" "$work/acked" | head -10)"
fi
dups=$(sort -n "$work/read" | uniq -d | head -5)
[ -z "$dups" ] || fail "records written twice: $dups"
echo "ok: both nodes back and in sync; acked records 1..200 each once, none twice"
