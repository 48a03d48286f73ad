#!/usr/bin/env bash
# Starts the smoke server (shared runner only), then talks to it as users and
# Kubernetes would: grpcurl lists services through reflection and calls health, a
# Python grpcio client checks health, curl reads the admin port; finally SIGTERM must
# drain and exit 0.
#
# Usage: grpcurl_smoke_test.sh SMOKE_SERVER GRPCURL PYTHON TESTS_PYTHON_DIR
set -euo pipefail
server=$1 grpcurl=$2 python=$3 pydir=$4

work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; echo "--- server log" >&2; cat "$work/server.log" >&2 || true; exit 1; }

# Port 0: the server picks free ports and logs them; nothing here can collide.
"$server" --grpc_address=127.0.0.1:0 --admin_address=127.0.0.1:0 --drain_timeout=5s \
  >"$work/server.log" 2>&1 &
pid=$!

deadline=$((SECONDS + 30))
until grep -q '"msg":"serving"' "$work/server.log"; do
  kill -0 "$pid" 2>/dev/null || fail "server exited during start"
  [ $SECONDS -lt $deadline ] || fail "server did not log \"serving\" within 30s"
  sleep 0.1
done
line=$(grep '"msg":"serving"' "$work/server.log")
grpc_port=$(sed -n 's/.*"grpc_port":\([0-9]*\).*/\1/p' <<<"$line")
admin_port=$(sed -n 's/.*"admin_port":\([0-9]*\).*/\1/p' <<<"$line")
[ -n "$grpc_port" ] && [ -n "$admin_port" ] || fail "no ports in: $line"

services=$("$grpcurl" -plaintext "127.0.0.1:$grpc_port" list)
echo "grpcurl list: $(echo $services)"
grep -qx 'grpc.health.v1.Health' <<<"$services" || fail "health service not listed"
grep -qx 'grpc.reflection.v1alpha.ServerReflection' <<<"$services" || fail "reflection not listed"

health=$("$grpcurl" -plaintext -d '{"service": ""}' "127.0.0.1:$grpc_port" grpc.health.v1.Health/Check)
grep -q '"status": "SERVING"' <<<"$health" || fail "grpcurl health: $health"
"$grpcurl" -plaintext "127.0.0.1:$grpc_port" describe grpc.health.v1.Health | grep -q 'rpc Check' \
  || fail "reflection cannot describe the health service"

"$python" "$pydir/health_check.py" "127.0.0.1:$grpc_port" SERVING || fail "python health check"

metrics=$(curl -fsS "http://127.0.0.1:$admin_port/metrics") || fail "GET /metrics"
grep -q '^cdnwarm_smoke_up 1$' <<<"$metrics" || fail "metrics: $metrics"
curl -fsS "http://127.0.0.1:$admin_port/readyz" | grep -qx ready || fail "GET /readyz"

kill -TERM "$pid"
deadline=$((SECONDS + 15))
while kill -0 "$pid" 2>/dev/null; do
  [ $SECONDS -lt $deadline ] || fail "no exit within 15s of SIGTERM"
  sleep 0.1
done
rc=0
wait "$pid" || rc=$?
pid=""
[ "$rc" -eq 0 ] || fail "exit status $rc after SIGTERM"
grep -q '"msg":"drain finished"' "$work/server.log" || fail "no drain in log"
# Every line the server wrote is one JSON object.
"$python" -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1]) if l.strip()]' \
  "$work/server.log" || fail "log is not JSON lines"
echo "ok: reflection, health (grpcurl and grpcio), admin port and SIGTERM drain"
