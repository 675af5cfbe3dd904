package worker

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"
)

// TestBusyFollowsTheServer: a connection counts as busy from its request's
// first byte until its answer is written, as the server reports it.
func TestBusyFollowsTheServer(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ln := newTrackingListener(raw)
	release := make(chan struct{})
	srv := &fasthttp.Server{ConnState: connState, Handler: func(ctx *fasthttp.RequestCtx) {
		<-release
		ctx.SetBodyString("done")
	}}
	go func() { _ = srv.Serve(ln) }()
	defer func() { _ = srv.Shutdown() }()

	res := make(chan error, 1)
	go func() {
		r, err := http.Get("http://" + raw.Addr().String() + "/")
		if err == nil {
			r.Body.Close()
		}
		res <- err
	}()
	waitFor(t, func() bool { return ln.busy() == 1 }, "the request's connection is busy while its handler runs")
	close(release)
	require.NoError(t, <-res)
	waitFor(t, func() bool { return ln.busy() == 0 }, "and idle once its answer is written")
}

func waitFor(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
