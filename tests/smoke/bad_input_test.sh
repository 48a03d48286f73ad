#!/usr/bin/env bash
# The bad-input suite: hostile and malformed input through grpcurl (as an operator types it)
# and through the Python client (tests/python/bad_input.py: every field at and past its
# limit, hostile URLs, credentials, oversized and malformed messages, names and redirects
# leading to private addresses). Each gets a clear error naming the problem; the services
# keep serving, and the token never reaches a log.
#
# Usage: bad_input_test.sh PRODUCER WARMER GRPCURL PYTHON ORIGIN_PY
set -euo pipefail
producer=$1 warmer=$2 grpcurl=$3 python=$4 origin_py=$5
# shellcheck source=../../scripts/lib.sh
. "$(dirname "$0")/../../scripts/lib.sh"
kafka="${CDNWARM_KAFKA_BOOTSTRAP:?}"
token="bad-input-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s\n' "$token" >"$work/token"

start_origin "$python" "$origin_py"
start_named producer "$producer" --kafka_bootstrap="$kafka" --instance="bad$RANDOM" \
  --regions=eu --auth_token_file="$work/token" --max_message_bytes=65536 \
  --max_concurrent_streams=2
producer_addr="127.0.0.1:$grpc_port"
start_named warmer-strict "$warmer" --region=eu
strict_addr="127.0.0.1:$grpc_port"
start_named warmer-redirect "$warmer" --region=eu --allow_private_ranges=127.0.0.1/32 \
  --follow_redirects
redirect_addr="127.0.0.1:$grpc_port"

call() { "$grpcurl" -plaintext -H "authorization: Bearer $token" "$@" 2>&1; }
# refused NEEDLE ARGS...: the grpcurl call fails and its output contains NEEDLE.
refused() {
  local needle=$1 out; shift
  if out=$(call "$@"); then fail "accepted: $* -> $out"; fi
  grep -qF -- "$needle" <<<"$out" || fail "no \"$needle\" in the error for $*: $out"
  echo "ok  refused: $(tr '\n' ' ' <<<"$out" | cut -c1-160)"
}
w=cdnwarm.v1.Producer/Warm
refused 'url: scheme "gopher" is not http or https' -d '{"url": "gopher://example.com/"}' "$producer_addr" $w
refused 'userinfo' -d '{"url": "http://admin@example.com/"}' "$producer_addr" $w
refused 'allow it with --allow_private_ranges=192.168.0.0/16' -d '{"url": "http://192.168.1.1/"}' "$producer_addr" $w
refused 'PermissionDenied' -d '{"url": "http://[::ffff:10.0.0.1]/"}' "$producer_addr" $w
# The standard reads 0xc0.0250.01 as the address 192.168.0.1.
refused 'address 192.168.0.1 is in refused range' -d '{"url": "http://0xc0.0250.01/"}' "$producer_addr" $w
refused 'reserved for loopback (RFC 6761)' -d '{"url": "http://localhost./"}' "$producer_addr" $w
refused 'reserved for loopback (RFC 6761)' -d '{"url": "http://\u24db\u24de\u24d2\u24d0\u24db\u24d7\u24de\u24e2\u24e3/"}' "$producer_addr" $w
refused 'reserved for loopback (RFC 6761)' -d '{"url": "http://api.localhost/"}' "$producer_addr" $w
refused 'reserved for loopback (RFC 6761)' -d '{"url": "http://localhost../"}' "$producer_addr" $w
refused 'IPv4 address with a part out of range' -d '{"url": "http://192.168.0.257/"}' "$producer_addr" $w
refused 'only WarmBatch takes a list' -d '{"url": "https://example.com/", "urls": ["https://example.com/b"]}' "$producer_addr" $w
refused 'nope' -d '{"url": "https://example.com/", "nope": 1}' "$producer_addr" $w
refused 'ttl' -d '{"url": "https://example.com/", "options": {"ttl": "-5s"}}' "$producer_addr" $w
refused 'job_id: is empty' -d '{}' "$producer_addr" cdnwarm.v1.Producer/GetJob
refused 'min_interval' -d '{"job_id": "x", "min_interval": "3600s"}' "$producer_addr" cdnwarm.v1.Producer/WatchJob
refused 'WarmBatch: the stream carried no requests' -d '' "$producer_addr" cdnwarm.v1.Producer/WarmBatch
if out=$("$grpcurl" -plaintext -d '{"url": "https://example.com/"}' "$producer_addr" $w 2>&1); then
  fail "no token accepted"
fi
grep -q Unauthenticated <<<"$out" || fail "no token: $out"
echo "ok  refused without a token: $out"
# The warmer answers a fetch it refused as a FAILED result saying why; no byte was sent.
out=$(call -d '{"url": "http://127.0.0.1:1/"}' "$strict_addr" cdnwarm.v1.Warmer/WarmNow) || fail "$out"
# shellcheck disable=SC2015  # fail when either grep finds nothing, as intended
grep -q '"outcome": "OUTCOME_FAILED"' <<<"$out" && grep -q 'refused before connecting: address 127.0.0.1' <<<"$out" \
  || fail "WarmNow of a loopback address: $out"
echo "ok  WarmNow of a loopback address: FAILED, refused before connecting"

"$python" "$(dirname "$0")/../python/bad_input.py" "$producer_addr" "$work/token" \
  "$strict_addr" "$redirect_addr" "$origin_port" || fail "the Python bad-input suite failed"

for name in producer warmer-strict warmer-redirect; do
  kill -0 "${named_pid[$name]}" 2>/dev/null || fail "$name died: $(tail -5 "$work/$name.log")"
done
reply=$(call -d '{"url": "https://example.com/still-here"}' "$producer_addr" $w) || fail "$reply"
grep -q '"jobId"\|"job_id"' <<<"$reply" || fail "the producer stopped serving: $reply"
grep -rlF -- "$token" "$work"/*.log && fail "the token appears in a log"
echo "ok: every bad input refused with a clear error; the services kept serving"
