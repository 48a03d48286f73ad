#!/usr/bin/env bash
# The mesh driven by its clients, on the real broker with real nginx edges:
#   1. a deploy pipeline written in Python (grpcio, stubs generated from proto/) publishes
#      URLs with WarmBatch and follows WatchJob to exact per-region counts; every URL is then
#      a HIT at every region's edge;
#   2. every marked example of the README (grpcurl and the cdnwarm CLI) runs and prints
#      what the README says it does;
#   3. the CLI's errors: unreachable server, unknown job, no URLs, rejected entries;
#   4. a fourth region (sa-east, its own edge and warmer) joins later: it starts at the end
#      of the topic (the bridge's default), and Seek(earliest) from Python makes it warm the
#      whole backlog: afterwards the pipeline's URLs are a HIT at its edge too.
#
# Usage: clients_e2e_test.sh PRODUCER BRIDGE WARMER GRPCURL PYTHON ORIGIN_PY [URLS]
set -euo pipefail
producer=$1 bridge=$2 warmer=$3 grpcurl=$4 python=$5 origin_py=$6 urls=${7:-200}
root="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=../../scripts/lib.sh
. "$root/scripts/lib.sh"
kafka="${CDNWARM_KAFKA_BOOTSTRAP:?}"
start_mesh "$producer" "$bridge" "$warmer" "$grpcurl" "$python" "$origin_py" "$kafka" \
  "c$RANDOM$RANDOM"
export PATH="$(dirname "$python"):$(dirname "$grpcurl"):$root/scripts:$PATH"
export CDNWARM_PRODUCER=$producer_addr CDNWARM_BRIDGE=$bridge_addr

echo "--- 1. a Python pipeline publishes $urls URLs"
mesh_urls "$urls"
"$python" "$root/tests/python/client_e2e.py" pipeline "$producer_addr" "$work/urls.txt" \
  us-east,eu-west,ap-south || fail "Python pipeline"
for r in "${mesh_regions[@]}"; do
  hits=$(edge_hits "$r")
  [ "$hits" -eq "$urls" ] || fail "only $hits of $urls URLs are a HIT at $r's edge"
done
echo "every URL is a HIT at every region's edge"

echo "--- 2. the README's examples"
PRODUCER=$producer_addr BRIDGE=$bridge_addr WARMER=${warmer_addr[eu-west:1]} \
  ORIGIN="http://127.0.0.1:$origin_port" \
  "$python" "$root/tests/python/readme_examples.py" "$root/README.md" || fail "README examples"

echo "--- 3. the CLI's errors"
# expect_cli STATUS TEXT ARGS...: cdnwarm ARGS exits with STATUS and prints TEXT.
expect_cli() {
  local want=$1 text=$2 out rc=0
  shift 2
  out=$(cdnwarm "$@" 2>&1 </dev/null) || rc=$?
  [ "$rc" -eq "$want" ] || fail "cdnwarm $*: exit $rc, not $want: $out"
  grep -qF -- "$text" <<<"$out" || fail "cdnwarm $*: no '$text' in: $out"
}
expect_cli 2 "UNAVAILABLE" --producer 127.0.0.1:1 --timeout 5 job j-x
expect_cli 2 "NOT_FOUND" job j-no-such-job
expect_cli 2 "no URLs" warm
expect_cli 2 "invalid choice" frobnicate
expect_cli 1 "rejected #1 'ftp://cdn.example.test/x': url: scheme \"ftp\" is not http or https" \
  warm "http://$mesh_host/static/ok.html" ftp://cdn.example.test/x
expect_cli 2 "INVALID_ARGUMENT" seek no_such_region --earliest
echo "the CLI names what was wrong and exits non-zero"

echo "--- 4. a new region joins later and warms the backlog"
edge_host[sa-east]=127.0.0.5
start_edge edge-sa-east 127.0.0.5 pop-sa-east
edge_ports[sa-east]=$edge_port
start_named warmer-sa-east-1 "$warmer" --region=sa-east --bridge_address="$bridge_addr" \
  --replica_id=warmer-sa-east-1 --allowed_hosts="$mesh_host" --allow_private_ranges=127.0.0.0/8 \
  --edge_pins="$mesh_host:80:127.0.0.5:$edge_port"
"$python" "$root/tests/python/client_e2e.py" join-region "$bridge_addr" sa-east \
  || fail "sa-east did not work off the backlog"
hits=$(edge_hits sa-east)
[ "$hits" -eq "$urls" ] || fail "only $hits of $urls backlog URLs are a HIT at sa-east's edge"
echo "sa-east: all $urls backlog URLs are a HIT at its edge"

echo "ok: Python pipeline, README examples, CLI errors, late region with Seek(earliest)"
