package bus

import (
	"errors"
	"log/slog"
	neturl "net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// ErrNoURL is returned by Connect when no NATS URL was configured.
var ErrNoURL = errors.New("NATS_URL is not set: every tier needs a NATS server (madbase dev embeds one)")

// Connect opens a NATS connection that never gives up: it retries the first
// connection too, reconnects forever and buffers up to 8 MiB of publishes
// while disconnected, so a slow or absent NATS never fails a caller. Publishes
// beyond the buffer are dropped with an error, never blocked on.
func Connect(url, name string, log *slog.Logger) (*nats.Conn, error) {
	if url == "" {
		return nil, ErrNoURL
	}
	if log == nil {
		log = slog.Default()
	}
	// Whether NATS is reachable is said once per change, with where it is
	// (without credentials): not once per retry.
	where := RedactServers(url)
	var down atomic.Bool
	unreachable := func(err error) {
		if err != nil && down.CompareAndSwap(false, true) {
			log.Warn("cannot reach NATS; retrying until it answers", "component", "bus", "nats", where, "error", err.Error())
		}
	}
	reachable := func(c *nats.Conn) {
		if down.CompareAndSwap(true, false) {
			log.Info("connected to NATS again", "component", "bus", "nats", RedactServers(c.ConnectedUrl()))
		}
	}
	return nats.Connect(url,
		nats.Name(name),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.ReconnectBufSize(8<<20),
		nats.Timeout(2*time.Second),
		nats.FlusherTimeout(2*time.Second),
		nats.PingInterval(10*time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { unreachable(err) }),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) { unreachable(err) }),
		nats.ConnectHandler(reachable),
		nats.ReconnectHandler(reachable),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.Warn("nats async error", "component", "bus", "subject", subj, "error", err.Error())
		}),
	)
}

// RedactServers is a NATS URL (or a comma-separated list of them) without
// user names, passwords or tokens, for logs.
func RedactServers(servers string) string {
	parts := strings.Split(servers, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if u, err := neturl.Parse(p); err == nil && u.Host != "" {
			u.User = nil
			parts[i] = u.String()
		} else if at := strings.LastIndex(p, "@"); at >= 0 {
			parts[i] = p[at+1:]
		} else {
			parts[i] = p
		}
	}
	return strings.Join(parts, ",")
}

// ErrDrainTimeout is returned by Drain when the connection did not finish
// draining in time and was closed.
var ErrDrainTimeout = errors.New("nats drain timed out; connection closed")

// Drain lets nc's subscriptions finish the messages they have and its
// publishes go out, then closes it, waiting at most timeout: a NATS server
// that is away or slow cannot hold a shutdown. A connection that is not
// connected has nothing to drain and is closed at once.
func Drain(nc *nats.Conn, timeout time.Duration) error {
	if nc == nil || nc.IsClosed() {
		return nil
	}
	closed := make(chan struct{})
	var once sync.Once
	nc.SetClosedHandler(func(*nats.Conn) { once.Do(func() { close(closed) }) })
	if !nc.IsConnected() {
		nc.Close()
		return nil
	}
	if err := nc.Drain(); err != nil {
		nc.Close()
		return err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-closed:
		return nil
	case <-t.C:
		nc.Close()
		return ErrDrainTimeout
	}
}
