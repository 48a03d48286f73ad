#!/usr/bin/env bash
# The whole mesh with the real binaries: producer, streamer-bridge, and warmers for three
# regions (two replicas in one), each region pinned to its own nginx edge on its own
# loopback address in front of one origin, on the real test broker. URLs go in through
# grpcurl WarmBatch; GetJob must report every region done with exact counts; afterwards
# every URL is a HIT at every region's edge, and both replicas of the shared region worked.
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
start_named bridge "$bridge" "${common[@]}" --auto_offset_reset=earliest --replica_id=bridge-1
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

for r in "${regions[@]}"; do
  misses=0
  for i in $(seq 1 "$urls"); do
    status=$(curl -s -o /dev/null -D - --connect-to "$host:80:${edge_host[$r]}:${edge_ports[$r]}" \
      "http://$host/static/page-$i.html" | tr -d '\r' | sed -n 's/^X-Cache-Status: //Ip')
    [ "$status" = HIT ] || misses=$((misses + 1))
  done
  [ "$misses" -eq 0 ] || fail "$misses of $urls URLs are not a HIT at $r's edge"
  echo "$r: $urls of $urls URLs are a HIT at its edge"
done

for n in 1 2; do
  stats=$("$grpcurl" -plaintext -d '{}' "${warmer_addr[us-east:$n]}" cdnwarm.v1.Warmer/GetStats)
  grep -q '"deliveries": "[1-9]' <<<"$stats" || fail "us-east replica $n did no work: $stats"
done
echo "ok: $urls URLs warmed in 3 regions through the whole mesh; both us-east replicas worked"
