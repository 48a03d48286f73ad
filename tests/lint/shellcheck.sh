#!/usr/bin/env bash
# The `shellcheck` test (tests/CMakeLists.txt): ShellCheck over every shell script of the
# repository, found when the test runs, so a new script is linted with no list to edit.
# A shell script is a file whose name ends in .sh or .bash (the sourced ones, which have no
# shebang, say their dialect with `# shellcheck shell=bash`) or whose first line is a
# sh/bash shebang (.ci/run). The files are git's, tracked or new and not ignored; in a tree
# with no .git (a copied source tree) every file but .git, third_party/, build/, out/ and
# any build tree (a directory with a CMakeCache.txt). third_party/ keeps its own style.
#
#   tests/lint/shellcheck.sh [SHELLCHECK]   SHELLCHECK: default, the one on the PATH
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd -P)"
shellcheck=${1:-shellcheck}
command -v "$shellcheck" >/dev/null 2>&1 ||
  { echo "FAIL: shellcheck not found: run scripts/install-deps.sh test" >&2; exit 1; }
cd "$root"

# Every file, NUL-separated, relative to the root.
list_files() {
  if [ "$(git rev-parse --show-toplevel 2>/dev/null)" = "$root" ]; then
    git ls-files -z --cached --others --exclude-standard -- ':!:third_party/*'
  else
    find . \( -path ./.git -o -path ./third_party -o -path ./build -o -path ./out \
      -o \( -type d -exec test -e '{}/CMakeCache.txt' \; \) \) -prune -o -type f -print0 |
      sed -z 's:^\./::'
  fi
}

scripts=()
while IFS= read -r -d '' f; do
  [ -f "$f" ] || continue  # tracked, but deleted in the working tree
  case $f in
    *.sh | *.bash) scripts+=("$f"); continue ;;
  esac
  first=""
  IFS= read -r -n 200 first <"$f" 2>/dev/null || true
  if [[ $first =~ ^\#!.*[/[:space:]](sh|bash)([[:space:]]|$) ]]; then scripts+=("$f"); fi
done < <(list_files | sort -z)
[ ${#scripts[@]} -gt 0 ] || { echo "FAIL: no shell script found in $root" >&2; exit 1; }

echo "$("$shellcheck" --version | sed -n 's/^version: /shellcheck /p') on ${#scripts[@]} scripts:"
printf '  %s\n' "${scripts[@]}"
# -x -P SCRIPTDIR (as .shellcheckrc says): follow `source` into the file that a
# `# shellcheck source=` directive names, relative to the sourcing script.
if ! "$shellcheck" -x -P SCRIPTDIR "${scripts[@]}"; then
  echo "FAIL: shellcheck findings above (fix them; disable one only where the code is right)" >&2
  exit 1
fi
# A pipe into `grep -q` fails at random under pipefail, which every script sets: grep exits
# at its first match, the writer dies of SIGPIPE, and the pipeline reports the writer's
# failure, so a match reads as a miss. ShellCheck does not see it. Give grep the output
# whole: grep -q PATTERN <<<"$(COMMAND)". (< <(COMMAND) keeps the pipeline's status right
# too, but an ERR trap under errtrace still reports the writer's SIGPIPE.)
# A line ending in | or \ continues (a comment line between is skipped); || is no pipe.
piped=$(awk '
  FNR == 1 { joined = "" }
  /^[[:space:]]*#/ { next }
  { joined = joined " " $0 }
  /(\|[[:space:]]*|\\)$/ { sub(/\\$/, "", joined); next }
  joined ~ /(^|[^|])\|&?[[:space:]]*grep[[:space:]]+(-[[:alnum:]]+[[:space:]]+)*(-[[:alnum:]]*q|--quiet)/ {
    print FILENAME ":" FNR ":" joined
  }
  { joined = "" }' "${scripts[@]}")
if [ -n "$piped" ]; then
  echo "$piped"
  echo "FAIL: a pipe into grep -q above (pipefail turns its early exit into a miss): use" \
    "grep -q PATTERN <<<\"\$(COMMAND)\"" >&2
  exit 1
fi
echo "ok: ${#scripts[@]} scripts clean"
