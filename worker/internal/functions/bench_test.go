package functions

import (
	"context"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/dop251/goja"
)

const benchHello = `Deno.serve(() => new Response("Hello, world!"))`

func benchInvocation(ctx context.Context) *invocation {
	c, cancel := context.WithTimeout(ctx, time.Minute)
	return &invocation{ctx: c, cancel: cancel, env: map[string]string{}, log: func() *slog.Logger { return slog.New(slog.DiscardHandler) }, cpuLeft: 2 * time.Second,
		lim: limits{cpu: 2 * time.Second, wall: time.Minute, maxResponse: 1 << 20}}
}

var benchRequest = request{method: "GET", url: "http://localhost/hello", info: map[string]any{},
	headers: [][2]string{{"Host", "localhost"}, {"Apikey", "sb_publishable_x"}, {"Authorization", "Bearer x"}, {"Accept", "*/*"}}}

// BenchmarkInvokeWarm is one invocation of a hello-world function on a
// warm instance, without HTTP.
func BenchmarkInvokeWarm(b *testing.B) {
	prog := goja.MustCompile("hello.js", benchHello, false)
	guard := newMemGuard(256 << 20)
	h := &host{fetchLimit: 50}
	in, err := newInstance(prog, h, guard, benchInvocation(context.Background()))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		inv := benchInvocation(context.Background())
		res, err := in.serve(inv, benchRequest)
		if err != nil || res.status != 200 {
			b.Fatal(err)
		}
		inv.cancel()
	}
}

// BenchmarkNewInstance is a cold start's instance: a runtime with the
// prelude and the bundle run. It reports the heap each instance keeps.
func BenchmarkNewInstance(b *testing.B) {
	prog := goja.MustCompile("hello.js", benchHello, false)
	guard := newMemGuard(256 << 20)
	h := &host{fetchLimit: 50}
	keep := make([]*instance, 0, 1024)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	for b.Loop() {
		in, err := newInstance(prog, h, guard, benchInvocation(context.Background()))
		if err != nil {
			b.Fatal(err)
		}
		if len(keep) < cap(keep) {
			keep = append(keep, in)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(len(keep))/1024, "KiB/instance")
	runtime.KeepAlive(keep)
}
