package apitest

import (
	"fmt"
	"io"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// Ignores are the goroutines every leak check lets live, because nothing
// can stop them: fasthttp's process-wide Date header updater, started by
// the first server and never ended, and a stopped worker pool's cleaner,
// which notices the stop only after its idle sleep. Goroutines that wind
// down after their owner is closed (a pgx pool's health check, a NATS
// connection's readers) need no ignore: the check waits and looks again
// before it reports them.
func Ignores() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	}
}

// VerifyNone fails t if goroutines other than Ignores and opts are left
// running; with goleak.IgnoreCurrent() taken at a test's start, it checks
// one test that does not run in parallel with others.
func VerifyNone(t goleak.TestingT, opts ...goleak.Option) {
	goleak.VerifyNone(t, append(Ignores(), opts...)...)
}

// MainOption configures Main.
type MainOption func(*mainConfig)

type mainConfig struct {
	teardown []func()
	ignore   []goleak.Option
	stderr   io.Writer
}

// Teardown runs fn once the tests are done and before the leak check, for
// what lives as long as the test process: stop a shared server there
// (dbtest's PostgreSQL and its admin pool) so that its goroutines are not
// taken for leaks. Teardowns run in the order given.
func Teardown(fn func()) MainOption {
	return func(c *mainConfig) { c.teardown = append(c.teardown, fn) }
}

// Ignore adds goroutines the package's leak check lets live, beyond Ignores.
func Ignore(opts ...goleak.Option) MainOption {
	return func(c *mainConfig) { c.ignore = append(c.ignore, opts...) }
}

// Main is a test package's TestMain: it runs the tests, then the
// teardowns, then, if the tests passed, fails the run when goroutines are
// left running.
//
//	func TestMain(m *testing.M) { apitest.Main(m) }
func Main(m *testing.M, opts ...MainOption) {
	os.Exit(runMain(m, opts...))
}

// runMain is Main without the exit, for its tests.
func runMain(m interface{ Run() int }, opts ...MainOption) int {
	c := mainConfig{stderr: os.Stderr}
	for _, o := range opts {
		o(&c)
	}
	code := m.Run()
	for _, fn := range c.teardown {
		fn()
	}
	if code != 0 {
		return code
	}
	if err := goleak.Find(append(Ignores(), c.ignore...)...); err != nil {
		fmt.Fprintf(c.stderr, "apitest: goroutines left running after the tests passed: %v\n", err)
		return 1
	}
	return 0
}
