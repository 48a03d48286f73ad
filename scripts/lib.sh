# shellcheck shell=bash
# Helpers for the scripts and shell tests that start cdnwarm's binaries, test origins and
# nginx edges. Source it; it sets a trap that stops everything it started.
#
#   start_service NAME BINARY [FLAGS...]   starts it on free ports; sets grpc_port, admin_port
#   stop_service                           SIGTERM, waits for exit 0 and a finished drain
#   fail MESSAGE                           prints the service log and exits 1
#   start_named NAME BINARY [FLAGS...]     like start_service for one of several services: log
#                                          in $work/NAME.log, pid in helper_pids and
#                                          named_pid[NAME], admin port in
#                                          named_admin_port[NAME]; sets grpc_port
#   restart_named NAME [FLAGS...]          SIGTERM to a start_named service (it must drain and
#                                          exit 0), then starts it again with its flags and
#                                          FLAGS (later flags win); sets grpc_port
#   start_origin PYTHON ORIGIN_PY          the scriptable test origin; sets origin_port
#   start_static_origin                    an nginx origin for benchmarks; sets origin_port
#   start_edge NAME HOST POP [CERT KEY]    an nginx edge cache (proxy_cache) on HOST in front of
#                                          the origin, answering X-Served-By: POP; sets edge_port
#   start_mesh_edges PYTHON ORIGIN_PY      the test origin and the mesh's three regions' edges;
#                                          sets edge_ports
#   start_broker PORT                      a real Kafka broker for this script; sets kafka
#   make_ca NAME                           a test CA in $work: NAME.crt, NAME.key
#   make_cert NAME CA SAN                  a certificate NAME.crt, NAME.key signed by CA, valid
#                                          for SAN (e.g. IP:127.0.0.1) as server and client
#   wait_for_port PORT                     waits until 127.0.0.1:PORT accepts connections
#   free_port                              prints a free loopback port

lib_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work=$(mktemp -d)
pid=""
helper_pids=()  # other processes a test starts (origins, edges), killed at exit
declare -A named_pid  # start_named NAME -> its pid
declare -A named_cmd  # start_named NAME -> its command line, quoted for eval
declare -A named_admin_port  # start_named NAME -> its admin port (/metrics)
service_log="$work/service.log"
broker_dir=""  # set by start_broker; cleanup stops that broker
# shellcheck disable=SC2015  # `A && B || true` on purpose: nothing may fail the exit trap
cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
  # Last started, first stopped: the warmers before the bridge, every service before the
  # mock cluster it talks to (a service whose Kafka is gone waits for it at exit).
  local i
  for ((i = ${#helper_pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${helper_pids[i]}" 2>/dev/null && wait "${helper_pids[i]}" 2>/dev/null || true
  done
  [ -n "$broker_dir" ] && "$lib_dir/kafka.sh" stop "$broker_dir" >/dev/null 2>&1 || true
  [ "${keep_work:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
# The log first, the one line that says what went wrong last, where a reader looks.
fail() {
  if [ -s "$service_log" ]; then echo "--- service log" >&2; cat "$service_log" >&2; fi
  echo "FAIL: $*" >&2
  exit 1
}
# start_error LOG: why a service stopped, from the last error its JSON log line gives.
start_error() {
  local line
  # awk, not grep: no match is no failure, which an ERR trap (bench/run.sh's) would report.
  line=$(awk '/"level":"error"/ { last = $0 } END { print last }' "$1")
  [ -n "$line" ] || { echo "no error logged"; return; }
  sed -n 's/.*"msg":"\([^"]*\)".*"error":"\(.*\)"}$/\1: \2/p; t; s/.*"msg":"\([^"]*\)".*/\1/p' <<<"$line"
}

start_service() {
  local name=$1; shift
  launch "$service_log" "$name" "$@"
}

start_named() {
  local name=$1; shift
  local saved_pid=$pid
  launch "$work/$name.log" "$name" "$@"
  helper_pids+=("$pid")
  named_pid[$name]=$pid
  named_cmd[$name]=$(printf '%q ' "$@")
  # shellcheck disable=SC2034  # read by the scripts that source this file
  named_admin_port[$name]=$admin_port
  pid=$saved_pid
}

# logged_console_port LOG: the console port a producer logged ("console serving"), or nothing.
logged_console_port() {
  sed -n 's/.*"msg":"console serving".*"console_port":\([0-9]*\).*/\1/p' "$1" | head -1
}

restart_named() {
  local name=$1; shift
  local old=${named_pid[$name]} rc=0 deadline=$((SECONDS + 30))
  kill -TERM "$old"
  while kill -0 "$old" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || fail "$name did not exit within 30s of SIGTERM"
    sleep 0.1
  done
  wait "$old" || rc=$?
  [ "$rc" -eq 0 ] || fail "$name exited $rc after SIGTERM: $(start_error "$work/$name.log")"
  grep -q '"msg":"drain finished"' "$work/$name.log" || fail "$name did not drain"
  mv "$work/$name.log" "$work/$name.before-restart.log"
  local command
  eval "command=(${named_cmd[$name]})"
  start_named "$name" "${command[@]}" "$@"
}

launch() {
  local log=$1 name=$2; shift 2
  # Port 0: the service picks free ports and logs them; nothing here can collide.
  # $launch_grpc_address: a fixed address for a service that must come back on its port.
  # The log is emptied here, not by the child's redirection: that runs after the fork, and
  # a grep below could read the last run's "serving" line from a log of the same name.
  : >"$log"
  "$@" --grpc_address="${launch_grpc_address:-127.0.0.1:0}" --admin_address=127.0.0.1:0 \
    --drain_timeout=5s \
    >>"$log" 2>&1 &
  pid=$!
  local deadline=$((SECONDS + 60))
  until grep -qs '"msg":"serving"' "$log"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      # Its last lines too: a crash logs no error, and the work directory goes at exit.
      { echo "--- the last lines of $log"; tail -20 "$log"; } >&2
      fail "$name exited during start: $(start_error "$log") (log: $log)"
    fi
    [ $SECONDS -lt $deadline ] || fail "$name did not log \"serving\" within 60s"
    sleep 0.1
  done
  local line
  line=$(grep '"msg":"serving"' "$log")
  grpc_port=$(sed -n 's/.*"grpc_port":\([0-9]*\).*/\1/p' <<<"$line")
  admin_port=$(sed -n 's/.*"admin_port":\([0-9]*\).*/\1/p' <<<"$line")
  # shellcheck disable=SC2015  # fail when either port is missing, as intended
  [ -n "$grpc_port" ] && [ -n "$admin_port" ] || fail "no ports in: $line"
}

stop_service() {
  kill -TERM "$pid"
  local deadline=$((SECONDS + 15)) rc=0
  while kill -0 "$pid" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || fail "no exit within 15s of SIGTERM"
    sleep 0.1
  done
  wait "$pid" || rc=$?
  pid=""
  [ "$rc" -eq 0 ] || fail "exit status $rc after SIGTERM"
  grep -q '"msg":"drain finished"' "$service_log" || fail "no drain in log"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_port() {
  local deadline=$((SECONDS + 20))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || fail "nothing listens on port $1 after 20s"
    sleep 0.1
  done
}

start_origin() {
  : >"$work/origin.out"  # before the fork: the grep below must not find the file missing
  "$1" "$2" >"$work/origin.out" &
  helper_pids+=($!)
  local deadline=$((SECONDS + 20))
  until grep -qs '^PORT ' "$work/origin.out"; do
    [ $SECONDS -lt $deadline ] || fail "origin did not start"
    sleep 0.1
  done
  origin_port=$(sed -n 's/^PORT //p' "$work/origin.out")
}

# run_nginx DIR ACCESS_LOG HTTP_BODY: starts an nginx whose files all live in DIR (no
# master, in the foreground, killed at exit) with HTTP_BODY inside its http block.
run_nginx() {
  local dir=$1
  mkdir -p "$dir"
  cat >"$dir/nginx.conf" <<CONF
daemon off;
master_process off;
pid $dir/nginx.pid;
error_log $dir/error.log;
events {}
http {
  access_log $2;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
$3
}
CONF
  nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >/dev/null 2>&1 &
  helper_pids+=($!)
  # shellcheck disable=SC2034  # read by the scripts that source this file
  named_pid[$(basename "$dir")]=$!
}

# start_static_origin: an nginx origin that answers every path with a small cacheable body
# (for benchmarks, where the Python test origin would be the bottleneck); sets origin_port.
start_static_origin() {
  origin_port=$(free_port)
  run_nginx "$work/origin" off "
  server {
    listen 127.0.0.1:$origin_port;
    default_type text/plain;
    location / {
      add_header Cache-Control \"public, max-age=3600\" always;
      return 200 \"cdnwarm benchmark body\\n\";
    }
  }"
  wait_for_port "$origin_port"
}

start_edge() {
  local name=$1 host=$2 pop=$3 dir="$work/$1" listen tls=""
  # $edge_port_fixed: come back on a known port; $edge_location_extra: more directives in
  # the edge's location (e.g. limit_req for a slow edge), $edge_http_extra at http level.
  edge_port=${edge_port_fixed:-$(free_port)}
  listen="$host:$edge_port"
  # With CERT and KEY: TLS and HTTP/2 (ALPN) instead of plain HTTP/1.1.
  if [ $# -ge 5 ]; then
    listen="$listen ssl http2"
    tls="ssl_certificate $4; ssl_certificate_key $5;"
  fi
  mkdir -p "$dir/cache"
  run_nginx "$dir" "$dir/access.log" "
  ${edge_http_extra:-}
  proxy_cache_path $dir/cache levels=1:2 keys_zone=$name:1m;
  server {
    listen $listen;
    $tls
    keepalive_requests 1000000;  # a warmer's connection lives long; nginx's default is 1000
    location / {
      proxy_pass http://127.0.0.1:$origin_port;
      proxy_cache $name;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
      add_header X-Cache-Status \$upstream_cache_status always;
      add_header X-Served-By $pop always;
      ${edge_location_extra:-}
    }
  }"
  local deadline=$((SECONDS + 20))
  until (exec 3<>"/dev/tcp/$host/$edge_port") 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || fail "edge $name did not listen on $host:$edge_port"
    sleep 0.1
  done
}

# The demo/e2e mesh: one origin, three regions each with its own nginx edge on its own
# loopback address, a streamer-bridge, a producer and warmers (two in us-east), all pinned.
#   start_mesh BIN_DIR_PRODUCER BRIDGE WARMER GRPCURL PYTHON ORIGIN_PY KAFKA INSTANCE [bridge flags]
# Sets mesh_host, mesh_regions, edge_host, edge_ports, bridge_addr, producer_addr, warmer_addr
# and returns once every warmer is subscribed.
mesh_host=cdn.example.test
mesh_regions=(us-east eu-west ap-south)
declare -A edge_host=([us-east]=127.0.0.2 [eu-west]=127.0.0.3 [ap-south]=127.0.0.4)
declare -A edge_ports warmer_addr
mesh_warmer_flags=()  # extra warmer flags, e.g. (--verify=false)
mesh_kafka_flags=()   # extra producer and bridge flags, e.g. (--create_topics=false)
mesh_bridge_regions=us-east,eu-west,ap-south  # the bridge's --regions (known regions)
mesh_producer_flags=()  # extra producer flags, e.g. (--auth_token_file=F)
mesh_console_dir=""     # set: the producer serves this built console, calling the mesh's bridge
mesh_cli_flags=()       # flags of the cdnwarm CLI that mesh_subs runs, e.g. (--token-file F)
# start_mesh_edges PYTHON ORIGIN_PY: the test origin (unless the caller started one: the
# benchmarks start start_static_origin) and one nginx edge per region of mesh_regions, on its
# edge_host, answering X-Served-By: pop-REGION; sets edge_ports.
start_mesh_edges() {
  local r
  [ -n "${origin_port:-}" ] || start_origin "$1" "$2"
  for r in "${mesh_regions[@]}"; do
    start_edge "edge-$r" "${edge_host[$r]}" "pop-$r"
    edge_ports[$r]=$edge_port
  done
}

start_mesh() {
  # $4, GRPCURL, is not used here.
  local producer=$1 bridge=$2 warmer=$3 python=$5 origin_py=$6 kafka=$7 instance=$8
  shift 8
  local r n w
  start_mesh_edges "$python" "$origin_py"
  local common=(--kafka_bootstrap="$kafka" --instance="$instance" "${mesh_kafka_flags[@]}")
  start_named streamer-bridge "$bridge" "${common[@]}" --regions="$mesh_bridge_regions" "$@"
  bridge_addr="127.0.0.1:$grpc_port"
  local console=()
  [ -z "$mesh_console_dir" ] || console=(--console_address=127.0.0.1:0
    --console_dir="$mesh_console_dir" --console_bridge_address="$bridge_addr")
  # The producer may also fetch sitemaps and playlists from the local origin.
  start_named producer "$producer" "${common[@]}" --regions=us-east,eu-west,ap-south \
    --allowed_hosts="$mesh_host,127.0.0.1" --allow_private_ranges=127.0.0.1/32 \
    "${console[@]}" "${mesh_producer_flags[@]}"
  # shellcheck disable=SC2034  # read by the scripts that source this file
  console_port=$(logged_console_port "$work/producer.log")
  # shellcheck disable=SC2034  # read by the scripts that source this file
  producer_addr="127.0.0.1:$grpc_port"
  for w in us-east:1 us-east:2 eu-west:1 ap-south:1; do
    r=${w%%:*} n=${w##*:}
    start_named "warmer-$r-$n" "$warmer" --region="$r" --bridge_address="$bridge_addr" \
      --replica_id="warmer-$r-$n" --allowed_hosts="$mesh_host" --allow_private_ranges=127.0.0.0/8 \
      --edge_pins="$mesh_host:80:${edge_host[$r]}:${edge_ports[$r]}" "${mesh_warmer_flags[@]}"
    # shellcheck disable=SC2034  # read by the scripts that source this file
    warmer_addr[$w]="127.0.0.1:$grpc_port"
  done
  # Every warmer subscribed and every region's start position committed (the bridge's
  # default auto.offset.reset is latest) before URLs go in, so no region starts after them
  # and the shared region's replicas both get a share from the start.
  local deadline=$((SECONDS + 60))
  until [ "$(mesh_ready "$python" 4)" = "${#mesh_regions[@]}" ]; do
    [ $SECONDS -lt $deadline ] || fail "not every warmer subscribed: $(mesh_subs "$python")"
    sleep 0.2
  done
}

make_ca() {
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=cdnwarm test CA $1" \
    -keyout "$work/$1.key" -out "$work/$1.crt" 2>/dev/null || fail "openssl: CA $1"
}

make_cert() {
  openssl req -new -newkey rsa:2048 -nodes -subj "/CN=$1" -keyout "$work/$1.key" \
    -out "$work/$1.csr" 2>/dev/null || fail "openssl: request $1"
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$3" >"$work/$1.ext"
  openssl x509 -req -in "$work/$1.csr" -CA "$work/$2.crt" -CAkey "$work/$2.key" \
    -CAcreateserial -days 2 -extfile "$work/$1.ext" -out "$work/$1.crt" 2>/dev/null \
    || fail "openssl: certificate $1"
}

# start_broker PORT: a real single-node KRaft broker in $work/kafka on 127.0.0.1:PORT (jars
# fetched if missing), stopped at exit; sets kafka (its bootstrap). The broker's ports lie
# in the ephemeral range, where a client connection may hold one for a while: when the
# broker cannot start, PORT+10 and then PORT+20 are tried.
start_broker() {
  "$lib_dir/kafka.sh" fetch
  broker_dir="$work/kafka"
  local port=$1 try
  for try in 1 2 3; do
    "$lib_dir/kafka.sh" start "$broker_dir" "$port" && break
    [ "$try" -lt 3 ] || fail "no Kafka broker could start on ports $1, $(($1 + 10)), $(($1 + 20))"
    port=$((port + 10))
  done
  kafka=$("$lib_dir/kafka.sh" bootstrap "$broker_dir")
}

# start_kafka_mock BINARY INSTANCE: librdkafka's mock cluster with the instance's topics;
# sets kafka (its bootstrap) and mesh_kafka_flags (the services must not create topics).
start_kafka_mock() {
  "$1" "warm.requests-$2,warm.results-$2,warm.dlq-$2" 6 >"$work/kafka-mock.out" &
  helper_pids+=($!)
  until grep -qs '^BOOTSTRAP ' "$work/kafka-mock.out"; do
    kill -0 "${helper_pids[-1]}" 2>/dev/null || fail "the mock cluster did not start"
    sleep 0.1
  done
  kafka=$(sed -n 's/^BOOTSTRAP //p' "$work/kafka-mock.out")
  mesh_kafka_flags=(--create_topics=false)
}

# mesh_subs PYTHON: the streamer-bridge's subscriptions (cdnwarm subs).
mesh_subs() {
  "$1" "$lib_dir/cdnwarm" --bridge "$bridge_addr" "${mesh_cli_flags[@]}" subs
}

# mesh_ready PYTHON SUBSCRIBERS: the number of regions consumed on the bridge whose partitions
# all have a committed start position, or 0 while fewer than SUBSCRIBERS warmers are
# subscribed.
mesh_ready() {
  mesh_subs "$1" | awk -v want="$2" '
    /^region / { r++; away[r] = /no consumer on this replica/ }
    /^  subscriber / { s++ }
    /^  partition / { p[r]++ }
    /committed -1,/ { bad = 1 }
    END { n = 0; for (i = 1; i <= r; i++) if (p[i] > 0 && !away[i]) n++
          print (bad || s < want) ? 0 : n }'
}

# mesh_urls N: writes $work/urls.txt (one URL per line) and $work/batch.json (WarmBatch input).
mesh_urls() {
  local i
  for i in $(seq 1 "$1"); do echo "http://$mesh_host/static/page-$i.html"; done >"$work/urls.txt"
  sed 's/.*/{"url": "&"}/' "$work/urls.txt" >"$work/batch.json"
}

# edge_hits REGION [URL_FILE]: how many URLs of the file (default $work/urls.txt) a plain GET
# at the region's edge finds HIT (one curl, one connection).
edge_hits() {
  sed 's/.*/url = "&"/' "${2:-$work/urls.txt}" |
    curl -s -o /dev/null -D - --connect-to "$mesh_host:80:${edge_host[$1]}:${edge_ports[$1]}" -K - |
    tr -d '\r' | grep -ci '^X-Cache-Status: HIT$' || true
}

# region_count STATE REGION FIELD: a per-region count from GetJob's JSON (zeros are omitted).
region_count() {
  local v
  v=$(grep -A8 "\"region\": \"$2\"" <<<"$1" | sed -n "s/.*\"$3\": \"\([0-9]*\)\".*/\1/p" | head -1)
  echo "${v:-0}"
}
