package pgcluster

import "syscall"

// setParentDeathSignal asks the kernel to send the server SIGINT (PostgreSQL's "fast
// shutdown") when the thread that started it dies. A test binary that panics or hits
// `go test -timeout`, or a `madbase dev` killed with SIGKILL, then leaves no server behind.
// Start keeps that thread alive (lifecycle.StartHeld) for as long as the server runs.
func setParentDeathSignal(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGINT
}
