#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft, combined broker+controller) on loopback,
# for tests, benchmarks and the local mesh. Jars come from Maven Central at the version
# pinned in scripts/kafka/pom.xml and are cached in $CDNWARM_CACHE, outside the source tree.
#
#   kafka.sh fetch                  resolve the jars (idempotent)
#   kafka.sh installed              exit status 0 when the jars are there
#   kafka.sh start DIR [PORT]       format DIR and start a broker on 127.0.0.1:PORT (default
#                                   39092; the controller listens on PORT+1); returns once
#                                   the broker answers metadata requests
#   kafka.sh resume DIR             start the broker of DIR again, keeping its data (outage tests)
#   kafka.sh stop DIR               stop the broker started in DIR and wait for it to exit
#   kafka.sh bootstrap DIR          print the broker's bootstrap address
#   kafka.sh configure DIR TOPIC K=V   set a topic's config (e.g. max.message.bytes=64)
#
# With KAFKA_SSL_KEYSTORE (PKCS12) and KAFKA_SSL_PASSWORD set, `start` adds an SSL listener
# on PORT+2; with KAFKA_SSL_CLIENT_CA (PEM) too, it requires clients there to present a
# certificate signed by that CA.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
CDNWARM_CACHE="${CDNWARM_CACHE:-$HOME/.cache/cdnwarm}"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/kafka/pom.xml")"
LIBS="$CDNWARM_CACHE/kafka-$KAFKA_VERSION/libs"
START_TIMEOUT_S="${KAFKA_START_TIMEOUT_S:-120}"
STOP_TIMEOUT_S="${KAFKA_STOP_TIMEOUT_S:-60}"

log() { printf '[kafka] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

fetch() {
  local stamp="$LIBS/.complete"
  [ -f "$stamp" ] && return
  command -v mvn >/dev/null || die "mvn not found; run scripts/install-deps.sh broker"
  log "resolving Apache Kafka $KAFKA_VERSION from Maven Central into $LIBS"
  mkdir -p "$LIBS"
  mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$LIBS"
  ls "$LIBS"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null || die "kafka jar missing after resolve"
  touch "$stamp"
}

pid_alive() { [ -f "$1/broker.pid" ] && kill -0 "$(cat "$1/broker.pid")" 2>/dev/null; }

# The broker answers when a metadata request lists it; kcat does the asking.
answers() { kcat -L -b "$1" -m 3 2>/dev/null | grep -q '1 brokers:'; }

write_config() {
  local dir=$1 port=$2 cport=$(($2 + 1)) ssl_listener="" ssl_advertised="" ssl_map=""
  if [ -n "${KAFKA_SSL_KEYSTORE:-}" ]; then
    ssl_listener=",SSL://127.0.0.1:$(($2 + 2))"
    ssl_advertised=",SSL://127.0.0.1:$(($2 + 2))"
    ssl_map=",SSL:SSL"
  fi
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport$ssl_listener
advertised.listeners=PLAINTEXT://127.0.0.1:$port$ssl_advertised
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT$ssl_map
log.dirs=$dir/data
num.partitions=6
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
log.flush.interval.messages=9223372036854775807
PROPS
  if [ -n "${KAFKA_SSL_KEYSTORE:-}" ]; then
    cat >>"$dir/server.properties" <<PROPS
ssl.keystore.type=PKCS12
ssl.keystore.location=$KAFKA_SSL_KEYSTORE
ssl.keystore.password=${KAFKA_SSL_PASSWORD:?KAFKA_SSL_PASSWORD}
ssl.key.password=$KAFKA_SSL_PASSWORD
PROPS
    if [ -n "${KAFKA_SSL_CLIENT_CA:-}" ]; then
      cat >>"$dir/server.properties" <<PROPS
ssl.client.auth=required
ssl.truststore.type=PEM
ssl.truststore.location=$KAFKA_SSL_CLIENT_CA
PROPS
    fi
  fi
  cat >"$dir/log4j.properties" <<PROPS
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$dir/broker.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
PROPS
}

start() {
  local dir=${1:?usage: kafka.sh start DIR [PORT]} port=${2:-39092}
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  local bootstrap="127.0.0.1:$port"
  if pid_alive "$dir"; then
    answers "$(cat "$dir/bootstrap")" && { log "already running at $(cat "$dir/bootstrap")"; return; }
    stop "$dir"
  fi
  command -v java >/dev/null || die "java not found; run scripts/install-deps.sh broker"
  command -v kcat >/dev/null || die "kcat not found; run scripts/install-deps.sh broker"
  answers "$bootstrap" && die "something else already answers on $bootstrap; choose another port"
  fetch
  if [ "${KEEP_DATA:-0}" = 1 ] && [ -f "$dir/server.properties" ] && [ -d "$dir/data" ]; then
    log "restarting with the data already in $dir"
  else
    rm -rf "$dir/data"
    write_config "$dir" "$port"
    local cluster_id
    cluster_id=$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=' | cut -c1-22)
    java -cp "$LIBS/*" -Dlog4j.configuration="file:$dir/log4j.properties" \
      kafka.tools.StorageTool format --cluster-id="$cluster_id" -c "$dir/server.properties" \
      >"$dir/format.log" 2>&1 || { cat "$dir/format.log" >&2; die "storage format failed"; }
  fi
  echo "$bootstrap" >"$dir/bootstrap"
  # A broker stopped a moment ago leaves its server-side connections in TIME-WAIT on these
  # ports, and the JVM's bind then fails ("Address already in use"): wait for them to expire
  # (up to a minute), as a test run that restarts the broker does.
  if command -v ss >/dev/null; then
    local tw_deadline=$((SECONDS + 90))
    while [ -n "$(ss -Htan state time-wait "( sport = :$port or sport = :$((port + 1)) )" 2>/dev/null)" ]; do
      [ $SECONDS -lt $tw_deadline ] || break
      sleep 0.5
    done
  fi
  # setsid: the broker outlives the calling shell (CTest fixture steps are separate processes).
  setsid java -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$dir/log4j.properties" -Dkafka.logs.dir="$dir" \
    -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" \
    >"$dir/stdout.log" 2>&1 </dev/null &
  echo $! >"$dir/broker.pid"
  local deadline=$((SECONDS + START_TIMEOUT_S))
  until answers "$bootstrap"; do
    pid_alive "$dir" || { tail -n 30 "$dir/broker.log" "$dir/stdout.log" >&2 || true; die "broker exited during start"; }
    [ $SECONDS -ge $deadline ] && { stop "$dir"; die "broker did not answer within ${START_TIMEOUT_S}s"; }
    sleep 0.5
  done
  log "Apache Kafka $KAFKA_VERSION (KRaft) up at $bootstrap, pid $(cat "$dir/broker.pid"), logs in $dir"
}

stop() {
  local dir=${1:?usage: kafka.sh stop DIR}
  [ -f "$dir/broker.pid" ] || { log "no broker recorded in $dir"; return; }
  local pid
  pid=$(cat "$dir/broker.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    local deadline=$((SECONDS + STOP_TIMEOUT_S))
    while kill -0 "$pid" 2>/dev/null; do
      if [ $SECONDS -ge $deadline ]; then log "broker $pid ignored SIGTERM; killing"; kill -KILL "$pid" 2>/dev/null || true; fi
      sleep 0.2
    done
  fi
  rm -f "$dir/broker.pid"
  log "stopped broker $pid"
}

configure() {
  local dir=${1:?usage: kafka.sh configure DIR TOPIC KEY=VALUE} topic=${2:?topic} kv=${3:?KEY=VALUE}
  java -cp "$LIBS/*" -Dlog4j.configuration="file:$dir/log4j.properties" kafka.admin.ConfigCommand \
    --bootstrap-server "$(cat "$dir/bootstrap")" --alter --entity-type topics \
    --entity-name "$topic" --add-config "$kv" >"$dir/configure.log" 2>&1 ||
    { cat "$dir/configure.log" >&2; die "configure $topic $kv failed"; }
  log "topic $topic: $kv"
}

case "${1:-}" in
  fetch) fetch ;;
  configure) shift; configure "$@" ;;
  installed) [ -f "$LIBS/.complete" ] ;;
  start) shift; start "$@" ;;
  resume) shift; KEEP_DATA=1 start "${1:?usage: kafka.sh resume DIR}" "$(cut -d: -f2 "$1/bootstrap")" ;;
  stop) shift; stop "$@" ;;
  bootstrap) cat "${2:?usage: kafka.sh bootstrap DIR}/bootstrap" ;;
  *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
