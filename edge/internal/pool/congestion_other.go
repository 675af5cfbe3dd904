//go:build !linux

package pool

// SetWorkerCongestion does nothing where the congestion control of a
// socket cannot be chosen.
func SetWorkerCongestion(int) {}
