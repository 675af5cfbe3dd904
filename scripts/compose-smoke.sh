#!/usr/bin/env bash
# Starts the topology of docker-compose.yml without a Docker engine, as
# separate processes on loopback ports: PostgreSQL, redis-server, an S3 server
# (for minio), NATS, control, two workers and the edge, each with the
# environment compose would give its container. Waits for every health check,
# sends requests through the edge until both workers answered, creates a
# user, a row and a file, restarts everything and checks they survived.
# Needs PostgreSQL's binaries and redis-server (scripts/ensure-deps.sh
# installs them). Everything runs in a temporary folder and is killed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d "${TMPDIR:-/tmp}/madbase-compose-smoke.XXXXXX")
# pgcluster runs PostgreSQL as the postgres user when we are root.
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT

go build -o "$tmp/madbase" ./cmd/madbase
go build -o "$tmp/composesmoke" ./deploy/cmd/composesmoke
timeout --kill-after=10s "${COMPOSE_SMOKE_TIMEOUT:-300s}" \
  "$tmp/composesmoke" -madbase "$tmp/madbase" -root . -dir "$tmp/run" -timeout 270s
