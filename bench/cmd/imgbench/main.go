// Command imgbench measures MadBase's image transformations next to
// imgproxy, the server Supabase's storage runs for them, in one run on
// 127.0.0.1: a 4000×3000 JPEG resized to about 400×300 (cover) as JPEG and
// as WebP, requests/s and latency at a fixed concurrency, and each server's
// peak memory (VmHWM) under that load.
//
//	go run ./bench/cmd/imgbench -imgproxy /path/to/imgproxy
//	go run ./bench/cmd/imgbench -imgproxy /path/to/imgproxy -purego -quick
//
// MadBase caches a render per object version and options, so every request
// of a transformation run asks for a size not asked before (400×300 minus a
// few pixels, the same sequence for both servers): each one decodes,
// resizes and encodes, as imgproxy does every time; MadBase also writes its
// cache. A last run asks for one render again and again: what a cached
// render costs. The MadBase measured is built with the vips tag (libvips);
// -purego adds one built without it (the default build's pure-Go engine). The setups alternate round by
// round and the ratios printed are medians of the ratios within a round.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/madbase/madbase/bench/internal/proc"
	"github.com/madbase/madbase/bench/internal/stack"
	"github.com/madbase/madbase/bench/internal/stats"
	"github.com/madbase/madbase/shared/jwtauth"
)

type options struct {
	imgproxy string
	bin      string
	purego   bool
	duration time.Duration
	rounds   int
	conns    int
}

func main() {
	var o options
	quick := false
	flag.StringVar(&o.imgproxy, "imgproxy", "", "imgproxy binary (required; build it from github.com/imgproxy/imgproxy with libvips-dev: go build -o imgproxy ./cli)")
	flag.StringVar(&o.bin, "bin", "", "madbase binary to run (default: built from the working tree)")
	flag.BoolVar(&o.purego, "purego", false, "also run a madbase built without -tags vips (the default build's pure-Go engine)")
	flag.DurationVar(&o.duration, "duration", 8*time.Second, "length of each load run")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; the setups alternate within each")
	flag.IntVar(&o.conns, "c", 32, "concurrent keep-alive clients")
	flag.BoolVar(&quick, "quick", false, "smoke run: 1 round of 2s")
	flag.Parse()
	if quick {
		o.duration, o.rounds = 2*time.Second, 1
	}
	if o.imgproxy == "" {
		fmt.Fprintln(os.Stderr, "imgbench: -imgproxy is required")
		os.Exit(2)
	}
	proc.Main("imgbench", 30*time.Minute, func(ctx context.Context) error { return run(ctx, o) }, nil)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "imgbench: "+format+"\n", args...)
}

// server is one setup under load: how to reach it and ask for a render of
// w × h in a format.
type server struct {
	name string
	pid  int
	url  func(w, h int, format string) string
	// next numbers the sizes asked of this server, so none repeats.
	next atomic.Int64
}

type result struct {
	rps      float64
	p50, p99 time.Duration
	peakRSS  int64
}

func run(ctx context.Context, o options) error {
	b, err := stack.Start(ctx, stack.Options{Name: "imgbench", Bin: o.bin, BuildTags: "vips", MaxConns: 100, Logf: logf})
	if err != nil {
		return err
	}
	defer b.Close()

	srcDir := filepath.Join(b.Tmp, "src")
	if err := os.MkdirAll(srcDir, 0o755); err != nil {
		return err
	}
	src, err := sourceJPEG(4000, 3000)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(srcDir, "big.jpg"), src, 0o644); err != nil {
		return err
	}
	logf("source: 4000×3000 JPEG, %d bytes", len(src))

	secret := []byte(stack.RandHex(32))
	now := time.Now()
	svc, err := jwtauth.ServiceRoleKey(secret, now, now.Add(24*time.Hour))
	if err != nil {
		return err
	}

	var servers []*server
	ip, err := startImgproxy(ctx, b, o.imgproxy, srcDir)
	if err != nil {
		return err
	}
	servers = append(servers, ip)
	mb, err := startMadBase(ctx, b, "madbase", b.Exec, secret, svc, src)
	if err != nil {
		return err
	}
	servers = append(servers, mb)
	if o.purego {
		exe := filepath.Join(b.Tmp, "madbase-purego")
		root, err := stack.RepoRoot("imgbench")
		if err != nil {
			return err
		}
		logf("building madbase without the vips tag")
		build := exec.CommandContext(ctx, "go", "build", "-o", exe, "./cmd/madbase")
		build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("go build (pure Go): %w", err)
		}
		pg, err := startMadBase(ctx, b, "madbase-purego", exe, secret, svc, src)
		if err != nil {
			return err
		}
		servers = append(servers, pg)
	}

	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: o.conns,
		MaxConnsPerHost: o.conns, DisableCompression: true}}
	defer hc.CloseIdleConnections()

	formats := []string{"jpeg", "webp"}
	res := map[string][]result{} // "server/format" → one per round
	for r := 1; r <= o.rounds; r++ {
		for _, f := range formats {
			order := servers
			if r%2 == 0 { // alternate who goes first
				order = append([]*server{}, servers...)
				sort.SliceStable(order, func(i, j int) bool { return i > j })
			}
			for _, s := range order {
				s := s
				out, err := load(ctx, hc, s, o.conns, o.duration, func() string {
					n := s.next.Add(1)
					return s.url(400-int(n%100), 300-int(n/100%100), f)
				})
				if err != nil {
					return fmt.Errorf("%s %s: %w", s.name, f, err)
				}
				logf("round %d %-15s %-4s %7.1f req/s  p50 %v  p99 %v  peak RSS %d MiB", r, s.name, f, out.rps,
					out.p50.Round(time.Millisecond), out.p99.Round(time.Millisecond), out.peakRSS>>20)
				res[s.name+"/"+f] = append(res[s.name+"/"+f], out)
			}
		}
	}
	cached, err := load(ctx, hc, mb, o.conns, o.duration, func() string { return mb.url(400, 300, "jpeg") })
	if err != nil {
		return fmt.Errorf("cached: %w", err)
	}

	fmt.Printf("imgbench: %d rounds of %v at %d concurrent clients; 4000×3000 JPEG → ~400×300 (cover, q80)\n\n",
		o.rounds, o.duration, o.conns)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "setup\tformat\treq/s\tp50\tp99\tpeak RSS MiB")
	for _, s := range servers {
		for _, f := range formats {
			m := medianResult(res[s.name+"/"+f])
			fmt.Fprintf(tw, "%s\t%s\t%.1f\t%v\t%v\t%d\n", s.name, f, m.rps, m.p50.Round(time.Millisecond),
				m.p99.Round(time.Millisecond), m.peakRSS>>20)
		}
	}
	fmt.Fprintf(tw, "madbase, cached render\tjpeg\t%.1f\t%v\t%v\t%d\n", cached.rps, cached.p50.Round(time.Microsecond),
		cached.p99.Round(time.Microsecond), cached.peakRSS>>20)
	tw.Flush()
	fmt.Println()
	for _, s := range servers[1:] {
		for _, f := range formats {
			var rps, rss []float64
			for i := range res[s.name+"/"+f] {
				a, base := res[s.name+"/"+f][i], res["imgproxy/"+f][i]
				rps = append(rps, a.rps/base.rps)
				rss = append(rss, float64(a.peakRSS)/float64(base.peakRSS))
			}
			fmt.Printf("%s/imgproxy %s: %.2f× the requests/s (rounds %s), %.2f× the peak RSS\n",
				s.name, f, stats.Median(rps), fmtList(rps), stats.Median(rss))
		}
	}
	return nil
}

func fmtList(xs []float64) string {
	s := ""
	for i, x := range xs {
		if i > 0 {
			s += ", "
		}
		s += strconv.FormatFloat(x, 'f', 2, 64)
	}
	return s
}

func medianResult(rs []result) result {
	var rps, p50, p99, rss []float64
	for _, r := range rs {
		rps, p50, p99, rss = append(rps, r.rps), append(p50, float64(r.p50)), append(p99, float64(r.p99)), append(rss, float64(r.peakRSS))
	}
	return result{rps: stats.Median(rps), p50: time.Duration(stats.Median(p50)), p99: time.Duration(stats.Median(p99)),
		peakRSS: int64(stats.Median(rss))}
}

// load sends GETs of next() from conns clients for d, and reads the
// server's peak RSS over that time. Any answer but 200 fails the run.
func load(ctx context.Context, hc *http.Client, s *server, conns int, d time.Duration, next func() string) (result, error) {
	if err := proc.ResetPeakRSS(s.pid); err != nil {
		return result{}, fmt.Errorf("reset peak RSS: %w", err)
	}
	var (
		mu    sync.Mutex
		lat   []time.Duration
		first error
	)
	start := time.Now()
	end := start.Add(d)
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for ctx.Err() == nil && time.Now().Before(end) {
				t0 := time.Now()
				err := get(ctx, hc, next())
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if first != nil {
		return result{}, first
	}
	if err := ctx.Err(); err != nil {
		return result{}, err
	}
	mem, err := proc.MemStatus(s.pid)
	if err != nil {
		return result{}, err
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	r := result{rps: float64(len(lat)) / elapsed.Seconds(), peakRSS: mem.HWM}
	if len(lat) > 0 {
		r.p50, r.p99 = lat[len(lat)*50/100], lat[min(len(lat)-1, len(lat)*99/100)]
	}
	return r, nil
}

func get(ctx context.Context, hc *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %d %s", stack.ShortURL(url), resp.StatusCode, bytes.TrimSpace(body[:min(len(body), 200)]))
	}
	if len(body) == 0 {
		return fmt.Errorf("GET %s: empty body", stack.ShortURL(url))
	}
	return nil
}

// sourceJPEG is a w × h JPEG with gradients and fine detail (quality 90),
// the same bytes every run.
func sourceJPEG(w, h int) ([]byte, error) {
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Y[y*img.YStride+x] = uint8((x*255/w + y*255/h + (x*y)%31) / 2)
		}
	}
	for y := 0; y < h/2; y++ {
		for x := 0; x < w/2; x++ {
			img.Cb[y*img.CStride+x] = uint8(x * 255 / (w / 2))
			img.Cr[y*img.CStride+x] = uint8(y * 255 / (h / 2))
		}
	}
	var buf bytes.Buffer
	err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90})
	return buf.Bytes(), err
}

// startImgproxy runs imgproxy on a free port, reading sources from dir.
func startImgproxy(ctx context.Context, b *stack.Base, bin, dir string) (*server, error) {
	port, err := stack.FreePort()
	if err != nil {
		return nil, err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "IMGPROXY_BIND=127.0.0.1:"+strconv.Itoa(port), "IMGPROXY_LOCAL_FILESYSTEM_ROOT="+dir,
		"IMGPROXY_LOG_LEVEL=error", "IMGPROXY_MAX_SRC_RESOLUTION=50")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	c, err := b.StartChild("imgproxy", cmd)
	if err != nil {
		return nil, err
	}
	if err := waitOK(ctx, c, base+"/health"); err != nil {
		return nil, err
	}
	ext := map[string]string{"jpeg": "jpg", "webp": "webp"}
	return &server{name: "imgproxy", pid: c.Pid(), url: func(w, h int, f string) string {
		return fmt.Sprintf("%s/insecure/rs:fill:%d:%d/q:80/plain/local:///big.jpg@%s", base, w, h, ext[f])
	}}, nil
}

// startMadBase runs a madbase worker with its own storage folder and a
// public bucket named after it holding src as big.jpg.
func startMadBase(ctx context.Context, b *stack.Base, name, exe string, secret []byte, svc string, src []byte) (*server, error) {
	port, err := stack.FreePort()
	if err != nil {
		return nil, err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	cmd := exec.Command(exe, "worker")
	cmd.Env = append(os.Environ(), "NATS_URL="+b.NATS.URL(), "DATABASE_URL="+b.DBURL, "JWT_SECRET="+string(secret),
		"WORKER_PORT="+strconv.Itoa(port), "WORKER_ADVERTISE_HOST=127.0.0.1", "INSTANCE_ID=imgbench-"+name,
		"LOG_LEVEL=warn", "STORAGE_DIR="+filepath.Join(b.Tmp, "storage-"+name), "SHUTDOWN_GRACE=2s")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	c, err := b.StartChild(name, cmd)
	if err != nil {
		return nil, err
	}
	if err := waitOK(ctx, c, base+"/storage/v1/health"); err != nil {
		return nil, err
	}
	auth := map[string]string{"Authorization": "Bearer " + svc, "apikey": svc}
	bucket := "bench-" + name
	body := []byte(fmt.Sprintf(`{"id":%q,"name":%q,"public":true}`, bucket, bucket))
	if err := post(ctx, base+"/storage/v1/bucket", withHeader(auth, "Content-Type", "application/json"), body); err != nil {
		return nil, err
	}
	if err := post(ctx, base+"/storage/v1/object/"+bucket+"/big.jpg", withHeader(auth, "Content-Type", "image/jpeg"), src); err != nil {
		return nil, err
	}
	format := map[string]string{"jpeg": "origin", "webp": "webp"}
	return &server{name: name, pid: c.Pid(), url: func(w, h int, f string) string {
		return fmt.Sprintf("%s/storage/v1/render/image/public/%s/big.jpg?width=%d&height=%d&resize=cover&quality=80&format=%s",
			base, bucket, w, h, format[f])
	}}, nil
}

// post sends a setup request that must answer 200.
func post(ctx context.Context, url string, headers map[string]string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("POST %s: %d %s", stack.ShortURL(url), resp.StatusCode, b)
	}
	return nil
}

func withHeader(h map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for a, b := range h {
		out[a] = b
	}
	return out
}

// waitOK polls url until it answers 200, for up to 30 s.
func waitOK(ctx context.Context, c *proc.Child, url string) error {
	hc := &http.Client{Timeout: time.Second}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if c.Exited() {
			return fmt.Errorf("%s exited: %v", c.Name, c.Err())
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return errors.Join(fmt.Errorf("%s not ready after 30s", c.Name), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
