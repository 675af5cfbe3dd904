package apitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Scenario is one row of a table: a request and what must come back
// (STYLE item 20). Add a row, not a new test.
type Scenario struct {
	// Name names the row's subtest; it must be set and unique in its table.
	Name string

	Method  string
	URL     string
	Headers map[string]string
	Body    any

	// WantStatus is the status the answer must have; every row sets one.
	WantStatus int
	// WantJSON, when set, is the whole body as JSON (compared as JSON:
	// spacing and key order do not matter).
	WantJSON string
	// WantFields are top-level fields of a JSON object body, each compared
	// as JSON to the value given ("code": "PGRST205", "statusCode": "404").
	WantFields map[string]any
	// WantContains and WantNotContains are fragments of the body.
	WantContains    []string
	WantNotContains []string
	// WantHeaders are header values the answer must carry; "" means the
	// header must be absent.
	WantHeaders map[string]string

	// Before runs before the request (seed rows, set a clock); After runs
	// after the checks, with the answer (check the database, a mail, the
	// next request of a flow).
	Before func(t *testing.T, e *Env)
	After  func(t *testing.T, e *Env, r *Response)
}

// Run runs each scenario in its own subtest, in order, against e. A table
// with a row that names nothing or checks no status fails before any row
// runs.
func Run(t *testing.T, e *Env, scenarios []Scenario) {
	t.Helper()
	if err := validate(scenarios); err != nil {
		t.Fatalf("apitest: %v", err)
	}
	for _, sc := range scenarios {
		t.Run(sc.Name, func(t *testing.T) { sc.run(t, e) })
	}
}

// validate refuses rows that could not fail on status or that t.Run would
// rename (an empty or repeated name).
func validate(scenarios []Scenario) error {
	seen := make(map[string]bool, len(scenarios))
	for i, sc := range scenarios {
		switch {
		case sc.Name == "":
			return fmt.Errorf("scenario %d has no Name", i)
		case seen[sc.Name]:
			return fmt.Errorf("two scenarios are named %q", sc.Name)
		case sc.WantStatus == 0:
			return fmt.Errorf("scenario %q sets no WantStatus", sc.Name)
		}
		seen[sc.Name] = true
	}
	return nil
}

func (sc Scenario) run(t *testing.T, e *Env) {
	t.Helper()
	if sc.Before != nil {
		sc.Before(t, e)
	}
	r := e.Do(t, Request{Method: sc.Method, URL: sc.URL, Headers: sc.Headers, Body: sc.Body})
	sc.check(t, r)
	if sc.After != nil {
		sc.After(t, e, r)
	}
}

// checker is what check reports to: a *testing.T, or a recorder in tests.
type checker interface {
	Helper()
	Errorf(format string, args ...any)
}

// check reports every way r differs from the row, not only the first.
func (sc Scenario) check(t checker, r *Response) {
	t.Helper()
	assert.Equal(t, sc.WantStatus, r.Status, "status; body: %s", r.Body)
	if sc.WantJSON != "" {
		if json.Valid(r.Body) {
			assert.JSONEq(t, sc.WantJSON, string(r.Body))
		} else {
			assert.Fail(t, "the body is not JSON", "%s", r.Body)
		}
	}
	if len(sc.WantFields) > 0 {
		checkFields(t, sc.WantFields, r.Body)
	}
	for _, s := range sc.WantContains {
		assert.Contains(t, string(r.Body), s)
	}
	for _, s := range sc.WantNotContains {
		assert.NotContains(t, string(r.Body), s)
	}
	for k, v := range sc.WantHeaders {
		if v == "" {
			assert.Empty(t, r.Header.Values(k), "header %s must be absent", k)
		} else {
			assert.Equal(t, v, r.Header.Get(k), "header %s", k)
		}
	}
}

func checkFields(t checker, want map[string]any, body []byte) {
	t.Helper()
	var got map[string]json.RawMessage
	if err := json.Unmarshal(body, &got); err != nil {
		assert.Fail(t, "the body is not a JSON object", "%v: %s", err, body)
		return
	}
	for k, w := range want {
		wj, err := json.Marshal(w)
		if err != nil {
			assert.Fail(t, "a wanted field cannot be encoded", "%s: %v", k, err)
			continue
		}
		g, ok := got[k]
		if !ok {
			assert.Fail(t, fmt.Sprintf("field %q is missing", k), "body: %s", body)
			continue
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, g); err == nil {
			g = compact.Bytes()
		}
		assert.JSONEq(t, string(wj), string(g), "field %q; body: %s", k, body)
	}
}
