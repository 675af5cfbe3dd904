package cli

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// CPUProfileEnv names a file that receives a CPU profile of the whole run of
// a subcommand. It is a tool for performance investigations (the API
// benchmark sets it), not configuration, so it is not in the config table.
const CPUProfileEnv = "MADBASE_CPUPROFILE"

// startCPUProfile starts profiling into path (nothing when path is empty)
// and returns the function that stops it and closes the file.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CPUProfileEnv, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", CPUProfileEnv, err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
