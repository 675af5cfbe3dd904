package bus

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// WorkerService is the NATS micro service every worker registers, so that
// `nats micro ls`, `nats micro info madbase-worker` and `nats micro stats`
// show the fleet, and a starting edge can ask every worker at once who it is
// (DiscoverWorkers) instead of waiting for the next round of heartbeats.
const WorkerService = "madbase-worker"

// Metadata keys of the worker service (micro.Info.Metadata).
const (
	ServiceMetaID      = "id"
	ServiceMetaURL     = "url"
	ServiceMetaVersion = "version"
)

// WorkerInfo is the subject of a worker's service endpoint, answering with
// its current Heartbeat (request/reply).
func WorkerInfo(workerID string) string {
	return Prefix + ".workers." + Token(workerID) + ".info"
}

var semver = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

// ServiceVersion is version as micro accepts it (semantic versioning): the
// version itself without a leading "v", or "0.0.0" for a development build
// ("dev"); the metadata keeps the version as given.
func ServiceVersion(version string) string {
	if v := strings.TrimPrefix(version, "v"); semver.MatchString(v) {
		return v
	}
	return "0.0.0"
}

// DiscoveredWorker is a worker that answered DiscoverWorkers.
type DiscoveredWorker struct {
	ID, URL, Version string
}

// DiscoverWorkers asks every registered worker service for its info and
// calls found for each that answers within wait, as its answer arrives. It
// never fails: a worker that does not answer is found by its heartbeats a
// moment later.
func DiscoverWorkers(ctx context.Context, nc *nats.Conn, wait time.Duration, found func(DiscoveredWorker)) {
	subject, err := micro.ControlSubject(micro.InfoVerb, WorkerService, "")
	if err != nil {
		return
	}
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest(subject, inbox, nil); err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return
		}
		var info micro.Info
		if json.Unmarshal(m.Data, &info) != nil || info.Name != WorkerService {
			continue
		}
		w := DiscoveredWorker{ID: info.Metadata[ServiceMetaID], URL: info.Metadata[ServiceMetaURL], Version: info.Metadata[ServiceMetaVersion]}
		if w.ID != "" && w.URL != "" {
			found(w)
		}
	}
}
