#!/usr/bin/env bash
# run_fuzzer.sh FUZZER SEED_DIR SCRATCH_DIR SECONDS: first replays every committed seed, then
# fuzzes for SECONDS from them, writing new inputs to SCRATCH_DIR (the seeds stay as they
# are). A finding is saved in SCRATCH_DIR as crash-*/leak-*/timeout-* and fails the run.
set -euo pipefail
fuzzer=$1 seeds=$2 scratch=$3 seconds=$4
[ -n "$(ls -A "$seeds")" ] || { echo "no seeds in $seeds" >&2; exit 1; }
rm -rf "$scratch" && mkdir -p "$scratch"
"$fuzzer" -runs=0 -artifact_prefix="$scratch/" "$seeds"
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -artifact_prefix="$scratch/" -print_final_stats=1 "$scratch" "$seeds"
