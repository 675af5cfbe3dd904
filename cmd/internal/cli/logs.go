package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/cmd/internal/devmode"
	"github.com/madbase/madbase/shared/logging"
	"github.com/nats-io/nats.go"
)

// runLogs prints log records: with -f it follows them live on NATS; without,
// it asks control for the recent ones. Both come from the environment
// (NATS_URL; CONTROL_UPSTREAM_URL and ADMIN_PASSWORD), else from the running
// `madbase dev`, found from any folder (see findDev).
func runLogs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("logs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	follow := fs.Bool("f", false, "follow: print records live as they are published on NATS")
	tier := fs.String("tier", "", "only this tier: edge, worker or control")
	level := fs.String("level", "", "only records at this level or above: debug, info, warn, error")
	raw := fs.Bool("json", false, "print each record as its raw JSON")
	limit := fs.Int("n", 100, "without -f: how many recent records to show")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	minLevel := slog.LevelDebug // no -level: everything
	if *level != "" {
		l, err := logging.ParseLevel(*level)
		if err != nil {
			return fmt.Errorf("%w: -level: %v", errUsage, err)
		}
		minLevel = l
	}
	// dev finds the running madbase dev only when the environment does not
	// say where to look.
	dev := func() (devmode.State, error) {
		_, st, err := findDev()
		if err != nil {
			return st, fmt.Errorf("%w: %w", errUsage, err)
		}
		return st, nil
	}
	show := func(data []byte) {
		rec, all, err := bus.ParseLogRecord(data)
		if err != nil {
			return
		}
		if l, err := logging.ParseLevel(rec.Level); err == nil && l < minLevel {
			return
		}
		if *tier != "" && rec.Tier != *tier {
			return
		}
		if *raw {
			fmt.Fprintln(stdout, string(data))
			return
		}
		fmt.Fprintln(stdout, pretty(rec, all))
	}

	if !*follow {
		base, pw := os.Getenv("CONTROL_UPSTREAM_URL"), os.Getenv("ADMIN_PASSWORD")
		if base == "" || pw == "" {
			st, err := dev()
			if err != nil {
				return fmt.Errorf("%w; or set CONTROL_UPSTREAM_URL and ADMIN_PASSWORD, or use -f with NATS_URL", err)
			}
			base, pw = envOr("CONTROL_UPSTREAM_URL", st.ControlURL), envOr("ADMIN_PASSWORD", st.AdminPassword)
		}
		q := url.Values{"limit": {fmt.Sprint(*limit)}}
		if *tier != "" {
			q.Set("tier", *tier)
		}
		if *level != "" {
			q.Set("level", *level)
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(base, "/")+"/admin/v1/logs?"+q.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+pw)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("ask control for logs: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			return fmt.Errorf("control answered %d: %s", resp.StatusCode, b)
		}
		var out struct {
			Logs []json.RawMessage `json:"logs"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return fmt.Errorf("read control's answer: %w", err)
		}
		for _, r := range out.Logs {
			show(r)
		}
		return nil
	}

	natsURL := os.Getenv("NATS_URL")
	if natsURL == "" {
		st, err := dev()
		if err != nil {
			return fmt.Errorf("%w; or set NATS_URL", err)
		}
		natsURL = st.NATSURL
	}
	nc, err := nats.Connect(natsURL, nats.Name("madbase logs"), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", bus.RedactServers(natsURL), err)
	}
	defer nc.Close()
	subject := bus.AllLogs
	if *tier != "" {
		subject = bus.LogsOfTier(*tier)
	}
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) { show(m.Data) })
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	// A round trip, so the server holds the subscription before we say we
	// follow: records published right after would otherwise be lost.
	if err := nc.Flush(); err != nil {
		return fmt.Errorf("subscribe to %s: %w", subject, err)
	}
	fmt.Fprintf(stderr, "following %s on %s (Ctrl-C to stop)\n", subject, bus.RedactServers(natsURL))
	<-ctx.Done()
	return nil
}

// pretty renders a record as one readable line: time, level, tier/instance,
// message, then the other attributes sorted by name.
func pretty(rec bus.LogRecord, all map[string]any) string {
	var b strings.Builder
	b.WriteString(rec.Time.Local().Format(time.TimeOnly + ".000"))
	fmt.Fprintf(&b, " %-5s %s/%s %s", rec.Level, rec.Tier, rec.Instance, rec.Msg)
	keys := make([]string, 0, len(all))
	for k := range all {
		switch k {
		case "time", "level", "msg", "tier", "instance":
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, _ := json.Marshal(all[k])
		fmt.Fprintf(&b, " %s=%s", k, strings.Trim(string(v), `"`))
	}
	return b.String()
}
