#!/usr/bin/env bash
# The whole mesh with the real binaries: producer, streamer-bridge, and warmers for three
# regions (two replicas in one), each region pinned to its own nginx edge on its own
# loopback address in front of one origin, on the real test broker. URLs go in through
# grpcurl WarmBatch; GetJob must report every region done with exact counts; afterwards
# every URL is a HIT at every region's edge, and both replicas of the shared region worked.
#
# Then: a task targeted at one region is warmed there and SKIPPED elsewhere; a 404 ends
# FAILED in every region and in the job; a URL that keeps answering 503 is retried and ends
# on the dead-letter topic.
#
# Usage: mesh_e2e_test.sh PRODUCER BRIDGE WARMER GRPCURL PYTHON ORIGIN_PY [URLS]
set -euo pipefail
producer=$1 bridge=$2 warmer=$3 grpcurl=$4 python=$5 origin_py=$6 urls=${7:-300}
# shellcheck source=../../scripts/lib.sh
. "$(dirname "$0")/../../scripts/lib.sh"
kafka="${CDNWARM_KAFKA_BOOTSTRAP:?}"
instance="e$RANDOM$RANDOM"
start_mesh "$producer" "$bridge" "$warmer" "$grpcurl" "$python" "$origin_py" "$kafka" "$instance" \
  --max_attempts=3 --min_backoff=200ms --max_backoff=1s
host=$mesh_host
regions=("${mesh_regions[@]}")
mesh_urls "$urls"
reply=$("$grpcurl" -plaintext -d @ "$producer_addr" cdnwarm.v1.Producer/WarmBatch <"$work/batch.json") \
  || fail "WarmBatch: $reply"
grep -q "\"accepted\": $urls" <<<"$reply" || fail "WarmBatch reply: $reply"
job=$(sed -n 's/.*"job_id": "\([^"]*\)".*/\1/p' <<<"$reply")

deadline=$((SECONDS + 180))
while :; do
  state=$("$grpcurl" -plaintext -d "{\"job_id\": \"$job\"}" "$producer_addr" cdnwarm.v1.Producer/GetJob) \
    || fail "GetJob: $state"
  grep -q '^  "done": true' <<<"$state" && break
  [ $SECONDS -lt $deadline ] || fail "job not done within 180s: $state"
  sleep 0.5
done
echo "job $job done"
[ "$(grep -c "\"warmed\": \"$urls\"" <<<"$state")" -eq 3 ] || fail "every region warmed $urls: $state"
grep -q '"failed"' <<<"$state" && fail "failures: $state"

for r in "${regions[@]}"; do
  hits=$(edge_hits "$r")
  [ "$hits" -eq "$urls" ] || fail "only $hits of $urls URLs are a HIT at $r's edge"
  echo "$r: $urls of $urls URLs are a HIT at its edge"
done

for n in 1 2; do
  stats=$("$grpcurl" -plaintext -d '{}' "${warmer_addr[us-east:$n]}" cdnwarm.v1.Warmer/GetStats)
  grep -q '"deliveries": "[1-9]' <<<"$stats" || fail "us-east replica $n did no work: $stats"
done
# Warms one request (JSON) as a job of its own and waits until the job is done; prints it.
warm_and_wait() {
  local reply job_id state deadline=$((SECONDS + 120))
  reply=$("$grpcurl" -plaintext -d "$1" "$producer_addr" cdnwarm.v1.Producer/Warm) || fail "Warm: $reply"
  job_id=$(sed -n 's/.*"job_id": "\([^"]*\)".*/\1/p' <<<"$reply")
  while :; do
    state=$("$grpcurl" -plaintext -d "{\"job_id\": \"$job_id\"}" "$producer_addr" cdnwarm.v1.Producer/GetJob)
    grep -q '^  "done": true' <<<"$state" && break
    [ $SECONDS -lt $deadline ] || fail "job $job_id not done within 120s: $state"
    sleep 0.3
  done
  echo "$state"
}
state=$(warm_and_wait "{\"url\": \"http://$host/static/only-eu.html\", \"options\": {\"target_regions\": [\"eu-west\"]}}")
[ "$(region_count "$state" eu-west warmed)" = 1 ] || fail "targeted region not warmed: $state"
for r in us-east ap-south; do
  [ "$(region_count "$state" "$r" skipped)" = 1 ] || fail "$r not SKIPPED: $state"
done
echo "targeted: warmed in eu-west only, SKIPPED elsewhere"

state=$(warm_and_wait "{\"url\": \"http://$host/status/404\"}")
for r in "${regions[@]}"; do
  [ "$(region_count "$state" "$r" failed)" = 1 ] || fail "404 not FAILED in $r: $state"
done
echo "404: FAILED in every region and in the job"

state=$(warm_and_wait "{\"url\": \"http://$host/status/503\"}")
for r in "${regions[@]}"; do
  [ "$(region_count "$state" "$r" failed)" = 1 ] || fail "503 not FAILED in $r: $state"
done
dlq=$(kcat -b "$kafka" -C -t "warm.dlq-$instance" -e -q -f '%k\n' 2>&1) || fail "kcat: $dlq"
[ "$(grep -c "/status/503" <<<"$dlq")" -eq 3 ] || fail "503 not dead-lettered once per region: $dlq"
echo "503 forever: retried, FAILED, and on the dead-letter topic once per region"

echo "ok: $urls URLs warmed in 3 regions through the whole mesh; both us-east replicas worked"

