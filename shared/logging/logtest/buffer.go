// Package logtest holds what tests of the tiers use to read their logs.
package logtest

import (
	"bytes"
	"sync"
)

// Buffer collects what concurrent writers (a tier's logger, its goroutines)
// write, and lets a test read it meanwhile.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
