// Package functions serves /functions/v1, the edge functions of
// docs/api/functions.md: TypeScript written for Supabase's Deno.serve,
// bundled at deploy time and run here in goja, a JavaScript engine in pure
// Go.
//
// Deployments: control publishes each function's metadata (version,
// verify_jwt, timeouts) in the bus.FunctionsBucket key-value bucket and its
// bundle in the bus.FunctionsObjectStore; the project's secrets are in the
// same bucket, sealed with MADBASE_ENCRYPTION_KEY. Manager.Run watches the
// bucket, so a deploy is seen within a moment of its publication; a version's
// bundle is fetched and compiled on its first invocation and kept while the
// version is current. An invocation keeps the version it started with.
//
// Instances: each version has a pool of warm instances (goja runtimes that
// ran the prelude of web APIs, prelude.js, and the bundle, which registered
// its handler with Deno.serve). An instance serves one invocation at a time
// and only its own function's version: nothing is shared between functions
// or projects. An instance that was interrupted, or whose invocation left
// timers or fetches running, is dropped rather than reused.
//
// Limits (engine.go): CPU time is the time spent running JavaScript
// (goja's Interrupt stops a loop); wall time bounds the whole invocation;
// memory is watched on the heap while JavaScript runs (approximate, see
// memGuard); the response body is capped. A runaway ends with the JSON
// error Supabase's runtime answers (546 WORKER_LIMIT, 504 for wall time),
// and the worker keeps serving.
package functions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"
	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/secretbox"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Timings of the bucket watch.
const (
	rewatchDelay = time.Second
	// syncWait is how long an invocation waits for the bucket's first read
	// (a worker just started) before it is answered 503.
	syncWait = 3 * time.Second
	// fetchTimeout bounds the download of a bundle.
	fetchTimeout = 10 * time.Second
)

// Options configure New.
type Options struct {
	// Config is the worker's configuration (the default project's).
	Config config.Worker
	// NATS is the connection the bucket is watched on; nil: no functions.
	NATS *nats.Conn
	Log  *slog.Logger
	// Registry takes the functions' metrics; nil keeps them unexported.
	Registry prometheus.Registerer
}

// Manager holds the deployed functions a worker knows and their warm
// instances.
type Manager struct {
	o          Options
	log        *slog.Logger
	box        *secretbox.Box
	defaultRef string
	guard      *memGuard
	metrics    *fnMetrics

	state  atomic.Pointer[state]
	mu     sync.Mutex
	synced chan struct{}
	once   sync.Once

	// versions holds the current version of every function that ran.
	vmu      sync.Mutex
	versions map[string]*version
}

// state is an immutable view of the bucket, replaced on every change.
type state struct {
	functions map[string]bus.FunctionConfig   // by bus.FunctionKey
	secrets   map[string]map[string]string    // by project ref, opened
	sealed    map[string]*bus.FunctionSecrets // as published
}

// New makes the manager; Run watches the bucket.
func New(o Options) *Manager {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{
		o: o, log: o.Log.With("component", "functions"),
		defaultRef: o.Config.DefaultProjectRef,
		guard:      newMemGuard(o.Config.FunctionsMaxMemoryBytes),
		synced:     make(chan struct{}),
		versions:   map[string]*version{},
	}
	if m.defaultRef == "" {
		m.defaultRef = "default"
	}
	if m.guard.limit == 0 {
		m.guard.limit = 256 << 20
	}
	if o.Config.EncryptionKey != "" {
		if key, err := secretbox.ParseKey(o.Config.EncryptionKey); err == nil {
			m.box, _ = secretbox.New(key)
		}
	}
	m.metrics, _ = newMetrics(o.Registry)
	if m.metrics == nil {
		m.metrics, _ = newMetrics(nil)
	}
	m.state.Store(&state{functions: map[string]bus.FunctionConfig{}, secrets: map[string]map[string]string{}, sealed: map[string]*bus.FunctionSecrets{}})
	return m
}

// Run watches the bucket until ctx is done.
func (m *Manager) Run(ctx context.Context) error {
	go m.guard.run(ctx)
	if m.o.NATS == nil {
		m.markSynced()
		<-ctx.Done()
		return nil
	}
	js, err := jetstream.New(m.o.NATS)
	if err != nil {
		return fmt.Errorf("functions: %w", err)
	}
	for {
		err := m.watch(ctx, js)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			m.log.Debug("functions: watching the bucket again", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(rewatchDelay):
		}
	}
}

func (m *Manager) markSynced() { m.once.Do(func() { close(m.synced) }) }

var errReconnected = errors.New("NATS reconnected")

// watch reads the bucket, then follows its changes until the watch fails or
// NATS reconnects (the bucket is then read again whole).
func (m *Manager) watch(ctx context.Context, js jetstream.JetStream) error {
	reconnects := m.o.NATS.Stats().Reconnects
	kv, err := js.KeyValue(ctx, bus.FunctionsBucket)
	if err != nil {
		// No JetStream or no bucket yet (control makes it with the first
		// deploy): no functions, as far as this worker can tell.
		m.markSynced()
		return err
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	initial := true
	seen := map[string]bool{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if m.o.NATS.Stats().Reconnects != reconnects {
				return errReconnected
			}
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("the watch ended")
			}
			if e == nil {
				if initial {
					m.prune(seen)
					initial = false
					m.markSynced()
				}
				continue
			}
			if initial {
				seen[e.Key()] = true
			}
			if e.Operation() != jetstream.KeyValuePut {
				m.remove(e.Key())
				continue
			}
			m.apply(e.Key(), e.Value())
		}
	}
}

// apply takes one key's new value.
func (m *Manager) apply(key string, value []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.state.Load()
	next := old.clone()
	switch {
	case strings.HasPrefix(key, "fn."):
		var fc bus.FunctionConfig
		if err := json.Unmarshal(value, &fc); err != nil || bus.FunctionKey(fc.Project, fc.Name) != key {
			m.log.Error("functions: undecodable function ignored", "key", key, "error", fmt.Sprint(err))
			return
		}
		if held, ok := old.functions[key]; ok && held.Version > fc.Version {
			return
		}
		next.functions[key] = fc
		m.log.Debug("functions: deployed", "project", fc.Project, "function", fc.Name, "version", fc.Version)
	case strings.HasPrefix(key, "secrets."):
		var fs bus.FunctionSecrets
		if err := json.Unmarshal(value, &fs); err != nil || bus.FunctionSecretsKey(fs.Project) != key {
			m.log.Error("functions: undecodable secrets ignored", "key", key, "error", fmt.Sprint(err))
			return
		}
		if held := old.sealed[fs.Project]; held != nil && held.Revision > fs.Revision {
			return
		}
		opened, err := m.open(&fs)
		if err != nil {
			m.log.Error("functions: secrets not applied (the old ones stay)", "project", fs.Project, "error", err.Error())
			return
		}
		next.sealed[fs.Project] = &fs
		next.secrets[fs.Project] = opened
	default:
		return
	}
	m.state.Store(next)
}

// open unseals a project's secrets.
func (m *Manager) open(fs *bus.FunctionSecrets) (map[string]string, error) {
	out := make(map[string]string, len(fs.Values))
	if len(fs.Values) == 0 {
		return out, nil
	}
	if m.box == nil {
		return nil, errors.New("MADBASE_ENCRYPTION_KEY is not set")
	}
	for k, v := range fs.Values {
		s, err := m.box.OpenString(v, bus.FunctionSecretContext(fs.Project, k))
		if err != nil {
			return nil, fmt.Errorf("secret %s: %w", k, err)
		}
		out[k] = s
	}
	return out, nil
}

func (m *Manager) remove(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	next := m.state.Load().clone()
	delete(next.functions, key)
	if ref, ok := strings.CutPrefix(key, "secrets."); ok {
		delete(next.secrets, ref)
		delete(next.sealed, ref)
	}
	m.state.Store(next)
}

// prune drops what the bucket no longer holds after a fresh read.
func (m *Manager) prune(seen map[string]bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	next := m.state.Load().clone()
	for k := range next.functions {
		if !seen[k] {
			delete(next.functions, k)
		}
	}
	for ref := range next.sealed {
		if !seen[bus.FunctionSecretsKey(ref)] {
			delete(next.secrets, ref)
			delete(next.sealed, ref)
		}
	}
	m.state.Store(next)
}

func (s *state) clone() *state {
	n := &state{
		functions: make(map[string]bus.FunctionConfig, len(s.functions)+1),
		secrets:   make(map[string]map[string]string, len(s.secrets)+1),
		sealed:    make(map[string]*bus.FunctionSecrets, len(s.sealed)+1),
	}
	for k, v := range s.functions {
		n.functions[k] = v
	}
	for k, v := range s.secrets {
		n.secrets[k] = v
	}
	for k, v := range s.sealed {
		n.sealed[k] = v
	}
	return n
}

// lookup finds a function of a project, waiting for the bucket's first
// read when the worker just started.
func (m *Manager) lookup(ctx context.Context, ref, name string) (bus.FunctionConfig, bool, error) {
	select {
	case <-m.synced:
	default:
		t := time.NewTimer(syncWait)
		defer t.Stop()
		select {
		case <-m.synced:
		case <-t.C:
			return bus.FunctionConfig{}, false, errNotSynced
		case <-ctx.Done():
			return bus.FunctionConfig{}, false, ctx.Err()
		}
	}
	fc, ok := m.state.Load().functions[bus.FunctionKey(ref, name)]
	return fc, ok, nil
}

var errNotSynced = errors.New("the functions are not known yet (NATS unreachable since start)")

// secrets returns a project's opened secrets (never changed: read only).
func (m *Manager) secrets(ref string) map[string]string {
	return m.state.Load().secrets[ref]
}

// version is one deployed version of a function: its compiled bundle and
// its pool of warm instances.
type version struct {
	cfg  bus.FunctionConfig
	mu   sync.Mutex
	prog *goja.Program
	pool chan *instance
	// coldStart observes the making of new instances.
	coldStart prometheus.Histogram
}

// versionOf returns the version cfg names, loading and compiling its bundle
// on first use. Older versions of the function are forgotten (their
// in-flight invocations keep theirs).
func (m *Manager) versionOf(ctx context.Context, cfg bus.FunctionConfig, poolSize int) (*version, error) {
	key := bus.FunctionKey(cfg.Project, cfg.Name)
	m.vmu.Lock()
	v := m.versions[key]
	if v == nil || v.cfg.Version < cfg.Version || v.cfg.Object != cfg.Object {
		v = &version{cfg: cfg, pool: make(chan *instance, max(poolSize, 0)), coldStart: m.metrics.coldStart}
		m.versions[key] = v
	}
	m.vmu.Unlock()
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.prog != nil {
		return v, nil
	}
	src, err := m.fetchBundle(ctx, cfg)
	if err != nil {
		return nil, err
	}
	prog, err := goja.Compile(cfg.Name+".js", string(src), false)
	if err != nil {
		return nil, fmt.Errorf("compiling the bundle: %w", err)
	}
	v.prog = prog
	return v, nil
}

// fetchBundle downloads a version's bundle and checks its digest.
func (m *Manager) fetchBundle(ctx context.Context, cfg bus.FunctionConfig) ([]byte, error) {
	if m.o.NATS == nil {
		return nil, errors.New("no NATS connection")
	}
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	js, err := jetstream.New(m.o.NATS)
	if err != nil {
		return nil, err
	}
	store, err := js.ObjectStore(ctx, bus.FunctionsObjectStore)
	if err != nil {
		return nil, fmt.Errorf("bundle store: %w", err)
	}
	b, err := store.GetBytes(ctx, cfg.Object)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", cfg.Object, err)
	}
	sum := sha256.Sum256(b)
	if cfg.SHA256 != "" && hex.EncodeToString(sum[:]) != cfg.SHA256 {
		return nil, fmt.Errorf("bundle %s: digest mismatch", cfg.Object)
	}
	return b, nil
}

// acquire takes a warm instance or makes one; cold tells which.
func (v *version) acquire(h *host, guard *memGuard, inv *invocation) (in *instance, cold bool, err error) {
	select {
	case in = <-v.pool:
		in.host = h
		return in, false, nil
	default:
	}
	start := time.Now()
	in, err = newInstance(v.prog, h, guard, inv)
	if err == nil && v.coldStart != nil {
		v.coldStart.Observe(time.Since(start).Seconds())
	}
	return in, true, err
}

// release puts an instance back in the pool when it may serve again.
func (v *version) release(in *instance, inv *invocation) {
	if !in.reusable(inv) {
		return
	}
	in.inv = nil
	select {
	case v.pool <- in:
	default:
	}
}
