#!/usr/bin/env bash
# Kafka over TLS and SASL through the passed-through librdkafka properties: a broker of its
# own with an SSL listener that requires client certificates, with a CA made here, and a
# SASL_SSL listener that authenticates users with SCRAM-SHA-512.
#   - The producer and the bridge reach it only through --kafka_properties
#     (security.protocol=ssl, the CA, a client certificate whose key is encrypted); a URL is
#     warmed end to end across it and reaches the edge.
#   - Both restart on the SASL_SSL listener (sasl.mechanism=SCRAM-SHA-512, a user stored at
#     format time); a second URL is warmed across it and reaches the edge.
#   - Neither the key password nor the SCRAM password appears in any log.
#   - A client without a certificate, and a client with a wrong SCRAM password, are refused by
#     the broker: the producer does not start, and says why.
#
# Usage: kafka_tls_test.sh PRODUCER BRIDGE WARMER GRPCURL PYTHON ORIGIN_PY
set -euo pipefail
producer=$1 bridge=$2 warmer=$3 grpcurl=$4 python=$5 origin_py=$6
# shellcheck source=../../scripts/lib.sh
. "$(dirname "$0")/../../scripts/lib.sh"
host=$mesh_host
instance="ktls$RANDOM"
password="kp-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
sasl_password="sp-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"

make_ca kafka-ca
make_cert broker kafka-ca "IP:127.0.0.1"
make_cert client kafka-ca "DNS:cdnwarm"
openssl pkcs12 -export -in "$work/broker.crt" -inkey "$work/broker.key" -name broker \
  -out "$work/broker.p12" -passout "pass:$password" || fail "openssl pkcs12"
openssl pkey -in "$work/client.key" -aes256 -passout "pass:$password" \
  -out "$work/client-encrypted.key" || fail "openssl pkey"

KAFKA_SSL_KEYSTORE="$work/broker.p12" KAFKA_SSL_PASSWORD="$password" \
  KAFKA_SSL_CLIENT_CA="$work/kafka-ca.crt" KAFKA_SASL_USERS="cdnwarm=$sasl_password" \
  start_broker 39692
ssl_port=$((${kafka##*:} + 2))   # kafka.sh puts the SSL listener there
sasl_port=$((${kafka##*:} + 3))  # and the SASL_SSL one there
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

# warm_one NAME: warms http://HOST/static/NAME.html, waits for the job, checks it is WARMED
# and that the edge served it.
warm_one() {
  local reply job state deadline=$((SECONDS + 60))
  reply=$("$grpcurl" -plaintext -d "{\"url\": \"http://$host/static/$1.html\"}" \
    "$producer_addr" cdnwarm.v1.Producer/Warm) || fail "Warm: $reply"
  job=$(sed -n 's/.*"job_id": "\([^"]*\)".*/\1/p' <<<"$reply")
  [ -n "$job" ] || fail "Warm reply: $reply"
  until state=$("$grpcurl" -plaintext -d "{\"job_id\": \"$job\"}" "$producer_addr" \
    cdnwarm.v1.Producer/GetJob) && grep -q '^  "done": true' <<<"$state"; do
    [ $SECONDS -lt $deadline ] || fail "job not done across the broker ($1): $state"
    sleep 0.3
  done
  [ "$(region_count "$state" eu-west warmed)" = 1 ] || fail "not WARMED: $state"
  grep -q "GET /static/$1.html " "$work/edge-eu-west/access.log" ||
    fail "/static/$1.html is not in the edge's access log"
}
warm_one kafka-tls
echo "a URL was written, fanned out and reported across Kafka over mutual TLS"

cat >"$work/sasl.properties" <<PROPS
bootstrap.servers=127.0.0.1:$sasl_port
security.protocol=sasl_ssl
ssl.ca.location=$work/kafka-ca.crt
sasl.mechanism=SCRAM-SHA-512
sasl.username=cdnwarm
sasl.password=$sasl_password
PROPS
chmod 600 "$work/sasl.properties"
# The bridge comes back on its address, where the warmer reconnects.
launch_grpc_address=$bridge_addr restart_named streamer-bridge \
  --kafka_properties="$work/sasl.properties"
restart_named producer --kafka_properties="$work/sasl.properties"
producer_addr="127.0.0.1:$grpc_port"
deadline=$((SECONDS + 60))
until [ "$(mesh_ready "$python" 1)" = 1 ]; do
  [ $SECONDS -lt $deadline ] || fail "the warmer did not subscribe again: $(mesh_subs "$python")"
  sleep 0.2
done
warm_one kafka-sasl
echo "a URL was written, fanned out and reported across Kafka over SASL_SSL with SCRAM-SHA-512"

for secret in "$password" "$sasl_password"; do
  grep -rlF -- "$secret" "$work"/*.log && fail "a password appears in a log"
done
echo "neither the key password nor the SCRAM password appears in a service log"

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

sed "s/^sasl.password=.*/sasl.password=wrong-$sasl_password/" "$work/sasl.properties" \
  >"$work/wrong.properties"
if out=$(timeout 120 "$producer" --kafka_properties="$work/wrong.properties" \
  --instance="$instance" --regions=eu-west --grpc_address=127.0.0.1:0 \
  --admin_address=127.0.0.1:0 2>&1); then
  fail "the producer started with a wrong SCRAM password: $out"
fi
echo "$out" | tail -3
grep -qi 'authentication' <<<"$out" || fail "no authentication error reported: $out"
grep -qF -- "$sasl_password" <<<"$out" && fail "the producer printed the password it was given"
echo "a client with a wrong SCRAM password is refused by the broker and the producer says so"
echo "ok: Kafka over mutual TLS and over SASL_SSL/SCRAM-SHA-512 through --kafka_properties"
