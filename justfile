# Shortcuts; every recipe is a plain command you can also run without just.

# Run MadBase in one process (NATS, PostgreSQL, control, edge, workers).
dev *ARGS:
    go run ./cmd/madbase dev {{ARGS}}

# The whole test suite (what CI runs).
test:
    scripts/test.sh

# Only the supabase-js end-to-end suite against a fresh madbase dev.
e2e:
    e2e/run.sh

# The edge next to a direct worker and nginx, in one run (needs nginx and wrk).
bench *ARGS:
    go run ./bench/cmd/edgebench {{ARGS}}

# Format every Go file.
fmt:
    gofmt -w bus shared edge worker control cmd bench deploy

# gofmt check and go vet on every module.
lint:
    test -z "$(gofmt -l bus shared edge worker control cmd bench deploy)"
    go vet ./bus/... ./shared/... ./edge/... ./worker/... ./control/... ./cmd/... ./bench/... ./deploy/...
    cd deploy/helmcheck && GOWORK=off go vet ./...

# Fuzz the parsers of user input for a while each (seed corpora live in testdata/fuzz;
# plain `go test` runs the seeds).
fuzz SECONDS="30":
    go test ./shared/jwtauth -run '^$' -fuzz '^FuzzVerify$' -fuzztime {{SECONDS}}s
    go test ./edge/internal/eventloop -run '^$' -fuzz '^FuzzParseRequestHead$' -fuzztime {{SECONDS}}s
    go test ./edge/internal/eventloop -run '^$' -fuzz '^FuzzParseResponseHead$' -fuzztime {{SECONDS}}s
    go test ./edge/internal/eventloop -run '^$' -fuzz '^FuzzChunkedScanner$' -fuzztime {{SECONDS}}s
    go test ./edge/internal/forwarding -run '^$' -fuzz '^FuzzCheckPath$' -fuzztime {{SECONDS}}s
    go test ./worker/internal/auth -run '^$' -fuzz '^FuzzInput$' -fuzztime {{SECONDS}}s
    go test ./worker/internal/auth -run '^$' -fuzz '^FuzzAppendJSONString$' -fuzztime {{SECONDS}}s
    go test ./worker/internal/auth -run '^$' -fuzz '^FuzzRawJSON$' -fuzztime {{SECONDS}}s
    go test ./worker/internal/rest -run '^$' -fuzz '^FuzzParseQuery$' -fuzztime {{SECONDS}}s
    go test ./worker/internal/rest -run '^$' -fuzz '^FuzzAppendJSONString$' -fuzztime {{SECONDS}}s
    go test ./worker/internal/storage -run '^$' -fuzz '^FuzzParseObjectPath$' -fuzztime {{SECONDS}}s
    go test ./worker/internal/storage -run '^$' -fuzz '^FuzzParseTransform$' -fuzztime {{SECONDS}}s
    go test ./worker/internal/realtime -run '^$' -fuzz '^FuzzDecode$' -fuzztime {{SECONDS}}s
    go test ./worker/internal/realtime -run '^$' -fuzz '^FuzzFilter$' -fuzztime {{SECONDS}}s

# docker-compose.yml's topology as processes on loopback (no Docker needed):
# health checks, both workers reached, data kept across a restart.
compose-smoke:
    scripts/compose-smoke.sh

# Build the binary into bin/.
build:
    go build -o bin/madbase ./cmd/madbase
