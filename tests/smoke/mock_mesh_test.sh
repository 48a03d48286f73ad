#!/usr/bin/env bash
# The demo's fallback when no broker exists: the whole mesh on librdkafka's mock cluster
# (cdnwarm-kafka-mock), as scripts/run.sh starts it. The CLI warms URLs and follows the job;
# every region reports them warmed and every URL is a HIT at every region's edge.
#
# Usage: mock_mesh_test.sh PRODUCER BRIDGE WARMER GRPCURL PYTHON ORIGIN_PY KAFKA_MOCK [URLS]
set -euo pipefail
producer=$1 bridge=$2 warmer=$3 grpcurl=$4 python=$5 origin_py=$6 mock=$7 urls=${8:-50}
root="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=../../scripts/lib.sh
. "$root/scripts/lib.sh"
instance="m$RANDOM"
start_kafka_mock "$mock" "$instance"
start_mesh "$producer" "$bridge" "$warmer" "$grpcurl" "$python" "$origin_py" "$kafka" "$instance"
mesh_urls "$urls"
out=$("$python" "$root/scripts/cdnwarm" --producer "$producer_addr" warm -f - --watch \
  --watch-timeout 120 <"$work/urls.txt") || fail "cdnwarm warm: $out"
grep -q "$urls tasks, done" <<<"$out" || fail "job not done: $out"
for r in "${mesh_regions[@]}"; do
  # region, warmed, verified HIT, unverified, failed: every URL proven warm, none failed.
  grep -Eq "^$r +$urls +[0-9]+ +0 +0 " <<<"$out" || fail "$r did not warm all $urls: $out"
  hits=$(edge_hits "$r")
  [ "$hits" -eq "$urls" ] || fail "only $hits of $urls URLs are a HIT at $r's edge"
done
echo "ok: $urls URLs warmed and a HIT in 3 regions on the mock cluster"
