package adminapi

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/time/rate"
)

// Failed admin sign-ins are limited per client address: a burst of
// DefaultFailureBurst, then one more every DefaultFailureEvery. A password of
// twelve random characters then takes far longer than the universe to guess,
// while an operator who mistypes a few times is never locked out for long.
const (
	DefaultFailureBurst = 10
	DefaultFailureEvery = 6 * time.Second
	// maxTracked bounds the throttle's memory: past it, addresses whose
	// allowance has fully refilled are forgotten, then the oldest ones.
	maxTracked = 10000
)

// Throttle counts failed admin sign-ins per client address. Only failures
// spend the allowance; an address that has spent it is refused before its
// password is even compared.
type Throttle struct {
	burst int
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	seen map[string]*rate.Limiter
}

// NewThrottle returns a throttle allowing burst failures, then one per every.
// Zero values take the defaults.
func NewThrottle(burst int, every time.Duration) *Throttle {
	if burst <= 0 {
		burst = DefaultFailureBurst
	}
	if every <= 0 {
		every = DefaultFailureEvery
	}
	return &Throttle{burst: burst, every: every, now: time.Now, seen: map[string]*rate.Limiter{}}
}

// Wait tells how long addr must wait before its next attempt is looked at;
// zero means now.
func (t *Throttle) Wait(addr string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, ok := t.seen[addr]
	if !ok {
		return 0
	}
	now := t.now()
	if l.TokensAt(now) >= 1 {
		return 0
	}
	r := l.ReserveN(now, 1)
	d := r.DelayFrom(now)
	r.CancelAt(now)
	return d
}

// Fail spends one of addr's allowance.
func (t *Throttle) Fail(addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	l, ok := t.seen[addr]
	if !ok {
		if len(t.seen) >= maxTracked {
			t.forget(now)
		}
		l = rate.NewLimiter(rate.Every(t.every), t.burst)
		t.seen[addr] = l
	}
	l.AllowN(now, 1)
}

// forget drops the addresses whose allowance is whole again (they carry no
// information), and if none is, an arbitrary half, so the map stays bounded
// even under a flood of distinct addresses.
func (t *Throttle) forget(now time.Time) {
	for a, l := range t.seen {
		if l.TokensAt(now) >= float64(t.burst) {
			delete(t.seen, a)
		}
	}
	for a := range t.seen {
		if len(t.seen) < maxTracked/2 {
			break
		}
		delete(t.seen, a)
	}
}

// clientAddress is who a failed attempt is charged to, and peer the
// connection's own address. Behind the edge the peer is the edge itself,
// which appends the address it saw to X-Forwarded-For; the last entry is that
// one. The peer is kept in the client's key, so a forged header never spends
// another peer's allowance; and every failure is also charged to the peer
// alone with a larger allowance, so forging a new header per guess gains
// little.
func clientAddress(c *fiber.Ctx) (client, peer string) {
	peer = c.Context().RemoteIP().String()
	xff := c.Get(fiber.HeaderXForwardedFor)
	if xff == "" {
		return peer, peer
	}
	if i := strings.LastIndexByte(xff, ','); i >= 0 {
		xff = xff[i+1:]
	}
	return peer + " via " + strings.TrimSpace(xff), peer
}

// retryAfter renders d as whole seconds, at least one, for Retry-After.
func retryAfter(d time.Duration) string {
	s := int((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.Itoa(s)
}
