package rest

import (
	"math"
	"sort"
	"strings"
	"unicode"
)

// closest is the candidate most like key, or "" when none scores at least
// minScore: the fuzzy-set search PostgREST's hints use (PGRST202's
// "Perhaps you meant …"). Candidates are compared by the cosine of their
// character n-grams (three, then two characters), the best 50 re-scored by
// Levenshtein similarity; an exact (case-insensitive) match wins outright.
func closest(key string, candidates []string, minScore float64) string {
	lkey := strings.ToLower(key)
	for _, c := range candidates {
		if strings.ToLower(c) == lkey {
			return c
		}
	}
	for size := 3; size >= 2; size-- {
		if best, ok := closestBySize(lkey, candidates, size, minScore); ok {
			return best
		}
	}
	return ""
}

type fuzzyScore struct {
	score float64
	value string
	lower string
}

func closestBySize(lkey string, candidates []string, size int, minScore float64) (string, bool) {
	kg := grams(lkey, size)
	if len(kg) == 0 {
		return "", false
	}
	var scores []fuzzyScore
	for _, c := range candidates {
		cg := grams(strings.ToLower(c), size)
		dot := 0
		for g, n := range kg {
			dot += n * cg[g]
		}
		if dot == 0 {
			continue
		}
		scores = append(scores, fuzzyScore{score: float64(dot) / (norm(kg) * norm(cg)), value: c, lower: strings.ToLower(c)})
	}
	if len(scores) == 0 {
		return "", false
	}
	sort.SliceStable(scores, func(i, j int) bool { return scores[i].score > scores[j].score })
	if len(scores) > 50 {
		scores = scores[:50]
	}
	for i := range scores {
		scores[i].score = similarity(scores[i].lower, lkey)
	}
	sort.SliceStable(scores, func(i, j int) bool { return scores[i].score > scores[j].score })
	if scores[0].score < minScore {
		return "", false
	}
	return scores[0].value, true
}

// grams counts the n-grams of a lower-cased value stripped to letters,
// digits, spaces and commas, between '-' guards.
func grams(v string, size int) map[string]int {
	var b strings.Builder
	b.WriteByte('-')
	for _, r := range v {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == ' ' || r == ',' {
			b.WriteRune(r)
		}
	}
	b.WriteByte('-')
	s := []rune(b.String())
	for len(s) < size {
		s = append(s, '-')
	}
	out := map[string]int{}
	for i := 0; i+size <= len(s); i++ {
		out[string(s[i:i+size])]++
	}
	return out
}

func norm(g map[string]int) float64 {
	sum := 0
	for _, n := range g {
		sum += n * n
	}
	return math.Sqrt(float64(sum))
}

// similarity is 1 - the Levenshtein distance over the longer length.
func similarity(a, b string) float64 {
	ra, rb := []rune(a), []rune(b)
	longest := max(len(ra), len(rb))
	if longest == 0 {
		return 1
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return 1 - float64(prev[len(rb)])/float64(longest)
}
