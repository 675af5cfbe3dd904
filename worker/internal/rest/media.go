package rest

import (
	"sort"
	"strconv"
	"strings"
)

type mediaKind uint8

const (
	mediaJSON mediaKind = iota
	mediaObject
	mediaCSV
	mediaOpenAPI
	mediaPlan    // the execution plan (explain.go)
	mediaGeoJSON // a FeatureCollection (geojson.go)
)

// media is the negotiated response format.
type media struct {
	Kind       mediaKind
	StripNulls bool
	Plan       *planMedia // with mediaPlan
}

// inner is the media a statement's body is built for: a plan's for=, or m.
func (m media) inner() media {
	if m.Kind == mediaPlan {
		return m.Plan.For
	}
	return m
}

func (m media) contentType() string {
	switch m.Kind {
	case mediaObject:
		if m.StripNulls {
			return "application/vnd.pgrst.object+json; nulls=stripped; charset=utf-8"
		}
		return "application/vnd.pgrst.object+json; charset=utf-8"
	case mediaCSV:
		return "text/csv; charset=utf-8"
	case mediaOpenAPI:
		return "application/openapi+json; charset=utf-8"
	case mediaPlan:
		return m.Plan.contentType()
	case mediaGeoJSON:
		return "application/geo+json; charset=utf-8"
	}
	if m.StripNulls {
		return "application/vnd.pgrst.array+json; nulls=stripped; charset=utf-8"
	}
	return "application/json; charset=utf-8"
}

// negotiate picks the response format from Accept (docs/api/rest.md §9); openapi says
// the request is for the root, which also serves application/openapi+json.
func negotiate(accept string, openapi bool) (media, error) {
	accept = strings.TrimSpace(accept)
	if accept == "" {
		if openapi {
			return media{Kind: mediaOpenAPI}, nil
		}
		return media{Kind: mediaJSON}, nil
	}
	type cand struct {
		typ    string
		params map[string]string
		q      float64
	}
	var cands []cand
	for _, part := range strings.Split(accept, ",") {
		fields := strings.Split(part, ";")
		c := cand{typ: strings.ToLower(strings.TrimSpace(fields[0])), params: map[string]string{}, q: 1}
		for _, f := range fields[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
			k, v = strings.ToLower(strings.TrimSpace(k)), strings.Trim(strings.TrimSpace(v), `"`)
			if k == "q" {
				if q, err := strconv.ParseFloat(v, 64); err == nil {
					c.q = q
				}
				continue
			}
			c.params[k] = v
		}
		if c.typ != "" && c.q > 0 {
			cands = append(cands, c)
		}
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].q > cands[j].q })
	for _, c := range cands {
		strip := c.params["nulls"] == "stripped"
		switch c.typ {
		case "*/*", "application/*":
			if openapi {
				return media{Kind: mediaOpenAPI}, nil
			}
			return media{Kind: mediaJSON}, nil
		case "application/json":
			if openapi {
				return media{Kind: mediaOpenAPI}, nil
			}
			return media{Kind: mediaJSON}, nil
		case "application/openapi+json":
			if openapi {
				return media{Kind: mediaOpenAPI}, nil
			}
		case "application/vnd.pgrst.array+json", "application/vnd.pgrst.array":
			if !openapi {
				return media{Kind: mediaJSON, StripNulls: strip}, nil
			}
		case "application/vnd.pgrst.object+json", "application/vnd.pgrst.object":
			if !openapi {
				return media{Kind: mediaObject, StripNulls: strip}, nil
			}
		case "text/csv", "text/*":
			if !openapi {
				return media{Kind: mediaCSV}, nil
			}
		case "application/geo+json":
			if !openapi {
				return media{Kind: mediaGeoJSON}, nil
			}
		case "application/vnd.pgrst.plan", "application/vnd.pgrst.plan+text", "application/vnd.pgrst.plan+json":
			if !openapi {
				if pm, ok := parsePlanMedia(strings.TrimPrefix(c.typ, "application/vnd.pgrst.plan+"), c.params); ok {
					return media{Kind: mediaPlan, Plan: &pm}, nil
				}
			}
		}
	}
	return media{}, newErr(406, codeMediaType, "None of these media types are available: "+strings.Join(typesOf(accept), ", "))
}

func typesOf(accept string) []string {
	var out []string
	for _, part := range strings.Split(accept, ",") {
		t := strings.TrimSpace(strings.Split(part, ";")[0])
		if t != "" {
			out = append(out, t)
		}
	}
	return out
}
