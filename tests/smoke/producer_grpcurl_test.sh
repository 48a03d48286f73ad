#!/usr/bin/env bash
# The producer binary against the real test broker, driven as a user would: grpcurl with
# JSON through reflection, a bearer token, a bad URL, GetJob, /metrics, then SIGTERM.
#
# Usage: producer_grpcurl_test.sh PRODUCER GRPCURL
set -euo pipefail
producer=$1 grpcurl=$2
# shellcheck source=../../scripts/lib.sh
. "$(dirname "$0")/../../scripts/lib.sh"

token="test-token-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s\n' "$token" >"$work/token"
start_service producer "$producer" --kafka_bootstrap="${CDNWARM_KAFKA_BOOTSTRAP:?}" \
  --instance="t$RANDOM$RANDOM" --auth_token_file="$work/token" --regions=eu,us \
  --allowed_hosts='*.example.com,example.com'
addr="127.0.0.1:$grpc_port"
grep -q '"msg":"authentication is disabled' "$service_log" && fail "auth reported disabled"

call() { "$grpcurl" -plaintext -H "authorization: Bearer $token" "$@"; }

reply=$(call -d '{"url": "HTTPS://Example.COM:443/news/../index.html#x", "options": {"targetRegions": ["eu"]}}' \
  "$addr" cdnwarm.v1.Producer/Warm) || fail "Warm: $reply"
echo "Warm reply: $reply"
grep -q '"canonical_url": "https://example.com/index.html"' <<<"$reply" || fail "canonical url: $reply"
grep -q '"task_id"' <<<"$reply" || fail "reply fields: $reply"
job_id=$(sed -n 's/.*"job_id": "\([^"]*\)".*/\1/p' <<<"$reply")
[ -n "$job_id" ] || fail "no job id in $reply"

# Without the token: UNAUTHENTICATED, and nothing about the token in the answer.
if out=$("$grpcurl" -plaintext -d '{"url": "https://example.com/"}' "$addr" cdnwarm.v1.Producer/Warm 2>&1); then
  fail "Warm without a token succeeded: $out"
fi
grep -q 'Unauthenticated' <<<"$out" || fail "expected Unauthenticated: $out"

if out=$(call -d '{"url": "file:///etc/passwd"}' "$addr" cdnwarm.v1.Producer/Warm 2>&1); then
  fail "file:// accepted: $out"
fi
# shellcheck disable=SC2015  # fail when either grep finds nothing, as intended
grep -q 'InvalidArgument' <<<"$out" && grep -q 'url: scheme' <<<"$out" || fail "bad url answer: $out"

if out=$(call -d '{"url": "https://elsewhere.org/"}' "$addr" cdnwarm.v1.Producer/Warm 2>&1); then
  fail "host outside the allow-list accepted: $out"
fi
grep -q 'PermissionDenied' <<<"$out" || fail "allow-list answer: $out"

job=$(call -d "{\"jobId\": \"$job_id\"}" "$addr" cdnwarm.v1.Producer/GetJob) || fail "GetJob: $job"
grep -q '"total_tasks": "1"' <<<"$job" || fail "GetJob: $job"
grep -q '"region": "us"' <<<"$job" || fail "GetJob regions: $job"

metrics=$(curl -fsS "http://127.0.0.1:$admin_port/metrics") || fail "GET /metrics"
grep -q '^cdnwarm_producer_records_total{result="acked"} 1$' <<<"$metrics" || fail "records metric"
grep -q '^cdnwarm_producer_rpcs_total{code="INVALID_ARGUMENT",rpc="Warm"} 1$' <<<"$metrics" \
  || fail "rpc metric: $(grep rpcs_total <<<"$metrics")"
grep -q "$token" "$service_log" && fail "the token appears in the log"

stop_service
echo "ok: Warm through grpcurl with a token, refusals, GetJob, metrics, SIGTERM drain"
