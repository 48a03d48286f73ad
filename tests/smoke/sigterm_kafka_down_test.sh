#!/usr/bin/env bash
# SIGTERM with the broker gone. A streamer-bridge whose warmers acked work after the broker
# stopped must still drain and exit 0 within the bound below, which the pod's
# terminationGracePeriodSeconds covers. Its last commits, results and leave of each group
# cannot reach Kafka: they are given up at their deadline, and the unfinished work is read
# again by the group's next member (at-least-once).
# The producer, after it, the same: what it cannot flush it has not answered OK to.
#
# Usage: sigterm_kafka_down_test.sh PRODUCER BRIDGE WARMER PYTHON ORIGIN_PY BROKER_PORT
set -euo pipefail
producer=$1 bridge=$2 warmer=$3 python=$4 origin_py=$5 port=$6
root="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=../../scripts/lib.sh
. "$root/scripts/lib.sh"
instance="down$RANDOM"
start_broker "$port"
start_mesh "$producer" "$bridge" "$warmer" - "$python" "$origin_py" "$kafka" "$instance"
# Slow URLs: the edges hold each fetch 8 s, so every region's warmers hold deliveries when
# the broker goes, and ack them after.
for i in 1 2 3 4; do echo "http://$mesh_host/slow?down=$i&ms=8000"; done >"$work/urls.txt"
"$python" "$root/scripts/cdnwarm" --producer "$producer_addr" warm -f - <"$work/urls.txt" \
  >/dev/null || fail "cdnwarm warm refused the slow URLs"
outstanding() { mesh_subs "$python" | sed -n 's/.*outstanding \([0-9]*\),.*/\1/p' | paste -sd+ | bc; }
deadline=$((SECONDS + 30))
until [ "$(outstanding)" -gt 0 ]; do
  [ $SECONDS -lt $deadline ] || fail "no warmer holds a delivery: $(mesh_subs "$python")"
  sleep 0.2
done
"$lib_dir/kafka.sh" stop "$broker_dir" >/dev/null
# The acks arrive with the broker down: finished work the bridge has not committed.
deadline=$((SECONDS + 60))
until [ "$(outstanding)" -eq 0 ]; do
  [ $SECONDS -lt $deadline ] || fail "the warmers did not ack: $(mesh_subs "$python")"
  sleep 0.2
done
# launch gives every service --drain_timeout=5s. The bound: the drain, the close budget
# (a quarter of the drain, at least 2 s: final commits, last flush of results), and the
# region groups' session timeout (10 s), for which librdkafka may wait to let a consumer
# that could not leave go; with 3 s of slack, 20 s. The manifests give the same sum room.
for name in streamer-bridge producer; do
  p=${named_pid[$name]}
  kill -TERM "$p"
  started=$SECONDS
  while kill -0 "$p" 2>/dev/null; do
    [ $((SECONDS - started)) -lt 20 ] || fail "$name: no exit within 20 s of SIGTERM"
    sleep 0.1
  done
  rc=0
  wait "$p" || rc=$?
  [ "$rc" -eq 0 ] || fail "$name: exit status $rc after SIGTERM"
  grep -q '"msg":"drain finished"' "$work/$name.log" || fail "$name: no drain in its log"
  echo "ok: $name exited 0 within $((SECONDS - started)) s of SIGTERM with the broker down"
done
