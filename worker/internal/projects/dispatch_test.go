package projects

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/secretbox"
	"github.com/madbase/madbase/worker/internal/api"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"
)

// TestQuietDispatchAllocatesNothing: without projects and PROJECT_DOMAIN, a
// worker with the manager answers the default project's requests with no
// allocation more than one without it.
func TestQuietDispatchAllocatesNothing(t *testing.T) {
	var cfg config.Worker
	require.NoError(t, config.Load(&cfg, config.Map(map[string]string{
		"JWT_SECRET": "quiet-secret-0123456789abcdef0123456789", "MADBASE_ENCRYPTION_KEY": secretbox.EncodeKey(secretbox.NewKey()),
	})))
	m, err := New(Options{Config: cfg})
	require.NoError(t, err)
	m.markSynced(map[string]bool{})

	hello := func(r fiber.Router, _ api.Deps) {
		r.Get("/rest/v1/items", func(c *fiber.Ctx) error { return c.SendString("ok") })
	}
	allocs := func(dispatch fiber.Handler) float64 {
		a := api.New(api.Options{Capabilities: []api.Capability{hello}, Dispatch: dispatch})
		h := a.Fiber.Handler()
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI("/rest/v1/items")
		ctx.Request.Header.Set("apikey", "eyJhbGciOiJIUzI1NiJ9.eyJyZWYiOiJtYWRiYXNlIn0.x")
		n := testing.AllocsPerRun(200, func() {
			ctx.Response.Reset()
			h(&ctx)
		})
		require.Equal(t, "ok", string(ctx.Response.Body()))
		return n
	}
	require.Equal(t, allocs(nil), allocs(m.Dispatch))
}

// TestHeartbeatProjectsAreBounded: a heartbeat lists at most
// bus.MaxHeartbeatProjects projects, the first refs, and says it left some
// out; a worker holding none sends an empty map, not null.
func TestHeartbeatProjectsAreBounded(t *testing.T) {
	var cfg config.Worker
	require.NoError(t, config.Load(&cfg, config.Map(map[string]string{
		"JWT_SECRET": "quiet-secret-0123456789abcdef0123456789", "MADBASE_ENCRYPTION_KEY": secretbox.EncodeKey(secretbox.NewKey()),
	})))
	m, err := New(Options{Config: cfg})
	require.NoError(t, err)
	running, truncated := m.Projects()
	require.NotNil(t, running)
	require.Empty(t, running)
	require.False(t, truncated)

	all := map[string]*project{}
	for i := range bus.MaxHeartbeatProjects + 5 {
		p := &project{m: m, ref: fmt.Sprintf("p%05d", i)}
		p.spec.Store(&spec{revision: int64(i)})
		all[p.ref] = p
	}
	m.mu.Lock()
	m.publish(all, true)
	m.mu.Unlock()
	running, truncated = m.Projects()
	require.True(t, truncated)
	require.Len(t, running, bus.MaxHeartbeatProjects)
	require.Equal(t, bus.ProjectRevision{Revision: 0}, running["p00000"])
	require.Equal(t, int64(bus.MaxHeartbeatProjects-1), running[fmt.Sprintf("p%05d", bus.MaxHeartbeatProjects-1)].Revision)
	require.NotContains(t, running, fmt.Sprintf("p%05d", bus.MaxHeartbeatProjects))
}

func TestRefusalReason(t *testing.T) {
	require.Equal(t, "A: bad; B: worse", refusalReason(errors.New("A: bad\nB:  worse")))
	long := refusalReason(errors.New(strings.Repeat("é", 300)))
	require.LessOrEqual(t, len(long), bus.MaxRefusalReason)
	require.True(t, utf8.ValidString(long))
	require.True(t, strings.HasSuffix(long, "..."))
}

// TestProjectLabelsAreBounded: the first MaxProjectLabels projects have a
// label of their own, the others share "other", and a deleted project's
// label is freed with its series.
func TestProjectLabelsAreBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := newMetrics(reg, "default", newPoolCollector(nil))
	require.NoError(t, err)
	for i := range MaxProjectLabels {
		s := m.of(fmt.Sprintf("p%03d", i))
		require.Equal(t, fmt.Sprintf("p%03d", i), s.label)
	}
	require.Equal(t, OtherProject, m.of("late").label)
	require.Equal(t, "p007", m.of("p007").label, "a labelled project keeps its label")
	require.Equal(t, OtherProject, m.label("late"))
	require.Equal(t, (MaxProjectLabels+2)*5, testutil.CollectAndCount(m.requests), "five classes for each project, default and other")

	m.release("p007")
	require.Equal(t, (MaxProjectLabels+1)*5, testutil.CollectAndCount(m.requests))
	require.Equal(t, MaxProjectLabels+1, testutil.CollectAndCount(m.duration))
	require.Equal(t, "late", m.of("late").label, "a freed label goes to the next project")
}
