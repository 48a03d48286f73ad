# Helpers for the shell tests that start a real service binary. Source it; it sets a trap.
#
#   start_service NAME BINARY [FLAGS...]   starts it on free ports; sets grpc_port, admin_port
#   stop_service                           SIGTERM, waits for exit 0 and a finished drain
#   fail MESSAGE                           prints the service log and exits 1
#   wait_for_port PORT                     waits until 127.0.0.1:PORT accepts connections
#   free_port                              prints a free loopback port

work=$(mktemp -d)
pid=""
helper_pids=()  # other processes a test starts (origins, edges), killed at exit
service_log="$work/service.log"
cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
  for p in "${helper_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; echo "--- service log" >&2; cat "$service_log" >&2 || true; exit 1; }

start_service() {
  local name=$1; shift
  # Port 0: the service picks free ports and logs them; nothing here can collide.
  "$@" --grpc_address=127.0.0.1:0 --admin_address=127.0.0.1:0 --drain_timeout=5s \
    >"$service_log" 2>&1 &
  pid=$!
  local deadline=$((SECONDS + 60))
  until grep -q '"msg":"serving"' "$service_log"; do
    kill -0 "$pid" 2>/dev/null || fail "$name exited during start"
    [ $SECONDS -lt $deadline ] || fail "$name did not log \"serving\" within 60s"
    sleep 0.1
  done
  local line
  line=$(grep '"msg":"serving"' "$service_log")
  grpc_port=$(sed -n 's/.*"grpc_port":\([0-9]*\).*/\1/p' <<<"$line")
  admin_port=$(sed -n 's/.*"admin_port":\([0-9]*\).*/\1/p' <<<"$line")
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
