package lifecycle

import (
	"os/exec"
	"runtime"
)

// StartHeld starts cmd from an OS thread it holds until cmd has exited, then
// calls exited with Wait's result. A parent-death signal (Pdeathsig) fires
// when the thread that forked the child ends, not the process
// (go.dev/issue/27505); holding the thread makes it fire only when this
// process dies. It returns Start's error, and exited is not called then.
func StartHeld(cmd *exec.Cmd, exited func(waitErr error)) error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited(cmd.Wait())
	}()
	return <-started
}
