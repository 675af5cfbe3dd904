// Package projects serves a worker's created projects beside its default
// project (the environment's, served by the worker's own app as before).
//
// Configuration: control publishes each project in the bus.ProjectsBucket
// key-value bucket. Manager.Run watches it: the current values first (until
// then a request naming a project waits up to syncWait, then gets 503), then
// every change, pushed by NATS. After NATS was away the whole bucket is read
// again; meanwhile every project keeps the configuration it had. A
// configuration is applied as Caddy applies one: unsealed with
// MADBASE_ENCRYPTION_KEY and checked as a worker checks its environment (the
// worker's configuration with the project's settings over it), and when the
// project has a runtime, a new runtime is built completely before it
// replaces the old one, which ends once its requests are answered. When any
// of that fails the old configuration and runtime stay, and the log says so.
// Older revisions are ignored; another id under the same ref is a new
// project; a deleted key is a deleted project.
//
// Runtimes: a project's runtime is its database pool (PROJECT_DB_MAX_CONNS
// connections unless its URL says pool_max_conns), a NATS connection of its
// own and a fiber app with the worker's capabilities on the project's deps
// (api.NewProject). It is built on the project's first request and closed
// after PROJECT_IDLE_TIMEOUT without requests nor realtime sockets. In it,
// realtime's subjects carry the ref instead of the default project's token,
// and its WAL reader starts with the first channel join; storage keeps the
// project's bytes under "projects/<ref>/" of the backend.
//
// Requests (Dispatch): the project is the Host's (or X-Forwarded-Host's)
// <ref>.<PROJECT_DOMAIN> when PROJECT_DOMAIN is set; else the one the key
// names: the unverified ref claim of the apikey JWT (or of the bearer, or of
// a storage signed URL's token), which the project then verifies with its
// own secret, or the owner of an sb_ key. A key naming another project than
// the Host's is refused (401). Anything else is the default project's.
// Without projects and PROJECT_DOMAIN, Dispatch costs one atomic load.
//
// Rotation: a project's retiring JWT secret verifies beside the current one
// until its retires_at (apikey.Retire, jwtauth.Verifier.WithRetiring).
//
// Observability: Dispatch counts every request under its project's label
// (madbase_worker_project_*; see MaxProjectLabels), the open runtimes'
// pools are exported the same way, and Projects tells the heartbeat which
// revision of each project serves and which was refused, and why.
package projects

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/shared/apierr"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/httpserver"
	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/madbase/madbase/shared/secretbox"
	"github.com/madbase/madbase/worker/internal/api"
	"github.com/madbase/madbase/worker/internal/apikey"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// Defaults for zero settings.
const (
	defaultMaxConns = 2
	defaultIdle     = 10 * time.Minute
	// buildTimeout bounds the opening of a runtime's database pool.
	buildTimeout = 10 * time.Second
	// buildRetry is how long a failed build is answered from memory before
	// the next request tries again.
	buildRetry = time.Second
	// syncWait is how long a request naming a project waits for the
	// bucket's first read (a worker just started) before it is refused.
	syncWait = 3 * time.Second
	// closeWait bounds how long a replaced or idle runtime waits for its
	// requests before it is closed anyway.
	closeWait = 30 * time.Second
)

// Options configure New.
type Options struct {
	// Config is the worker's validated configuration: the default
	// project's, and the base a project's settings override.
	Config config.Worker
	// NATS is the worker's connection, on which the bucket is watched.
	NATS *nats.Conn
	Log  *slog.Logger
	// BaseContext ends the runtimes' streams and background work.
	BaseContext context.Context
	Dev         bool
	// Capabilities make a project's app, as the worker's.
	Capabilities []api.Capability
	// Registry takes the metrics labelled by project (requests, errors,
	// database pools); nil keeps them unexported.
	Registry prometheus.Registerer
}

// Manager holds the worker's created projects.
type Manager struct {
	o          Options
	box        *secretbox.Box
	log        *slog.Logger
	defaultRef string
	// domain is "." + PROJECT_DOMAIN, empty when unset.
	domain   string
	maxConns int32
	idle     time.Duration
	// budget bounds the connections of every open runtime together.
	budget *budget

	// state is what requests read: one atomic load per request.
	state atomic.Pointer[state]
	// mu serializes the changes of state (watch, idle closing).
	mu sync.Mutex
	// defaultOpaque are the default project's opaque keys.
	defaultOpaque [2]string
	// synced is closed once the bucket was read.
	synced     chan struct{}
	syncedOnce sync.Once
	// cancelOwn ends BaseContext when the caller gave none.
	cancelOwn context.CancelFunc
	metrics   *metrics
}

// state is an immutable view of the projects, replaced on every change.
type state struct {
	// synced: the bucket's content was read once; before that a request
	// naming a project waits for it (503) rather than being served by
	// another.
	synced bool
	// quiet: synced, no project and no PROJECT_DOMAIN: every request is
	// the default project's, as without projects.
	quiet    bool
	projects map[string]*project
	// opaque maps the sb_ keys of every project to its ref.
	opaque map[string]string
}

// New makes the manager; Run watches the bucket. It fails when
// MADBASE_ENCRYPTION_KEY is not a valid key.
func New(o Options) (*Manager, error) {
	key, err := secretbox.ParseKey(o.Config.EncryptionKey)
	if err != nil {
		return nil, fmt.Errorf("projects: MADBASE_ENCRYPTION_KEY: %w", err)
	}
	box, err := secretbox.New(key)
	if err != nil {
		return nil, fmt.Errorf("projects: MADBASE_ENCRYPTION_KEY: %w", err)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	var cancelOwn context.CancelFunc
	if o.BaseContext == nil {
		// Nothing else ends the runtimes' streams: Run's end does.
		o.BaseContext, cancelOwn = context.WithCancel(context.Background())
	}
	m := &Manager{
		o: o, box: box, log: o.Log.With("component", "projects"),
		defaultRef: o.Config.DefaultProjectRef,
		maxConns:   int32(o.Config.ProjectDBMaxConns),
		idle:       o.Config.ProjectIdleTimeout,
		budget:     newBudget(o.Config.ProjectDBTotalConns),
		synced:     make(chan struct{}),
		cancelOwn:  cancelOwn,
	}
	if m.defaultRef == "" {
		m.defaultRef = "default"
	}
	if d := strings.ToLower(o.Config.ProjectDomain); d != "" {
		m.domain = "." + strings.TrimPrefix(d, ".")
	}
	if m.maxConns <= 0 {
		m.maxConns = defaultMaxConns
	}
	if m.idle <= 0 {
		m.idle = defaultIdle
	}
	if o.Config.JWTSecret != "" {
		m.defaultOpaque[0], m.defaultOpaque[1] = jwtauth.OpaqueKeys([]byte(o.Config.JWTSecret))
	}
	if m.metrics, err = newMetrics(o.Registry, m.defaultRef, newPoolCollector(m)); err != nil {
		if cancelOwn != nil {
			cancelOwn()
		}
		return nil, fmt.Errorf("projects: metrics: %w", err)
	}
	m.state.Store(&state{projects: map[string]*project{}, opaque: map[string]string{}})
	return m, nil
}

// Run watches the bucket and closes idle runtimes until ctx is done, then
// closes every runtime. After NATS was away it reads the whole bucket again;
// meanwhile projects keep the configuration they had.
func (m *Manager) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); m.closeIdle(ctx) }()
	defer func() {
		wg.Wait()
		// Projects' streams end with the worker's (BaseContext is
		// cancelled once requests had their grace), then their runtimes
		// close.
		if m.cancelOwn != nil {
			m.cancelOwn()
		}
		<-m.o.BaseContext.Done()
		m.closeAll()
	}()
	return bus.WatchProjects(ctx, m.o.NATS, m.log, bus.ProjectEvents{
		Put:    func(pc bus.ProjectConfig, _ bool) { m.apply(pc) },
		Delete: func(ref string, _ bool) { m.remove(ref) },
		// Without JetStream control cannot publish projects, and without
		// the bucket it has made none yet: either way the worker knows
		// what there is (projects known already stay: a lost bucket is
		// refilled by control's resync).
		Synced: func(present map[string]bool, _ bool) { m.markSynced(present) },
	})
}

// markSynced records that the bucket was read; with seen set, projects the
// bucket no longer holds were deleted meanwhile.
func (m *Manager) markSynced(seen map[string]bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.state.Load()
	projects := st.projects
	if seen != nil {
		projects = map[string]*project{}
		for ref, p := range st.projects {
			if seen[ref] {
				projects[ref] = p
			} else {
				m.log.Info("projects: project deleted", "project", ref)
				p.retire()
				m.metrics.release(ref)
			}
		}
	}
	m.publish(projects, true)
	m.syncedOnce.Do(func() { close(m.synced) })
}

// publish stores a new state. Caller holds m.mu.
func (m *Manager) publish(projects map[string]*project, synced bool) {
	st := &state{synced: synced, projects: projects, opaque: map[string]string{}}
	st.quiet = synced && len(projects) == 0 && m.domain == ""
	for ref, p := range projects {
		if sp := p.spec.Load(); sp != nil {
			for _, k := range sp.opaque {
				st.opaque[k] = ref
			}
		}
	}
	for _, k := range m.defaultOpaque {
		if k != "" {
			st.opaque[k] = m.defaultRef
		}
	}
	m.state.Store(st)
}

// apply takes one published configuration.
func (m *Manager) apply(pc bus.ProjectConfig) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.state.Load()
	ref := pc.Ref
	log := m.log.With("project", ref, "revision", pc.Revision)
	if ref == m.defaultRef {
		log.Error("projects: a project may not take the default project's ref; ignored")
		return
	}
	old := st.projects[ref]
	if old != nil && old.id == pc.ID && pc.Revision <= old.revision.Load() {
		return // stale or known
	}
	sp, err := m.open(pc)
	if err != nil {
		log.Error("projects: configuration not applied; the previous one stays", "error", err.Error())
		if old != nil && old.id == pc.ID {
			old.refuse(pc.Revision, err)
			old.revision.Store(pc.Revision)
			return
		}
		// A new project whose configuration does not open: its requests
		// are refused until a good revision arrives.
		sp = nil
	}
	if old == nil || old.id != pc.ID {
		p := &project{m: m, ref: ref, id: pc.ID, series: m.metrics.of(ref)}
		p.revision.Store(pc.Revision)
		if sp != nil {
			p.spec.Store(sp)
		} else {
			p.refuse(pc.Revision, err)
		}
		projects := cloneMap(st.projects)
		projects[ref] = p
		if old != nil {
			log.Info("projects: project replaced (new id)")
			old.retire()
		} else {
			log.Info("projects: project added")
		}
		m.publish(projects, st.synced)
		return
	}
	// The revision counts as taken once it serves or was refused.
	defer old.revision.Store(pc.Revision)
	if err := old.update(sp); err != nil {
		log.Error("projects: new configuration failed to build; the previous one keeps serving", "error", err.Error())
		old.refuse(pc.Revision, err)
		return
	}
	log.Info("projects: configuration applied")
	m.publish(st.projects, st.synced)
}

// remove forgets a deleted project; its runtime ends after its requests.
func (m *Manager) remove(ref string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.state.Load()
	p := st.projects[ref]
	if p == nil {
		return
	}
	projects := cloneMap(st.projects)
	delete(projects, ref)
	p.retire()
	m.metrics.release(ref)
	m.log.Info("projects: project deleted", "project", ref)
	m.publish(projects, st.synced)
}

// closeIdle closes the runtimes without requests for the idle time.
func (m *Manager) closeIdle(ctx context.Context) {
	every := min(max(m.idle/4, 10*time.Millisecond), 30*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, p := range m.state.Load().projects {
			p.closeIfIdle(m.idle)
		}
	}
}

// closeAll closes every runtime once its requests are answered, and
// returns when they are closed.
func (m *Manager) closeAll() {
	m.mu.Lock()
	var closing []*runtime
	for _, p := range m.state.Load().projects {
		if rt := p.retire(); rt != nil {
			closing = append(closing, rt)
		}
	}
	m.mu.Unlock()
	for _, rt := range closing {
		<-rt.closed
	}
}

// Revision is the revision of ref's configuration the worker took (served
// or refused), 0 for an unknown project. For tests and operators.
func (m *Manager) Revision(ref string) int64 {
	if p := m.state.Load().projects[ref]; p != nil {
		return p.revision.Load()
	}
	return 0
}

// Projects is what the worker runs of each project it holds, for its
// heartbeat: at most bus.MaxHeartbeatProjects of them, the first refs in
// order, and whether some were left out. The map is empty, not nil, while
// the worker holds none.
func (m *Manager) Projects() (map[string]bus.ProjectRevision, bool) {
	projects := m.state.Load().projects
	refs := make([]string, 0, len(projects))
	for ref := range projects {
		refs = append(refs, ref)
	}
	truncated := len(refs) > bus.MaxHeartbeatProjects
	if truncated {
		slices.Sort(refs)
		refs = refs[:bus.MaxHeartbeatProjects]
	}
	out := make(map[string]bus.ProjectRevision, len(refs))
	for _, ref := range refs {
		out[ref] = projects[ref].running()
	}
	return out, truncated
}

// Active reports whether ref's runtime is open (its pool and app).
func (m *Manager) Active(ref string) bool {
	p := m.state.Load().projects[ref]
	return p != nil && p.rt.Load() != nil
}

// Synced reports whether the bucket was read once.
func (m *Manager) Synced() bool { return m.state.Load().synced }

func cloneMap(in map[string]*project) map[string]*project {
	out := make(map[string]*project, len(in)+1)
	for k, v := range in {
		out[k] = v
	}
	return out
}

// Error messages of dispatch, the default JSON shape {"error", "code"}.
var (
	errOtherProject = "the API key belongs to another project"
	errNotLoaded    = "the project's configuration is not loaded yet; try again"
)

// Dispatch sends a created project's request to its runtime, and the
// default project's on (c.Next). The project is the Host's
// <ref>.<PROJECT_DOMAIN> when PROJECT_DOMAIN is set, else the one of the
// apikey (or bearer) key: the unverified ref claim of a JWT, which the
// project then verifies with its own secret, or an opaque key's owner. A
// key of another project than the Host's is refused (401). Without
// projects and PROJECT_DOMAIN it costs one atomic load.
//
// Every request is counted under its project's label (see
// MaxProjectLabels); one refused before a project was chosen counts as
// OtherProject.
func (m *Manager) Dispatch(c *fiber.Ctx) error {
	start := time.Now()
	st := m.state.Load()
	if st.quiet {
		err := c.Next()
		return m.metrics.defaultProject.done(c, start, err)
	}
	s, err := m.dispatch(c, st)
	return s.done(c, start, err)
}

// dispatch answers c and says whose request it was.
func (m *Manager) dispatch(c *fiber.Ctx, st *state) (*series, error) {
	hostRef := m.hostRef(c)
	keyRef := m.keyRef(st, c.Get("apikey"))
	if keyRef == "" {
		keyRef = m.keyRef(st, c.Query("apikey"))
	}
	if keyRef == "" {
		if h := c.Get(fiber.HeaderAuthorization); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			keyRef = m.keyRef(st, strings.TrimSpace(h[7:]))
		}
	}
	if keyRef == "" {
		// A storage signed URL's token.
		keyRef = m.keyRef(st, c.Query("token"))
	}
	target := keyRef
	if hostRef != "" {
		if keyRef != "" && keyRef != hostRef {
			return m.metrics.other, apierr.Unauthorized(errOtherProject)
		}
		target = hostRef
	}
	if target == "" || target == m.defaultRef {
		return m.metrics.defaultProject, c.Next()
	}
	p := st.projects[target]
	if p == nil && !st.synced {
		// Just started: wait a moment for the bucket's first read.
		t := time.NewTimer(syncWait)
		select {
		case <-m.synced:
		case <-t.C:
		}
		t.Stop()
		st = m.state.Load()
		p = st.projects[target]
	}
	if p == nil {
		switch {
		case !st.synced:
			return m.metrics.other, apierr.Unavailable(errNotLoaded)
		case hostRef != "":
			return m.metrics.other, apierr.NotFound("no project " + target)
		}
		// An unknown ref claim: the default project verifies the key
		// with its own secret (and refuses what it did not sign).
		return m.metrics.defaultProject, c.Next()
	}
	return p.series, p.serve(c)
}

// hostRef is the project the Host (or the edge's X-Forwarded-Host) names,
// the default project's ref for the bare domain, "" for another host.
func (m *Manager) hostRef(c *fiber.Ctx) string {
	if m.domain == "" {
		return ""
	}
	host := c.Get(fiber.HeaderXForwardedHost)
	if first, _, found := strings.Cut(host, ","); found {
		host = strings.TrimSpace(first)
	}
	if host == "" {
		host = string(c.Request().Host())
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	label, ok := strings.CutSuffix(host, m.domain)
	if !ok || label == "" || strings.ContainsRune(label, '.') {
		return ""
	}
	return label
}

// keyRef is the project a key names: "" when it names none (no key, a
// JWT without ref, an unknown opaque key), the default project's ref for
// its keys.
func (m *Manager) keyRef(st *state, key string) string {
	if key == "" {
		return ""
	}
	if strings.HasPrefix(key, "sb_") {
		return st.opaque[key]
	}
	ref := jwtauth.UnverifiedRef(key)
	if ref == jwtauth.Ref {
		return m.defaultRef
	}
	return ref
}

// project is one created project on this worker.
type project struct {
	m   *Manager
	ref string
	id  string
	// series count its requests.
	series *series
	// revision is the newest revision taken, applied or refused.
	revision atomic.Int64
	// spec is the configuration served; nil when none opened yet.
	spec atomic.Pointer[spec]
	// rt is the open runtime, nil until the first request and after an
	// idle close.
	rt atomic.Pointer[runtime]
	// carry is what its capabilities keep from one runtime to the next
	// (api.Deps.Carry).
	carry sync.Map

	// mu serializes building and replacing the runtime.
	mu       sync.Mutex
	retired  bool
	failed   error
	failedAt time.Time
	// good is the last configuration a runtime was built from.
	good *spec
	// refused is the newest revision that could not be applied; nil when
	// none was.
	refused atomic.Pointer[refusal]
}

// refusal is a revision a project could not apply, and why.
type refusal struct {
	revision int64
	reason   string
}

// refuse records that revision could not be applied because of err.
func (p *project) refuse(revision int64, err error) {
	p.refused.Store(&refusal{revision: revision, reason: refusalReason(err)})
}

// running is what the worker runs of the project for its heartbeat: the
// revision serving (the open runtime's, else the configuration taken) and
// the newest refused one when it is newer.
func (p *project) running() bus.ProjectRevision {
	var out bus.ProjectRevision
	if rt := p.rt.Load(); rt != nil {
		out.Revision = rt.spec.revision
	} else if sp := p.spec.Load(); sp != nil {
		out.Revision = sp.revision
	}
	if r := p.refused.Load(); r != nil && r.revision > out.Revision {
		out.Refused, out.Reason = r.revision, r.reason
	}
	return out
}

// refusalReason is err as one line of at most bus.MaxRefusalReason bytes.
// The errors of opening and building name what failed (a variable, the
// database) and never hold a secret: secrets are unsealed after their
// context is checked and never quoted, and pgx writes a URL's password as
// xxxxx.
func refusalReason(err error) string {
	r := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
	if len(r) > bus.MaxRefusalReason {
		r = strings.ToValidUTF8(r[:bus.MaxRefusalReason-3], "") + "..."
	}
	return r
}

// serve answers c with the project's runtime, opening it first if needed.
func (p *project) serve(c *fiber.Ctx) error {
	for {
		rt, err := p.runtime()
		if err != nil {
			return err
		}
		rt.inFlight.Add(1)
		if rt.closing.Load() {
			// Replaced or closed between the load and the count: take
			// the current one.
			rt.inFlight.Add(-1)
			continue
		}
		// One request id in both apps' logs and answers.
		c.Request().Header.Set(httpserver.HeaderRequestID, httpserver.RequestID(c))
		rt.handler(c.Context())
		rt.lastUsed.Store(time.Now().UnixNano())
		if rt.inFlight.Add(-1) == 0 {
			p.m.budget.idle()
		}
		return nil
	}
}

func (p *project) runtime() (*runtime, error) {
	if rt := p.rt.Load(); rt != nil {
		return rt, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if rt := p.rt.Load(); rt != nil {
		return rt, nil
	}
	unavailable := apierr.Unavailable("project " + p.ref + " is unavailable")
	if p.retired {
		return nil, apierr.NotFound("no project " + p.ref)
	}
	sp := p.spec.Load()
	if sp == nil {
		return nil, unavailable
	}
	if p.failed != nil && time.Since(p.failedAt) < buildRetry {
		return nil, unavailable
	}
	conns := p.m.conns()
	if err := p.m.reserve(p.m.o.BaseContext, p, conns); err != nil {
		return nil, err
	}
	rt, err := p.m.build(p.ref, sp, conns, &p.carry)
	if err != nil && p.good != nil && p.good != sp {
		// The configuration taken while the project was closed does not
		// build: the last one that did keeps serving, as it would have had
		// the project been open.
		p.m.log.Error("projects: new configuration failed to build; the previous one keeps serving",
			"project", p.ref, "revision", sp.revision, "error", err.Error())
		p.refuse(sp.revision, err)
		sp = p.good
		rt, err = p.m.build(p.ref, sp, conns, &p.carry)
	}
	if err != nil {
		p.m.budget.release(conns)
		p.failed, p.failedAt = err, time.Now()
		p.refuse(sp.revision, err)
		p.m.log.Error("projects: cannot open the project", "project", p.ref, "error", err.Error())
		return nil, unavailable.WithInternal(err)
	}
	p.failed, p.good = nil, sp
	p.rt.Store(rt)
	return rt, nil
}

// update takes a newer configuration of the project: when a runtime is
// open, a new one is built first and replaces it; on failure nothing
// changes.
func (p *project) update(sp *spec) error {
	if sp == nil {
		return errors.New("the configuration does not open")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.rt.Load()
	if old == nil {
		p.spec.Store(sp)
		p.failed = nil
		return nil
	}
	// The old runtime gives its connections back once its requests are
	// answered: the new one may exceed the budget meanwhile.
	conns := p.m.conns()
	p.m.budget.force(conns)
	rt, err := p.m.build(p.ref, sp, conns, &p.carry)
	if err != nil {
		p.m.budget.release(conns)
		return err
	}
	p.spec.Store(sp)
	p.failed, p.good = nil, sp
	p.rt.Store(rt)
	old.close()
	return nil
}

// retire closes the project for good (deleted or replaced), and returns
// the runtime it closes, if any.
func (p *project) retire() *runtime {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.retired = true
	if sp := p.spec.Load(); sp != nil {
		apikey.Forget(sp.cfg.JWTSecret)
		_ = apikey.UseKeys(sp.cfg.JWTSecret, nil)
	}
	rt := p.rt.Swap(nil)
	if rt != nil {
		rt.close()
	}
	return rt
}

// closeIfIdle closes the runtime after idle without requests nor open
// realtime sockets.
func (p *project) closeIfIdle(idle time.Duration) {
	rt := p.rt.Load()
	if rt == nil || rt.inFlight.Load() > 0 || time.Since(time.Unix(0, rt.lastUsed.Load())) < idle || rt.sockets() > 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rt.Load() != rt || rt.inFlight.Load() > 0 {
		return
	}
	p.rt.Store(nil)
	p.m.log.Info("projects: closing an idle project", "project", p.ref)
	rt.close()
}

// runtime is what serves a project: its app on its pool.
type runtime struct {
	spec     *spec
	pool     *pgxpool.Pool
	nc       *nats.Conn
	reg      *prometheus.Registry
	handler  fasthttp.RequestHandler
	cancel   context.CancelFunc
	inFlight atomic.Int64
	lastUsed atomic.Int64
	closing  atomic.Bool
	// closed is closed once the pool and the connection are.
	closed chan struct{}
	// budget gets conns back once the pool is closed.
	budget *budget
	conns  int
	// background is the capabilities' work that ends with cancel.
	background sync.WaitGroup
}

// close ends the runtime once its requests are answered: streams end, the
// NATS connection and the pool close.
func (rt *runtime) close() {
	if !rt.closing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer close(rt.closed)
		deadline := time.Now().Add(closeWait)
		for rt.inFlight.Load() > 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		rt.cancel()
		// Their last words (realtime's presence leave) go out before
		// the connection closes.
		ended := make(chan struct{})
		go func() { rt.background.Wait(); close(ended) }()
		select {
		case <-ended:
		case <-time.After(closeWait):
		}
		if rt.nc != nil {
			_ = rt.nc.FlushTimeout(time.Second)
			rt.nc.Close()
		}
		rt.pool.Close()
		rt.budget.release(rt.conns)
	}()
}

// sockets is how many realtime WebSockets the runtime holds open.
func (rt *runtime) sockets() float64 {
	mfs, err := rt.reg.Gather()
	if err != nil {
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() == "madbase_worker_realtime_sockets" {
			for _, m := range mf.GetMetric() {
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}
