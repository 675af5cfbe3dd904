# syntax=docker/dockerfile:1
#
# One image for every tier: the command picks the subcommand.
#
#   docker build -t madbase .
#   docker run --rm madbase version
#   docker run --env-file .env -p 8000:8000 madbase edge      # or worker, control, migrate, keys, logs
#
# docker-compose.yml builds it once and runs `edge`, `worker` and `control`
# from it. The binary is static (CGO_ENABLED=0); the runtime image is Alpine
# (for busybox wget, which the compose health checks use, and CA
# certificates), running as the unprivileged user madbase (uid 10001).

ARG GO_VERSION=1.26.8
ARG ALPINE_VERSION=3.22

FROM golang:${GO_VERSION}-alpine AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
# Dependencies first, so source edits reuse the downloaded modules: the
# workspace file and every module's go.mod/go.sum (deploy/compose_test.go
# checks this list against go.work).
COPY go.work go.work.sum ./
COPY bus/go.mod bus/go.sum ./bus/
COPY shared/go.mod shared/go.sum ./shared/
COPY edge/go.mod edge/go.sum ./edge/
COPY worker/go.mod worker/go.sum ./worker/
COPY control/go.mod control/go.sum ./control/
COPY cmd/go.mod cmd/go.sum ./cmd/
COPY bench/go.mod bench/go.sum ./bench/
COPY deploy/go.mod deploy/go.sum ./deploy/
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath \
      -ldflags "-s -w -X github.com/madbase/madbase/cmd/internal/cli.Version=${VERSION}" \
      -o /out/madbase ./cmd/madbase

FROM alpine:${ALPINE_VERSION} AS runtime
RUN apk add --no-cache ca-certificates tzdata \
 && adduser -D -H -u 10001 -h /var/lib/madbase madbase \
 && mkdir -p /var/lib/madbase \
 && chown madbase:madbase /var/lib/madbase
COPY --from=build /out/madbase /usr/local/bin/madbase
USER madbase
WORKDIR /var/lib/madbase
# edge, control, worker
EXPOSE 8000 8001 8002
ENTRYPOINT ["/usr/local/bin/madbase"]
CMD ["edge"]
