#!/usr/bin/env bash
# Kafka over TLS through the passed-through librdkafka properties: a broker of its own with
# an SSL listener that requires client certificates, with a CA made here. The producer and
# the bridge reach it only through --kafka_properties (security.protocol=ssl, the CA, a
# client certificate whose key is encrypted); a URL is warmed end to end across it. The key
# password never appears in any log, and a client without a certificate is refused by the
# broker (the producer does not become ready).
#
# Usage: kafka_tls_test.sh PRODUCER BRIDGE WARMER GRPCURL PYTHON ORIGIN_PY
set -euo pipefail
producer=$1 bridge=$2 warmer=$3 grpcurl=$4 python=$5 origin_py=$6
# shellcheck source=../../scripts/lib.sh
. "$(dirname "$0")/../../scripts/lib.sh"
host=$mesh_host
instance="ktls$RANDOM"
password="kp-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"

make_ca kafka-ca
make_cert broker kafka-ca "IP:127.0.0.1"
make_cert client kafka-ca "DNS:cdnwarm"
openssl pkcs12 -export -in "$work/broker.crt" -inkey "$work/broker.key" -name broker \
  -out "$work/broker.p12" -passout "pass:$password" || fail "openssl pkcs12"
openssl pkey -in "$work/client.key" -aes256 -passout "pass:$password" \
  -out "$work/client-encrypted.key" || fail "openssl pkey"

KAFKA_SSL_KEYSTORE="$work/broker.p12" KAFKA_SSL_PASSWORD="$password" \
  KAFKA_SSL_CLIENT_CA="$work/kafka-ca.crt" start_broker 39692
ssl_port=$((${kafka##*:} + 2))  # kafka.sh puts the SSL listener there
cat >"$work/kafka.properties" <<PROPS
bootstrap.servers=127.0.0.1:$ssl_port
security.protocol=ssl
ssl.ca.location=$work/kafka-ca.crt
ssl.certificate.location=$work/client.crt
ssl.key.location=$work/client-encrypted.key
ssl.key.password=$password
PROPS
chmod 600 "$work/kafka.properties"
common=(--kafka_properties="$work/kafka.properties" --instance="$instance")

start_origin "$python" "$origin_py"
start_edge edge-eu-west 127.0.0.3 pop-eu-west
start_named streamer-bridge "$bridge" "${common[@]}"
bridge_addr="127.0.0.1:$grpc_port"
start_named producer "$producer" "${common[@]}" --regions=eu-west
producer_addr="127.0.0.1:$grpc_port"
start_named warmer "$warmer" --region=eu-west --bridge_address="$bridge_addr" \
  --allowed_hosts="$host" --allow_private_ranges=127.0.0.0/8 \
  --edge_pins="$host:80:127.0.0.3:$edge_port"
deadline=$((SECONDS + 60))
until [ "$(mesh_ready "$python" 1)" = 1 ]; do
  [ $SECONDS -lt $deadline ] || fail "the warmer did not subscribe: $(mesh_subs "$python")"
  sleep 0.2
done

reply=$("$grpcurl" -plaintext -d "{\"url\": \"http://$host/static/kafka-tls.html\"}" \
  "$producer_addr" cdnwarm.v1.Producer/Warm) || fail "Warm: $reply"
grep -q '"offset"\|"partition"' <<<"$reply" || grep -q '"jobId"\|"job_id"' <<<"$reply" \
  || fail "Warm reply: $reply"
job=$(sed -n 's/.*"job_id": "\([^"]*\)".*/\1/p' <<<"$reply")
deadline=$((SECONDS + 60))
until state=$("$grpcurl" -plaintext -d "{\"job_id\": \"$job\"}" "$producer_addr" \
  cdnwarm.v1.Producer/GetJob) && grep -q '^  "done": true' <<<"$state"; do
  [ $SECONDS -lt $deadline ] || fail "job not done across the TLS broker: $state"
  sleep 0.3
done
[ "$(region_count "$state" eu-west warmed)" = 1 ] || fail "not WARMED: $state"
echo "a URL was written, fanned out and reported across Kafka over mutual TLS"

grep -rlF -- "$password" "$work"/*.log && fail "the key password appears in a log"
echo "the key password appears in no service log"

# Without a client certificate the broker refuses the TLS handshake: the producer cannot
# reach Kafka, does not start, and says why.
grep -v '^ssl.certificate.location\|^ssl.key' "$work/kafka.properties" >"$work/no-cert.properties"
if out=$(timeout 120 "$producer" --kafka_properties="$work/no-cert.properties" \
  --instance="$instance" --regions=eu-west --grpc_address=127.0.0.1:0 \
  --admin_address=127.0.0.1:0 2>&1); then
  fail "the producer started without a client certificate: $out"
fi
echo "$out" | tail -3
grep -qi 'ssl\|handshake\|certificate' <<<"$out" || fail "no TLS error reported: $out"
echo "a client without a certificate is refused by the broker and the producer says so"
echo "ok: Kafka over mutual TLS through --kafka_properties"
