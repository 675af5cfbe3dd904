package drill

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Load sends a steady stream of idempotent requests through every edge: at
// a fixed rate whatever the answers take (open loop), so a stalled worker
// holds only the requests it was given and the rest keep flowing, as with
// many independent clients. It alternates edges, and per edge alternates
// GET /rest/v1/<table>?id=eq.N and GET /auth/v1/user, both with a real
// user's token; every twentieth request is Slow instead, when set (a request
// that takes a while, so a worker always has some in flight).
type Load struct {
	Edges       []string // base URLs
	Rate        int      // requests per second, all edges together
	Table       string
	Rows        int
	Slow        string // path of a slow idempotent request
	AnonKey     string
	UserToken   string
	Timeout     time.Duration // per request; an answer later than this is a failure
	MaxInFlight int
	// LocalAddr, when set, is the address requests are sent from.
	LocalAddr string

	client  *http.Client
	mu      sync.Mutex
	recs    []Record
	skipped int // ticks with MaxInFlight requests already waiting
	wg      sync.WaitGroup
	stop    context.CancelFunc
	stopped chan struct{}
}

// Record is one request of the load.
type Record struct {
	Sent, Done time.Time
	Edge       int
	Path       string
	Worker     string // X-Madbase-Worker of the answer
	RequestID  string // X-Request-Id of the answer
	Status     int
	Err        string
}

// Failed reports whether the request did not get a 200.
func (r Record) Failed() bool { return r.Err != "" || r.Status != http.StatusOK }

// Start begins sending; Stop ends it.
func (l *Load) Start() {
	if l.Timeout == 0 {
		l.Timeout = 30 * time.Second
	}
	if l.MaxInFlight == 0 {
		l.MaxInFlight = 1024
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if l.LocalAddr != "" {
		dialer.LocalAddr = &net.TCPAddr{IP: net.ParseIP(l.LocalAddr)}
	}
	l.client = &http.Client{
		Timeout: l.Timeout,
		Transport: &http.Transport{
			DialContext:         dialer.DialContext,
			MaxIdleConns:        l.MaxInFlight,
			MaxIdleConnsPerHost: l.MaxInFlight,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.stop = cancel
	l.stopped = make(chan struct{})
	sem := make(chan struct{}, l.MaxInFlight)
	go func() {
		defer close(l.stopped)
		t := time.NewTicker(time.Second / time.Duration(l.Rate))
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			select {
			case sem <- struct{}{}:
			default:
				l.mu.Lock()
				l.skipped++
				l.mu.Unlock()
				continue
			}
			edge, seq := i%len(l.Edges), i/len(l.Edges)
			var path string
			switch {
			case l.Slow != "" && seq%20 == 19:
				path = l.Slow
			case seq%2 == 0:
				path = "/rest/v1/" + l.Table + "?id=eq." + strconv.Itoa(1+seq%l.Rows)
			default:
				path = "/auth/v1/user"
			}
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				defer func() { <-sem }()
				l.add(l.do(edge, path))
			}()
		}
	}()
}

func (l *Load) do(edge int, path string) Record {
	r := Record{Sent: time.Now(), Edge: edge, Path: path}
	req, err := http.NewRequest(http.MethodGet, l.Edges[edge]+path, nil)
	if err != nil {
		r.Err, r.Done = err.Error(), time.Now()
		return r
	}
	req.Header.Set("apikey", l.AnonKey)
	req.Header.Set("Authorization", "Bearer "+l.UserToken)
	resp, err := l.client.Do(req)
	if err != nil {
		r.Err, r.Done = err.Error(), time.Now()
		return r
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	r.Done = time.Now()
	r.Status, r.Worker, r.RequestID = resp.StatusCode, resp.Header.Get("X-Madbase-Worker"), resp.Header.Get("X-Request-Id")
	switch {
	case err != nil:
		r.Err = "reading the body: " + err.Error()
	case r.Status != http.StatusOK:
		if len(body) > 120 {
			body = body[:120]
		}
		r.Err = fmt.Sprintf("status %d: %s", r.Status, body)
	}
	return r
}

func (l *Load) add(r Record) {
	l.mu.Lock()
	l.recs = append(l.recs, r)
	l.mu.Unlock()
}

// Stop stops sending and waits for every request sent to end.
func (l *Load) Stop() {
	if l.stop == nil {
		return
	}
	l.stop()
	<-l.stopped
	l.wg.Wait()
	l.client.CloseIdleConnections()
}

// Records returns a copy of the requests that have ended, in the order
// they ended.
func (l *Load) Records() []Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Record(nil), l.recs...)
}

// Skipped is how many requests were not sent because MaxInFlight requests
// were waiting already.
func (l *Load) Skipped() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.skipped
}

// FirstAnswers waits until worker has answered, through every edge, a
// request sent at or after since, and returns when each of those answers
// arrived; it gives up when ctx ends, returning what it saw.
func (l *Load) FirstAnswers(ctx context.Context, worker string, since time.Time) (map[int]time.Time, error) {
	seen := map[int]time.Time{}
	next := 0
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		l.mu.Lock()
		for ; next < len(l.recs); next++ {
			r := l.recs[next]
			if r.Worker == worker && !r.Sent.Before(since) && !r.Failed() {
				if t, ok := seen[r.Edge]; !ok || r.Done.Before(t) {
					seen[r.Edge] = r.Done
				}
			}
		}
		l.mu.Unlock()
		if len(seen) == len(l.Edges) {
			return seen, nil
		}
		select {
		case <-ctx.Done():
			return seen, fmt.Errorf("%s answered through %d of %d edges: %w", worker, len(seen), len(l.Edges), ctx.Err())
		case <-tick.C:
		}
	}
}

// WaitEnded waits until n requests sent at or after since have ended.
func (l *Load) WaitEnded(ctx context.Context, since time.Time, n int) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		count := 0
		l.mu.Lock()
		for i := len(l.recs) - 1; i >= 0 && count < n; i-- {
			if !l.recs[i].Sent.Before(since) {
				count++
			}
		}
		l.mu.Unlock()
		if count >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d requests ended: %w", count, n, ctx.Err())
		case <-tick.C:
		}
	}
}

// Window is what happened to the requests of one step.
type Window struct {
	Requests, Failed int
	Workers          map[string]int
	Errors           map[string]int // failure kinds and how many
	P99, Max         time.Duration  // latency of the requests other than slow

	lat []time.Duration
}

func (w *Window) add(r Record, slow string) {
	if w.Workers == nil {
		w.Workers, w.Errors = map[string]int{}, map[string]int{}
	}
	w.Requests++
	if r.Path != slow {
		w.lat = append(w.lat, r.Done.Sub(r.Sent))
	}
	if r.Worker != "" {
		w.Workers[r.Worker]++
	}
	if r.Failed() {
		w.Failed++
		kind := requestIDRE.ReplaceAllString(r.Err, "")
		if len(kind) > 150 {
			kind = kind[:150] + "…"
		}
		w.Errors[kind]++
	}
}

func (w *Window) finish() {
	if len(w.lat) > 0 {
		sort.Slice(w.lat, func(i, j int) bool { return w.lat[i] < w.lat[j] })
		w.P99, w.Max = w.lat[len(w.lat)*99/100], w.lat[len(w.lat)-1]
	}
	w.lat = nil
}

var requestIDRE = regexp.MustCompile(`,?"request_id":"[^"]*"`)

// LastSentTo is the latest send time, in [from, to), of a request that
// worker answered, and whether there was one: the moment the edges stopped
// giving it requests.
func LastSentTo(recs []Record, worker string, from, to time.Time) (time.Time, bool) {
	var last time.Time
	found := false
	for _, r := range recs {
		if r.Worker == worker && !r.Sent.Before(from) && r.Sent.Before(to) && r.Sent.After(last) {
			last, found = r.Sent, true
		}
	}
	return last, found
}
