package devmode

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockFile is held (flock) by the `madbase dev` running on a data folder, for as long as
// its process lives: the kernel lets go of it however the process ends, so a stale file
// never blocks a start, and its content names the holder's pid.
const lockFile = "dev.lock"

// AlreadyRunningError is a second `madbase dev` (or `db reset`) on a data folder that a
// running `madbase dev` holds.
type AlreadyRunningError struct {
	DataDir string
	PID     int
}

func (e *AlreadyRunningError) Error() string {
	return fmt.Sprintf("madbase dev is already running on the data folder %s (pid %d): stop it with Ctrl-C in its terminal "+
		"or `kill %d`, or use another folder with --data-dir or MADBASE_DATA_DIR", e.DataDir, e.PID, e.PID)
}

// lock takes dir's lock for this process, or says who holds it.
func lock(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &AlreadyRunningError{DataDir: dir, PID: lockHolder(dir)}
		}
		return nil, fmt.Errorf("data folder: locking %s: %w", f.Name(), err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

func lockHolder(dir string) int {
	b, _ := os.ReadFile(filepath.Join(dir, lockFile))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// runningPID returns the pid of the `madbase dev` running on dir, or 0.
func runningPID(dir string) int {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR, 0)
	if err != nil {
		return 0
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return 0
	}
	return lockHolder(dir)
}

// The registry lets commands run from any folder find a running `madbase dev`: each one
// leaves a small file naming its data folder in the user's cache folder while it runs.
type registration struct {
	DataDir string `json:"data_dir"`
	PID     int    `json:"pid"`
}

func registryDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(base, "madbase", "running"), nil
}

func registryFile(dataDir string) (string, error) {
	dir, err := registryDir()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(dataDir))
	return filepath.Join(dir, hex.EncodeToString(sum[:8])+".json"), nil
}

// register records dataDir as running; the returned func removes the record.
func register(dataDir string) func() {
	path, err := registryFile(dataDir)
	if err != nil {
		return func() {}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return func() {}
	}
	b, _ := json.Marshal(registration{DataDir: dataDir, PID: os.Getpid()})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return func() {}
	}
	return func() { _ = os.Remove(path) }
}

// registered lists the data folders of the `madbase dev`s that run now, dropping records
// that outlived theirs.
func registered() []string {
	dir, err := registryDir()
	if err != nil {
		return nil
	}
	entries, _ := os.ReadDir(dir)
	var dirs []string
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		var r registration
		b, err := os.ReadFile(path)
		if err != nil || json.Unmarshal(b, &r) != nil || r.DataDir == "" {
			continue
		}
		if runningPID(r.DataDir) == 0 {
			_ = os.Remove(path)
			continue
		}
		dirs = append(dirs, r.DataDir)
	}
	return dirs
}

// ErrNotRunning is wrapped when no running `madbase dev` was found.
var ErrNotRunning = errors.New("no madbase dev is running")

// Find locates a running `madbase dev` and returns its data folder and state. With
// explicit set (MADBASE_DATA_DIR or --data-dir), only dataDir counts; otherwise dataDir
// (./.madbase) is tried first, then the registry, which finds a dev started from another
// folder as long as it is the only one running.
func Find(dataDir string, explicit bool) (string, State, error) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return "", State{}, err
	}
	if runningPID(abs) != 0 {
		if st := ReadState(abs); st.APIURL != "" {
			return abs, st, nil
		}
		return "", State{}, fmt.Errorf("%w yet on %s: madbase dev (pid %d) is still starting", ErrNotRunning, abs, runningPID(abs))
	}
	if explicit {
		return "", State{}, fmt.Errorf("%w on the data folder %s (MADBASE_DATA_DIR); start one with `madbase dev`", ErrNotRunning, abs)
	}
	dirs := registered()
	switch len(dirs) {
	case 0:
		return "", State{}, fmt.Errorf("%w: none on %s, none registered by another folder; start one with `madbase dev`", ErrNotRunning, abs)
	case 1:
		if st := ReadState(dirs[0]); st.APIURL != "" {
			return dirs[0], st, nil
		}
		return "", State{}, fmt.Errorf("%w yet on %s: it is still starting", ErrNotRunning, dirs[0])
	default:
		return "", State{}, fmt.Errorf("several madbase dev are running (data folders %s); choose one with MADBASE_DATA_DIR",
			strings.Join(dirs, ", "))
	}
}
