package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ProjectEvents is what WatchProjects hands its caller, always from its own
// goroutine, one call at a time.
type ProjectEvents struct {
	// Put receives a published configuration, decoded (undecodable ones
	// and ones whose ref is not their key are logged and skipped).
	// initial is true while the bucket's current values are read.
	Put func(pc ProjectConfig, initial bool)
	// Delete receives the ref of a deleted project.
	Delete func(ref string, initial bool)
	// Synced is called once the bucket's current values were handed over,
	// with present the refs the bucket holds: a project known before and
	// absent was deleted while the watch was away. present is nil when
	// there is no bucket (control makes it with the first project: keep
	// what is known), and noJetStream tells that NATS has no JetStream, so
	// control cannot publish projects at all: there are none.
	Synced func(present map[string]bool, noJetStream bool)
}

// projectsRewatchDelay is the pause before the bucket is watched again
// after the watch failed (NATS away, bucket not made yet).
const projectsRewatchDelay = time.Second

// WatchProjects follows ProjectsBucket on nc until ctx is done: its current
// values first, then every change NATS pushes. After NATS was away (a
// reconnection) the bucket is read again from the start; meanwhile the
// caller keeps what it holds.
func WatchProjects(ctx context.Context, nc *nats.Conn, log *slog.Logger, ev ProjectEvents) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("projects: %w", err)
	}
	for {
		err := watchProjectsOnce(ctx, nc, js, log, ev)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !errors.Is(err, errReconnected) {
			log.Debug("projects: watching the bucket again", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(projectsRewatchDelay):
		}
	}
}

var errReconnected = errors.New("NATS reconnected")

// watchProjectsOnce reads the bucket's current values, then follows its
// changes until the watch fails or NATS reconnects.
func watchProjectsOnce(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, log *slog.Logger, ev ProjectEvents) error {
	reconnects := nc.Stats().Reconnects
	kv, err := js.KeyValue(ctx, ProjectsBucket)
	switch {
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount),
		errors.Is(err, nats.ErrNoResponders):
		ev.Synced(nil, true)
		return err
	case errors.Is(err, jetstream.ErrBucketNotFound):
		ev.Synced(nil, false)
		return err
	case err != nil:
		return err
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	present := map[string]bool{}
	initial := true
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if nc.Stats().Reconnects != reconnects {
				return errReconnected
			}
		case e, ok := <-w.Updates():
			switch {
			case !ok:
				return errors.New("the watch ended")
			case e == nil:
				if initial {
					initial = false
					ev.Synced(present, false)
				}
			case e.Operation() != jetstream.KeyValuePut:
				ev.Delete(e.Key(), initial)
			default:
				ref := e.Key()
				if initial {
					// Present even if undecodable: not deleted.
					present[ref] = true
				}
				var pc ProjectConfig
				if err := json.Unmarshal(e.Value(), &pc); err != nil || pc.Ref != ref {
					log.Error("projects: undecodable configuration ignored", "project", ref, "error", fmt.Sprint(err))
					continue
				}
				ev.Put(pc, initial)
			}
		}
	}
}
