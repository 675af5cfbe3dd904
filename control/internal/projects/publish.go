package projects

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Publisher defaults.
const (
	// DefaultResync is how often the publisher compares the bucket with the
	// store and repairs it (a put lost while NATS was away, a bucket that
	// was recreated empty, a project deleted by another control instance).
	DefaultResync = 30 * time.Second
	// publishTimeout bounds one publication made for a request; a slower
	// NATS leaves the change to the next resync.
	publishTimeout = 3 * time.Second
	// casAttempts bounds the compare-and-set retries of one put.
	casAttempts = 5
)

// PublisherOptions configure a Publisher.
type PublisherOptions struct {
	// Resync overrides DefaultResync.
	Resync time.Duration
	// Replicas of the bucket in a NATS cluster (default 1).
	Replicas int
}

// Publisher keeps bus.ProjectsBucket equal to the store: every change is
// put at once, and Run resyncs the whole bucket at start and every Resync.
// Puts are compare-and-set on the key's last revision and never replace a
// newer revision of the same project, so several control instances can
// publish side by side.
type Publisher struct {
	js    jetstream.JetStream
	store *Store
	log   *slog.Logger
	opts  PublisherOptions
	kick  chan struct{}

	mu sync.Mutex
	kv jetstream.KeyValue
}

// NewPublisher returns the publisher of store's projects on nc and makes it
// the store's notifier. Run it for the resyncs.
func NewPublisher(nc *nats.Conn, store *Store, log *slog.Logger, opts PublisherOptions) (*Publisher, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("projects: jetstream: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Resync <= 0 {
		opts.Resync = DefaultResync
	}
	if opts.Replicas <= 0 {
		opts.Replicas = 1
	}
	p := &Publisher{js: js, store: store, log: log.With("component", "projects-publisher"), opts: opts, kick: make(chan struct{}, 1)}
	store.notify = p
	return p, nil
}

// Run resyncs at start, whenever a publication failed, and every Resync,
// until ctx is done.
func (p *Publisher) Run(ctx context.Context) error {
	t := time.NewTicker(p.opts.Resync)
	defer t.Stop()
	for {
		if err := p.Sync(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("projects not published; retrying", "error", err.Error(), "retry_in", p.opts.Resync.String())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-p.kick:
		}
	}
}

// Sync makes the bucket hold every stored project's configuration and
// nothing else, after forgetting the rotated-out secrets whose grace ended.
func (p *Publisher) Sync(ctx context.Context) error {
	kv, err := p.bucket(ctx)
	if err != nil {
		return err
	}
	// Keys first, projects second: a project created in between is not in
	// keys, so it cannot be taken for a deleted one.
	keys, err := kv.Keys(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return fmt.Errorf("listing the projects bucket: %w", err)
	}
	if _, err := p.store.ForgetRetired(ctx); err != nil {
		return err
	}
	list, err := p.store.List(ctx)
	if err != nil {
		return err
	}
	stored := map[string]bool{}
	var errs []error
	for _, pr := range list {
		stored[bus.ProjectKey(pr.Ref)] = true
		if err := p.put(ctx, kv, p.store.Published(pr)); err != nil {
			errs = append(errs, err)
		}
	}
	for _, k := range keys {
		if !stored[k] {
			if err := kv.Delete(ctx, k); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
				errs = append(errs, fmt.Errorf("unpublishing %s: %w", k, err))
			}
		}
	}
	return errors.Join(errs...)
}

// bucket returns the bucket, creating it on first use.
func (p *Publisher) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.kv != nil {
		return p.kv, nil
	}
	kv, err := p.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      bus.ProjectsBucket,
		Description: "MadBase projects' configuration, published by control (secrets sealed)",
		History:     1,
		Replicas:    p.opts.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("projects bucket %s: %w", bus.ProjectsBucket, err)
	}
	p.kv = kv
	return kv, nil
}

// put writes cfg unless the bucket already holds it or a newer revision of
// the same project.
func (p *Publisher) put(ctx context.Context, kv jetstream.KeyValue, cfg bus.ProjectConfig) error {
	val, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	key := bus.ProjectKey(cfg.Ref)
	for range casAttempts {
		e, err := kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			_, err = kv.Create(ctx, key, val)
		case err != nil:
			return fmt.Errorf("publishing %s: %w", cfg.Ref, err)
		default:
			var held bus.ProjectConfig
			if json.Unmarshal(e.Value(), &held) == nil && held.ID == cfg.ID && held.Revision >= cfg.Revision {
				return nil
			}
			_, err = kv.Update(ctx, key, val, e.Revision())
		}
		if err == nil {
			p.log.Debug("project published", "ref", cfg.Ref, "revision", cfg.Revision)
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return fmt.Errorf("publishing %s: %w", cfg.Ref, err)
		}
		// Another publisher wrote in between: look again.
	}
	return fmt.Errorf("publishing %s: the key kept changing under us", cfg.Ref)
}

// changed publishes a committed change at once; on failure the next resync
// is brought forward.
func (p *Publisher) changed(ctx context.Context, cfg bus.ProjectConfig) {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
	defer cancel()
	kv, err := p.bucket(pctx)
	if err == nil {
		err = p.put(pctx, kv, cfg)
	}
	if err != nil {
		p.log.Warn("project change not published yet; the resync retries", "ref", cfg.Ref, "revision", cfg.Revision, "error", err.Error())
		p.retry()
	}
}

// removed unpublishes a deleted project at once.
func (p *Publisher) removed(ctx context.Context, ref string) {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
	defer cancel()
	kv, err := p.bucket(pctx)
	if err == nil {
		err = kv.Delete(pctx, bus.ProjectKey(ref))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			err = nil
		}
	}
	if err != nil {
		p.log.Warn("project deletion not published yet; the resync retries", "ref", ref, "error", err.Error())
		p.retry()
	}
}

func (p *Publisher) retry() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}
