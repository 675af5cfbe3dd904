// Package outbox keeps the dev outbox: the mails the auth capability would
// have sent in `madbase dev` when no SMTP server is configured. Workers
// publish each one on bus.MailOutbox; control keeps the most recent ones in
// memory and serves them on GET /admin/v1/outbox, so sign-up confirmations,
// magic links and password resets can be completed locally.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/nats-io/nats.go"
)

// DefaultSize is how many mails the outbox keeps.
const DefaultSize = 500

// Outbox is a bounded ring of mails, newest replacing oldest.
type Outbox struct {
	mu    sync.Mutex
	mails []bus.OutboxMail
	next  int // where the next mail goes once full
	size  int
	subs  []*nats.Subscription
}

// New makes an outbox keeping at most size mails (DefaultSize when <= 0).
func New(size int) *Outbox {
	if size <= 0 {
		size = DefaultSize
	}
	return &Outbox{size: size}
}

// Subscribe starts collecting mails from nc. It is a plain fan-out
// subscription: every control instance keeps the whole outbox.
func (o *Outbox) Subscribe(nc *nats.Conn) error {
	sub, err := nc.Subscribe(bus.MailOutbox, func(m *nats.Msg) { _ = o.Add(m.Data) })
	if err != nil {
		return err
	}
	o.mu.Lock()
	o.subs = append(o.subs, sub)
	o.mu.Unlock()
	return nil
}

// Run waits until ctx is done, then ends the subscription.
func (o *Outbox) Run(ctx context.Context) error {
	<-ctx.Done()
	o.mu.Lock()
	defer o.mu.Unlock()
	var errs []error
	for _, s := range o.subs {
		if err := s.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrBadSubscription) {
			errs = append(errs, err)
		}
	}
	o.subs = nil
	return errors.Join(errs...)
}

// Add keeps one published mail; data that is not a mail is refused.
func (o *Outbox) Add(data []byte) error {
	var m bus.OutboxMail
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	if m.To == "" {
		return errors.New("outbox: a mail without a recipient")
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = time.Now().UTC()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.mails) < o.size {
		o.mails = append(o.mails, m)
		return nil
	}
	o.mails[o.next] = m
	o.next = (o.next + 1) % o.size
	return nil
}

// List returns, newest first, up to limit mails (all when limit <= 0) to
// the address to (any when "", case-insensitive).
func (o *Outbox) List(to string, limit int) []bus.OutboxMail {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := []bus.OutboxMail{}
	n := len(o.mails)
	for i := 0; i < n; i++ {
		// Newest first: the one before next, walking back.
		m := o.mails[(o.next-1-i+2*n)%n]
		if to != "" && !strings.EqualFold(m.To, to) {
			continue
		}
		out = append(out, m)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out
}
