//go:build unix && !linux

package pgcluster

import "syscall"

// setParentDeathSignal does nothing where the kernel has no parent-death signal: there a
// server outlives a crashed parent, and the next Start finds its postmaster.pid.
func setParentDeathSignal(*syscall.SysProcAttr) {}
