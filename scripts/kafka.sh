#!/usr/bin/env bash
# A real Apache Kafka broker (KRaft, combined broker+controller) on loopback, or a cluster
# of them, for tests, benchmarks and the local mesh. Jars come from Maven Central at the
# version pinned in scripts/kafka/pom.xml, or $CDNWARM_KAFKA_VERSION when set (e.g. 3.9.1),
# and are cached in $CDNWARM_CACHE, outside the source tree.
#
#   kafka.sh fetch                  resolve the jars (idempotent)
#   kafka.sh installed              exit status 0 when the jars are there
#   kafka.sh start DIR [PORT]       format DIR and start a broker on 127.0.0.1:PORT (default
#                                   29092; the controller listens on PORT+1); returns once
#                                   the broker answers metadata requests
#   kafka.sh resume DIR             start the broker of DIR again, keeping its data (outage tests)
#   kafka.sh stop DIR               stop the broker started in DIR and wait for it to exit
#   kafka.sh bootstrap DIR          print the bootstrap address (a cluster's: every node's)
#   kafka.sh configure DIR TOPIC K=V   set a topic's config (e.g. max.message.bytes=64)
#   kafka.sh tool DIR CLASS ARGS... run one of Kafka's own tools against DIR's broker(s),
#                                   e.g. org.apache.kafka.tools.TopicCommand --describe
#
# A cluster: N combined nodes (every node a broker and a KRaft voter), node ID (1..N) on
# 127.0.0.1:PORT+2*(ID-1), its controller on the port after. Internal topics are
# replicated min(N,3) times with min.insync.replicas min(N,2).
#
#   kafka.sh cluster-start DIR N [PORT]  format and start N nodes (PORT default 29142, below
#                                        the kernel's ephemeral ports; see tests/CMakeLists.txt);
#                                        returns once all N are in the cluster's metadata
#   kafka.sh cluster-stop DIR            stop every node, controlled, and wait
#   kafka.sh node-kill DIR ID            SIGKILL node ID (a crash) and wait for it to be gone
#   kafka.sh node-stop DIR ID            controlled shutdown of node ID (SIGTERM), waited for
#   kafka.sh node-start DIR ID           start node ID again with its data; returns once the
#                                        cluster lists it
#   kafka.sh leader DIR TOPIC PARTITION  print the node ID leading that partition
#
# With KAFKA_SSL_KEYSTORE (PKCS12) and KAFKA_SSL_PASSWORD set, `start` adds an SSL listener
# on PORT+2; with KAFKA_SSL_CLIENT_CA (PEM) too, it requires clients there to present a
# certificate signed by that CA. With KAFKA_SASL_USERS ("NAME=PASSWORD ...") set, it adds a
# SASL listener on PORT+3 (SASL_SSL with the keystore, else SASL_PLAINTEXT; no client
# certificate asked) where those users log in with SCRAM-SHA-512 (credentials stored when it
# formats) or PLAIN.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
CDNWARM_CACHE="${CDNWARM_CACHE:-$HOME/.cache/cdnwarm}"
KAFKA_VERSION="${CDNWARM_KAFKA_VERSION:-$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/kafka/pom.xml")}"
LIBS="$CDNWARM_CACHE/kafka-$KAFKA_VERSION/libs"
START_TIMEOUT_S="${KAFKA_START_TIMEOUT_S:-120}"
STOP_TIMEOUT_S="${KAFKA_STOP_TIMEOUT_S:-60}"

log() { printf '[kafka] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The jars are complete for this pom and version when the stamp holds their hash (a pom
# that gains a dependency resolves again).
pom_hash() { { cat "$here/kafka/pom.xml"; echo "$KAFKA_VERSION"; } | sha256sum | cut -d' ' -f1; }
fetched() { [ "$(cat "$LIBS/.complete" 2>/dev/null)" = "$(pom_hash)" ]; }

fetch() {
  fetched && return
  command -v mvn >/dev/null || die "mvn not found; run scripts/install-deps.sh broker"
  log "resolving Apache Kafka $KAFKA_VERSION from Maven Central into $LIBS"
  mkdir -p "$LIBS"
  mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies \
    -Dkafka.version="$KAFKA_VERSION" -DincludeScope=runtime -DoutputDirectory="$LIBS"
  ls "$LIBS"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null || die "kafka jar missing after resolve"
  pom_hash >"$LIBS/.complete"
}

pid_alive() { [ -f "$1/broker.pid" ] && kill -0 "$(cat "$1/broker.pid")" 2>/dev/null; }

# The broker(s) answer when a metadata request lists all N ($2, default 1); kcat asks.
answers() { grep -q "^ ${2:-1} brokers:" < <(kcat -L -b "$1" -m 3 2>/dev/null); }

# write_config DIR PORT [NODE_ID VOTERS NODES]: a node's server.properties; by default the
# single node 1, its own only voter.
write_config() {
  local dir=$1 port=$2 cport=$(($2 + 1)) extra_listeners="" extra_advertised="" extra_map=""
  local node_id=${3:-1} voters=${4:-1@127.0.0.1:$(($2 + 1))} nodes=${5:-1}
  local rf=$((nodes < 3 ? nodes : 3)) isr=$((nodes < 2 ? nodes : 2))
  if [ -n "${KAFKA_SSL_KEYSTORE:-}" ]; then
    extra_listeners=",SSL://127.0.0.1:$(($2 + 2))"
    extra_advertised=",SSL://127.0.0.1:$(($2 + 2))"
    extra_map=",SSL:SSL"
  fi
  if [ -n "${KAFKA_SASL_USERS:-}" ]; then
    extra_listeners="$extra_listeners,SASL://127.0.0.1:$(($2 + 3))"
    extra_advertised="$extra_advertised,SASL://127.0.0.1:$(($2 + 3))"
    extra_map="$extra_map,SASL:SASL_$([ -n "${KAFKA_SSL_KEYSTORE:-}" ] && echo SSL || echo PLAINTEXT)"
  fi
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=$node_id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport$extra_listeners
advertised.listeners=PLAINTEXT://127.0.0.1:$port$extra_advertised
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT$extra_map
log.dirs=$dir/data
num.partitions=6
auto.create.topics.enable=false
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
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
  if [ -n "${KAFKA_SASL_USERS:-}" ]; then
    local plain_users="" user
    for user in $KAFKA_SASL_USERS; do plain_users="$plain_users user_${user%%=*}=\"${user#*=}\""; done
    cat >>"$dir/server.properties" <<PROPS
sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN
listener.name.sasl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required$plain_users;
PROPS
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
  # Kafka 4 logs through log4j2, Kafka 3 through reload4j (log4j 1): one file for each.
  cat >"$dir/log4j2.properties" <<PROPS
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = $dir/broker.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
PROPS
}

# The JVM options that point both logging libraries at DIR's files.
log_opts() { echo "-Dlog4j.configuration=file:$1/log4j.properties -Dlog4j2.configurationFile=file:$1/log4j2.properties"; }

# format DIR: a fresh data directory for the server.properties there, in cluster ID $2.
format() {
  rm -rf "$1/data"
  local scram=() user
  for user in ${KAFKA_SASL_USERS:-}; do
    scram+=(--add-scram "SCRAM-SHA-512=[name=${user%%=*},password=${user#*=}]")
  done
  # shellcheck disable=SC2046  # log_opts is two words on purpose
  java -cp "$LIBS/*" $(log_opts "$1") \
    kafka.tools.StorageTool format --cluster-id="$2" -c "$1/server.properties" "${scram[@]}" \
    >"$1/format.log" 2>&1 || { cat "$1/format.log" >&2; die "storage format failed in $1"; }
}

new_cluster_id() { head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=' | cut -c1-22; }

# launch DIR [PORT...]: starts the node configured in DIR once each PORT can be bound (none
# given: at once).
launch() {
  local dir=$1; shift
  # A broker stopped a moment ago may still hold its ports for an instant, and the JVM then
  # fails to bind ("Address already in use"). Wait until a bind made as the JVM makes it
  # (SO_REUSEADDR, which TIME-WAIT connections left behind do not block) succeeds. Waiting
  # for those TIME-WAIT connections to expire instead cost up to a minute per restart.
  local p deadline=$((SECONDS + 60))
  for p in "$@"; do
    until python3 -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))' "$p" 2>/dev/null; do
      [ $SECONDS -lt $deadline ] || { log "port $p is still in use after 60s"; break; }
      sleep 0.2
    done
  done
  # setsid: the broker outlives the calling shell (CTest fixture steps are separate processes).
  # shellcheck disable=SC2046  # log_opts is two words on purpose
  setsid java -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true \
    $(log_opts "$dir") -Dkafka.logs.dir="$dir" \
    -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" \
    >"$dir/stdout.log" 2>&1 </dev/null &
  echo $! >"$dir/broker.pid"
}

# await DIR... -- CHECK...: until CHECK succeeds; fails when a node of DIR... exits first or
# the start timeout passes.
await() {
  local dirs=() d
  while [ "$1" != -- ]; do dirs+=("$1"); shift; done
  shift
  local deadline=$((SECONDS + START_TIMEOUT_S))
  until "$@"; do
    for d in "${dirs[@]}"; do
      pid_alive "$d" || { tail -n 30 "$d/broker.log" "$d/stdout.log" >&2 || true; die "the broker in $d exited during start"; }
    done
    [ $SECONDS -lt $deadline ] || die "no answer within ${START_TIMEOUT_S}s: $*"
    sleep 0.5
  done
}

start() {
  local dir=${1:?usage: kafka.sh start DIR [PORT]} port=${2:-29092}
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
    write_config "$dir" "$port"
    format "$dir" "$(new_cluster_id)"
  fi
  echo "$bootstrap" >"$dir/bootstrap"
  launch "$dir" "$port" $((port + 1))
  if ! (await "$dir" -- answers "$bootstrap"); then
    stop "$dir"
    die "broker did not start"
  fi
  log "Apache Kafka $KAFKA_VERSION (KRaft) up at $bootstrap, pid $(cat "$dir/broker.pid"), logs in $dir"
}

node_dir() { echo "$1/node-$2"; }
node_port() { echo $(($(cat "$1/base-port") + 2 * ($2 - 1))); }
cluster_size() { cat "${1:?}/nodes" 2>/dev/null || die "no cluster in $1 (kafka.sh cluster-start)"; }

cluster_start() {
  local dir=${1:?usage: kafka.sh cluster-start DIR N [PORT]} n=${2:?usage: kafka.sh cluster-start DIR N [PORT]}
  local port=${3:-29142} i voters="" bootstrap=""
  [ "$n" -ge 1 ] 2>/dev/null || die "N must be a number of nodes, 1 or more: $n"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if [ -f "$dir/nodes" ] && answers "$(cat "$dir/bootstrap")" "$(cat "$dir/nodes")"; then
    log "cluster already running at $(cat "$dir/bootstrap")"
    return
  fi
  [ -f "$dir/nodes" ] && cluster_stop "$dir"
  command -v java >/dev/null || die "java not found; run scripts/install-deps.sh broker"
  command -v kcat >/dev/null || die "kcat not found; run scripts/install-deps.sh broker"
  fetch
  for ((i = 1; i <= n; i++)); do
    local p=$((port + 2 * (i - 1)))
    answers "127.0.0.1:$p" && die "something else already answers on 127.0.0.1:$p; choose another port"
    voters="$voters${voters:+,}$i@127.0.0.1:$((p + 1))"
    bootstrap="$bootstrap${bootstrap:+,}127.0.0.1:$p"
  done
  echo "$n" >"$dir/nodes"
  echo "$port" >"$dir/base-port"
  echo "$bootstrap" >"$dir/bootstrap"
  local cluster_id
  cluster_id=$(new_cluster_id)
  local dirs=()
  for ((i = 1; i <= n; i++)); do
    local nd p
    nd=$(node_dir "$dir" "$i") p=$(node_port "$dir" "$i")
    mkdir -p "$nd"
    write_config "$nd" "$p" "$i" "$voters" "$n"
    echo "127.0.0.1:$p" >"$nd/bootstrap"
    format "$nd" "$cluster_id"
    dirs+=("$nd")
  done
  # Every voter at once: the quorum elects a leader only when a majority is up.
  for ((i = 1; i <= n; i++)); do
    launch "$(node_dir "$dir" "$i")" "$(node_port "$dir" "$i")" $(($(node_port "$dir" "$i") + 1))
  done
  if ! (await "${dirs[@]}" -- answers "$bootstrap" "$n"); then
    cluster_stop "$dir"
    die "the cluster did not start"
  fi
  log "Apache Kafka $KAFKA_VERSION (KRaft) cluster of $n up at $bootstrap, logs in $dir/node-*"
}

cluster_stop() {
  local dir=${1:?usage: kafka.sh cluster-stop DIR} n i
  n=$(cluster_size "$dir")
  # Brokers first, in parallel; each waits for its own exit.
  for ((i = 1; i <= n; i++)); do stop "$(node_dir "$dir" "$i")" & done
  wait
}

# Node ID of DIR answers metadata requests itself (a cluster's metadata may still list a
# node that was just killed).
serving() { grep -q "broker $2 at " < <(kcat -L -b "127.0.0.1:$(node_port "$1" "$2")" -m 3 2>/dev/null); }

node_start() {
  local dir=${1:?usage: kafka.sh node-start DIR ID} id=${2:?usage: kafka.sh node-start DIR ID}
  local nd p
  cluster_size "$dir" >/dev/null
  nd=$(node_dir "$dir" "$id") p=$(node_port "$dir" "$id")
  [ -f "$nd/server.properties" ] || die "no node $id in $dir"
  pid_alive "$nd" && { log "node $id is running"; return; }
  launch "$nd"
  await "$nd" -- serving "$dir" "$id"
  log "node $id is back at 127.0.0.1:$p"
}

node_kill() {
  local dir=${1:?usage: kafka.sh node-kill DIR ID} id=${2:?usage: kafka.sh node-kill DIR ID}
  local nd pid
  nd=$(node_dir "$dir" "$id")
  pid_alive "$nd" || die "node $id is not running"
  pid=$(cat "$nd/broker.pid")
  kill -KILL "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  rm -f "$nd/broker.pid"
  log "killed node $id (pid $pid)"
}

leader() {
  local dir=${1:?usage: kafka.sh leader DIR TOPIC PARTITION} topic=${2:?topic} partition=${3:?partition}
  kcat -L -b "$(cat "$dir/bootstrap")" -t "$topic" -m 5 2>/dev/null |
    sed -n "s/^ *partition $partition, leader \([0-9-]*\),.*/\1/p" | head -1 | grep . ||
    die "no leader known for $topic/$partition"
}

tool() {
  local dir=${1:?usage: kafka.sh tool DIR CLASS ARGS...} class=${2:?class}
  shift 2
  fetch
  # shellcheck disable=SC2046  # log_opts is two words on purpose
  java -cp "$LIBS/*" $(log_opts "$(ls -d "$dir"/node-1 2>/dev/null || echo "$dir")") \
    "$class" --bootstrap-server "$(cat "$dir/bootstrap")" "$@"
}

stop() {
  local dir=${1:?usage: kafka.sh stop DIR}
  [ -f "$dir/broker.pid" ] || { log "no broker recorded in $dir"; return; }
  local pid
  pid=$(cat "$dir/broker.pid")
  if kill -0 "$pid" 2>/dev/null; then
    # A broker a test froze (SIGSTOP) would not see the SIGTERM until it runs again.
    kill -CONT "$pid" 2>/dev/null || true
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
  # Kafka 4 moved ConfigCommand from the broker's jar into kafka-tools.
  local class=kafka.admin.ConfigCommand
  # (A jar's file names are stored uncompressed: grep finds them.)
  grep -qa 'org/apache/kafka/tools/ConfigCommand.class' "$LIBS/kafka-tools-$KAFKA_VERSION.jar" &&
    class=org.apache.kafka.tools.ConfigCommand
  # shellcheck disable=SC2046  # log_opts is two words on purpose
  java -cp "$LIBS/*" $(log_opts "$dir") "$class" \
    --bootstrap-server "$(cat "$dir/bootstrap")" --alter --entity-type topics \
    --entity-name "$topic" --add-config "$kv" >"$dir/configure.log" 2>&1 ||
    { cat "$dir/configure.log" >&2; die "configure $topic $kv failed"; }
  log "topic $topic: $kv"
}

case "${1:-}" in
  fetch) fetch ;;
  configure) shift; configure "$@" ;;
  installed) fetched ;;
  start) shift; start "$@" ;;
  resume) shift; KEEP_DATA=1 start "${1:?usage: kafka.sh resume DIR}" "$(cut -d: -f2 "$1/bootstrap")" ;;
  stop) shift; stop "$@" ;;
  bootstrap) cat "${2:?usage: kafka.sh bootstrap DIR}/bootstrap" ;;
  tool) shift; tool "$@" ;;
  cluster-start) shift; cluster_start "$@" ;;
  cluster-stop) shift; cluster_stop "$@" ;;
  node-start) shift; node_start "$@" ;;
  node-stop) shift; stop "$(node_dir "${1:?usage: kafka.sh node-stop DIR ID}" "${2:?ID}")" ;;
  node-kill) shift; node_kill "$@" ;;
  leader) shift; leader "$@" ;;
  *) sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
