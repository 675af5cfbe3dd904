//go:build !linux

package pool

// SetLocalCongestion does nothing where the congestion control of a
// socket cannot be chosen.
func SetLocalCongestion(int) {}
