# shellcheck shell=bash
# The steady load of the fault suite and the drills, sourced after scripts/lib.sh:
#   start_load PYTHON CLIENT HOST RATE   runs fault_client.py drive into $work/ledger
#                                        (stopped by cleanup if a step fails); sets $driver
#   acked                                URLs the producer said OK to so far
#   progress N [WHAT]                    waits until N more are acknowledged (the stream
#                                        flows again), never for a time
#   term NAME                            SIGTERM to a start_named service: it must exit 0
#                                        within $term_budget s (lib.sh's 5 s drain + 5 s)
#   edge_ledger PYTHON CLIENT            the ledger at the edges (fault_client.py edge-ledger)
#                                        of instance $instance on $kafka, or fail
# shellcheck disable=SC2154  # $work is scripts/lib.sh's, sourced first
start_load() {
  mkdir -p "$work/ledger"
  "$1" "$2" drive "$work/producer.addr" "$3" "$work/ledger" "$4" 2>"$work/driver.log" &
  driver=$!
  helper_pids+=("$driver")
}
acked() { [ -f "$work/ledger/counts" ] && cut -d' ' -f2 "$work/ledger/counts" || echo 0; }
progress() {
  local want=$(($(acked) + $1)) deadline=$((SECONDS + 180))
  until [ "$(acked)" -ge "$want" ]; do
    kill -0 "$driver" 2>/dev/null || fail "the client died: $(cat "$work/driver.log")"
    # A suite's own check while it waits (the cluster suite's supervisor), if it has one.
    if declare -F on_progress >/dev/null; then on_progress; fi
    [ $SECONDS -lt $deadline ] || fail "no progress for 180s ${2:-}: $(acked) acknowledged"
    sleep 0.2
  done
}
edge_ledger() {
  # shellcheck disable=SC2154  # $kafka and $instance are the suite's
  kcat -C -b "$kafka" -t "warm.dlq-$instance" -e -q -J >"$work/dlq.json" 2>"$work/kcat.err" ||
    fail "could not read the dead-letter topic: $(cat "$work/kcat.err")"
  local logs=() r
  for r in "${mesh_regions[@]}"; do logs+=("$work/edge-$r/access.log"); done
  "$1" "$2" edge-ledger "$work/producer.addr" "$work/ledger" us-east,eu-west,ap-south \
    "$work/dlq.json" "${logs[@]}" 300 ||
    fail "the ledger does not balance: $(cat "$work/ledger/edge-ledger.json")"
}
# Where a process that should have exited is stuck: its threads' stacks, cdnwarm's frames
# and the call each waits in (gdb, when installed), so a hang in CI says where it is.
stuck_threads() {
  command -v gdb >/dev/null || return 0
  timeout 60 gdb -p "$1" -batch -ex 'thread apply all bt' 2>/dev/null | awk '
    /^Thread / { if (keep) printf "%s", block; block = $0 "\n"; keep = 0; n = 0; next }
    /^#/ && n < 12 { block = block $0 "\n"; n++; if (/cdnwarm|rd_kafka_[a-z_]*\(/) keep = 1 }
    END { if (keep) printf "%s", block }' | cut -c1-200
}
# SIGTERM as Kubernetes sends it; say is the suite's.
term_budget=${term_budget:-10}
term() {
  local name=$1 pid=${named_pid[$1]} rc=0 start
  start=$(date +%s%N)
  # Already gone (a crash during an earlier event): say so, with its log's end.
  kill -TERM "$pid" 2>/dev/null ||
    fail "$name had exited before its SIGTERM: $(tail -20 "$work/$name.log")"
  while kill -0 "$pid" 2>/dev/null; do
    [ $((($(date +%s%N) - start) / 1000000000)) -lt "$term_budget" ] ||
      fail "$name did not exit within ${term_budget}s of SIGTERM: $(tail -15 "$work/$name.log")
$(stuck_threads "$pid")"
    sleep 0.05
  done
  wait "$pid" || rc=$?
  [ "$rc" -eq 0 ] || fail "$name exited $rc after SIGTERM: $(tail -5 "$work/$name.log")"
  say "   $name exited 0, $((($(date +%s%N) - start) / 1000000))ms after SIGTERM"
}
