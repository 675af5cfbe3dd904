package logsink

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"
)

// Limits of Filter.Limit.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Filter selects log records. Zero fields select everything, except Level,
// which New filters start at AnyLevel.
type Filter struct {
	Tier      string
	Instance  string
	RequestID string
	// Level is the minimum level: LevelWarn selects warn and error records.
	Level slog.Level
	// Since keeps records stamped at or after it.
	Since time.Time
	// Limit caps how many (of the newest) records a query returns.
	Limit int
}

// AnyLevel is a minimum level every record passes.
const AnyLevel = slog.Level(math.MinInt)

// Match reports whether rec passes the filter (Limit aside).
func (f Filter) Match(rec Record) bool {
	return (f.Tier == "" || rec.Tier == f.Tier) &&
		(f.Instance == "" || rec.Instance == f.Instance) &&
		(f.RequestID == "" || rec.RequestID == f.RequestID) &&
		rec.Level >= f.Level &&
		(f.Since.IsZero() || !rec.Time.Before(f.Since))
}

// ParseFilter reads a filter from query parameters: tier, instance,
// request_id, level (debug, info, warn or error: the minimum), since (an
// RFC 3339 time, or a duration like 5m meaning the last five minutes before
// now) and limit (default DefaultLimit, at most MaxLimit). Errors name the
// parameter and are meant for the client.
func ParseFilter(get func(key string) string, now time.Time) (Filter, error) {
	f := Filter{
		Tier:      strings.TrimSpace(get("tier")),
		Instance:  strings.TrimSpace(get("instance")),
		RequestID: strings.TrimSpace(get("request_id")),
		Level:     AnyLevel,
		Limit:     DefaultLimit,
	}
	var errs []error
	if v := strings.TrimSpace(get("level")); v != "" {
		l, err := ParseLevel(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("level: must be debug, info, warn or error, not %q", v))
		}
		f.Level = l
	}
	if v := strings.TrimSpace(get("since")); v != "" {
		t, err := parseSince(v, now)
		if err != nil {
			errs = append(errs, err)
		}
		f.Since = t
	}
	if v := strings.TrimSpace(get("limit")); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil || n < 1:
			errs = append(errs, fmt.Errorf("limit: must be a whole number from 1 to %d, not %q", MaxLimit, v))
		case n > MaxLimit:
			f.Limit = MaxLimit
		default:
			f.Limit = n
		}
	}
	return f, errors.Join(errs...)
}

func parseSince(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("since: must be an RFC 3339 time (2006-01-02T15:04:05Z) or a duration like 5m, not %q", v)
	}
	return now.Add(-d), nil
}

// ParseLevel reads a level name as slog writes it (DEBUG, INFO, WARN,
// ERROR, optionally with an offset like INFO+2), in any case; "warning" is
// accepted for warn.
func ParseLevel(s string) (slog.Level, error) {
	if strings.EqualFold(s, "warning") {
		return slog.LevelWarn, nil
	}
	var l slog.Level
	err := l.UnmarshalText([]byte(s))
	return l, err
}
