package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/madbase/madbase/bench/internal/proc"
)

// WaitWorkersAtEdge polls the edge's /health until it counts at least
// workers healthy workers, one of children exits, ctx ends or timeout
// passes; the error then says what the edge last answered.
func WaitWorkersAtEdge(ctx context.Context, edgeURL string, workers int, timeout time.Duration, children ...*proc.Child) error {
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	last := "no answer yet"
	for {
		var h struct {
			Healthy int `json:"workers_healthy"`
		}
		resp, err := hc.Get(edgeURL + "/health")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
		}
		switch {
		case err == nil && h.Healthy >= workers:
			return nil
		case err != nil:
			last = err.Error()
		default:
			last = fmt.Sprintf("%d of %d workers healthy", h.Healthy, workers)
		}
		for _, c := range children {
			if c.Exited() {
				return fmt.Errorf("%s exited: %v", c.Name, c.Err())
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("edge not ready after %s: %s", timeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
