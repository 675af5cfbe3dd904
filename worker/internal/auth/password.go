package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// bcryptCost is GoTrue's (and the issue's) cost.
const bcryptCost = 10

// hasher computes password hashes on the process-wide hash pool
// (hashpool.go): at most n at a time, and on Linux on threads of lower
// priority, so a burst of sign-ins takes the CPU only when nothing else
// wants it.
type hasher struct {
	cost      int
	n         int // the pool's size if this hasher is the first to hash (0: one per CPU)
	log       *slog.Logger
	dummyOnce sync.Once
	dummy     string
}

func newHasher(n int, log *slog.Logger) *hasher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &hasher{cost: bcryptCost, n: n, log: log}
}

// pool starts the shared pool on the first hash rather than in newHasher, so
// a process that never hashes a password keeps its GOMAXPROCS and threads.
func (h *hasher) pool() *hashPool { return sharedHashPool(h.n, h.log) }

// hash returns the bcrypt hash of pw.
func (h *hasher) hash(ctx context.Context, pw string) (string, error) {
	var b []byte
	var err error
	if perr := h.pool().run(ctx, func() { b, err = bcrypt.GenerateFromPassword([]byte(pw), h.cost) }); perr != nil {
		return "", perr
	}
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// compare reports whether pw matches hash (bcrypt, or an argon2 PHC string
// imported with admin createUser's password_hash). An empty hash never
// matches, but still costs a bcrypt, so timing does not tell whether a user
// exists or has a password.
func (h *hasher) compare(ctx context.Context, hash, pw string) (bool, error) {
	var ok bool
	var err error
	if perr := h.pool().run(ctx, func() { ok, err = h.compareNow(hash, pw) }); perr != nil {
		return false, perr
	}
	return ok, err
}

// compareNow is compare on the calling goroutine, a hash thread.
func (h *hasher) compareNow(hash, pw string) (bool, error) {
	if hash == "" {
		h.dummyOnce.Do(func() {
			var b [16]byte
			_, _ = rand.Read(b[:])
			d, _ := bcrypt.GenerateFromPassword(b[:], h.cost)
			h.dummy = string(d)
		})
		hash = h.dummy
		pw += "\x00never"
	}
	if strings.HasPrefix(hash, "$argon2") {
		return compareArgon2(hash, pw)
	}
	err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw))
	switch {
	case err == nil:
		return hash != h.dummy, nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, nil
	}
	return false, err
}

// checkImportedHash validates a password_hash given to admin createUser.
func checkImportedHash(hash string) error {
	switch {
	case strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$") || strings.HasPrefix(hash, "$2y$"):
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return errors.New("invalid bcrypt hash")
		}
		return nil
	case strings.HasPrefix(hash, "$argon2"):
		_, err := parseArgon2(hash)
		return err
	}
	return errors.New("password_hash must be a bcrypt or argon2 hash")
}

type argon2Hash struct {
	id                bool
	memory, time, par uint32
	salt, key         []byte
}

// parseArgon2 reads $argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>.
func parseArgon2(s string) (argon2Hash, error) {
	var h argon2Hash
	parts := strings.Split(s, "$")
	if len(parts) != 6 || (parts[1] != "argon2id" && parts[1] != "argon2i") || parts[2] != "v=19" {
		return h, errors.New("unsupported argon2 hash")
	}
	h.id = parts[1] == "argon2id"
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return h, errors.New("bad argon2 parameters")
		}
		switch k {
		case "m":
			h.memory = uint32(n)
		case "t":
			h.time = uint32(n)
		case "p":
			h.par = uint32(n)
		default:
			return h, errors.New("bad argon2 parameters")
		}
	}
	if h.memory == 0 || h.memory > 1<<20 || h.time == 0 || h.time > 32 || h.par == 0 || h.par > 255 {
		return h, errors.New("argon2 parameters out of range")
	}
	var err error
	if h.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(h.salt) == 0 {
		return h, errors.New("bad argon2 salt")
	}
	if h.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(h.key) < 4 || len(h.key) > 128 {
		return h, errors.New("bad argon2 hash")
	}
	return h, nil
}

func compareArgon2(hash, pw string) (bool, error) {
	h, err := parseArgon2(hash)
	if err != nil {
		return false, fmt.Errorf("stored password hash: %w", err)
	}
	var key []byte
	if h.id {
		key = argon2.IDKey([]byte(pw), h.salt, h.time, h.memory, uint8(h.par), uint32(len(h.key)))
	} else {
		key = argon2.Key([]byte(pw), h.salt, h.time, h.memory, uint8(h.par), uint32(len(h.key)))
	}
	return subtle.ConstantTimeCompare(key, h.key) == 1, nil
}
