#!/usr/bin/env bash
# What a new user meets when something is wrong, tried on every README command: each ends
# with one line that says what is wrong and what to do, and a non-zero exit status. Also
# --help (the service's own and the shared flags, with defaults, none of gRPC's or Abseil's)
# and --version (version and git commit).
#
# Usage: newcomer_errors_test.sh PRODUCER BRIDGE WARMER PYTHON
set -euo pipefail
producer=$1 bridge=$2 warmer=$3 python=$4
root="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=../../scripts/lib.sh
. "$root/scripts/lib.sh"

# expect_last NAME PATTERN COMMAND...: COMMAND fails, and the last line it prints (stdout
# and stderr together) matches the extended regular expression PATTERN. Each call has its own
# output file, so two can run side by side.
expect_last() {
  local name=$1 pattern=$2 rc=0 last out="$work/out.$BASHPID"
  shift 2
  "$@" >"$out" 2>&1 </dev/null || rc=$?
  [ "$rc" -ne 0 ] || fail "$name: exit status 0; output: $(cat "$out")"
  last=$(grep -v '^[[:space:]]*$' "$out" | tail -1)
  grep -Eq -- "$pattern" <<<"$last" || fail "$name: last line does not match /$pattern/: $last"
  echo "ok: $name: $last"
}

# A port some other process holds.
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); print(s.getsockname()[1], flush=True)
time.sleep(600)' >"$work/held" &
helper_pids+=($!)
until [ -s "$work/held" ]; do sleep 0.05; done
held=$(cat "$work/held")
nothing=$(free_port)  # nothing listens there
# The real test broker, so that what fails is the port and not the start before it.
kafka_flags=(--kafka_bootstrap="${CDNWARM_KAFKA_BOOTSTRAP:?}" --instance="n$RANDOM$RANDOM")

for svc in producer streamer-bridge warmer; do
  case $svc in
    producer) bin=$producer own=(--regions --max_batch_urls) req=() ;;
    streamer-bridge) bin=$bridge own=(--max_attempts) req=() ;;
    warmer) bin=$warmer own=(--region --edge_pins) req=(--region=eu --bridge_address=127.0.0.1:1)
      kafka_flags=() ;;
  esac
  # --help: the service's own flags, the shared ones, defaults; not the libraries'.
  help=$("$bin" --help 2>&1 || true)
  for flag in "${own[@]}" --kafka_bootstrap --drain_timeout --grpc_address; do
    [ "$svc" = warmer ] && [ "$flag" = --kafka_bootstrap ] && continue
    grep -q -- "^ *$flag " <<<"$help" || fail "$svc --help lacks $flag"
  done
  grep -q -- 'default: 20s;' <<<"$help" || fail "$svc --help shows no defaults"
  grep -q -- 'Flags from common/core/config.cc:' <<<"$help" || fail "$svc --help: shared flags not grouped"
  if [ "$svc" = warmer ]; then
    ! grep -q -- '--kafka_' <<<"$help" || fail "warmer --help shows Kafka flags; it has no Kafka"
  else
    grep -q -- 'Flags from common/kafka/kafka_flags.cc:' <<<"$help" || fail "$svc --help: Kafka flags not grouped"
  fi
  grep -q -- "Flags from $svc/config.cc:" <<<"$help" || fail "$svc --help: own flags not grouped"
  grep -Eq -- '--(flagfile|fromenv|tryfromenv|undefok|helpfull) \(' <<<"$help" &&
    fail "$svc --help lists Abseil's own flags"
  grep -q -- 'No flags matched' <<<"$help" && fail "$svc --help matched no flags"
  version=$("$bin" --version)
  grep -Eq -- "^$svc \(cdnwarm\) [0-9]+\.[0-9]+\.[0-9]+, commit ([0-9a-f]{12}(-dirty)?|unknown)$" \
    <<<"$version" || fail "$svc --version: $version"
  echo "ok: $svc --help and --version ($version)"

  expect_last "$svc: bad flag value" "Illegal value 'banana' specified for flag 'drain_timeout'" \
    "$bin" --drain_timeout=banana "${req[@]}"
  expect_last "$svc: unknown flag" "Unknown command line flag 'kafka_bootstrapp'" \
    "$bin" --kafka_bootstrapp=x "${req[@]}"
  expect_last "$svc: stray argument" "unexpected argument '50051'.*--name=value" \
    "$bin" 50051 "${req[@]}"
  expect_last "$svc: gRPC port in use" \
    "cannot listen on .*127.0.0.1:$held.*choose another --grpc_address" \
    "$bin" --grpc_address=127.0.0.1:"$held" --admin_address=127.0.0.1:0 \
    "${kafka_flags[@]}" "${req[@]}"
  expect_last "$svc: admin port in use" \
    "admin address .*127.0.0.1:$held.*choose another.*--admin_address" \
    "$bin" --grpc_address=127.0.0.1:0 --admin_address=127.0.0.1:"$held" \
    "${kafka_flags[@]}" "${req[@]}"
done
expect_last "warmer: no region" "--region: .*empty" "$warmer"

# Kafka with nothing listening: the services that create topics say where they looked. Each
# waits out its 30 s for the cluster (no flag shortens it), so both wait side by side.
no_kafka=()
for bin in "$producer" "$bridge"; do
  expect_last "$(basename "$bin"): no Kafka" \
    "is a Kafka broker reachable at 127.0.0.1:$nothing\\? Check --kafka_bootstrap" \
    "$bin" --grpc_address=127.0.0.1:0 --admin_address=127.0.0.1:0 \
    --kafka_bootstrap=127.0.0.1:"$nothing" &
  no_kafka+=($!)
done
for pid in "${no_kafka[@]}"; do wait "$pid" || fail "a service's no-Kafka error (above)"; done

# The scripts: bad arguments and settings fail before installing or building anything.
expect_last "run.sh: bad argument" "^usage: scripts/run.sh" "$root/scripts/run.sh" lots
expect_last "run.sh: two arguments" "^usage: scripts/run.sh" "$root/scripts/run.sh" 5 6
expect_last "run.sh: bad CDNWARM_KAFKA" "CDNWARM_KAFKA=brokr: must be given, broker or mock" \
  env CDNWARM_KAFKA=brokr "$root/scripts/run.sh"
expect_last "run.sh: no Kafka at the bootstrap" \
  "nothing accepts connections at CDNWARM_KAFKA_BOOTSTRAP=127.0.0.1:$nothing: start Kafka there" \
  env CDNWARM_KAFKA_BOOTSTRAP=127.0.0.1:"$nothing" "$root/scripts/run.sh"
expect_last "run.sh: bad bootstrap" "is not host:port" \
  env CDNWARM_KAFKA_BOOTSTRAP=kafka "$root/scripts/run.sh"
expect_last "test.sh: unknown stage" "unknown stage nope" \
  env CDNWARM_TEST_STAGES=nope "$root/scripts/test.sh"
expect_last "bench/run.sh: bad argument" "^usage: bench/run.sh" "$root/bench/run.sh" --fast
expect_last "install-deps.sh: bad purpose" "^usage: scripts/install-deps.sh" \
  "$root/scripts/install-deps.sh" everything

# The command line client: nothing at the producer's address, and no grpcio anywhere.
expect_last "cdnwarm: no producer" \
  "UNAVAILABLE: .*is the producer running at 127.0.0.1:$nothing\\? Name it with --producer" \
  "$python" "$root/scripts/cdnwarm" --producer 127.0.0.1:"$nothing" job some-job
expect_last "cdnwarm: no bridge" "is the bridge running at 127.0.0.1:$nothing" \
  "$python" "$root/scripts/cdnwarm" --bridge 127.0.0.1:"$nothing" subs
if ! python3 -c 'import grpc' 2>/dev/null; then
  expect_last "cdnwarm: no grpcio" "needs Python's grpcio.*scripts/install-deps.sh run" \
    env CDNWARM_CACHE="$work/empty-cache" python3 "$root/scripts/cdnwarm" job x
fi
echo "ok: every error a newcomer met ended in one line saying what to do"
