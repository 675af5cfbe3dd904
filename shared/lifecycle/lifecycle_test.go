package lifecycle

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestGroupStopsAllWhenOneEnds(t *testing.T) {
	var g Group
	boom := errors.New("boom")
	stopped := make(chan struct{})
	g.Add(func(ctx context.Context) error { <-ctx.Done(); close(stopped); return ctx.Err() })
	g.Add(func(context.Context) error { time.Sleep(10 * time.Millisecond); return boom })
	assert.ErrorIs(t, g.Run(context.Background()), boom)
	<-stopped
}

func TestGroupCancelledIsNotAnError(t *testing.T) {
	var g Group
	g.Add(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.NoError(t, g.Run(ctx))
}

func TestInstanceID(t *testing.T) {
	a, b := InstanceID("worker"), InstanceID("worker")
	assert.NotEqual(t, a, b)
	assert.Regexp(t, `^worker-[^.*> ]+-[0-9a-f]{6}$`, a)
}
