package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/madbase/madbase/shared/config"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// limiter counts events in fixed windows: in Redis when REDIS_URL is set,
// so every worker shares the counts, else (and while Redis fails) in this
// process.
type limiter struct {
	// prefix starts every key: the default project's keys are
	// "madbase:auth:rl:<bucket>:...", a created project's carry its ref,
	// "madbase:auth:rl:project:<ref>:<bucket>:...", so each project counts
	// its own events although the workers share one Redis.
	prefix   string
	redis    *redis.Client
	mem      *memLimiter
	now      func() time.Time
	log      *slog.Logger
	warned   atomic.Int64 // unix time of the last Redis-failure warning
	limited  *prometheus.CounterVec
	fallback prometheus.Counter
}

// incrScript counts one event and starts the window's expiry with the first.
var incrScript = redis.NewScript(`local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`)

// newLimiter makes the limiter of project (its ref, "" for the default
// project).
func newLimiter(redisURL, project string, log *slog.Logger, reg prometheus.Registerer) (*limiter, error) {
	l := &limiter{
		prefix: rateLimitPrefix(project),
		mem:    newMemLimiter(),
		now:    time.Now,
		log:    log,
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "madbase_worker_auth_rate_limited_total",
			Help: "Auth requests refused by a rate limit, by limit.",
		}, []string{"limit"}),
		fallback: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "madbase_worker_auth_rate_limit_redis_errors_total",
			Help: "Rate limit checks that fell back to the in-process counts because Redis failed.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{l.limited, l.fallback} {
			if err := reg.Register(c); err != nil {
				if _, dup := err.(prometheus.AlreadyRegisteredError); !dup {
					return nil, err
				}
			}
		}
	}
	if redisURL != "" {
		quietRedis.Do(func() { redis.SetLogger(redisLog{log}) })
		opts, err := redis.ParseURL(redisURL)
		if err != nil {
			return nil, errRedisURL
		}
		opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = time.Second, 500*time.Millisecond, 500*time.Millisecond
		l.redis = redis.NewClient(opts)
	}
	return l, nil
}

// quietRedis routes go-redis's own messages (reconnect attempts) to the
// debug log, once per process: the limiter reports failures itself.
var quietRedis sync.Once

type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.Debug("redis: " + fmt.Sprintf(format, v...))
}

// rateLimitPrefix is the start of project's keys.
func rateLimitPrefix(project string) string {
	if project == "" {
		return "madbase:auth:rl:"
	}
	return "madbase:auth:rl:project:" + project + ":"
}

var errRedisURL = errors.New("REDIS_URL: not a redis:// or rediss:// URL")

// allow counts one event for key in bucket and reports whether it is within
// r. An off rate allows everything without counting.
func (l *limiter) allow(ctx context.Context, bucket, key string, r config.Rate) bool {
	if r.Off() {
		return true
	}
	now := l.now()
	window := now.UnixNano() / int64(r.Per)
	k := l.prefix + bucket + ":" + hashKey(key) + ":" + strconv.FormatInt(int64(r.Per/time.Millisecond), 10) + ":" + strconv.FormatInt(window, 10)
	var n int64
	if l.redis != nil {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		v, err := incrScript.Run(rctx, l.redis, []string{k}, int64(r.Per/time.Millisecond)+1000).Int64()
		cancel()
		if err == nil {
			n = v
		} else {
			l.fallback.Inc()
			if last := l.warned.Load(); now.Unix()-last >= 60 && l.warned.CompareAndSwap(last, now.Unix()) {
				l.log.Warn("rate limit: Redis failed, counting in this process", "error", err.Error())
			}
			n = l.mem.incr(k, now, time.Duration(window+1)*r.Per)
		}
	} else {
		n = l.mem.incr(k, now, time.Duration(window+1)*r.Per)
	}
	if n > int64(r.N) {
		l.limited.WithLabelValues(bucket).Inc()
		return false
	}
	return true
}

// hashKey keeps addresses out of Redis keys.
func hashKey(k string) string {
	sum := sha256.Sum256([]byte(k))
	return hex.EncodeToString(sum[:12])
}

// memLimiter is the in-process count: windows expire at their end.
type memLimiter struct {
	mu        sync.Mutex
	counts    map[string]memCount
	lastPrune time.Time
}

type memCount struct {
	n   int64
	end time.Time
}

func newMemLimiter() *memLimiter { return &memLimiter{counts: map[string]memCount{}} }

// incr counts one event in the window ending at end (a duration since the
// Unix epoch) and returns the count so far.
func (m *memLimiter) incr(key string, now time.Time, end time.Duration) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if now.Sub(m.lastPrune) > time.Minute || len(m.counts) > 100000 {
		for k, c := range m.counts {
			if !now.Before(c.end) {
				delete(m.counts, k)
			}
		}
		m.lastPrune = now
	}
	c := m.counts[key]
	if c.n == 0 || !now.Before(c.end) {
		c = memCount{end: time.Unix(0, int64(end))}
	}
	c.n++
	m.counts[key] = c
	return c.n
}

// rateLimit refuses the request with 429 over_request_rate_limit when key
// has used up r in bucket.
func (s *service) rateLimit(ctx context.Context, bucket, key string, r config.Rate) error {
	if s.limits.allow(ctx, bucket, key, r) {
		return nil
	}
	return tooManyRequests(CodeOverRequestRateLimit, "Request rate limit reached")
}
