package realtime

import (
	"context"
	"sync"
)

// The WAL reader of a created project runs only while someone on this
// worker may want what it reads. Every channel may: postgres_changes come
// from the WAL, and so do the broadcasts realtime.send inserts into
// realtime.messages, to public topics as well as private ones. So a worker
// competes for the reader's advisory lock while it has at least one joined
// channel of the project, and when its last channel leaves it stops: it
// confirms what it published, closes the replication connection and the
// lock's session, and leaves the persistent slot for the next reader. Across
// the fleet the reader thus lives on a worker that has subscribers (the
// others retry every leaderRetry while they have some), and nowhere once no
// worker has any; the slot keeps the WAL in between, so a later reader
// resumes where the last one confirmed and nothing committed meanwhile is
// lost.
//
// The default project keeps reading whenever the worker runs: it is always
// served, and its reader is also what its operator watches.
type walDemand struct {
	mu     sync.Mutex
	base   context.Context
	always bool
	chans  int
	// ctx is live while the reader is wanted; stop cancels it.
	ctx  context.Context
	stop context.CancelFunc
	// wake tells a waiting reader loop that ctx was set.
	wake chan struct{}
}

func (d *walDemand) init(base context.Context, always bool) {
	d.base, d.always, d.wake = base, always, make(chan struct{}, 1)
	if always {
		d.ctx = base
	}
}

// join counts a channel joined on this worker.
func (d *walDemand) join() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.chans++
	if d.always || d.ctx != nil {
		return
	}
	d.ctx, d.stop = context.WithCancel(d.base)
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// leave counts a channel gone; the last one stops the reader.
func (d *walDemand) leave() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.chans--
	if d.always || d.chans > 0 || d.stop == nil {
		return
	}
	d.stop()
	d.ctx, d.stop = nil, nil
}

// wait returns a context that lives while the reader is wanted, waiting
// for the demand; nil once the worker stops.
func (d *walDemand) wait() context.Context {
	for {
		d.mu.Lock()
		ctx := d.ctx
		d.mu.Unlock()
		if ctx != nil {
			return ctx
		}
		select {
		case <-d.base.Done():
			return nil
		case <-d.wake:
		}
	}
}
