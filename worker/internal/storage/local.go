package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Local keeps bytes in files under a folder. Put writes to a temporary file
// in <dir>/.tmp and renames it into place once complete and synced, so a cut
// upload never leaves a partial object.
type Local struct {
	dir string
	tmp string
}

// NewLocal keeps bytes under dir, which is made on the first write.
func NewLocal(dir string) (*Local, error) {
	if dir == "" {
		return nil, errors.New("storage: STORAGE_DIR is empty")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	return &Local{dir: abs, tmp: filepath.Join(abs, ".tmp")}, nil
}

// errBadKey refuses a backend key that could name a file outside the
// folder. The handler makes keys itself (blobKey, tus's), so one means a bug.
var errBadKey = errors.New("storage: bad backend key")

func (l *Local) path(key string) (string, error) {
	if key == "" || strings.Contains(key, "..") || strings.HasPrefix(key, "/") || strings.Contains(key, "\\") {
		return "", fmt.Errorf("%w %q", errBadKey, key)
	}
	return filepath.Join(l.dir, filepath.FromSlash(key)), nil
}

// Put implements Backend.
func (l *Local) Put(ctx context.Context, key string, r io.Reader, _ string) (int64, error) {
	dst, err := l.path(key)
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(l.tmp, 0o750); err != nil {
		return 0, fmt.Errorf("storage: %w", err)
	}
	f, err := os.CreateTemp(l.tmp, "put-*")
	if err != nil {
		return 0, err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	buf := copyBufs.Get().(*[]byte)
	n, err := io.CopyBuffer(&writebackWriter{f: f}, ctxReader{ctx, r}, *buf)
	copyBufs.Put(buf)
	if err != nil {
		return n, err
	}
	if err := f.Sync(); err != nil {
		return n, err
	}
	if err := f.Close(); err != nil {
		return n, err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return n, err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return n, err
	}
	ok = true
	return n, nil
}

// Get implements Backend.
func (l *Local) Get(_ context.Context, key string, off, length int64) (io.ReadCloser, error) {
	p, err := l.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	if off > 0 {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			_ = f.Close()
			return nil, err
		}
	}
	if length < 0 {
		return f, nil
	}
	return readCloser{io.LimitReader(f, length), f}, nil
}

// Copy implements Backend.
func (l *Local) Copy(ctx context.Context, src, dst string) error {
	rc, err := l.Get(ctx, src, 0, -1)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = l.Put(ctx, dst, rc, "")
	return err
}

// Delete implements Backend.
func (l *Local) Delete(_ context.Context, key string) error {
	p, err := l.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Walk implements Backend; temporary files count too (key ".tmp/<name>"),
// so the cleaner removes those a crash left.
func (l *Local) Walk(ctx context.Context, fn func(string, time.Time) error) error {
	return filepath.WalkDir(l.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		rel, err := filepath.Rel(l.dir, p)
		if err != nil {
			return nil
		}
		return fn(filepath.ToSlash(rel), info.ModTime())
	})
}

type readCloser struct {
	io.Reader
	io.Closer
}

// ctxReader stops a copy once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// copyBufs are the buffers Put copies through: larger than io.Copy's 32 KiB
// so a large upload takes fewer system calls.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// writebackChunk is how many written bytes Put lets gather before it asks
// the kernel to start writing them to disk.
const writebackChunk = 8 << 20

// writebackWriter writes to f and starts the disk write of every
// writebackChunk bytes as soon as they are in the page cache, so the fsync
// that ends an upload finds little left to write: the upload's time is that
// of the network or of the disk, whichever is slower, instead of the two
// added (a 1 GiB object would otherwise reach the disk only at its fsync).
// Having only Write, it also hides *os.File's ReadFrom, so io.CopyBuffer
// uses Put's buffer.
type writebackWriter struct {
	f       *os.File
	written int64 // bytes written
	started int64 // bytes whose writeback has been started
}

func (w *writebackWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.written += int64(n)
	if w.written-w.started >= writebackChunk {
		startWriteback(w.f, w.started, w.written-w.started)
		w.started = w.written
	}
	return n, err
}
