#!/bin/sh
# The cdnwarm-topics Job's script (ConfigMap cdnwarm-topics): creates the requests, results
# and dead-letter topics (partitions and retention from cdnwarm-config) and the bridge
# replicas' one-partition control topic, with the Apache Kafka image's kafka-topics.sh.
# Idempotent (--if-not-exists): a topic that exists is left as it is (change partitions or
# settings of an existing topic with kafka-topics.sh --alter or kafka-configs.sh, by hand).
set -eu
# Client settings of a secured cluster (the prod overlay mounts them).
auth=""
if [ -n "${KAFKA_COMMAND_CONFIG:-}" ]; then
  auth="--command-config $KAFKA_COMMAND_CONFIG"
fi
create() {
  # shellcheck disable=SC2086  # $auth is empty or two words
  /opt/kafka/bin/kafka-topics.sh --bootstrap-server "$KAFKA_BOOTSTRAP" $auth \
    --create --if-not-exists --topic "$1" --partitions "$3" \
    --replication-factor "$TOPIC_REPLICATION_FACTOR" \
    --config retention.ms="$2" \
    --config min.insync.replicas="$TOPIC_MIN_INSYNC_REPLICAS"
}
create "$REQUESTS_TOPIC" "$REQUESTS_RETENTION_MS" "$TOPIC_PARTITIONS"
create "$RESULTS_TOPIC" "$RESULTS_RETENTION_MS" "$TOPIC_PARTITIONS"
create "$DEAD_LETTER_TOPIC" "$DEAD_LETTER_RETENTION_MS" "$TOPIC_PARTITIONS"
create "$BRIDGE_CONTROL_TOPIC" 3600000 1
