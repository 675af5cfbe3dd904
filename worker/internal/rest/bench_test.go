package rest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/madbase/madbase/shared/apitest"
	"github.com/madbase/madbase/shared/db"
	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/madbase/madbase/shared/db/platform"
	"github.com/valyala/fasthttp"
)

// BenchmarkRESTVersusTransaction measures /rest/v1 served over a real
// listener against its ceiling: the same SQL sent straight through pgx in
// the transaction a REST request uses (BEGIN; role and claims; the query;
// COMMIT), in the same run on the same database, and reports the ratio.
//
//	go test -run '^$' -bench RESTVersusTransaction -benchtime 1x ./worker/internal/rest
//
// Two requests: one row by key, and a 10-row page with an embedded to-one.
// The edge is not in the path (it is another tier; bench/ measures it).
func BenchmarkRESTVersusTransaction(b *testing.B) {
	d := dbtest.NewDB(b, platform.Source)
	ctx := context.Background()
	_, err := d.Pool.Exec(ctx, `
		create table bench_authors (id int primary key, name text not null);
		create table bench_items (id int primary key, name text not null, author_id int not null references bench_authors(id));
		insert into bench_authors select i, 'author ' || i from generate_series(1, 100) i;
		insert into bench_items select i, 'item ' || i, 1 + i % 100 from generate_series(1, 10000) i;
		analyze bench_authors; analyze bench_items;`)
	if err != nil {
		b.Fatal(err)
	}
	pcfg, _ := pgxpool.ParseConfig(d.URL)
	pcfg.MaxConns = 32
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	h := New(testConfig(), testSecret, pool, nil)
	if err := h.Cache().LoadNow(ctx); err != nil {
		b.Fatal(err)
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	h.Mount(app)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	defer func() { _ = app.Shutdown() }()
	base := "http://" + ln.Addr().String()

	// The SQL the translator produces for each request, taken from a run.
	rec := &recorder{}
	pcfg2, _ := pgxpool.ParseConfig(d.URL)
	pcfg2.ConnConfig.Tracer = rec
	tpool, _ := pgxpool.NewWithConfig(ctx, pcfg2)
	th := New(testConfig(), testSecret, tpool, nil)
	_ = th.Cache().LoadNow(ctx)
	tapp := fiber.New(fiber.Config{DisableStartupMessage: true})
	th.Mount(tapp)
	tapi := newAPI(b, tapp)
	anon := tapi.Anon

	cases := []struct {
		name string
		path func(n int) string
	}{
		{"row_by_key", func(n int) string { return fmt.Sprintf("/rest/v1/bench_items?id=eq.%d", n) }},
		{"page_with_embed", func(n int) string {
			return fmt.Sprintf("/rest/v1/bench_items?select=id,name,author:bench_authors(name)&id=gt.%d&order=id&limit=10", n)
		}},
	}
	client := &fasthttp.Client{MaxConnsPerHost: 256}
	const conc = 32
	dur := 3 * time.Second
	for _, c := range cases {
		rec.take()
		if res := tapi.Do(b, apitest.Request{URL: c.path(1)}); res.Status != 200 {
			b.Fatalf("%s: status %d: %s", c.name, res.Status, res.Body)
		}
		stmts := rec.take()
		if len(stmts) != 1 {
			b.Fatalf("%s: expected one statement, got %d", c.name, len(stmts))
		}
		mainSQL := stmts[0].SQL
		args := stmts[0].Args

		restOp := func(n int) error {
			req, res := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(res)
			req.SetRequestURI(base + c.path(n))
			req.Header.Set("apikey", anon)
			if err := client.Do(req, res); err != nil {
				return err
			}
			if res.StatusCode() != 200 {
				return fmt.Errorf("status %d: %s", res.StatusCode(), res.Body())
			}
			return nil
		}
		claims := db.Claims{"role": "anon", "iss": "supabase"}
		txOp := func(n int) error {
			a := append([]any(nil), args...)
			a[0] = fmt.Sprint(n)
			return db.WithClaims(ctx, pool, claims, func(ctx context.Context, tx pgx.Tx) error {
				var t *int64
				var pt int64
				var body []byte
				var hs, st *string
				return tx.QueryRow(ctx, mainSQL, a...).Scan(&t, &pt, &body, &hs, &st)
			})
		}
		var restRate, txRate float64
		var restLat, txLat []time.Duration
		for round := 0; round < 2; round++ {
			r, l, err := load(restOp, conc, dur)
			if err != nil {
				b.Fatalf("%s rest: %v", c.name, err)
			}
			restRate += r / 2
			restLat = append(restLat, l...)
			r, l, err = load(txOp, conc, dur)
			if err != nil {
				b.Fatalf("%s tx: %v", c.name, err)
			}
			txRate += r / 2
			txLat = append(txLat, l...)
		}
		b.ReportMetric(restRate, c.name+"_rest_req/s")
		b.ReportMetric(txRate, c.name+"_ceiling_tx/s")
		b.ReportMetric(restRate/txRate, c.name+"_ratio")
		b.ReportMetric(float64(p99(restLat).Microseconds())/1000, c.name+"_rest_p99_ms")
		b.ReportMetric(float64(p99(txLat).Microseconds())/1000, c.name+"_ceiling_p99_ms")
		fmt.Printf("%-16s REST %8.0f req/s p99 %6.2f ms | transaction ceiling %8.0f tx/s p99 %6.2f ms | ratio %.2f\n",
			c.name, restRate, float64(p99(restLat).Microseconds())/1000, txRate, float64(p99(txLat).Microseconds())/1000, restRate/txRate)
	}
	tpool.Close()
}

// load runs op from conc goroutines for d and returns ops/s and latencies.
func load(op func(n int) error, conc int, d time.Duration) (float64, []time.Duration, error) {
	var done atomic.Int64
	var firstErr atomic.Value
	var mu sync.Mutex
	var lats []time.Duration
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			for time.Now().Before(stop) {
				t0 := time.Now()
				if err := op(1 + rand.IntN(9990)); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				local = append(local, time.Since(t0))
				done.Add(1)
			}
			mu.Lock()
			lats = append(lats, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, nil, err
	}
	return float64(done.Load()) / d.Seconds(), lats, nil
}

func p99(l []time.Duration) time.Duration {
	if len(l) == 0 {
		return 0
	}
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	return l[len(l)*99/100]
}

// BenchmarkReadByKey serves GET /rest/v1/bench_items?id=eq.N in process
// (fiber's handler on a reused fasthttp.RequestCtx, no network), so that
// allocs/op and B/op are the read-by-key path's own per request, the
// PostgreSQL round trip included, and cpu-µs/op the CPU this process spent
// on each (PostgreSQL's, in processes of its own, is not counted).
//
//	go test -run '^$' -bench ReadByKey -benchmem ./worker/internal/rest
func BenchmarkReadByKey(b *testing.B) {
	d := dbtest.NewDB(b, platform.Source)
	ctx := context.Background()
	_, err := d.Pool.Exec(ctx, `
		create table bench_items (id int primary key, name text not null);
		insert into bench_items select i, 'item ' || i from generate_series(1, 1000) i;
		analyze bench_items;`)
	if err != nil {
		b.Fatal(err)
	}
	h := New(testConfig(), testSecret, d.Pool, nil)
	if err := h.Cache().LoadNow(ctx); err != nil {
		b.Fatal(err)
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	h.Mount(app)
	serve := app.Handler()
	anon := newAPI(b, app).Anon
	bearer := "Bearer " + anon
	var fctx fasthttp.RequestCtx
	var req fasthttp.Request
	fctx.Init(&req, nil, nil)
	uris := make([][]byte, 1000)
	for i := range uris {
		uris[i] = fmt.Appendf(nil, "/rest/v1/bench_items?id=eq.%d", i+1)
	}
	get := func(i int) {
		fctx.Request.Reset()
		fctx.Request.SetRequestURIBytes(uris[i%len(uris)])
		fctx.Request.Header.Set("apikey", anon) // as supabase-js sends it, and bench/cmd/apibench
		fctx.Request.Header.Set("Authorization", bearer)
		fctx.Response.Reset()
		serve(&fctx)
		if fctx.Response.StatusCode() != 200 {
			b.Fatalf("status %d: %s", fctx.Response.StatusCode(), fctx.Response.Body())
		}
	}
	for i := range 100 { // warm the pool, the cache and fiber's pools
		get(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU(b)
	n := 0
	for i := 0; b.Loop(); i++ {
		get(i)
		n++
	}
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(n), "cpu-µs/op")
}

// processCPU is the CPU time (user and system) this process has used: the
// handler's, without PostgreSQL's, which runs in processes of its own.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
