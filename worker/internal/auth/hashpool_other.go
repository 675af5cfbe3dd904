//go:build !linux

package auth

import (
	"context"
	"log/slog"
)

// hashPool elsewhere than Linux is a plain semaphore: at most size hashes at
// once, on the callers' goroutines, at normal priority (a thread's priority
// cannot be lowered portably).
type hashPool struct {
	size int
	sem  chan struct{}
}

func startHashPool(n int, _ *slog.Logger) *hashPool {
	return &hashPool{size: n, sem: make(chan struct{}, n)}
}

// run runs fn once a slot is free, or returns ctx's error without running it.
func (p *hashPool) run(ctx context.Context, fn func()) error {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.sem }()
	if err := ctx.Err(); err != nil {
		return err
	}
	fn()
	return nil
}
