#!/usr/bin/env bash
# Runs the e2e suite: builds madbase, starts `madbase dev` on free ports with
# a temporary data folder, runs the supabase-js tests against its edge, and
# stops it. Usage: e2e/run.sh [node --test args...]
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd .. && pwd)

if [ ! -d node_modules/@supabase/supabase-js ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

tmp=$(mktemp -d -t madbase-e2e-XXXXXX)
chmod 755 "$tmp"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

(cd "$root" && go build -o "$tmp/madbase" ./cmd/madbase)

export MADBASE_DATA_DIR="$tmp/data" EDGE_PORT=0 CONTROL_PORT=0 WORKER_PORT=0 LOG_LEVEL="${LOG_LEVEL:-warn}"
# GoTrue's default reuse interval (dev's is 10 s), so that auth.test.js can
# reuse a rotated refresh token without waiting for the interval to pass.
export AUTH_REFRESH_TOKEN_REUSE_INTERVAL=0s
# Projects (projects.test.js): a platform key for this run, and the domain
# under which a project is reached as <ref>.localhost. That name need not
# resolve: the tests connect to the edge's address and send it as Host.
export MADBASE_ENCRYPTION_KEY=$(node -e 'console.log(require("crypto").randomBytes(32).toString("base64"))')
export PROJECT_DOMAIN=localhost
"$tmp/madbase" dev --workers 2 >"$tmp/dev.out" 2>"$tmp/dev.err" &
pid=$!

for _ in $(seq 1 300); do
  [ -f "$MADBASE_DATA_DIR/dev.json" ] && break
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "madbase dev exited early:"; cat "$tmp/dev.out" "$tmp/dev.err"; exit 1
  fi
  sleep 0.2
done
if [ ! -f "$MADBASE_DATA_DIR/dev.json" ]; then
  echo "madbase dev did not become ready in 60s:"; cat "$tmp/dev.out"; tail -50 "$tmp/dev.err"; exit 1
fi

SUPABASE_URL=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).api_url)' "$MADBASE_DATA_DIR/dev.json")
eval "$("$tmp/madbase" keys)"
export SUPABASE_URL ANON_KEY SERVICE_ROLE_KEY PUBLISHABLE_KEY SECRET_KEY PROJECT_DOMAIN
export ADMIN_PASSWORD=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).admin_password)' "$MADBASE_DATA_DIR/secrets.json")
export JWT_SECRET=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).jwt_secret)' "$MADBASE_DATA_DIR/secrets.json")
export MADBASE_BIN="$tmp/madbase"
export DATABASE_URL=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).database_url)' "$MADBASE_DATA_DIR/dev.json")

# Tables, policies and functions the tests use, as an app's own migrations
# would create them (psql comes with the postgresql package).
for f in fixtures/*.sql; do
  [ -e "$f" ] || continue
  psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -q -f "$f" >/dev/null
done

status=0
node --test --test-concurrency=1 "$@" tests/ || status=$?
if [ $status -ne 0 ]; then
  echo "--- madbase dev stderr (last 80 lines)"; tail -80 "$tmp/dev.err"
fi
exit $status
