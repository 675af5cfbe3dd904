package functions

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"runtime/metrics"
	"strings"
	"sync"
	"time"

	"github.com/dop251/goja"
)

//go:embed prelude.js
var preludeSource string

// prelude is compiled once for the process; every instance runs it.
var prelude = goja.MustCompile("prelude.js", preludeSource, false)

// Why an invocation ended without a response. Each becomes one of the JSON
// errors of errors.go.
var (
	errCPULimit      = errors.New("CPU time limit reached")
	errWallLimit     = errors.New("wall time limit reached")
	errMemoryLimit   = errors.New("memory limit reached")
	errResponseLimit = errors.New("response size limit reached")
	errNoResponse    = errors.New("the handler's promise never settled (nothing left to wait for)")
	errNoHandler     = errors.New("the function did not call Deno.serve(handler)")
)

// scriptError is an exception the function threw (or a rejected promise):
// its message goes to the function's log, never to the client.
type scriptError struct{ msg string }

func (e *scriptError) Error() string { return e.msg }

// limits bound one invocation.
type limits struct {
	cpu, wall   time.Duration
	maxResponse int64
}

// instance is one JavaScript runtime holding one function version's code,
// with its handler registered. It serves one invocation at a time; between
// invocations it waits in its version's pool.
type instance struct {
	vm     *goja.Runtime
	invoke goja.Callable
	parts  goja.Callable
	pump   goja.Callable
	host   *host
	guard  *memGuard
	start  time.Time
	// jobs carries the results of asynchronous work (timers, fetch) back to
	// the goroutine running the instance.
	jobs chan func() error
	// inv is the invocation running; natives read it.
	inv *invocation
	// broken: the instance must not be reused (interrupted, or work still
	// pending when its invocation ended).
	broken bool
}

// invocation is the state of one request to a function.
type invocation struct {
	ctx    context.Context
	cancel context.CancelFunc
	env    map[string]string
	// log is the function's logger, made on first use (most invocations
	// log nothing).
	log     func() *slog.Logger
	fetches int
	// depth is how many function invocations called this one through
	// fetch (0 for a client's request).
	depth int
	// pending counts the timers and fetches whose results have not been
	// run yet.
	pending int
	cpuLeft time.Duration
	lim     limits
	// settled: the handler answered (res) or failed (err).
	settled bool
	res     goja.Value
	err     error
	// chunk receives a streamed body's chunks; false stops the stream.
	chunk func([]byte) bool
	// streamErr is how a streamed body ended ("" when it ended well).
	streamDone bool
	streamErr  string
}

// newInstance makes a runtime, runs the prelude and the bundle in it and
// checks that the bundle registered a handler. The bundle's top level runs
// under inv's limits.
func newInstance(prog *goja.Program, h *host, guard *memGuard, inv *invocation) (in *instance, err error) {
	in = &instance{vm: goja.New(), host: h, guard: guard, start: time.Now(), jobs: make(chan func() error)}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("starting the function: %v", r)
		}
	}()
	if err := in.vm.Set("__native", in.natives()); err != nil {
		return nil, err
	}
	if _, err := in.vm.RunProgram(prelude); err != nil {
		return nil, fmt.Errorf("prelude: %w", err)
	}
	_ = in.vm.GlobalObject().Delete("__native")
	for name, dst := range map[string]*goja.Callable{"__invoke": &in.invoke, "__parts": &in.parts, "__pump": &in.pump} {
		fn, ok := goja.AssertFunction(in.vm.Get(name))
		if !ok {
			return nil, fmt.Errorf("prelude: %s missing", name)
		}
		*dst = fn
	}
	in.inv = inv
	defer func(in *instance) { in.inv = nil }(in)
	if err := in.run(func() error { _, err := in.vm.RunProgram(prog); return err }); err != nil {
		return nil, err
	}
	if inv.pending > 0 {
		// Timers set at the top level would fire during some later
		// invocation: refuse rather than surprise.
		return nil, errors.New("the function's top level left timers or fetches running")
	}
	if _, ok := goja.AssertFunction(in.vm.Get("__handler")); !ok {
		return nil, errNoHandler
	}
	return in, nil
}

// run runs JavaScript on the calling goroutine within the invocation's CPU
// budget and the memory guard, and turns what stopped it into an error.
func (in *instance) run(f func() error) (err error) {
	inv := in.inv
	in.vm.ClearInterrupt()
	if inv.cpuLeft <= 0 {
		in.broken = true
		return errCPULimit
	}
	if inv.ctx.Err() != nil {
		in.broken = true
		return errWallLimit
	}
	start := time.Now()
	t := time.AfterFunc(inv.cpuLeft, func() { in.vm.Interrupt(errCPULimit) })
	in.guard.enter(in)
	defer func() {
		in.guard.leave(in)
		fired := !t.Stop()
		inv.cpuLeft -= time.Since(start)
		if r := recover(); r != nil {
			in.broken = true
			err = fmt.Errorf("runtime panic: %v", r)
			return
		}
		if err != nil {
			err = in.classify(err)
			return
		}
		if fired {
			in.broken = true
			err = errCPULimit
		}
	}()
	return f()
}

// classify maps goja's errors to the invocation's.
func (in *instance) classify(err error) error {
	var ie *goja.InterruptedError
	if errors.As(err, &ie) {
		in.broken = true
		if e, ok := ie.Value().(error); ok {
			return e
		}
		return errCPULimit
	}
	var ex *goja.Exception
	if errors.As(err, &ex) {
		return &scriptError{msg: ex.String()}
	}
	return err
}

// wait runs the next asynchronous result, or ends the invocation when
// nothing is left to wait for or its time is up.
func (in *instance) wait() error {
	inv := in.inv
	if inv.pending == 0 {
		return errNoResponse
	}
	select {
	case job := <-in.jobs:
		return in.run(job)
	case <-inv.ctx.Done():
		in.broken = true
		return errWallLimit
	}
}

// post hands an asynchronous result to the instance's goroutine; it gives
// up when the invocation is over (the instance is then discarded).
func (in *instance) post(inv *invocation, job func() error) {
	select {
	case in.jobs <- job:
	case <-inv.ctx.Done():
	}
}

// request is what the handler receives.
type request struct {
	method  string
	url     string
	headers [][2]string
	body    []byte // nil: no body
	info    map[string]any
}

// response is what the handler answered. A streamed body is read by
// streamTo, before the instance is released.
type response struct {
	status  int
	headers [][2]string
	body    []byte
	stream  bool
	value   goja.Value
}

// serve runs the handler on req and waits for its Response.
func (in *instance) serve(inv *invocation, req request) (*response, error) {
	in.inv = inv
	stopWall := context.AfterFunc(inv.ctx, func() { in.vm.Interrupt(errWallLimit) })
	defer stopWall()
	vm := in.vm
	done := func(call goja.FunctionCall) goja.Value {
		inv.settled = true
		if e := call.Argument(1); !goja.IsNull(e) && !goja.IsUndefined(e) {
			inv.err = &scriptError{msg: describe(e)}
		} else {
			inv.res = call.Argument(0)
		}
		return goja.Undefined()
	}
	var body goja.Value = goja.Null()
	if req.body != nil {
		body = vm.ToValue(vm.NewArrayBuffer(req.body))
	}
	var hb strings.Builder
	for i, h := range req.headers {
		if i > 0 {
			hb.WriteByte(0)
		}
		hb.WriteString(strings.ReplaceAll(h[0], "\x00", ""))
		hb.WriteByte(0)
		hb.WriteString(strings.ReplaceAll(h[1], "\x00", ""))
	}
	err := in.run(func() error {
		_, err := in.invoke(goja.Undefined(), vm.ToValue(req.method), vm.ToValue(req.url), vm.ToValue(hb.String()), body, vm.ToValue(req.info), vm.ToValue(done))
		return err
	})
	for err == nil && !inv.settled {
		err = in.wait()
	}
	if err != nil {
		return nil, err
	}
	if inv.err != nil {
		return nil, inv.err
	}
	var out *response
	err = in.run(func() error {
		v, err := in.parts(goja.Undefined(), inv.res)
		if err != nil {
			return err
		}
		out, err = readParts(v.ToObject(vm))
		return err
	})
	if err != nil {
		return nil, err
	}
	if int64(len(out.body)) > inv.lim.maxResponse {
		return nil, errResponseLimit
	}
	out.value = inv.res
	return out, nil
}

// readParts copies what __parts returned out of the runtime.
func readParts(o *goja.Object) (*response, error) {
	r := &response{status: int(o.Get("status").ToInteger()), stream: o.Get("stream").ToBoolean()}
	if r.status < 200 || r.status > 599 {
		return nil, &scriptError{msg: fmt.Sprintf("the handler returned a Response with status %d", r.status)}
	}
	if flat := o.Get("headers").String(); flat != "" {
		parts := strings.Split(flat, "\x00")
		for i := 0; i+1 < len(parts); i += 2 {
			r.headers = append(r.headers, [2]string{parts[i], parts[i+1]})
		}
	}
	if ab, ok := o.Get("body").Export().(goja.ArrayBuffer); ok {
		r.body = append([]byte(nil), ab.Bytes()...)
	}
	return r, nil
}

// streamTo reads a streamed body to its end, giving each chunk to chunk.
// It ends with the invocation's limits like serve.
func (in *instance) streamTo(inv *invocation, res *response, chunk func([]byte) bool) error {
	in.inv = inv
	stopWall := context.AfterFunc(inv.ctx, func() { in.vm.Interrupt(errWallLimit) })
	defer stopWall()
	var sent int64
	inv.chunk = func(b []byte) bool {
		sent += int64(len(b))
		if sent > inv.lim.maxResponse {
			inv.streamErr = errResponseLimit.Error()
			return false
		}
		return chunk(b)
	}
	end := func(call goja.FunctionCall) goja.Value {
		inv.streamDone = true
		if s := call.Argument(0).String(); s != "" && inv.streamErr == "" {
			inv.streamErr = s
		}
		return goja.Undefined()
	}
	err := in.run(func() error {
		_, err := in.pump(goja.Undefined(), res.value, in.vm.ToValue(end))
		return err
	})
	for err == nil && !inv.streamDone {
		err = in.wait()
	}
	if err != nil {
		return err
	}
	if inv.streamErr != "" {
		if inv.streamErr == errResponseLimit.Error() {
			in.broken = true
			return errResponseLimit
		}
		return &scriptError{msg: inv.streamErr}
	}
	return nil
}

// reusable reports whether the instance may serve another invocation.
func (in *instance) reusable(inv *invocation) bool {
	return !in.broken && inv.pending == 0
}

// describe renders a thrown value for the log.
func describe(v goja.Value) string {
	if o, ok := v.(*goja.Object); ok {
		if s := o.Get("stack"); s != nil && !goja.IsUndefined(s) {
			return s.String()
		}
	}
	return v.String()
}

// memGuard stops the instances running JavaScript while the heap grows more
// than limit bytes past where it was when they started running. Go cannot
// tell one goroutine's allocations from another's, so this is approximate:
// it bounds a runaway, it does not account memory per function.
type memGuard struct {
	limit   uint64
	mu      sync.Mutex
	running map[*instance]uint64
	wake    chan struct{}
}

const memGuardTick = 5 * time.Millisecond

func newMemGuard(limit int64) *memGuard {
	return &memGuard{limit: uint64(limit), running: map[*instance]uint64{}, wake: make(chan struct{}, 1)}
}

func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

func (g *memGuard) enter(in *instance) {
	h := heapBytes()
	g.mu.Lock()
	g.running[in] = h
	g.mu.Unlock()
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

func (g *memGuard) leave(in *instance) {
	g.mu.Lock()
	delete(g.running, in)
	g.mu.Unlock()
}

// run watches the heap while some instance runs JavaScript.
func (g *memGuard) run(ctx context.Context) {
	t := time.NewTicker(memGuardTick)
	defer t.Stop()
	for {
		g.mu.Lock()
		idle := len(g.running) == 0
		g.mu.Unlock()
		if idle {
			select {
			case <-ctx.Done():
				return
			case <-g.wake:
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h := heapBytes()
		g.mu.Lock()
		for in, base := range g.running {
			if h > base+g.limit {
				in.vm.Interrupt(errMemoryLimit)
			}
		}
		g.mu.Unlock()
	}
}
