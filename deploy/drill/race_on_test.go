//go:build race

package drill_test

// raceEnabled: the drill runs in its own step of scripts/test.sh, without
// the race detector (see TestDrill).
const raceEnabled = true
