package auth

import (
	"log/slog"
	"runtime"
	"sync"
)

var (
	hashPoolOnce sync.Once
	theHashPool  *hashPool
)

// sharedHashPool returns the process-wide password hash pool, started by the
// first call with n slots (0: one per CPU, GOMAXPROCS before the pool adds
// its own). Later calls get that pool whatever their n: madbase dev runs
// several workers in one process, and they share the CPUs that the first
// configuration's AUTH_BCRYPT_CONCURRENCY was chosen for, so the pool is
// sized once, from it.
func sharedHashPool(n int, log *slog.Logger) *hashPool {
	hashPoolOnce.Do(func() {
		if n <= 0 {
			n = runtime.GOMAXPROCS(0)
		}
		theHashPool = startHashPool(n, log)
	})
	return theHashPool
}
