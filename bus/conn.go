package bus

import (
	"errors"
	"log/slog"
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
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "component", "bus", "error", err.Error())
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("nats reconnected", "component", "bus", "server", c.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.Warn("nats async error", "component", "bus", "subject", subj, "error", err.Error())
		}),
	)
}
