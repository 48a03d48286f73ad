#!/usr/bin/env bash
# Builds the web console (console/) into OUT: npm ci (again only when package-lock.json
# changed), message types generated from proto/ by protoc-gen-es, a type check, vite build.
# Build trees share console/node_modules and console/src/gen, so one build at a time (flock).
#
# Usage: scripts/build-console.sh OUT
set -euo pipefail
out=${1:?usage: build-console.sh OUT}
console="$(cd "$(dirname "$0")/../console" && pwd)"
command -v npm >/dev/null 2>&1 ||
  { echo "build-console: npm not found: run scripts/install-deps.sh (Node.js and npm)" >&2; exit 1; }
exec 9>"$console/.build.lock"
flock 9
cd "$console"
stamp=node_modules/.cdnwarm-lock
if ! cmp -s package-lock.json "$stamp" 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
node scripts/gen.mjs
npx --no-install tsc --noEmit
CDNWARM_CONSOLE_OUT="$out" npx --no-install vite build --logLevel warn
