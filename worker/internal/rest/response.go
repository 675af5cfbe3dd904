package rest

import (
	"encoding/json"
	"strconv"
)

// SQL can shape the response, as in PostgREST: set_config('response.headers',
// '[{"X-A":"b"}]', true) adds headers and set_config('response.status',
// '201', true) replaces the status. The main statement reads them last, as
// its final two columns, so no extra statement is needed.
const responseGUCsCols = ", nullif(current_setting('response.headers', true), ''), nullif(current_setting('response.status', true), '')"

// responseGUCs are the values read after the main statement.
type responseGUCs struct {
	headers [][2]string
	status  int
}

// parseResponseGUCs validates the response settings the statement read.
func parseResponseGUCs(hs, st *string) (*responseGUCs, error) {
	g := &responseGUCs{}
	if hs != nil {
		var list []map[string]string
		if err := json.Unmarshal([]byte(*hs), &list); err != nil {
			return nil, newErr(500, codeResponseHeaders, "response.headers guc must be a JSON array composed of objects with a single key and a string value")
		}
		for _, m := range list {
			if len(m) != 1 {
				return nil, newErr(500, codeResponseHeaders, "response.headers guc must be a JSON array composed of objects with a single key and a string value")
			}
			for k, v := range m {
				if !validHeader(k, v) {
					return nil, newErr(500, codeResponseHeaders, "response.headers guc must be a JSON array composed of objects with a single key and a string value")
				}
				g.headers = append(g.headers, [2]string{k, v})
			}
		}
	}
	if st != nil {
		n, err := strconv.Atoi(*st)
		if err != nil || n < 100 || n > 599 {
			return nil, newErr(500, codeResponseStatus, "response.status guc must be a valid status code")
		}
		g.status = n
	}
	return g, nil
}

// apply sets the headers and returns the status to answer with.
func (g *responseGUCs) apply(rc *reqCtx, status int) int {
	if g == nil {
		return status
	}
	for _, h := range g.headers {
		rc.c.Set(h[0], h[1])
	}
	if g.status != 0 {
		return g.status
	}
	return status
}
