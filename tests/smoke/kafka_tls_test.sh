#!/usr/bin/env bash
# Kafka over TLS and SASL through the passed-through librdkafka properties: a broker of its
# own with an SSL listener that requires client certificates, with a CA made here, and a
# SASL_SSL listener that authenticates users with SCRAM-SHA-512.
#   - The producer and the bridge reach it only through --kafka_properties
#     (security.protocol=ssl, the CA, a client certificate whose key is encrypted); a URL is
#     warmed end to end across it and reaches the edge.
#   - Both restart on the SASL_SSL listener, logging in with PLAIN, then with SCRAM-SHA-512
#     (a user stored at format time); a URL is warmed across each and reaches the edge, and
#     a wrong password is refused. On Kafka 4.0 or later with a librdkafka before 2.6.1,
#     which cannot log in there with SCRAM (librdkafka#4895), the producer must refuse to
#     start with SCRAM and say why instead; `compat.kafka_3_9_tls_sasl` runs this test on
#     Kafka 3.9, where it logs in.
#   - Neither the key password nor the SASL password appears in any log.
#   - A client without a certificate is refused by the broker: the producer does not start,
#     and says why.
#
# Usage: kafka_tls_test.sh PRODUCER BRIDGE WARMER GRPCURL PYTHON ORIGIN_PY [PORT]
#   (the broker's port, default 39692: SSL on PORT+2, SASL_SSL on PORT+3)
set -euo pipefail
producer=$1 bridge=$2 warmer=$3 grpcurl=$4 python=$5 origin_py=$6 port=${7:-39692}
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
  start_broker "$port"
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

# start_producer_once PROPERTIES: the producer's output when it does not start, or fails.
start_producer_once() {
  local out
  if out=$(timeout 120 "$producer" --kafka_properties="$1" --instance="$instance" \
    --regions=eu-west --grpc_address=127.0.0.1:0 --admin_address=127.0.0.1:0 2>&1); then
    fail "the producer started with $1: $out"
  fi
  echo "$out"
}
# Without a client certificate the broker refuses the TLS handshake: the producer cannot
# reach Kafka, does not start, and says why.
grep -v '^ssl.certificate.location\|^ssl.key' "$work/kafka.properties" >"$work/no-cert.properties"
out=$(start_producer_once "$work/no-cert.properties")
echo "$out" | tail -3
grep -q 'refused this client: .*\(SSL\|handshake\|certificate\)' <<<"$out" ||
  fail "no TLS refusal reported: $out"
echo "a client without a certificate is refused by the broker and the producer says so"

# SASL_SSL: the same services restart on the SASL listener, logging in as cdnwarm.
# librdkafka before 2.6.1 cannot log in with SCRAM to Kafka 4.0 or later (librdkafka#4895):
# there the producer must refuse to start and say so, and PLAIN over TLS (what its note
# advises) must work.
broker_version=$(sed -n 's/.*Kafka version: \([0-9][0-9.]*\).*/\1/p' "$broker_dir/broker.log" | head -1)
rdkafka_version=$(pkg-config --modversion rdkafka)
scram_works=1
if [ "${broker_version%%.*}" -ge 4 ] &&
  [ "$(printf '%s\n' "$rdkafka_version" 2.6.1 | sort -V | head -1)" != 2.6.1 ]; then
  scram_works=0
fi
for mechanism in PLAIN SCRAM-SHA-512; do
  props="$work/sasl-$mechanism.properties"
  cat >"$props" <<PROPS
bootstrap.servers=127.0.0.1:$sasl_port
security.protocol=sasl_ssl
ssl.ca.location=$work/kafka-ca.crt
sasl.mechanism=$mechanism
sasl.username=cdnwarm
sasl.password=$sasl_password
PROPS
  chmod 600 "$props"
  if [ "$mechanism" = SCRAM-SHA-512 ] && [ $scram_works = 0 ]; then
    out=$(start_producer_once "$props")
    grep -q "cannot log in with SCRAM-SHA-512 to Kafka 4.0 or later" <<<"$out" ||
      fail "SCRAM on Kafka $broker_version with librdkafka $rdkafka_version: no note saying why: $out"
    echo "SCRAM-SHA-512 on Kafka $broker_version with librdkafka $rdkafka_version: refused, and the producer says why"
    continue
  fi
  # The bridge comes back on its address, where the warmer reconnects.
  launch_grpc_address=$bridge_addr restart_named streamer-bridge --kafka_properties="$props"
  restart_named producer --kafka_properties="$props"
  producer_addr="127.0.0.1:$grpc_port"
  deadline=$((SECONDS + 60))
  until [ "$(mesh_ready "$python" 1)" = 1 ]; do
    [ $SECONDS -lt $deadline ] || fail "the warmer did not subscribe again: $(mesh_subs "$python")"
    sleep 0.2
  done
  warm_one "kafka-sasl-$mechanism"
  echo "a URL was written, fanned out and reported across Kafka over SASL_SSL with $mechanism"

  sed "s/^sasl.password=.*/sasl.password=wrong-$sasl_password/" "$props" >"$work/wrong.properties"
  out=$(start_producer_once "$work/wrong.properties")
  echo "$out" | tail -2
  grep -qi 'refused this client: .*authentication' <<<"$out" ||
    fail "no authentication refusal reported: $out"
  grep -qF -- "$sasl_password" <<<"$out" && fail "the producer printed the password it was given"
  echo "a wrong $mechanism password is refused by the broker, and the producer says so"
done

for secret in "$password" "$sasl_password"; do
  grep -rlF -- "$secret" "$work"/*.log && fail "a password appears in a log"
done
echo "neither the key password nor the SASL password appears in a service log"
echo "ok: Kafka over mutual TLS and over SASL_SSL (PLAIN$([ $scram_works = 1 ] && echo ", SCRAM-SHA-512")) through --kafka_properties"
