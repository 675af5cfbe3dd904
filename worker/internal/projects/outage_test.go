package projects

import (
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"
)

// TestProjectsOutlastNATS: a worker started while NATS is away serves the
// default project and refuses a project's requests (503) until it read the
// bucket; once it has, projects keep serving while NATS is away, and a
// change made after NATS came back (with its bucket lost, as an embedded
// NATS loses it) is applied.
func TestProjectsOutlastNATS(t *testing.T) {
	r := bustest.RunRestartable(t)
	f := newFixtureOn(t, r.URL(), nil)
	a, b := f.newProject("alpha"), f.newProject("beta")
	anonA, anonB := key(t, a.secret, "alpha", "anon"), key(t, b.secret, "beta", "anon")
	defKey := key(t, f.defSec, jwtauth.Ref, "anon")

	r.Stop()
	w := f.startWorker()
	res := w.do(t, "GET", "/rest/v1/items?select=owner", "", anonA, nil)
	require.Equal(t, 503, res.status, res.body)
	require.Contains(t, res.body, `"error":"the project's configuration is not loaded yet; try again"`)
	res = w.do(t, "GET", "/rest/v1/items?select=owner", "", defKey, nil)
	require.Equal(t, 200, res.status, res.body)
	require.JSONEq(t, `[{"owner":"default"}]`, res.body)

	r.Start()
	f.publish(a)
	f.publish(b)
	w.waitRevision(t, "alpha", 1)
	w.waitRevision(t, "beta", 1)
	res = w.do(t, "GET", "/rest/v1/items?select=owner", "", anonA, nil)
	require.Equal(t, 200, res.status, res.body)

	r.Stop()
	res = w.do(t, "GET", "/rest/v1/items?select=owner", "", anonA, nil)
	require.Equal(t, 200, res.status, res.body)
	// beta had no runtime yet: it opens one while NATS is away.
	res = w.do(t, "GET", "/rest/v1/items?select=owner", "", anonB, nil)
	require.Equal(t, 200, res.status, res.body)
	require.JSONEq(t, `[{"owner":"beta"}]`, res.body)

	r.Start()
	_, err := poolOf(t, a.dbURL).Exec(t.Context(), `insert into public.items values (2, 'alpha')`)
	require.NoError(t, err)
	a.revision, a.settings = 2, map[string]string{"DB_MAX_ROWS": "1"}
	f.publish(a)
	w.waitRevision(t, "alpha", 2)
	res = w.do(t, "GET", "/rest/v1/items?select=id", "", anonA, nil)
	require.JSONEq(t, `[{"id":1}]`, res.body)
}

// TestIdleProjectsClose: a project's runtime closes after
// PROJECT_IDLE_TIMEOUT without requests, and the next request opens it
// again, with the last configuration that built.
func TestIdleProjectsClose(t *testing.T) {
	f := newFixtureOn(t, bustest.RunServer(t).URL(), map[string]string{"PROJECT_IDLE_TIMEOUT": "1s"})
	a := f.newProject("alpha")
	f.publish(a)
	w := f.startWorker()
	w.waitRevision(t, "alpha", 1)
	require.False(t, w.m.Active("alpha"), "a runtime is opened by the first request only")
	anonA := key(t, a.secret, "alpha", "anon")
	res := w.do(t, "GET", "/rest/v1/items?select=owner", "", anonA, nil)
	require.Equal(t, 200, res.status, res.body)
	require.True(t, w.m.Active("alpha"))
	bustest.Eventually(t, 10*time.Second, func() bool { return !w.m.Active("alpha") }, "alpha's runtime not closed")

	// An open realtime socket keeps the runtime open.
	u := "ws" + strings.TrimPrefix(w.url, "http") + "/realtime/v1/websocket?vsn=2.0.0&apikey=" + anonA
	conn, hres, err := websocket.DefaultDialer.Dial(u, nil)
	require.NoError(t, err)
	if hres != nil && hres.Body != nil {
		hres.Body.Close()
	}
	p := w.m.state.Load().projects["alpha"]
	bustest.Eventually(t, 10*time.Second, func() bool { rt := p.rt.Load(); return rt != nil && rt.sockets() == 1 }, "the socket is not counted")
	p.closeIfIdle(0)
	require.True(t, w.m.Active("alpha"), "a runtime with an open socket is not idle")
	require.NoError(t, conn.Close())
	bustest.Eventually(t, 10*time.Second, func() bool { return !w.m.Active("alpha") }, "alpha's runtime not closed after its socket")

	res = w.do(t, "GET", "/rest/v1/items?select=owner", "", anonA, nil)
	require.Equal(t, 200, res.status, res.body)
	require.JSONEq(t, `[{"owner":"alpha"}]`, res.body)

	// A revision that does not build, taken while the project is closed:
	// the one that did keeps serving when it opens again.
	bustest.Eventually(t, 10*time.Second, func() bool { return !w.m.Active("alpha") }, "alpha's runtime not closed")
	bad := *a
	bad.revision, bad.dbURL = 2, "postgres://nobody:pw@127.0.0.1:1/none?connect_timeout=1"
	f.publish(&bad)
	w.waitRevision(t, "alpha", 2)
	res = w.do(t, "GET", "/rest/v1/items?select=owner", "", anonA, nil)
	require.Equal(t, 200, res.status, res.body)
	require.JSONEq(t, `[{"owner":"alpha"}]`, res.body)
	require.Contains(t, w.log.String(), `msg="projects: new configuration failed to build; the previous one keeps serving" component=projects project=alpha revision=2`)
	running, _ := w.m.Projects()
	require.Equal(t, int64(1), running["alpha"].Revision, "revision 1 serves")
	require.Equal(t, int64(2), running["alpha"].Refused)
}

// TestNoJetStreamMeansNoProjects: on a NATS without JetStream, where
// control cannot publish projects, the worker knows there are none and
// every request is the default project's at once.
func TestNoJetStreamMeansNoProjects(t *testing.T) {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	require.NoError(t, err)
	go s.Start()
	t.Cleanup(s.Shutdown)
	require.True(t, s.ReadyForConnections(10*time.Second))
	f := newFixtureOn(t, s.ClientURL(), nil)
	w := f.startWorker()
	bustest.Eventually(t, 10*time.Second, w.m.Synced, "the worker never settled on no projects")
	res := w.do(t, "GET", "/rest/v1/items?select=owner", "", key(t, f.defSec, "some-other-ref", "anon"), nil)
	require.Equal(t, 200, res.status, res.body)
	require.JSONEq(t, `[{"owner":"default"}]`, res.body)
}
