#!/usr/bin/env bash
# Durable topics on the 3-node test cluster (the kafka_cluster fixture), seen with Kafka's
# own TopicCommand: a producer with default flags creates its topics with 3 copies and
# min.insync.replicas=2; a topic made weaker beforehand is named in a start-up warning,
# setting by setting; more copies than the cluster has brokers stops start-up naming the
# flag and what fits.
#
# Usage: topic_durability_test.sh PRODUCER CLUSTER_DIR
set -euo pipefail
producer=$1 dir=$2
# shellcheck source=../../scripts/lib.sh
. "$(dirname "$0")/../../scripts/lib.sh"
kafka_sh="$lib_dir/kafka.sh"
bootstrap=$("$kafka_sh" bootstrap "$dir")
topics() { "$kafka_sh" tool "$dir" org.apache.kafka.tools.TopicCommand "$@" 2>/dev/null; }

# Defaults: 3 copies, 2 in sync.
a="d$RANDOM$RANDOM"
start_named producer-a "$producer" --kafka_bootstrap="$bootstrap" --instance="$a"
for t in warm.requests warm.results warm.dlq; do
  desc=$(topics --describe --topic "$t-$a")
  grep -q "ReplicationFactor: 3" <<<"$desc" || fail "$t-$a has not 3 copies: $desc"
  grep -q "min.insync.replicas=2" <<<"$desc" || fail "$t-$a has not min.insync.replicas=2: $desc"
done
if grep -q "less durable" "$work/producer-a.log"; then
  fail "a warning about topics it made itself: $(grep 'less durable' "$work/producer-a.log")"
fi
echo "default flags on 3 brokers: every topic has 3 copies and min.insync.replicas=2"

# A requests topic made beforehand with one copy: named, setting by setting.
b="w$RANDOM$RANDOM"
topics --create --topic "warm.requests-$b" --partitions 6 --replication-factor 1 >/dev/null ||
  fail "TopicCommand could not make warm.requests-$b"
start_named producer-b "$producer" --kafka_bootstrap="$bootstrap" --instance="$b"
warnings=$(grep '"msg":"topic is less durable than configured' "$work/producer-b.log" || true)
for want in "replication.factor 1 < 3" "min.insync.replicas 1 < 2"; do
  grep -qF "$want" < <(grep "\"topic\":\"warm.requests-$b\"" <<<"$warnings") ||
    fail "no warning naming warm.requests-$b and \"$want\": $(cat "$work/producer-b.log")"
done
if grep -q "warm.results-$b" <<<"$warnings"; then fail "a warning for a topic it made: $warnings"; fi
echo "a topic made with one copy is named at start-up: replication.factor and min.insync.replicas"

# More copies than brokers: start-up stops, naming the flag and what fits.
if out=$("$producer" --kafka_bootstrap="$bootstrap" --instance="x$RANDOM" \
  --topic_replication_factor=5 --grpc_address=127.0.0.1:0 --admin_address=127.0.0.1:0 2>&1); then
  fail "the producer started with 5 copies asked of 3 brokers"
fi
grep -qF -- "--topic_replication_factor=3 fits it" <<<"$out" || fail "start-up error: $out"
echo "ok: durable by default, weaker topics named, impossible settings refused"
