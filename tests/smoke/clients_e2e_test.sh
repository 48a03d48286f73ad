#!/usr/bin/env bash
# The mesh driven by its clients, on the real broker with real nginx edges:
#   1. a deploy pipeline written in Python (grpcio, stubs generated from proto/) publishes
#      URLs with WarmBatch and follows WatchJob to exact per-region counts; every URL is then
#      a HIT at every region's edge;
#   2. every marked example of the README (grpcurl and the cdnwarm CLI) runs and prints
#      what the README says it does;
#   3. the CLI's errors: unreachable server, unknown job, no URLs, rejected entries;
#   4. a fourth region (sa-east, its own edge and warmer), known to the bridge (--regions)
#      from the start but whose warmer starts only now: its group was anchored when the
#      bridge started, so it warms the whole backlog (and Seek(earliest) from Python replays
#      it once more): afterwards the pipeline's URLs are a HIT at its edge too;
#   5. ListResults through grpcurl and the CLI: every URL's result per region, paged, and
#      the failed ones alone.
#
# Usage: clients_e2e_test.sh PRODUCER BRIDGE WARMER GRPCURL PYTHON ORIGIN_PY [URLS]
set -euo pipefail
producer=$1 bridge=$2 warmer=$3 grpcurl=$4 python=$5 origin_py=$6 urls=${7:-200}
root="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=../../scripts/lib.sh
. "$root/scripts/lib.sh"
kafka="${CDNWARM_KAFKA_BOOTSTRAP:?}"
mesh_bridge_regions=us-east,eu-west,ap-south,sa-east
start_mesh "$producer" "$bridge" "$warmer" "$grpcurl" "$python" "$origin_py" "$kafka" \
  "c$RANDOM$RANDOM"
PATH="$(dirname "$python"):$(dirname "$grpcurl"):$root/scripts:$PATH"
export PATH
export CDNWARM_PRODUCER=$producer_addr CDNWARM_BRIDGE=$bridge_addr

echo "--- 1. a Python pipeline publishes $urls URLs"
mesh_urls "$urls"
"$python" "$root/tests/python/client_e2e.py" pipeline "$producer_addr" "$work/urls.txt" \
  us-east,eu-west,ap-south >"$work/pipeline.out" || fail "Python pipeline: $(cat "$work/pipeline.out")"
cat "$work/pipeline.out"
sed -n 's/^pipeline: job \([^ ]*\) with.*/\1/p' "$work/pipeline.out" >"$work/pipeline-job"
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
out=$(cdnwarm subs --region sa-east) || fail "cdnwarm subs: $out"
grep -q "^region sa-east (group .*): no consumer on this replica, lag [1-9]" <<<"$out" ||
  fail "sa-east, known but with no warmer yet, is not listed with its lag: $out"
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

echo "--- 5. per-URL results"
job=$(cat "$work/pipeline-job")
# grpcurl, one page of 7: every result is a WARMED one of this job, and there is a token.
page=$(grpcurl -plaintext -d "{\"job_id\": \"$job\", \"region\": \"eu-west\", \"page_size\": 7}" \
  "$producer_addr" cdnwarm.v1.Producer/ListResults) || fail "grpcurl ListResults: $page"
"$python" - "$page" "$job" <<'PY' || fail "ListResults page: $page"
import json, sys
page, job = json.loads(sys.argv[1]), sys.argv[2]
results = page["results"]
assert len(results) == 7, len(results)
assert all(r["job_id"] == job and r["region"] == "eu-west" and r["outcome"] == "OUTCOME_WARMED"
           and r["http_status"] == 200 and r["cache_after"] == "CACHE_STATUS_HIT"
           for r in results), results
assert page.get("next_page_token"), "a token for the next page"
PY
# The CLI pages through all of it: one row per URL per region.
out=$(cdnwarm results "$job" --region us-east) || fail "cdnwarm results: $out"
grep -q "^$urls results$" <<<"$out" || fail "cdnwarm results: not $urls results: $(tail -3 <<<"$out")"
grep -q "^us-east    WARMED       200     MISS         HIT pop-us-east" <<<"$out" ||
  fail "cdnwarm results: no proven row: $(head -3 <<<"$out")"
# A job with a failure: --failed lists exactly it, with its reason, and exits 1.
failing=$( (cdnwarm --json warm "http://$mesh_host/status/404" --region eu-west --watch || true) \
  | sed -n 's/.*"job_id": "\([^"]*\)".*/\1/p' | head -1)
[ -n "$failing" ] || fail "no job id for the failing URL"
expect_cli 1 "HTTP 404" results "$failing" --failed
expect_cli 0 "0 results" results "$failing" --outcome WARMED
expect_cli 2 "INVALID_ARGUMENT" results "$failing" --region "Not A Region"
echo "ListResults: pages through grpcurl, every URL through the CLI, the failed one alone"

echo "ok: Python pipeline, README examples, CLI errors, late region, per-URL results"
