#!/usr/bin/env bash
# The README's main command. Until the three services exist it builds everything and
# runs a smoke of the shared server runner: starts it, lists its services through
# reflection with grpcurl, checks health, reads the admin port, and drains it with SIGTERM.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
preset="${CDNWARM_PRESET:-release}"
CDNWARM_CACHE="${CDNWARM_CACHE:-$HOME/.cache/cdnwarm}"

scripts/install-deps.sh
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
build="build/$preset"
exec tests/smoke/grpcurl_smoke_test.sh "$build/tests/smoke_server" "$CDNWARM_CACHE/bin/grpcurl" \
  "$CDNWARM_CACHE/venv/bin/python3" tests/python
