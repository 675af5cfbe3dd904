package config

import (
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"time"
)

// LogAttrs lists a configuration struct for a start-up debug record: every
// field by its variable name except those tagged secret, with passwords in
// URLs and key=value connection strings masked.
func LogAttrs(cfg any) []any {
	var attrs []any
	walk(reflect.ValueOf(cfg), func(f reflect.StructField, v reflect.Value) {
		if f.Tag.Get("secret") == "true" {
			return
		}
		val := v.Interface()
		switch x := val.(type) {
		case string:
			val = RedactURLs(x)
		case time.Duration:
			val = x.String()
		case []string:
			out := make([]string, len(x))
			for j, s := range x {
				out[j] = RedactURLs(s)
			}
			val = out
		}
		attrs = append(attrs, f.Tag.Get("env"), val)
	})
	return attrs
}

// dsnPassword matches the password of a key=value connection string (or of
// a URL's query).
var dsnPassword = regexp.MustCompile(`(?i)(password=)('[^']*'|[^\s&]*)`)

// RedactURLs masks the password of each comma-separated URL in s, and any
// password=... setting, so that connection strings can be logged.
func RedactURLs(s string) string {
	s = dsnPassword.ReplaceAllString(s, "${1}xxxxx")
	if !strings.Contains(s, "@") {
		return s
	}
	parts := strings.Split(s, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil {
			parts[i] = "<unparsable, hidden>"
			continue
		}
		parts[i] = u.Redacted()
	}
	return strings.Join(parts, ",")
}
