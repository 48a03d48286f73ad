#!/usr/bin/env bash
# The README's test command: installs what is missing, then
#   0. first-run: the README's first command as a newcomer runs it: scripts/run.sh on the
#            mock cluster and on a real broker, and bench/run.sh --smoke, each from an empty
#            $CDNWARM_CACHE with no test tools on the PATH (tests/first_run/first_run_test.sh);
#   1. ci:   builds with warnings as errors and ASan+UBSan and runs every test (unit,
#            integration against a real Kafka broker that ctest starts and stops, e2e, the
#            fault suite, the deployment checks, the benchmark smoke run);
#   2. tsan: builds with ThreadSanitizer, on a librdkafka built with it too (install-deps.sh
#            tsan, CDNWARM_RDKAFKA_ROOT), and runs the unit and integration tests, Kafka's
#            included (but for the producer's gRPC-server suites: see CMakePresets.json);
#   3. fuzz: builds the libFuzzer targets with clang and runs each for a bounded time from
#            its committed seed corpus.
#
#   scripts/test.sh                  all four
#   scripts/test.sh [ctest args]     only the ci build, with those ctest arguments (e.g. -L unit)
#   CDNWARM_TEST_STAGES="ci fuzz" scripts/test.sh   a choice of stages
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

stages="${CDNWARM_TEST_STAGES:-first-run ci tsan fuzz}"
[ $# -gt 0 ] && stages=ci

scripts/install-deps.sh
# The ci, tsan and fuzz builds go through ccache (Debian's): a fresh clone compiles what an
# earlier run on this machine compiled from its cache, wherever the clone is (paths relative
# to the source tree). CDNWARM_CCACHE=0 turns it off. Not for first-run: a newcomer has none.
use_ccache() {
  [ "${CDNWARM_CCACHE:-1}" != 0 ] && command -v ccache >/dev/null 2>&1 || return 0
  export CMAKE_C_COMPILER_LAUNCHER=ccache CMAKE_CXX_COMPILER_LAUNCHER=ccache
  export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
}
for stage in $stages; do
  echo "[test.sh] stage $stage" >&2
  case "$stage" in
    first-run)
      tests/first_run/first_run_test.sh
      ;;
    ci)
      use_ccache
      preset="${CDNWARM_PRESET:-ci}"
      cmake --preset "$preset"
      cmake --build --preset "$preset"
      ctest --preset "$preset" --timeout 900 "$@"
      ;;
    tsan)
      use_ccache
      cmake --preset tsan
      cmake --build --preset tsan
      ctest --preset tsan --timeout 600 -L 'unit|integration'
      ;;
    fuzz)
      use_ccache
      cmake --preset fuzz
      cmake --build --preset fuzz
      ctest --preset fuzz --timeout 600 -j2  # each target runs for a fixed time on one core
      ;;
    *) echo "unknown stage $stage (first-run, ci, tsan, fuzz)" >&2; exit 2 ;;
  esac
done
