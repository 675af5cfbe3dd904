package rest

import (
	"strconv"
	"strings"
)

// prefs are the Prefer header's values (docs/api/rest.md §6). supabase-js joins them
// with ", " in one header; several headers are also accepted.
type prefs struct {
	Return      string // minimal, headers-only, representation or ""
	Count       string // exact, planned, estimated or ""
	Resolution  string // merge-duplicates, ignore-duplicates or ""
	Missing     string // default, null or ""
	Handling    string // lenient, strict or ""
	MaxAffected *int64
	Tx          string // commit, rollback or ""
	Timezone    string
	// Params is "multiple-objects" when asked: an array body to a function
	// is a call per object (which it is without asking too).
	Params string
	// invalid lists tokens that are unknown or malformed.
	invalid []string
	// applied lists the tokens that took effect, for Preference-Applied.
	applied []string
}

func parsePrefer(headers []string) prefs {
	var p prefs
	for _, h := range headers {
		for _, tok := range strings.Split(h, ",") {
			tok = strings.TrimSpace(tok)
			if tok == "" {
				continue
			}
			k, v, _ := strings.Cut(tok, "=")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			ok := true
			switch k {
			case "return":
				ok = v == "minimal" || v == "headers-only" || v == "representation"
				if ok {
					p.Return = v
				}
			case "count":
				ok = v == "exact" || v == "planned" || v == "estimated"
				if ok {
					p.Count = v
				}
			case "resolution":
				ok = v == "merge-duplicates" || v == "ignore-duplicates"
				if ok {
					p.Resolution = v
				}
			case "missing":
				ok = v == "default" || v == "null"
				if ok {
					p.Missing = v
				}
			case "handling":
				ok = v == "lenient" || v == "strict"
				if ok {
					p.Handling = v
				}
			case "max-affected":
				n, err := strconv.ParseInt(v, 10, 64)
				ok = err == nil && n >= 0
				if ok {
					p.MaxAffected = &n
				}
			case "tx":
				ok = v == "commit" || v == "rollback"
				if ok {
					p.Tx = v
				}
			case "params":
				ok = v == "multiple-objects"
				if ok {
					p.Params = v
				}
			case "timezone":
				ok = validTimezone(v)
				if ok {
					p.Timezone = v
				}
			default:
				ok = false
			}
			if !ok {
				p.invalid = append(p.invalid, tok)
			}
		}
	}
	return p
}

func validTimezone(v string) bool {
	if v == "" || len(v) > 64 {
		return false
	}
	for _, c := range v {
		if !(c == '/' || c == '_' || c == '+' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func (p *prefs) apply(tok string) { p.applied = append(p.applied, tok) }

// strictErr is PGRST122 when handling=strict and some preference is invalid.
func (p *prefs) strictErr() error {
	if p.Handling != "strict" || len(p.invalid) == 0 {
		return nil
	}
	return newErr(400, codePrefs, "Invalid preferences given with handling=strict").
		WithDetails("Invalid preferences: " + strings.Join(p.invalid, ", "))
}
