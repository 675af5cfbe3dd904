package auth

import (
	"context"
	"encoding/base64"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

func TestHasherThroughPool(t *testing.T) {
	h := newHasher(0, nil)
	h.cost = bcrypt.MinCost
	ctx := context.Background()
	hash, err := h.hash(ctx, "secret-1")
	require.NoError(t, err)
	require.NoError(t, bcrypt.CompareHashAndPassword([]byte(hash), []byte("secret-1")))

	salt := []byte("0123456789abcdef")
	argon := "$argon2id$v=19$m=64,t=2,p=1$" + base64.RawStdEncoding.EncodeToString(salt) + "$" +
		base64.RawStdEncoding.EncodeToString(argon2.IDKey([]byte("secret-2"), salt, 2, 64, 1, 16))
	for _, c := range []struct {
		name, hash, pw string
		want           bool
	}{
		{"bcrypt match", hash, "secret-1", true},
		{"bcrypt mismatch", hash, "secret-2", false},
		{"argon2 match", argon, "secret-2", true},
		{"argon2 mismatch", argon, "secret-1", false},
		{"no hash", "", "secret-1", false},
		{"no hash, empty password", "", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ok, err := h.compare(ctx, c.hash, c.pw)
			require.NoError(t, err)
			assert.Equal(t, c.want, ok)
		})
	}
}

// fillPool takes every slot of the shared pool until the returned function is
// called.
func fillPool(t *testing.T, p *hashPool) (release func()) {
	t.Helper()
	started, stop := make(chan struct{}), make(chan struct{})
	done := make(chan struct{}, p.size)
	for range p.size {
		go func() {
			_ = p.run(context.Background(), func() { started <- struct{}{}; <-stop })
			done <- struct{}{}
		}()
	}
	for range p.size {
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("the pool's slots did not all start")
		}
	}
	var once atomic.Bool
	release = func() {
		if once.CompareAndSwap(false, true) {
			close(stop)
			for range p.size {
				<-done
			}
		}
	}
	t.Cleanup(release)
	return release
}

func TestHashPoolCancelWhileBusy(t *testing.T) {
	h := newHasher(0, nil)
	h.cost = bcrypt.MinCost
	p := h.pool()
	release := fillPool(t, p)

	// A request whose context ends while every slot is taken returns (the
	// slots are released only at the end, so a caller that waited for one
	// would never return) and leaves no job behind.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := h.hash(ctx, "secret")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	_, err = h.compare(ctx, "", "secret")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	var ran atomic.Bool
	assert.ErrorIs(t, p.run(ctx, func() { ran.Store(true) }), context.DeadlineExceeded)

	gone, cancel2 := context.WithCancel(context.Background())
	cancel2()
	assert.ErrorIs(t, p.run(gone, func() { ran.Store(true) }), context.Canceled)

	release()
	// Every slot takes a job after the release: had a cancelled job been
	// queued, it would have run by the time these finish.
	for range p.size {
		require.NoError(t, p.run(context.Background(), func() {}))
	}
	assert.False(t, ran.Load(), "a job whose context ended before it started ran anyway")

	hash, err := h.hash(context.Background(), "secret")
	require.NoError(t, err)
	ok, err := h.compare(context.Background(), hash, "secret")
	require.NoError(t, err)
	assert.True(t, ok)
}

func TestHashPoolCancelWhileRunning(t *testing.T) {
	p := newHasher(0, nil).pool()
	// A caller whose context ends while its job runs does not wait for it.
	stop := make(chan struct{})
	finished := make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	// The job blocks until stop is closed, which happens only after run
	// returned: run returning at all proves it did not wait for the job.
	err := p.run(ctx, func() { <-stop; close(finished) })
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	close(stop)
	select {
	case <-finished:
	case <-time.After(time.Minute): // the pool's threads run at a low priority; a busy machine starves them
		t.Fatal("the abandoned job did not finish")
	}
}
