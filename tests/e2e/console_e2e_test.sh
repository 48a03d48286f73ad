#!/usr/bin/env bash
# The web console end to end: the real mesh (producer with its console, bridge, warmers for
# three regions on nginx edges) on the real test broker, with a producer token and an
# operators' token on the bridge; console_e2e.mjs drives Debian's Chromium through it.
# When the page asks (a line on a FIFO), the producer is restarted on the same console port
# mid-job: SIGTERM, a clean drain, a new process. Afterwards the warmed URLs must be a HIT
# at every region's edge. Screenshots go to OUT.
#
# Usage: console_e2e_test.sh PRODUCER BRIDGE WARMER PYTHON ORIGIN_PY CONSOLE_DIR OUT
set -euo pipefail
producer=$1 bridge=$2 warmer=$3 python=$4 origin_py=$5 console_dir=$6 out=$7
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../../scripts/lib.sh
. "$here/../../scripts/lib.sh"
chromium=${CDNWARM_CHROMIUM:-/usr/bin/chromium}
[ -f "$console_dir/index.html" ] ||
  fail "no built console in $console_dir: install Node.js and npm (scripts/install-deps.sh test), then build"
[ -x "$chromium" ] || fail "no $chromium: scripts/install-deps.sh test installs Debian's chromium"
command -v node >/dev/null 2>&1 || fail "no node: scripts/install-deps.sh test installs Node.js"
kafka="${CDNWARM_KAFKA_BOOTSTRAP:?}"

token() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
token >"$work/producer.token"
token >"$work/operator.token"
mesh_console_dir=$console_dir
mesh_producer_flags=(--auth_token_file="$work/producer.token")
mesh_cli_flags=(--token-file "$work/operator.token")
start_mesh "$producer" "$bridge" "$warmer" "" "$python" "$origin_py" "$kafka" "c$RANDOM$RANDOM" \
  --operator_token_file="$work/operator.token"
[ -n "$console_port" ] || fail "the producer logged no console port: $(start_error "$work/producer.log")"

# 49 cacheable URLs, three of them slow (the job is still running when the page reloads).
run=$RANDOM$RANDOM
for i in $(seq 1 46); do echo "http://$mesh_host/static/console-$run-$i.html"; done >"$work/urls.txt"
for i in 1 2 3; do echo "http://$mesh_host/slow?ms=6000&run=$run&i=$i"; done >>"$work/urls.txt"
rm -rf "$out" && mkdir -p "$out"
# The page's restart requests: held open read-write here, so its writes never block and
# the loop below can wait for them and for the page's end at once.
mkfifo "$work/restart.fifo"
exec 3<>"$work/restart.fifo"
CONSOLE_URL="http://127.0.0.1:$console_port" PRODUCER_TOKEN=$(cat "$work/producer.token") \
  OPERATOR_TOKEN=$(cat "$work/operator.token") URLS_FILE="$work/urls.txt" \
  BAD_URL="ftp://$mesh_host/not-http" NOT_FOUND_URL="http://$mesh_host/status/404?run=$run" \
  REGIONS=$(IFS=,; echo "${mesh_regions[*]}") OUT="$out" CHROMIUM="$chromium" \
  RESTART_FIFO="$work/restart.fifo" RESTARTED_FILE="$work/restarted" \
  CONSOLE_SRC="$here/../../console" node "$here/console_e2e.mjs" &
node_pid=$!
helper_pids+=("$node_pid")
restarts=0
while kill -0 "$node_pid" 2>/dev/null; do
  read -r -t 1 request <&3 || continue
  [ "$request" = restart-producer ] || fail "unknown request from the page: $request"
  restart_named producer --console_address="127.0.0.1:$console_port"
  restarts=$((restarts + 1))
  echo "the producer restarted on console port $console_port"
  echo "$restarts" >"$work/restarted"
done
wait "$node_pid" || fail "the console failed a check"
[ "$restarts" -eq 1 ] || fail "the page asked for $restarts producer restarts, not 1"

want=$(wc -l <"$work/urls.txt")
for r in "${mesh_regions[@]}"; do
  hits=$(edge_hits "$r")
  [ "$hits" -eq "$want" ] || fail "only $hits of $want URLs are a HIT at $r's edge"
  echo "$r: $want of $want URLs are a HIT at its edge"
done
echo "ok: the console warmed, watched and inspected; screenshots in $out"
