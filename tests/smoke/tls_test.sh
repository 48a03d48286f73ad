#!/usr/bin/env bash
# gRPC over TLS between every cdnwarm link and for its clients, with certificates made here
# by a test CA: the bridge requires mutual TLS (warmer and operators present client
# certificates), the producer and the warmer serve TLS. A URL goes in through grpcurl over
# TLS and is warmed through the bridge by a warmer subscribed over mutual TLS; plaintext, an
# unknown CA and a missing client certificate are refused; the Python client works over
# TLS; the web console is served over HTTPS only, with the producer's certificate, and its
# Regions view reaches the bridge over mutual TLS; replacing the producer's certificate
# files is picked up without a restart, by gRPC and the console; a key that does not match
# its certificate stops start-up with an error naming the flag.
#
# Usage: tls_test.sh PRODUCER BRIDGE WARMER GRPCURL PYTHON ORIGIN_PY
set -euo pipefail
producer=$1 bridge=$2 warmer=$3 grpcurl=$4 python=$5 origin_py=$6
# shellcheck source=../../scripts/lib.sh
. "$(dirname "$0")/../../scripts/lib.sh"
kafka="${CDNWARM_KAFKA_BOOTSTRAP:?}"
instance="tls$RANDOM$RANDOM"
host=$mesh_host

make_ca ca1
make_ca ca2
make_cert server ca1 "IP:127.0.0.1,DNS:localhost"
make_cert warmer-client ca1 "DNS:warmer-eu-west"
make_cert operator ca1 "DNS:operator"
make_cert stranger ca2 "DNS:stranger"
make_cert server2 ca2 "IP:127.0.0.1,DNS:localhost"
serve_tls=(--tls_cert_file="$work/server.crt" --tls_key_file="$work/server.key")

# The producer gets its own copy of the server certificate, rotated below.
cp "$work/server.crt" "$work/producer.crt"
cp "$work/server.key" "$work/producer.key"

start_origin "$python" "$origin_py"
start_edge edge-eu-west 127.0.0.3 pop-eu-west
start_named streamer-bridge "$bridge" --kafka_bootstrap="$kafka" --instance="$instance" \
  "${serve_tls[@]}" --tls_client_ca_file="$work/ca1.crt"
bridge_addr="127.0.0.1:$grpc_port"
# A stand-in page: this test is about the console's transport, not its front end.
mkdir -p "$work/console"
echo '<!doctype html><title>cdnwarm console</title>' >"$work/console/index.html"
start_named producer "$producer" --kafka_bootstrap="$kafka" --instance="$instance" \
  --regions=eu-west --tls_cert_file="$work/producer.crt" --tls_key_file="$work/producer.key" \
  --tls_reload_interval=1s --console_address=127.0.0.1:0 --console_dir="$work/console" \
  --console_bridge_address="$bridge_addr" --console_bridge_ca_file="$work/ca1.crt" \
  --console_bridge_cert_file="$work/operator.crt" --console_bridge_key_file="$work/operator.key"
producer_addr="127.0.0.1:$grpc_port"
console_port=$(logged_console_port "$work/producer.log")
[ -n "$console_port" ] || fail "the producer logged no console port: $(cat "$work/producer.log")"
console_url="https://localhost:$console_port"
start_named warmer "$warmer" --region=eu-west --bridge_address="$bridge_addr" \
  --bridge_ca_file="$work/ca1.crt" --bridge_cert_file="$work/warmer-client.crt" \
  --bridge_key_file="$work/warmer-client.key" "${serve_tls[@]}" \
  --allowed_hosts="$host" --allow_private_ranges=127.0.0.0/8 \
  --edge_pins="$host:80:127.0.0.3:$edge_port"
warmer_grpc="127.0.0.1:$grpc_port"

operator=(-cacert "$work/ca1.crt" -cert "$work/operator.crt" -key "$work/operator.key")
cli=("$python" "$lib_dir/cdnwarm" --bridge "$bridge_addr" --producer "$producer_addr")

# The warmer subscribed over mutual TLS, and its region's start position is committed.
deadline=$((SECONDS + 60))
until grep -q 'committed [0-9]' < <("${cli[@]}" --ca-file "$work/ca1.crt" \
  --cert-file "$work/operator.crt" --key-file "$work/operator.key" subs 2>/dev/null); do
  [ $SECONDS -lt $deadline ] || fail "the warmer did not subscribe over mutual TLS: $(cat "$work/warmer.log")"
  sleep 0.2
done
echo "warmer subscribed to the bridge over mutual TLS; the Python client listed it over mutual TLS"

# Refusals: plaintext to a TLS port, a CA the server does not use, no client certificate
# where the bridge requires one, a client certificate from an unknown CA.
expect_refused() {
  local what=$1; shift
  local out
  if out=$("$grpcurl" -max-time 10 "$@" 2>&1); then fail "$what was accepted: $out"; fi
  echo "refused: $what"
}
expect_refused "plaintext to the producer" -plaintext "$producer_addr" list
expect_refused "a producer certificate checked against the wrong CA" \
  -cacert "$work/ca2.crt" "$producer_addr" list
expect_refused "the bridge without a client certificate" -cacert "$work/ca1.crt" "$bridge_addr" list
expect_refused "the bridge with a client certificate of an unknown CA" \
  -cacert "$work/ca1.crt" -cert "$work/stranger.crt" -key "$work/stranger.key" "$bridge_addr" list
grep -q cdnwarm.v1.Bridge < <("$grpcurl" "${operator[@]}" "$bridge_addr" list) \
  || fail "the bridge refused the operator's certificate"
"$grpcurl" -cacert "$work/ca1.crt" -d '{}' "$warmer_grpc" cdnwarm.v1.Warmer/GetStats >/dev/null \
  || fail "the warmer does not serve TLS"

# A URL end to end: grpcurl over TLS to the producer, the warmer through the bridge.
reply=$("$grpcurl" -cacert "$work/ca1.crt" -d "{\"url\": \"http://$host/static/tls.html\"}" \
  "$producer_addr" cdnwarm.v1.Producer/Warm) || fail "Warm over TLS: $reply"
job=$(sed -n 's/.*"job_id": "\([^"]*\)".*/\1/p' <<<"$reply")
"${cli[@]}" --ca-file "$work/ca1.crt" watch "$job" --watch-timeout 60 >"$work/watch.out" \
  || fail "job $job not warmed: $(cat "$work/watch.out")"
grep -q 'eu-west' "$work/watch.out" || fail "watch output: $(cat "$work/watch.out")"
state=$("$grpcurl" -cacert "$work/ca1.crt" -d "{\"job_id\": \"$job\"}" "$producer_addr" \
  cdnwarm.v1.Producer/GetJob)
[ "$(region_count "$state" eu-west warmed)" = 1 ] || fail "not WARMED in eu-west: $state"
echo "a URL went in over TLS and was warmed by a warmer subscribed over mutual TLS"

# The console: HTTPS with the producer's certificate, nothing over plain HTTP, and its API
# reaches the bridge, which requires mutual TLS, with the console's client certificate.
grep -q '<title>cdnwarm console' < <(curl -sS --max-time 10 --cacert "$work/ca1.crt" "$console_url/") \
  || fail "the console's page is not served over HTTPS"
if out=$(curl -sS --max-time 10 "http://127.0.0.1:$console_port/" 2>&1) && grep -q cdnwarm <<<"$out"; then
  fail "the console served its page over plain HTTP: $out"
fi
if curl -sS --max-time 10 --cacert "$work/ca2.crt" "$console_url/" >/dev/null 2>&1; then
  fail "the console's certificate was accepted by a client trusting another CA"
fi
subs=$(curl -sS --max-time 10 --cacert "$work/ca1.crt" -H 'Content-Type: application/json' \
  -d '{}' "$console_url/v1/cdnwarm.v1.Bridge/ListSubscriptions") || fail "console API: $subs"
grep -q '"region": *"eu-west"' <<<"$subs" || fail "ListSubscriptions through the console: $subs"
echo "the console serves HTTPS only, and calls the bridge over mutual TLS"

# Rotation: new certificate files (another CA) replace the producer's; no restart.
cp "$work/server2.key" "$work/producer.key.new"
cp "$work/server2.crt" "$work/producer.crt.new"
mv "$work/producer.key.new" "$work/producer.key"
mv "$work/producer.crt.new" "$work/producer.crt"
deadline=$((SECONDS + 30))
until "$grpcurl" -max-time 5 -cacert "$work/ca2.crt" "$producer_addr" list >/dev/null 2>&1; do
  [ $SECONDS -lt $deadline ] || fail "the producer still serves its old certificate after 30s"
  sleep 0.2
done
expect_refused "the producer's old CA after rotation" -cacert "$work/ca1.crt" "$producer_addr" list
deadline=$((SECONDS + 30))
until curl -sS --max-time 5 --cacert "$work/ca2.crt" "$console_url/" >/dev/null 2>&1; do
  [ $SECONDS -lt $deadline ] || fail "the console still serves its old certificate after 30s"
  sleep 0.2
done
echo "the producer and its console serve the rotated certificate without a restart"

# Start-up checks name the flag.
for bad in "--tls_key_file=$work/stranger.key:does not match --tls_cert_file" \
  "--tls_key_file=$work/missing.key:--tls_key_file=$work/missing.key: cannot be read" \
  "--tls_key_file=$work/server.crt:holds no unencrypted PEM private key"; do
  flag=${bad%%:*} want=${bad#*:}
  if out=$("$producer" --kafka_bootstrap="$kafka" --tls_cert_file="$work/server.crt" "$flag" \
    --grpc_address=127.0.0.1:0 --admin_address=127.0.0.1:0 2>&1); then
    fail "producer started with $flag"
  fi
  grep -qF -- "$want" <<<"$out" || fail "start-up error for $flag does not say \"$want\": $out"
done
if out=$("$bridge" --kafka_bootstrap="$kafka" --tls_client_ca_file="$work/ca1.crt" \
  --grpc_address=127.0.0.1:0 --admin_address=127.0.0.1:0 2>&1); then
  fail "bridge started with a client CA and no certificate"
fi
grep -qF -- "--tls_client_ca_file needs --tls_cert_file" <<<"$out" || fail "client CA alone: $out"
echo "bad certificate flags stop start-up with an error naming the flag"
echo "ok: TLS and mutual TLS on every link, the console over HTTPS, refusals, rotation without restart"
