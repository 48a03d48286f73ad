#!/usr/bin/env bash
# The mesh on another Kafka release than the tests' default (scripts/kafka/pom.xml): a broker
# of its own at VERSION (CDNWARM_KAFKA_VERSION, which every script honours), the whole mesh
# end to end on it (tests/smoke/mesh_e2e_test.sh: every URL a HIT at every region's edge,
# targeted, failed and dead-lettered tasks), then Kafka's own ConsumerGroupCommand must show
# every region's group committed at the end of every requests partition.
#
# Usage: kafka_version_test.sh VERSION PORT PRODUCER BRIDGE WARMER GRPCURL PYTHON ORIGIN_PY
set -euo pipefail
version=$1 port=$2
shift 2
export CDNWARM_KAFKA_VERSION=$version
# shellcheck source=../../scripts/lib.sh
. "$(dirname "$0")/../../scripts/lib.sh"
here="$(cd "$(dirname "$0")" && pwd)"
start_broker "$port"
grep -q "Kafka version: $version" "$broker_dir/broker.log" ||
  fail "the broker in $broker_dir is not Kafka $version: $(grep -m1 'Kafka version' "$broker_dir/broker.log")"
echo "Apache Kafka $version at $kafka"
CDNWARM_KAFKA_BOOTSTRAP=$kafka "$here/../smoke/mesh_e2e_test.sh" "$@" 60 ||
  fail "the mesh did not pass its end-to-end test on Kafka $version"

# Each region's group, as Kafka's own tool sees it: committed offset = log end offset (lag 0)
# on every partition of the requests topic.
groups="$work/groups.txt"
deadline=$((SECONDS + 60))
while :; do
  "$lib_dir/kafka.sh" tool "$broker_dir" org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
    --describe --all-groups >"$groups" 2>"$work/groups.err" || true
  rows=$(awk '$1 ~ /^cdnwarm\.bridge\./ && $2 ~ /^warm\.requests-/' "$groups")
  regions=$(awk '{print $1}' <<<"$rows" | sort -u | wc -l)
  behind=$(awk '$6 != 0' <<<"$rows")
  [ "$regions" -eq 3 ] && [ -n "$rows" ] && [ -z "$behind" ] && break
  [ $SECONDS -lt $deadline ] ||
    fail "ConsumerGroupCommand does not show 3 regions at the log end: $(cat "$groups" "$work/groups.err")"
  sleep 1
done
echo "$rows" | awk '{printf "  %s %s/%s committed %s of %s (lag %s)\n", $1, $2, $3, $4, $5, $6}'
echo "ok: the mesh on Kafka $version; ConsumerGroupCommand shows every region at the log end"
