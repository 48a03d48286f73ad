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
host=cdn.example.test
regions=(us-east eu-west ap-south)
declare -A edge_host=([us-east]=127.0.0.2 [eu-west]=127.0.0.3 [ap-south]=127.0.0.4)
declare -A edge_ports

start_origin "$python" "$origin_py"
for r in "${regions[@]}"; do
  start_edge "edge-$r" "${edge_host[$r]}" "pop-$r"
  edge_ports[$r]=$edge_port
done

common=(--kafka_bootstrap="$kafka" --instance="$instance")
start_named bridge "$bridge" "${common[@]}" --auto_offset_reset=earliest --replica_id=bridge-1 \
  --max_attempts=3 --min_backoff=200ms --max_backoff=1s
bridge_addr="127.0.0.1:$grpc_port"
start_named producer "$producer" "${common[@]}" --regions=us-east,eu-west,ap-south \
  --allowed_hosts="$host"
producer_addr="127.0.0.1:$grpc_port"

declare -A warmer_addr
for w in us-east:1 us-east:2 eu-west:1 ap-south:1; do
  r=${w%%:*} n=${w##*:}
  start_named "warmer-$r-$n" "$warmer" --region="$r" --bridge_address="$bridge_addr" \
    --replica_id="warmer-$r-$n" --allowed_hosts="$host" --allow_private_ranges=127.0.0.0/8 \
    --edge_pins="$host:80:${edge_host[$r]}:${edge_ports[$r]}" --max_concurrency=16
  warmer_addr[$w]="127.0.0.1:$grpc_port"
done

# Every warmer subscribed (the bridge has assigned partitions for each region) before the
# URLs go in, so the shared region's two replicas both get a share from the start.
deadline=$((SECONDS + 60))
until [ "$("$grpcurl" -plaintext -d '{}' "$bridge_addr" cdnwarm.v1.Bridge/ListSubscriptions \
          | grep -c '"subscriber_id"')" -eq 4 ]; do
  [ $SECONDS -lt $deadline ] || fail "not every warmer subscribed"
  sleep 0.2
done

for i in $(seq 1 "$urls"); do printf '{"url": "http://%s/static/page-%d.html"}\n' "$host" "$i"; done \
  >"$work/batch.json"
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

# One curl per edge, all URLs over one connection: how many answers were a HIT.
for i in $(seq 1 "$urls"); do echo "url = \"http://$host/static/page-$i.html\""; done >"$work/urls.curl"
for r in "${regions[@]}"; do
  hits=$(curl -s -o /dev/null -D - --connect-to "$host:80:${edge_host[$r]}:${edge_ports[$r]}" \
    -K "$work/urls.curl" | tr -d '\r' | grep -ci '^X-Cache-Status: HIT$' || true)
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
region_count() {  # STATE REGION FIELD
  local v
  v=$(grep -A8 "\"region\": \"$2\"" <<<"$1" | sed -n "s/.*\"$3\": \"\([0-9]*\)\".*/\1/p" | head -1)
  echo "${v:-0}"
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

