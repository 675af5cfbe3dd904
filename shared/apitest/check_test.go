package apitest

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

// recorder stands for a *testing.T and keeps what was reported.
type recorder struct{ errs []string }

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) Error(args ...any) { r.errs = append(r.errs, fmt.Sprint(args...)) }

func TestScenarioChecksReportEveryDifference(t *testing.T) {
	t.Parallel()
	answer := &Response{
		Status: 404,
		Header: http.Header{"Content-Type": {"application/json"}, "X-Sb-Error-Code": {"user_not_found"}},
		Body:   []byte(`{"code":"user_not_found","message":"User not found","n":1,"list":[1,2]}`),
	}
	matching := Scenario{Name: "m", WantStatus: 404,
		WantJSON:        `{"message":"User not found","code":"user_not_found","list":[1,2],"n":1.0}`,
		WantFields:      map[string]any{"code": "user_not_found", "n": 1, "list": []int{1, 2}},
		WantContains:    []string{`"User not found"`},
		WantNotContains: []string{"password"},
		WantHeaders:     map[string]string{"X-Sb-Error-Code": "user_not_found", "Location": ""},
	}
	rec := &recorder{}
	matching.check(rec, answer)
	assert.Empty(t, rec.errs, "a matching answer passes")

	for name, sc := range map[string]Scenario{
		"status":           {WantStatus: 200},
		"whole JSON":       {WantStatus: 404, WantJSON: `{"code":"user_not_found"}`},
		"field value":      {WantStatus: 404, WantFields: map[string]any{"code": "not_admin"}},
		"field type":       {WantStatus: 404, WantFields: map[string]any{"n": "1"}},
		"missing field":    {WantStatus: 404, WantFields: map[string]any{"error_code": "user_not_found"}},
		"contains":         {WantStatus: 404, WantContains: []string{"PGRST"}},
		"not contains":     {WantStatus: 404, WantNotContains: []string{"User not"}},
		"header value":     {WantStatus: 404, WantHeaders: map[string]string{"X-Sb-Error-Code": "bad_jwt"}},
		"header present":   {WantStatus: 404, WantHeaders: map[string]string{"Content-Type": ""}},
		"header missing":   {WantStatus: 404, WantHeaders: map[string]string{"Location": "/x"}},
		"JSON of non-JSON": {WantStatus: 404, WantJSON: `{}`},
	} {
		rec := &recorder{}
		res := answer
		if name == "JSON of non-JSON" {
			res = &Response{Status: 404, Body: []byte("<html>")}
		}
		sc.check(rec, res)
		assert.Len(t, rec.errs, 1, "%s: one difference reported: %q", name, rec.errs)
	}

	rec = &recorder{}
	Scenario{WantStatus: 200, WantContains: []string{"x"}, WantHeaders: map[string]string{"Location": "/"}}.check(rec, answer)
	assert.Len(t, rec.errs, 3, "every difference, not only the first: %q", rec.errs)
}

func TestTablesThatCannotFailAreRefused(t *testing.T) {
	t.Parallel()
	ok := Scenario{Name: "a", WantStatus: 200}
	assert.NoError(t, validate([]Scenario{ok, {Name: "b", WantStatus: 404}}))
	assert.ErrorContains(t, validate([]Scenario{ok, {WantStatus: 200}}), "scenario 1 has no Name")
	assert.ErrorContains(t, validate([]Scenario{ok, ok}), `two scenarios are named "a"`)
	assert.ErrorContains(t, validate([]Scenario{ok, {Name: "c", WantContains: []string{"x"}}}), `"c" sets no WantStatus`)
}

// fakeM stands for a *testing.M.
type fakeM struct {
	code  int
	run   func()
	order *[]string
}

func (m fakeM) Run() int {
	*m.order = append(*m.order, "tests")
	if m.run != nil {
		m.run()
	}
	return m.code
}

// The tests below look at every goroutine of the process, so they do not
// run in parallel: parallel tests wait, blocked where goleak expects them,
// until every serial test has run.

func TestMainTearsDownThenChecksForLeaks(t *testing.T) {
	var order []string
	var out bytes.Buffer
	toStderr := func(c *mainConfig) { c.stderr = &out }
	teardown := func(name string) MainOption { return Teardown(func() { order = append(order, name) }) }

	code := runMain(fakeM{order: &order}, toStderr, teardown("db"), teardown("nats"))
	assert.Equal(t, 0, code)
	assert.Equal(t, []string{"tests", "db", "nats"}, order)
	assert.Empty(t, out.String())

	// A goroutine the tests leave running fails a passing run...
	order = nil
	stop := make(chan struct{})
	leak := func() { go func() { <-stop }() }
	code = runMain(fakeM{order: &order, run: leak}, toStderr, teardown("db"))
	assert.Equal(t, 1, code)
	assert.Equal(t, []string{"tests", "db"}, order, "the teardowns run before the check")
	assert.Contains(t, out.String(), "goroutines left running")
	assert.Contains(t, out.String(), "TestMainTearsDownThenChecksForLeaks")

	// An ignored goroutine (that one, still running) does not fail the run.
	out.Reset()
	code = runMain(fakeM{order: &order}, toStderr, Ignore(goleak.IgnoreCurrent()))
	assert.Equal(t, 0, code, out.String())
	close(stop)

	// A goroutine a teardown stops is no leak.
	order = nil
	out.Reset()
	stop2 := make(chan struct{})
	code = runMain(fakeM{order: &order, run: func() { go func() { <-stop2 }() }}, toStderr,
		Teardown(func() { close(stop2) }))
	assert.Equal(t, 0, code, out.String())

	// A failing run keeps its code and is not checked.
	order = nil
	out.Reset()
	stop3 := make(chan struct{})
	code = runMain(fakeM{code: 3, order: &order, run: func() { go func() { <-stop3 }() }}, toStderr, teardown("db"))
	assert.Equal(t, 3, code)
	assert.Equal(t, []string{"tests", "db"}, order)
	assert.Empty(t, out.String())
	close(stop3)

	VerifyNone(t)
}

func TestVerifyNoneReportsALeak(t *testing.T) {
	before := goleak.IgnoreCurrent()
	stop := make(chan struct{})
	go func() { <-stop }()
	rec := &recorder{}
	VerifyNone(rec, before)
	if assert.Len(t, rec.errs, 1) {
		assert.True(t, strings.Contains(rec.errs[0], "TestVerifyNoneReportsALeak"), rec.errs[0])
	}
	close(stop)
	VerifyNone(t, before)
}
