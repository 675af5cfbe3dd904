package metrics

import (
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// sum is one metric family written by several vectors of the same
// definition and collected as their total: the shared vector, and one per
// thread that asked for a shard of its own (HTTP.Shard). Only counters and
// classic histograms are summed; they are all HTTP uses.
type sum struct {
	desc   *prometheus.Desc
	labels []string // the variable labels, in the desc's order

	mu    sync.Mutex
	parts []prometheus.Collector
}

// newSum sums first and the vectors added later; first's descriptor
// describes the family, so every part must be made with the same options.
func newSum(first prometheus.Collector, labels []string) *sum {
	ch := make(chan *prometheus.Desc, 1)
	first.Describe(ch)
	return &sum{desc: <-ch, labels: labels, parts: []prometheus.Collector{first}}
}

func (s *sum) add(part prometheus.Collector) {
	s.mu.Lock()
	s.parts = append(s.parts, part)
	s.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (s *sum) Describe(ch chan<- *prometheus.Desc) { ch <- s.desc }

// total is what the parts recorded for one set of label values.
type total struct {
	values  []string
	counter float64
	hist    *dto.Histogram
}

// Collect implements prometheus.Collector: one metric per set of label
// values, the sum of every part's.
func (s *sum) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	parts := s.parts
	s.mu.Unlock()
	if len(parts) == 1 {
		parts[0].Collect(ch)
		return
	}
	totals := map[string]*total{}
	var order []string
	for _, part := range parts {
		for _, m := range collect(part) {
			var d dto.Metric
			if m.Write(&d) != nil {
				continue
			}
			values := s.labelValues(&d)
			key := strings.Join(values, "\xff")
			t := totals[key]
			if t == nil {
				t = &total{values: values}
				totals[key] = t
				order = append(order, key)
			}
			t.addTo(&d)
		}
	}
	for _, key := range order {
		t := totals[key]
		if t.hist == nil {
			ch <- prometheus.MustNewConstMetric(s.desc, prometheus.CounterValue, t.counter, t.values...)
			continue
		}
		buckets := make(map[float64]uint64, len(t.hist.Bucket))
		for _, b := range t.hist.Bucket {
			buckets[b.GetUpperBound()] = b.GetCumulativeCount()
		}
		ch <- prometheus.MustNewConstHistogram(s.desc, t.hist.GetSampleCount(), t.hist.GetSampleSum(), buckets, t.values...)
	}
}

// addTo adds one part's metric to the total.
func (t *total) addTo(d *dto.Metric) {
	if c := d.GetCounter(); c != nil {
		t.counter += c.GetValue()
		return
	}
	h := d.GetHistogram()
	if h == nil {
		return
	}
	if t.hist == nil {
		t.hist = &dto.Histogram{}
		for _, b := range h.Bucket {
			t.hist.Bucket = append(t.hist.Bucket, &dto.Bucket{UpperBound: b.UpperBound, CumulativeCount: new(uint64)})
		}
		t.hist.SampleCount, t.hist.SampleSum = new(uint64), new(float64)
	}
	*t.hist.SampleCount += h.GetSampleCount()
	*t.hist.SampleSum += h.GetSampleSum()
	for i, b := range h.Bucket {
		if i < len(t.hist.Bucket) {
			*t.hist.Bucket[i].CumulativeCount += b.GetCumulativeCount()
		}
	}
}

// labelValues are d's label values in the order of s's labels.
func (s *sum) labelValues(d *dto.Metric) []string {
	values := make([]string, len(s.labels))
	for _, lp := range d.Label {
		for i, name := range s.labels {
			if lp.GetName() == name {
				values[i] = lp.GetValue()
			}
		}
	}
	return values
}

// collect is what c collects now.
func collect(c prometheus.Collector) []prometheus.Metric {
	ch := make(chan prometheus.Metric, 64)
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	var out []prometheus.Metric
	for m := range ch {
		out = append(out, m)
	}
	return out
}
