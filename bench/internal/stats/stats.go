// Package stats holds the summaries the benchmarks print.
package stats

import (
	"sort"
	"strconv"
)

// Median returns the median of xs (the mean of the middle two when their
// number is even), 0 for none; xs is left as it was.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// Ratio writes x, a ratio judged against goal, to two decimals, or to as
// many more (up to four) as it takes for a ratio that narrowly misses or
// meets its goal not to print as the goal itself: 0.9496 against 0.95 is
// "0.9496×", not a "0.95×" that reads as met.
func Ratio(x, goal float64) string {
	for prec := 2; ; prec++ {
		s := strconv.FormatFloat(x, 'f', prec, 64)
		if prec == 4 || x == goal || s != strconv.FormatFloat(goal, 'f', prec, 64) {
			return s + "×"
		}
	}
}
