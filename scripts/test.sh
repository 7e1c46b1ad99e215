#!/usr/bin/env bash
# `npm test`: type-check, then the whole tap suite; ends with the plain line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
OCS_SETUP_TEST=1 bash scripts/setup.sh || exit 1

echo "[test] tsc --noEmit" >&2
if ! npx tsc --noEmit -p tsconfig.json; then
  echo "0 passed, 1 failed"
  exit 1
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
# The tap reporter prints raw TAP, which scripts/tap-summary.mjs counts.
npx tap -R tap "$@" | tee "$out"
rc=${PIPESTATUS[0]}
node scripts/tap-summary.mjs "$out" "$rc"
