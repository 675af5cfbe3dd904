// Package lifecycle runs a tier's long-running parts as one group: when any
// of them returns, the others are interrupted, and Run returns the first
// error.
package lifecycle

import (
	"context"
	"errors"
	"sync"
)

// Group is a set of actors sharing one fate.
type Group struct {
	actors []func(ctx context.Context) error
}

// Add registers an actor. It must return soon after ctx is done.
func (g *Group) Add(run func(ctx context.Context) error) {
	g.actors = append(g.actors, run)
}

// Run starts every actor and waits for all of them. The first to return
// cancels the rest; its error (if any, other than context.Canceled) is
// returned.
func (g *Group) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for _, a := range g.actors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := a(ctx)
			once.Do(func() {
				if !errors.Is(err, context.Canceled) {
					first = err
				}
				cancel()
			})
		}()
	}
	wg.Wait()
	return first
}
