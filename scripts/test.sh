#!/usr/bin/env bash
# The README's test command: installs what is missing, builds with warnings as errors
# and ASan+UBSan, and runs every test (unit, integration against a real Kafka broker
# that ctest starts and stops, e2e).
#
#   scripts/test.sh [ctest arguments, e.g. -L unit]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
preset="${CDNWARM_PRESET:-ci}"

scripts/install-deps.sh
cmake --preset "$preset"
cmake --build --preset "$preset"
ctest --preset "$preset" --timeout 600 "$@"
