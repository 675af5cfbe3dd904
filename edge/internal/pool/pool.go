// Package pool keeps the edge's set of workers: where they are, whether they
// are healthy, and which one gets the next request.
package pool

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Source says how the edge learned about an upstream.
type Source string

const (
	SourceNATS   Source = "nats"
	SourceStatic Source = "static"
)

// Upstream is one worker the edge can send requests to.
type Upstream struct {
	ID     string
	URL    string
	Addr   string // host:port
	Source Source
	// Client carries requests with a body or a non-idempotent method;
	// IdempotentClient bodyless GET and HEAD requests and health probes (see
	// Transport.IdempotentClient).
	Client           *fasthttp.HostClient
	IdempotentClient *fasthttp.HostClient

	healthy  atomic.Bool
	draining atomic.Bool
	lastBeat atomic.Int64 // unix nanos
}

// CloseIdleConnections closes the pooled connections of both clients.
func (u *Upstream) CloseIdleConnections() {
	u.Client.CloseIdleConnections()
	u.IdempotentClient.CloseIdleConnections()
}

// Healthy reports whether the upstream may get new requests.
func (u *Upstream) Healthy() bool { return u.healthy.Load() && !u.draining.Load() }

// Pool is the set of known upstreams. Reads (every request) see an immutable
// snapshot through an atomic pointer; changes rebuild it under a mutex.
type Pool struct {
	tr  *Transport
	log *slog.Logger

	mu    sync.Mutex
	byKey map[string]*Upstream // key: URL
	snap  atomic.Pointer[[]*Upstream]
	// busDown is set while the edge's NATS connection is away: heartbeats
	// cannot arrive then, so their absence says nothing about a worker.
	// judgedSince (under mu) is when heartbeat judgement last resumed: a
	// worker's beats count as missed only from then on.
	busDown     atomic.Bool
	judgedSince time.Time

	// OnChange, when set, is called after the set or health changes.
	OnChange func()
}

// New makes an empty pool whose upstream clients come from tr.
func New(tr *Transport, log *slog.Logger) *Pool {
	p := &Pool{tr: tr, log: log, byKey: map[string]*Upstream{}}
	empty := []*Upstream{}
	p.snap.Store(&empty)
	return p
}

// Snapshot returns the current upstreams, sorted by URL. Do not modify it.
func (p *Pool) Snapshot() []*Upstream { return *p.snap.Load() }

// Counts returns how many upstreams are known and how many are healthy.
func (p *Pool) Counts() (known, healthy int) {
	s := p.Snapshot()
	for _, u := range s {
		if u.Healthy() {
			healthy++
		}
	}
	return len(s), healthy
}

func (p *Pool) rebuild() {
	list := make([]*Upstream, 0, len(p.byKey))
	for _, u := range p.byKey {
		list = append(list, u)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].URL < list[j].URL })
	p.snap.Store(&list)
}

func addrOf(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", false
	}
	host := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			host += ":443"
		} else {
			host += ":80"
		}
	}
	return host, true
}

// AddStatic adds a worker from WORKER_UPSTREAM_URLS. It starts unhealthy
// until its first successful probe.
func (p *Pool) AddStatic(rawURL string) {
	addr, ok := addrOf(rawURL)
	if !ok {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.byKey[rawURL]; ok {
		return
	}
	u := &Upstream{ID: addr, URL: rawURL, Addr: addr, Source: SourceStatic, Client: p.tr.HostClient(addr), IdempotentClient: p.tr.IdempotentClient(addr)}
	p.byKey[rawURL] = u
	p.rebuild()
}

// Beat records a heartbeat: a new worker is added healthy at once, a known one
// is kept alive. A worker marked unhealthy after a failed connection stays so
// until a probe succeeds.
func (p *Pool) Beat(id, rawURL string, draining bool, now time.Time) {
	p.mu.Lock()
	u, ok := p.byKey[rawURL]
	if !ok {
		addr, valid := addrOf(rawURL)
		if !valid {
			p.mu.Unlock()
			return
		}
		u = &Upstream{ID: id, URL: rawURL, Addr: addr, Source: SourceNATS, Client: p.tr.HostClient(addr), IdempotentClient: p.tr.IdempotentClient(addr)}
		u.healthy.Store(true)
		p.byKey[rawURL] = u
		p.rebuild()
		p.log.Info("worker joined", "component", "pool", "worker", id, "url", rawURL)
	} else if u.ID != id && u.Source == SourceNATS {
		// A new process on the same address: forget the old connections.
		p.log.Info("worker restarted", "component", "pool", "worker", id, "old", u.ID, "url", rawURL)
		u.CloseIdleConnections()
		u.ID = id
		u.healthy.Store(true)
	}
	u.lastBeat.Store(now.UnixNano())
	changed := u.draining.Swap(draining) != draining
	p.mu.Unlock()
	if (changed || !ok) && p.OnChange != nil {
		p.OnChange()
	}
}

// Leave removes a worker that announced its exit. A static upstream is only
// marked draining, since it stays in the configured list.
func (p *Pool) Leave(id, rawURL string) {
	p.mu.Lock()
	u, ok := p.byKey[rawURL]
	if ok && u.Source == SourceNATS {
		delete(p.byKey, rawURL)
		p.rebuild()
		u.CloseIdleConnections()
		p.log.Info("worker left", "component", "pool", "worker", id, "url", rawURL)
	} else if ok {
		u.healthy.Store(false)
	}
	p.mu.Unlock()
	if ok && p.OnChange != nil {
		p.OnChange()
	}
}

// SetBus tells the pool whether the edge's NATS connection is up. While it
// is down, the workers found over NATS are kept, judged by the edge's own
// connections and by health probes instead of their beats; when it comes
// back, heartbeat judgement resumes with a fresh grace period, so no worker
// is dropped before it has had maxAge to beat again.
func (p *Pool) SetBus(up bool, now time.Time) {
	if p.busDown.Load() != up {
		return // no change
	}
	p.mu.Lock()
	p.busDown.Store(!up)
	if up {
		p.judgedSince = now
	}
	n := len(p.byKey)
	p.mu.Unlock()
	if up {
		p.log.Info("NATS is back: following worker heartbeats again", "component", "pool", "workers", n)
	} else {
		p.log.Warn("NATS is away: keeping the workers known, judged by health probes until it returns", "component", "pool", "workers", n)
	}
}

// Prune removes NATS workers whose last beat is older than maxAge, counting
// from when heartbeat judgement last resumed. It does nothing while the bus
// is down (see SetBus).
func (p *Pool) Prune(now time.Time, maxAge time.Duration) {
	if p.busDown.Load() {
		return
	}
	p.mu.Lock()
	removed := false
	for k, u := range p.byKey {
		last := time.Unix(0, u.lastBeat.Load())
		if last.Before(p.judgedSince) {
			last = p.judgedSince
		}
		if u.Source == SourceNATS && now.Sub(last) > maxAge {
			delete(p.byKey, k)
			u.CloseIdleConnections()
			removed = true
			p.log.Warn("worker missed heartbeats", "component", "pool", "worker", u.ID, "url", u.URL)
		}
	}
	if removed {
		p.rebuild()
	}
	p.mu.Unlock()
	if removed && p.OnChange != nil {
		p.OnChange()
	}
}

// MarkDown takes an upstream out of rotation after it refused a connection;
// the prober brings it back when /health answers again.
func (p *Pool) MarkDown(u *Upstream) {
	if u.healthy.Swap(false) {
		p.log.Warn("worker unreachable, taken out of rotation", "component", "pool", "worker", u.ID, "url", u.URL)
		if p.OnChange != nil {
			p.OnChange()
		}
	}
}

// Probe checks /health of every static upstream and of every unhealthy one,
// through each upstream's own pooled client; while the bus is down, of every
// upstream, since no beat tells that a worker is gone.
func (p *Pool) Probe(timeout time.Duration) {
	var wg sync.WaitGroup
	all := p.busDown.Load()
	for _, u := range p.Snapshot() {
		if u.Source != SourceStatic && u.healthy.Load() && !all {
			continue
		}
		wg.Add(1)
		go func(u *Upstream) {
			defer wg.Done()
			ok := probe(u, timeout)
			if u.healthy.Swap(ok) != ok {
				if ok {
					p.log.Info("worker healthy", "component", "pool", "worker", u.ID, "url", u.URL)
				} else {
					p.log.Warn("worker unhealthy", "component", "pool", "worker", u.ID, "url", u.URL)
				}
				if p.OnChange != nil {
					p.OnChange()
				}
			}
		}(u)
	}
	wg.Wait()
}

func probe(u *Upstream, timeout time.Duration) bool {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("/health")
	req.Header.SetHost(u.Addr)
	req.Header.Set("User-Agent", "madbase-edge-probe")
	if err := u.IdempotentClient.DoTimeout(req, resp, timeout); err != nil {
		return false
	}
	if bs := resp.BodyStream(); bs != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(bs, 1<<20))
	}
	_ = resp.CloseBodyStream()
	return resp.StatusCode() == fasthttp.StatusOK
}

// RunProber probes every interval until ctx is done.
func (p *Pool) RunProber(ctx context.Context, interval, timeout time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	p.Probe(timeout)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			p.Probe(timeout)
		}
	}
}

// CloseIdle closes every pooled connection, e.g. at shutdown.
func (p *Pool) CloseIdle() {
	for _, u := range p.Snapshot() {
		u.CloseIdleConnections()
	}
}
