package pgcluster

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// serverUser is the account initdb and postgres run as. PostgreSQL refuses to run as root
// (a compromised server must not own the machine), so when MadBase itself runs as root —
// as it does in containers and in CI — the server runs as the `postgres` system user that
// the distribution's packages create. Otherwise it runs as the current user.
type serverUser struct {
	cred *syscall.Credential // nil: run as the current user
	name string
}

func lookupServerUser() (serverUser, error) {
	if os.Geteuid() != 0 {
		return serverUser{}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return serverUser{}, fmt.Errorf("pgcluster: running as root, and PostgreSQL refuses to run as root, "+
			"but there is no `postgres` system user to run it as (%v). Installing PostgreSQL from the "+
			"distribution's packages creates one (or run `useradd --system --user-group postgres`), "+
			"or run MadBase as a non-root user", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return serverUser{}, fmt.Errorf("pgcluster: user postgres has a non-numeric uid %q or gid %q", u.Uid, u.Gid)
	}
	if uid == 0 {
		return serverUser{}, fmt.Errorf("pgcluster: the postgres user has uid 0; PostgreSQL refuses to run as root")
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if ids, err := u.GroupIds(); err == nil {
		for _, g := range ids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				cred.Groups = append(cred.Groups, uint32(n))
			}
		}
	}
	return serverUser{cred: cred, name: u.Username}, nil
}

// chown gives path to the server user; a no-op when the server runs as the current user.
func (u serverUser) chown(path string) error {
	if u.cred == nil {
		return nil
	}
	if err := os.Lchown(path, int(u.cred.Uid), int(u.cred.Gid)); err != nil {
		return fmt.Errorf("pgcluster: giving %s to user %s: %w", path, u.name, err)
	}
	return nil
}

// ensureTraversable makes sure the server user can reach dataDir through its parents.
// Go's os.MkdirTemp and testing's t.TempDir create mode-0700 directories owned by root, so
// a cluster under them is unreachable for the postgres user; those directories (and only
// those under the system temp dir) get o+x added, which lets other users pass through a
// randomly named directory without listing it. Anywhere else the permissions are the
// user's business, so the error names the directory and the fix instead.
func (u serverUser) ensureTraversable(dataDir string) error {
	if u.cred == nil {
		return nil
	}
	tmp := filepath.Clean(os.TempDir())
	if r, err := filepath.EvalSymlinks(tmp); err == nil {
		tmp = r
	}
	for dir := filepath.Dir(dataDir); ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
		if !u.canTraverse(fi) {
			if !strings.HasPrefix(dir, tmp+string(filepath.Separator)) {
				return &UnreachableError{DataDir: dataDir, Dir: dir, User: u.name}
			}
			if err := os.Chmod(dir, fi.Mode().Perm()|0o001); err != nil {
				return fmt.Errorf("pgcluster: letting user %s reach %s: %w", u.name, dataDir, err)
			}
		}
		if dir == filepath.Dir(dir) {
			return nil
		}
	}
}

// canTraverse applies the Unix permission classes: the owner bits alone decide for the owner,
// the group bits for group members, the other bits for everyone else.
func (u serverUser) canTraverse(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	mode := fi.Mode().Perm()
	if st.Uid == u.cred.Uid {
		return mode&0o100 != 0
	}
	inGroup := st.Gid == u.cred.Gid
	for _, g := range u.cred.Groups {
		inGroup = inGroup || st.Gid == g
	}
	if inGroup {
		return mode&0o010 != 0
	}
	return mode&0o001 != 0
}

// prepare makes cmd run as the server user, from "/" (the caller's working directory may be
// unreadable for that user), without the caller's PG* variables (which configure clients,
// and would only confuse the server), and in its own process group so that a Ctrl-C meant
// for `madbase dev` reaches MadBase first, which then stops the server in order (after
// closing its pools), rather than the server vanishing under live connections.
func (u serverUser) prepare(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: u.cred, Setpgid: true}
	cmd.Dir = "/"
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
}

// UnreachableError says that PostgreSQL, run as another user because MadBase
// runs as root, could not reach its data directory. Callers may pick a
// directory elsewhere (madbase dev does).
type UnreachableError struct {
	DataDir, Dir, User string
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("pgcluster: the data directory %s is not reachable by the %s user, which PostgreSQL "+
		"runs as when MadBase runs as root: %s is not searchable by it. Choose a data directory on a "+
		"world-searchable path (for example under /var/lib) or run `chmod o+x %s`", e.DataDir, e.User, e.Dir, e.Dir)
}
