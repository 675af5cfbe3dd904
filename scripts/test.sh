#!/usr/bin/env bash
# The whole MadBase test suite: formatting, vet, every Go module's tests
# (with the race detector), then the supabase-js end-to-end suite against a
# real `madbase dev`. Tests start their own PostgreSQL, NATS and servers on
# free ports and temporary folders.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-deps.sh

modules=(bus shared edge worker control cmd bench deploy)
pkgs=()
for m in "${modules[@]}"; do pkgs+=("./$m/..."); done

echo "== gofmt"
unformatted=$(gofmt -l "${modules[@]}")
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet "${pkgs[@]}"

echo "== go test (race detector on)"
go test -race -count=1 -timeout 15m "${pkgs[@]}"
echo "== image transformations with libvips (-tags vips; the default build's engine is pure Go)"
go test -race -count=1 -tags vips ./worker/internal/imaging/ ./worker/internal/storage/
echo "== Helm chart rendered and checked (deploy/helmcheck, a module outside the workspace)"; (cd deploy/helmcheck && GOWORK=off go vet ./... && GOWORK=off go test -count=1 ./...)
echo "== edge tests again with the goroutine engine alone (EDGE_EVENT_LOOPS=-1)"
MADBASE_TEST_EDGE_EVENT_LOOPS=-1 go test -race -count=1 -timeout 5m ./edge/...
echo "== edge tests again with the default loops (EDGE_EVENT_LOOPS=0: one serving, more as the load asks)"
MADBASE_TEST_EDGE_EVENT_LOOPS=0 go test -count=1 -timeout 5m ./edge/

echo "== reliability drill: a cluster on network namespaces, and one host (deploy/drill)"
go test -count=1 -timeout 12m -v -run TestDrill ./deploy/drill/

echo "== compose topology as processes (scripts/compose-smoke.sh)"; scripts/compose-smoke.sh

if [ -d e2e ]; then
  echo "== e2e (supabase-js through the edge)"
  e2e/run.sh
fi
echo "== all tests passed"
