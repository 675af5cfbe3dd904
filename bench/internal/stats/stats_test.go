package stats

import "testing"

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		in := append([]float64(nil), tc.in...)
		if got := Median(tc.in); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.in, got, tc.want)
		}
		for i := range in {
			if in[i] != tc.in[i] {
				t.Errorf("Median(%v) reordered its argument", in)
			}
		}
	}
}

func TestRatio(t *testing.T) {
	for _, c := range []struct {
		x, goal float64
		want    string
	}{
		{0.97, 0.95, "0.97×"},
		{0.95, 0.95, "0.95×"},
		{0.9496, 0.95, "0.9496×"},
		{0.9512, 0.95, "0.951×"},
		{0.7049, 0.7, "0.705×"},
		{1.149, 1.15, "1.149×"},
		{0.949999, 0.95, "0.9500×"},
	} {
		if got := Ratio(c.x, c.goal); got != c.want {
			t.Errorf("Ratio(%v, %v) = %q, want %q", c.x, c.goal, got, c.want)
		}
	}
}
