#!/usr/bin/env bash
# Idempotent preparation shared by `npm start`, `npm test` and `npm run bench`:
# npm packages, the Debian packages the OCS and its tests need, and the build.
# A second run skips what is already done, so both commands stay fast.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "[setup] $*" >&2; }

# 1. npm dependencies: install when node_modules is missing or older than the lock file.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

# 2. Debian packages. redis-server is required to run; the rest are test peers.
need_pkgs=()
command -v redis-server >/dev/null 2>&1 || need_pkgs+=(redis-server)
# `npm run bench` (OCS_SETUP_BENCH=1) also runs the CDR flush into PostgreSQL and the Diameter load from
# Erlang/OTP's diameter client (the issue's non-JS client).
if [ "${OCS_SETUP_TEST:-0}" = 1 ] || [ "${OCS_SETUP_BENCH:-0}" = 1 ]; then
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_pkgs+=(postgresql)
  { command -v escript >/dev/null 2>&1 && ls -d /usr/lib/erlang/lib/diameter-* >/dev/null 2>&1; } || need_pkgs+=(erlang-base erlang-diameter)
fi
# The C load generators (scripts/load-*.c: the bench's BNAS and PGW, and their tests) need a C compiler.
need_cc=0
if [ "${OCS_SETUP_TEST:-0}" = 1 ] || [ "${OCS_SETUP_BENCH:-0}" = 1 ] || [ "${OCS_SETUP_CC:-0}" = 1 ]; then need_cc=1; fi
if [ "$need_cc" = 1 ]; then
  { command -v cc >/dev/null 2>&1 && [ -e /usr/include/stdio.h ]; } || need_pkgs+=(gcc libc6-dev)
fi
if [ "${OCS_SETUP_TEST:-0}" = 1 ]; then
  command -v radclient >/dev/null 2>&1 || need_pkgs+=(freeradius-utils)
  command -v tshark >/dev/null 2>&1 || need_pkgs+=(tshark)
  /usr/bin/python3 -c "import pyrad" >/dev/null 2>&1 || need_pkgs+=(python3-pyrad)
  command -v promtool >/dev/null 2>&1 || need_pkgs+=(prometheus)
  { command -v freeDiameterd >/dev/null 2>&1 && [ -e /usr/lib/freeDiameter/rt_default.fdx ]; } || need_pkgs+=(freediameter)
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing Debian packages: ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # An apt-get update only when the install fails on a stale index keeps the fast path fast.
    apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null; }
    # Debian starts a system redis on install; the OCS runs its own, so keep the port free.
    if command -v service >/dev/null 2>&1; then service redis-server stop >/dev/null 2>&1 || true; service prometheus stop >/dev/null 2>&1 || true; service postgresql stop >/dev/null 2>&1 || true; fi
  else
    echo "missing Debian package(s): ${need_pkgs[*]} — install with: sudo apt-get install -y ${need_pkgs[*]}" >&2
    exit 1
  fi
fi

# 3. Build when any source is newer than the last build.
if [ ! -f dist/main.js ] || [ -n "$(find src -newer dist/main.js -print -quit)" ] || [ tsconfig.json -nt dist/main.js ]; then
  log "building (tsc)"
  rm -rf dist
  npx tsc -p tsconfig.build.json
  # Lua scripts ship beside the compiled code that loads them.
  mkdir -p dist/balance/lua && cp src/balance/lua/*.lua dist/balance/lua/
  touch dist/main.js
fi

# 4. The C load generators (scripts/load-radius.c, scripts/load-diameter.c), when a compiler is there
# (never needed by `npm start`).
for gen in load-radius load-diameter; do
  if command -v cc >/dev/null 2>&1 && { [ ! -x "dist/bin/$gen" ] || [ "scripts/$gen.c" -nt "dist/bin/$gen" ] || [ scripts/loadgen.h -nt "dist/bin/$gen" ]; }; then
    log "compiling scripts/$gen.c"
    mkdir -p dist/bin
    if ! cc -O2 -Wall -o "dist/bin/$gen" "scripts/$gen.c" -lm; then
      # Only the bench and its tests use them: `npm start` goes on without.
      if [ "$need_cc" = 1 ]; then exit 1; fi
      log "scripts/$gen.c did not compile; that C load generator is unavailable"
    fi
  fi
done
