#!/usr/bin/env bash
# The warmer binary as an operator uses it: grpcurl calls WarmNow through reflection
# against a real nginx edge (proxy_cache) in front of a scripted origin, with the edge
# pinned by --edge_pins, and reads per-variant cache status; then GetStats, /metrics,
# SIGTERM.
#
# Usage: warmer_grpcurl_test.sh WARMER GRPCURL PYTHON ORIGIN_PY
set -euo pipefail
warmer=$1 grpcurl=$2 python=$3 origin_py=$4
# shellcheck source=../../scripts/lib.sh
. "$(dirname "$0")/../../scripts/lib.sh"

start_origin "$python" "$origin_py"
start_edge edge 127.0.0.1 edge-eu

start_service warmer "$warmer" --region=eu --allowed_hosts=cdn.example.test \
  --allow_private_ranges=127.0.0.0/8 --edge_pins="cdn.example.test:80:127.0.0.1:$edge_port"
addr="127.0.0.1:$grpc_port"

request='{"url": "http://cdn.example.test/static/page.html", "verify": true,
  "variants": [{"name": "gzip", "headers": [{"name": "Accept-Encoding", "value": "gzip"}]},
               {"name": "identity"}]}'
first=$("$grpcurl" -plaintext -d "$request" "$addr" cdnwarm.v1.Warmer/WarmNow) || fail "WarmNow: $first"
echo "first WarmNow: $first"
grep -q '"outcome": "OUTCOME_WARMED"' <<<"$first" || fail "not warmed: $first"
[ "$(grep -c '"cache_before": "CACHE_STATUS_MISS"' <<<"$first")" -ge 2 ] || fail "expected MISS per variant"
[ "$(grep -c '"cache_after": "CACHE_STATUS_HIT"' <<<"$first")" -ge 2 ] || fail "verify not HIT per variant"
grep -q '"pop": "edge-eu"' <<<"$first" || fail "the pinned edge did not answer: $first"

second=$("$grpcurl" -plaintext -d "$request" "$addr" cdnwarm.v1.Warmer/WarmNow) || fail "WarmNow again"
[ "$(grep -c '"cache_before": "CACHE_STATUS_HIT"' <<<"$second")" -ge 2 ] || fail "second warm not HIT: $second"

if out=$("$grpcurl" -plaintext -d '{"url": "http://elsewhere.test/"}' "$addr" cdnwarm.v1.Warmer/WarmNow 2>&1); then
  fail "host outside the allow-list accepted: $out"
fi
grep -q PermissionDenied <<<"$out" || fail "allow-list answer: $out"

stats=$("$grpcurl" -plaintext "$addr" cdnwarm.v1.Warmer/GetStats) || fail "GetStats"
grep -q '"region": "eu"' <<<"$stats" || fail "stats: $stats"
grep -q '"ACK_OUTCOME_WARMED": "2"' <<<"$stats" || fail "stats outcomes: $stats"

metrics=$(curl -fsS "http://127.0.0.1:$admin_port/metrics") || fail "GET /metrics"
grep -q '^cdnwarm_warmer_http_responses_total{class="2xx"} [1-9]' <<<"$metrics" || fail "http metrics"

stop_service
echo "ok: WarmNow through grpcurl with per-variant cache status at a pinned nginx edge"
