package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// bodyClient moves one upload or download of size bytes through a setup's
// URL and returns the transfer's time.
type bodyClient interface {
	upload(ctx context.Context, base string, size int64) (time.Duration, error)
	download(ctx context.Context, base string, size int64) (time.Duration, error)
	close()
}

// goBodyClient transfers with net/http from this process (the fallback when
// curl is missing).
type goBodyClient struct{ hc *http.Client }

func (g goBodyClient) upload(ctx context.Context, base string, size int64) (time.Duration, error) {
	return upload(ctx, g.hc, base, size)
}

func (g goBodyClient) download(ctx context.Context, base string, size int64) (time.Duration, error) {
	return download(ctx, g.hc, base, size)
}

func (g goBodyClient) close() { g.hc.CloseIdleConnections() }

// curlBodyClient transfers with curl, as the measurements the goals come
// from did (bench/README.md, "How the edge is measured"): a separate, lean
// client process, the upload streamed from a file in the page cache, the
// download written to /dev/null, the time curl's own (time_total, without
// its start-up).
type curlBodyClient struct {
	bin   string
	dir   string           // holds the upload files
	files map[int64]string // upload file by size
	// lastCPU is the CPU time the last curl process used.
	lastCPU time.Duration
}

func newCurlBodyClient(bin, dir string) *curlBodyClient {
	return &curlBodyClient{bin: bin, dir: dir, files: map[int64]string{}}
}

// file returns a file of size pattern bytes, written once.
func (c *curlBodyClient) file(size int64) (string, error) {
	if f, ok := c.files[size]; ok {
		return f, nil
	}
	path := filepath.Join(c.dir, fmt.Sprintf("upload-%d.bin", size))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	_, err = (&patternReader{left: size}).WriteTo(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	c.files[size] = path
	return path, nil
}

func (c *curlBodyClient) upload(ctx context.Context, base string, size int64) (time.Duration, error) {
	path, err := c.file(size)
	if err != nil {
		return 0, err
	}
	out, err := c.run(ctx, size, "-X", "POST", "-H", "Content-Type: application/octet-stream",
		"-H", "Expect:", "-T", path, base+"/storage/v1/upload")
	if err != nil {
		return 0, fmt.Errorf("upload to %s: %w", base, err)
	}
	if out.status != 200 || out.body != strconv.FormatInt(size, 10) {
		return 0, fmt.Errorf("upload to %s: status %d, answer %q, want %d", base, out.status, out.body, size)
	}
	return out.took, nil
}

func (c *curlBodyClient) download(ctx context.Context, base string, size int64) (time.Duration, error) {
	out, err := c.run(ctx, size, "-o", "/dev/null", base+"/storage/v1/download?size="+strconv.FormatInt(size, 10))
	if err != nil {
		return 0, fmt.Errorf("download from %s: %w", base, err)
	}
	if out.status != 200 || out.downloaded != size {
		return 0, fmt.Errorf("download from %s: status %d, %d bytes, want %d", base, out.status, out.downloaded, size)
	}
	return out.took, nil
}

func (c *curlBodyClient) close() {}

type curlResult struct {
	status     int
	downloaded int64
	took       time.Duration
	body       string
}

// curlReport is what -w prints after the body: status, bytes downloaded,
// total seconds.
const curlReport = "\n%{http_code} %{size_download} %{time_total}"

func (c *curlBodyClient) run(ctx context.Context, size int64, args ...string) (curlResult, error) {
	ctx, cancel := context.WithTimeout(ctx, bodyTimeout(size))
	defer cancel()
	args = append([]string{"-sS", "--noproxy", "*", "-w", curlReport}, args...)
	cmd := exec.CommandContext(ctx, c.bin, args...)
	raw, err := cmd.Output()
	if cmd.ProcessState != nil {
		c.lastCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return curlResult{}, fmt.Errorf("curl: %v: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return curlResult{}, fmt.Errorf("curl: %w", err)
	}
	s := string(raw)
	i := strings.LastIndexByte(s, '\n')
	f := strings.Fields(s[i+1:])
	if i < 0 || len(f) != 3 {
		return curlResult{}, fmt.Errorf("curl: unexpected report %q", s)
	}
	var r curlResult
	r.body = strings.TrimSpace(s[:i])
	r.status, _ = strconv.Atoi(f[0])
	dl, _ := strconv.ParseFloat(f[1], 64)
	secs, err := strconv.ParseFloat(f[2], 64)
	if err != nil {
		return curlResult{}, fmt.Errorf("curl: unexpected report %q", s)
	}
	r.downloaded, r.took = int64(dl), time.Duration(secs*float64(time.Second))
	return r, nil
}
