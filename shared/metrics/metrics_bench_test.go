package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkObserveParallel: observations from every CPU at once into the
// shared metrics, and into a shard per goroutine (as each edge event loop
// has); go test -bench ObserveParallel -cpu 2 ./shared/metrics.
func BenchmarkObserveParallel(b *testing.B) {
	b.Run("shared", func(b *testing.B) {
		m := NewHTTP(prometheus.NewRegistry(), "edge")
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.Observe(GroupRest, 200, time.Millisecond)
			}
		})
	})
	b.Run("shard", func(b *testing.B) {
		m := NewHTTP(prometheus.NewRegistry(), "edge")
		b.RunParallel(func(pb *testing.PB) {
			s := m.Shard()
			for pb.Next() {
				s.Observe(GroupRest, 200, time.Millisecond)
			}
		})
	})
}
