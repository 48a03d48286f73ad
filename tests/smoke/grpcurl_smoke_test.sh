#!/usr/bin/env bash
# Starts the smoke server (shared runner only), then talks to it as users and
# Kubernetes would: grpcurl lists services through reflection and calls health, a
# Python grpcio client checks health, curl reads the admin port; finally SIGTERM must
# drain and exit 0.
#
# Usage: grpcurl_smoke_test.sh SMOKE_SERVER GRPCURL PYTHON TESTS_PYTHON_DIR
set -euo pipefail
server=$1 grpcurl=$2 python=$3 pydir=$4

# shellcheck source=../../scripts/lib.sh
. "$(dirname "$0")/../../scripts/lib.sh"
start_service smoke_server "$server"

services=$("$grpcurl" -plaintext "127.0.0.1:$grpc_port" list)
echo "grpcurl list: ${services//$'\n'/ }"
grep -qx 'grpc.health.v1.Health' <<<"$services" || fail "health service not listed"
grep -qx 'grpc.reflection.v1alpha.ServerReflection' <<<"$services" || fail "reflection not listed"

health=$("$grpcurl" -plaintext -d '{"service": ""}' "127.0.0.1:$grpc_port" grpc.health.v1.Health/Check)
grep -q '"status": "SERVING"' <<<"$health" || fail "grpcurl health: $health"
grep -q 'rpc Check' < <("$grpcurl" -plaintext "127.0.0.1:$grpc_port" describe grpc.health.v1.Health) \
  || fail "reflection cannot describe the health service"

"$python" "$pydir/health_check.py" "127.0.0.1:$grpc_port" SERVING || fail "python health check"

metrics=$(curl -fsS "http://127.0.0.1:$admin_port/metrics") || fail "GET /metrics"
grep -q '^cdnwarm_smoke_up 1$' <<<"$metrics" || fail "metrics: $metrics"
grep -qx ready < <(curl -fsS "http://127.0.0.1:$admin_port/readyz") || fail "GET /readyz"

stop_service
# Every line the server wrote is one JSON object.
"$python" -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1]) if l.strip()]' \
  "$service_log" || fail "log is not JSON lines"
echo "ok: reflection, health (grpcurl and grpcio), admin port and SIGTERM drain"
