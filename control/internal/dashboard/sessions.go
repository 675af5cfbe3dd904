package dashboard

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"sync"
	"time"

	"github.com/madbase/madbase/control/internal/adminapi"
)

// Session lifetimes: a session ends DefaultIdle after its last use, and
// DefaultMaxAge after sign-in whatever its use. At most MaxSessions live at
// once; past it the session closest to its end goes first.
const (
	DefaultIdle   = 2 * time.Hour
	DefaultMaxAge = 12 * time.Hour
	MaxSessions   = 1000
)

// Sessions is the server side of the dashboard's sign-in: a random token
// (the cookie's value) names a session holding its CSRF token and its end.
// Tokens are kept by their SHA-256 only, so the table holds nothing a
// reader of memory could send back as a cookie. Sessions live in control's
// memory: a restart of control signs everyone out.
type Sessions struct {
	idle, maxAge time.Duration
	now          func() time.Time

	mu   sync.Mutex
	byID map[[sha256.Size]byte]*session
}

var _ adminapi.Sessions = (*Sessions)(nil)

type session struct {
	csrf      string
	signedIn  time.Time
	expiresAt time.Time
}

// NewSessions returns an empty table; zero durations take the defaults,
// and a nil now is time.Now.
func NewSessions(idle, maxAge time.Duration, now func() time.Time) *Sessions {
	if idle <= 0 {
		idle = DefaultIdle
	}
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	if now == nil {
		now = time.Now
	}
	return &Sessions{idle: idle, maxAge: maxAge, now: now, byID: map[[sha256.Size]byte]*session{}}
}

// Start opens a session and answers its token, its CSRF token and when it
// ends unless used.
func (s *Sessions) Start() (token, csrf string, expires time.Time, err error) {
	if token, err = randomToken(); err != nil {
		return "", "", time.Time{}, err
	}
	if csrf, err = randomToken(); err != nil {
		return "", "", time.Time{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.sweep(now)
	if len(s.byID) >= MaxSessions {
		s.dropSoonest()
	}
	ss := &session{csrf: csrf, signedIn: now, expiresAt: now.Add(s.idle)}
	s.byID[sha256.Sum256([]byte(token))] = ss
	return token, csrf, ss.expiresAt, nil
}

// CSRF answers the CSRF token of the live session token names, and extends
// the session's idle end (never past its maximum age).
func (s *Sessions) CSRF(token string) (string, bool) {
	ss, ok := s.touch(token)
	if !ok {
		return "", false
	}
	return ss.csrf, true
}

// Lookup answers the live session's CSRF token and end, extending it as CSRF
// does.
func (s *Sessions) Lookup(token string) (csrf string, expires time.Time, ok bool) {
	ss, ok := s.touch(token)
	if !ok {
		return "", time.Time{}, false
	}
	return ss.csrf, ss.expiresAt, true
}

func (s *Sessions) touch(token string) (session, bool) {
	if token == "" {
		return session{}, false
	}
	id := sha256.Sum256([]byte(token))
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.byID[id]
	if !ok {
		return session{}, false
	}
	now := s.now()
	if !now.Before(ss.expiresAt) {
		delete(s.byID, id)
		return session{}, false
	}
	end := now.Add(s.idle)
	if last := ss.signedIn.Add(s.maxAge); end.After(last) {
		end = last
	}
	ss.expiresAt = end
	return *ss, true
}

// End deletes the session token names (signing out); unknown tokens are
// ignored.
func (s *Sessions) End(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, sha256.Sum256([]byte(token)))
}

// Len is how many sessions are held (ended ones not yet swept included).
func (s *Sessions) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

func (s *Sessions) sweep(now time.Time) {
	for id, ss := range s.byID {
		if !now.Before(ss.expiresAt) {
			delete(s.byID, id)
		}
	}
}

func (s *Sessions) dropSoonest() {
	var soonest [sha256.Size]byte
	var at time.Time
	for id, ss := range s.byID {
		if at.IsZero() || ss.expiresAt.Before(at) {
			soonest, at = id, ss.expiresAt
		}
	}
	delete(s.byID, soonest)
}

// randomToken is 32 bytes from the system's generator, URL-safe base64.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
