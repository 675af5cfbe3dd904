//go:build !race

package drill_test

const raceEnabled = false
