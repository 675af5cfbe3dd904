package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
)

// textHandler writes a record as one line for people (LOG_FORMAT=text):
//
//	10:04:05.123 WARN  worker-1 bus: cannot reach NATS; retrying  nats=nats://127.0.0.1:4222 error=EOF
//
// the local time of day, the level, who logged it (the tier, or tier/instance
// when they differ), the component, the message, then the other attributes
// as key=value (quoted when they hold spaces or quotes), in the order given.
type textHandler struct {
	mu    *sync.Mutex
	out   io.Writer
	level slog.Leveler
	// tier, instance and component are taken out of the attributes.
	tier, instance, component string
	attrs                     string // pre-formatted " key=value" pairs
	group                     string // prefix of the keys, "g." within WithGroup("g")
}

func newTextHandler(out io.Writer, level slog.Leveler) *textHandler {
	return &textHandler{mu: &sync.Mutex{}, out: out, level: level}
}

func (h *textHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *textHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	var b strings.Builder
	b.WriteString(c.attrs)
	for _, a := range attrs {
		c.take(&b, a)
	}
	c.attrs = b.String()
	return &c
}

func (h *textHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.group += name + "."
	return &c
}

// take keeps tier, instance and component aside and writes the rest.
func (h *textHandler) take(b *strings.Builder, a slog.Attr) {
	if h.group == "" && a.Value.Kind() == slog.KindString {
		switch a.Key {
		case "tier":
			h.tier = a.Value.String()
			return
		case "instance":
			h.instance = a.Value.String()
			return
		case "component":
			h.component = a.Value.String()
			return
		}
	}
	writeAttr(b, h.group, a)
}

func (h *textHandler) Handle(_ context.Context, r slog.Record) error {
	c := *h // the record's own tier or component count for this line only
	var attrs strings.Builder
	r.Attrs(func(a slog.Attr) bool {
		c.take(&attrs, a)
		return true
	})
	var b strings.Builder
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	b.WriteString(t.Local().Format(time.TimeOnly + ".000"))
	fmt.Fprintf(&b, " %-5s ", r.Level.String())
	who := c.tier
	if c.instance != "" && c.instance != c.tier {
		if who != "" {
			who += "/"
		}
		who += c.instance
	}
	if who != "" {
		b.WriteString(who)
		b.WriteByte(' ')
	}
	// A message that already starts with its component does not say it twice.
	if c.component != "" && c.component != c.tier && !strings.HasPrefix(r.Message, c.component+":") {
		b.WriteString(c.component)
		b.WriteString(": ")
	}
	b.WriteString(r.Message)
	if c.attrs != "" || attrs.Len() > 0 {
		b.WriteByte(' ')
		b.WriteString(c.attrs)
		b.WriteString(attrs.String())
	}
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.out, b.String())
	return err
}

// writeAttr writes " key=value", a group's attributes as " group.key=value".
func writeAttr(b *strings.Builder, prefix string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			writeAttr(b, p, g)
		}
		return
	}
	b.WriteByte(' ')
	b.WriteString(prefix)
	b.WriteString(a.Key)
	b.WriteByte('=')
	var v string
	switch a.Value.Kind() {
	case slog.KindTime:
		v = a.Value.Time().Format(time.RFC3339Nano)
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok {
			v = err.Error()
		} else {
			v = fmt.Sprint(a.Value.Any())
		}
	default:
		v = a.Value.String()
	}
	if needsQuote(v) {
		v = strconv.Quote(v)
	}
	b.WriteString(v)
}

func needsQuote(s string) bool {
	if s == "" {
		return true
	}
	for _, r := range s {
		if unicode.IsSpace(r) || r == '"' || r == '=' || !unicode.IsPrint(r) {
			return true
		}
	}
	return false
}
