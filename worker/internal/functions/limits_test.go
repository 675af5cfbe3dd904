package functions

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/madbase/madbase/bus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestLimits: each runaway ends with the documented error and the next
// request is served as usual.
func TestLimits(t *testing.T) {
	a := newTestApp(t, map[string]string{
		"FUNCTIONS_CPU_TIMEOUT":        "300ms",
		"FUNCTIONS_WALL_TIMEOUT":       "2s",
		"FUNCTIONS_MAX_MEMORY_BYTES":   "67108864",
		"FUNCTIONS_MAX_RESPONSE_BYTES": "100000",
		"FUNCTIONS_FETCH_ALLOW_HOSTS":  "allowed.invalid",
	})
	refused := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the refused host was reached")
	}))
	defer refused.Close()
	a.install("ok", `Deno.serve(() => new Response("fine"))`, false)
	cases := []struct {
		name, src  string
		wantStatus int
		wantBody   string
	}{
		{"loop", `Deno.serve(() => { for (;;) {} })`, 546, `"code":"WORKER_LIMIT"`},
		{"asyncloop", `Deno.serve(async () => { await null; while (true) {} })`, 546, `"code":"WORKER_LIMIT"`},
		{"toplevelloop", `for (;;) {}`, 546, `"code":"WORKER_LIMIT"`},
		{"memory", `Deno.serve(() => { const a = []; for (;;) a.push(new Array(100000).fill("x" + a.length)); })`, 546, `"code":"WORKER_LIMIT"`},
		{"response", `Deno.serve(() => new Response("x".repeat(200000)))`, 546, `"code":"WORKER_LIMIT"`},
		{"streamed", `Deno.serve(() => new Response(new ReadableStream({ pull(c) { c.enqueue("x".repeat(10000)) } })))`, 200, ""},
		{"wall", `Deno.serve(() => new Promise(r => setTimeout(() => r(new Response("late")), 60000)))`, 504, `"code":"WORKER_TIMEOUT"`},
		{"fetch", `Deno.serve(async () => { try { await fetch("` + refused.URL + `"); return new Response("reached") } catch (e) { return new Response(String(e), { status: 502 }) } })`,
			502, "not an allowed host"},
	}
	for _, tc := range cases {
		a.install(tc.name, tc.src, false)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := a.do("GET", "/functions/v1/"+tc.name, "")
			if status != tc.wantStatus || !strings.Contains(body, tc.wantBody) {
				t.Errorf("got %d %.200q, want %d with %q\n%s", status, body, tc.wantStatus, tc.wantBody, a.logs.String())
			}
			if tc.name == "streamed" && len(body) > 100000 {
				t.Errorf("a streamed body of %d bytes went past FUNCTIONS_MAX_RESPONSE_BYTES", len(body))
			}
			if status, body, _ := a.do("GET", "/functions/v1/ok", ""); status != 200 || body != "fine" {
				t.Errorf("after %s: %d %q", tc.name, status, body)
			}
		})
	}
	for outcome, want := range map[string]float64{outcomeLimit: 5, outcomeTimeout: 1, outcomeOK: 10} {
		if got := testutil.ToFloat64(a.m.metrics.invocations.WithLabelValues(outcome)); got != want {
			t.Errorf("invocations{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
}

// TestMemoryLimit: a function that keeps allocating is stopped by the
// memory guard well before its CPU time is up.
func TestMemoryLimit(t *testing.T) {
	a := newTestApp(t, map[string]string{"FUNCTIONS_CPU_TIMEOUT": "60s", "FUNCTIONS_MAX_MEMORY_BYTES": "33554432"})
	a.install("bomb", `const keep = []; Deno.serve(() => { for (;;) keep.push(new Array(100000).fill("x" + keep.length)); })`, false)
	a.install("ok", `Deno.serve(() => new Response("fine"))`, false)
	status, body, _ := a.do("GET", "/functions/v1/bomb", "")
	if status != 546 || !strings.Contains(body, "WORKER_LIMIT") {
		t.Fatalf("got %d %s", status, body)
	}
	if !strings.Contains(a.logs.String(), errMemoryLimit.Error()) {
		t.Errorf("the log does not say the memory limit stopped it:\n%s", a.logs.String())
	}
	if status, body, _ := a.do("GET", "/functions/v1/ok", ""); status != 200 || body != "fine" {
		t.Errorf("after the bomb: %d %q", status, body)
	}
}

// TestFunctionOwnTimeouts: a function's own cpu_timeout_ms and
// wall_timeout_ms win over the worker's.
func TestFunctionOwnTimeouts(t *testing.T) {
	a := newTestApp(t, map[string]string{"FUNCTIONS_CPU_TIMEOUT": "60s", "FUNCTIONS_WALL_TIMEOUT": "60s"})
	a.install("cpu", `Deno.serve(() => { for (;;) {} })`, false)
	a.install("wall", `Deno.serve(() => new Promise(() => setTimeout(() => {}, 60000)))`, false)
	next := a.m.state.Load().clone()
	cpu, wall := next.functions[bus.FunctionKey("default", "cpu")], next.functions[bus.FunctionKey("default", "wall")]
	cpu.CPUTimeoutMS, wall.WallTimeoutMS = 100, 100
	next.functions[bus.FunctionKey("default", "cpu")], next.functions[bus.FunctionKey("default", "wall")] = cpu, wall
	a.m.state.Store(next)
	if status, body, _ := a.do("GET", "/functions/v1/cpu", ""); status != 546 {
		t.Errorf("cpu: %d %s", status, body)
	}
	if status, body, _ := a.do("GET", "/functions/v1/wall", ""); status != 504 {
		t.Errorf("wall: %d %s", status, body)
	}
}

// TestSelfCallDepth: a function that calls itself through MadBase's API is
// stopped at maxDepth (508 to the innermost call) and the worker keeps
// serving.
func TestSelfCallDepth(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := newTestApp(t, map[string]string{"FUNCTIONS_API_URL": "http://" + ln.Addr().String()})
	go func() { _ = a.app.Listener(ln) }()
	t.Cleanup(func() { _ = a.app.Shutdown() })
	a.install("recurse", `Deno.serve(async () => {
		const r = await fetch(Deno.env.get("SUPABASE_URL") + "/functions/v1/recurse")
		return new Response(r.status + ">" + await r.text())
	})`, false)
	status, body, _ := a.do("GET", "/functions/v1/recurse", "")
	if status != 200 || !strings.Contains(body, "508>") || !strings.Contains(body, "LOOP_DETECTED") || strings.Count(body, "200>") != maxDepth {
		t.Errorf("got %d %s", status, body)
	}
}
