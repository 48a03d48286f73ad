#!/usr/bin/env bash
# The README's first command as a newcomer meets it: scripts/run.sh (the mock cluster, then
# a real broker) and bench/run.sh --smoke, each installing and building for itself, in an
# environment without the test tools: an empty $CDNWARM_CACHE and a PATH with no kustomize
# and no k8s venv. Checks each HIT table. A stage of scripts/test.sh (first-run), so CI runs
# it on its fresh clone; it needs the network to Debian, PyPI, the Go proxy and Maven.
#
#   tests/first_run/first_run_test.sh [CHECKOUT] [URLS]
#
# CHECKOUT defaults to this repository (build/run is built there, as the
# README's commands do); any other checkout can be tried, e.g. an older commit's clone.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
checkout="$(cd "${1:-$here/../..}" && pwd)"
urls=${2:-20}

cache=$(mktemp -d)
logs=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
# No tool a test run installs: drop every PATH entry that holds kustomize or lies in a cache
# of cdnwarm's (the default one or $CDNWARM_CACHE as set by the caller).
clean_path=""
IFS=: read -ra entries <<<"$PATH"
for d in "${entries[@]}"; do
  case $d in "$HOME/.cache/cdnwarm"* | "${CDNWARM_CACHE:-/nonexistent}"* | *venv-k8s*) continue ;; esac
  [ -x "$d/kustomize" ] && continue
  clean_path="${clean_path:+$clean_path:}$d"
done
# The caller's environment (certificates, package mirrors) without any CDNWARM_ setting.
unset_cdnwarm=()
while read -r v; do unset_cdnwarm+=(-u "$v"); done < <(compgen -e | grep '^CDNWARM_' || true)
newcomer() {
  env "${unset_cdnwarm[@]}" PATH="$clean_path" CDNWARM_CACHE="$cache" "$@"
}
newcomer bash -c 'command -v kustomize' >/dev/null && { echo "FAIL: kustomize still on PATH" >&2; exit 1; }

fail() { echo "FAIL: $*" >&2; exit 1; }

# check_table LOG: every region's row says URLS warmed, 0 failed, URLS/URLS HIT at its edge.
check_table() {
  local log=$1 rows
  rows=$(awk '/^region +warmed +failed/ { t = 1; next } t && NF == 4 { print }' "$log")
  [ "$(wc -l <<<"$rows")" -eq 3 ] || fail "$log: no table of three regions"
  while read -r region warmed failed hits; do
    # shellcheck disable=SC2015  # fail when any of the three differs, as intended
    [ "$warmed" = "$urls" ] && [ "$failed" = 0 ] && [ "$hits" = "$urls/$urls" ] ||
      fail "$log: region $region: warmed $warmed, failed $failed, HIT $hits (want $urls, 0, $urls/$urls)"
    echo "  $region: $warmed warmed, $failed failed, HIT $hits"
  done <<<"$rows"
}

timed() {
  local name=$1 start=$SECONDS rc=0
  shift
  echo "[first-run] $name (log: $logs/$name.log)"
  (cd "$checkout" && newcomer "$@") >"$logs/$name.log" 2>&1 || rc=$?
  echo "[first-run] $name: exit $rc after $((SECONDS - start)) s"
  if [ "$rc" -ne 0 ]; then tail -5 "$logs/$name.log" >&2; fail "$name exited $rc"; fi
}

timed run-mock env CDNWARM_KAFKA=mock scripts/run.sh "$urls"
grep -q "MOCK cluster" "$logs/run-mock.log" || fail "run-mock: not on the mock cluster"
check_table "$logs/run-mock.log"

timed run-broker env CDNWARM_KAFKA=broker scripts/run.sh "$urls"
grep -q "a real single-node broker" "$logs/run-broker.log" || fail "run-broker: no real broker"
check_table "$logs/run-broker.log"

timed bench-smoke bench/run.sh --smoke --out "$logs/bench"
[ -s "$logs/bench/report.json" ] || fail "bench-smoke: no report.json"
echo "[first-run] ok: scripts/run.sh (mock, broker) and bench/run.sh --smoke from an empty cache"
