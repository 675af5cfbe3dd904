// Package functions is control's side of edge functions: it keeps every
// project's deployed functions and function secrets, and serves them under
// /admin/v1/functions and /admin/v1/secrets (docs/api/functions.md).
//
// The JetStream key-value bucket bus.FunctionsBucket is where a function's
// metadata lives (version, verify_jwt, timeouts, the bundle's digest), and
// the object store bus.FunctionsObjectStore holds the bundles, one object per
// version: workers watch the one and fetch from the other, so what control
// writes is what they run, with nothing to keep in step. A deploy writes the
// new bundle first, then the metadata naming it (a worker never sees a
// version whose bundle is missing), and keeps the previous version's bundle
// for the invocations still running it. Secrets are sealed with
// MADBASE_ENCRYPTION_KEY before they are written.
package functions

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/shared/secretbox"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Errors the admin API maps to statuses.
var (
	ErrNotFound        = errors.New("function not found")
	ErrProjectNotFound = errors.New("project not found")
	ErrBadName         = errors.New("a function name is letters, digits, '-' and '_' (at most 64), starting with a letter or digit")
	ErrBadSecret       = errors.New("a secret name is letters, digits and '_', not starting with a digit nor with SUPABASE_")
	ErrUnavailable     = errors.New("functions are unavailable: NATS with JetStream is unreachable")
	ErrInvalid         = errors.New("invalid request")
	ErrConflict        = errors.New("conflict")
)

// MaxBundleBytes bounds a deployed bundle (control's request body limit).
const MaxBundleBytes = 8 << 20

// casAttempts bounds the retries of a write that raced another.
const casAttempts = 5

// opTimeout bounds one store operation on NATS.
const opTimeout = 15 * time.Second

var secretName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// Options configure NewStore.
type Options struct {
	// DefaultRef is the default project's ref (DEFAULT_PROJECT_REF).
	DefaultRef string
	// ProjectExists checks a created project's ref; nil accepts only the
	// default project.
	ProjectExists func(ctx context.Context, ref string) (bool, error)
	// Replicas of the bucket and the object store (1 without a cluster).
	Replicas int
}

// Store reads and writes functions and secrets in JetStream.
type Store struct {
	nc   *nats.Conn
	box  *secretbox.Box
	log  *slog.Logger
	opts Options

	mu  sync.Mutex
	kv  jetstream.KeyValue
	obj jetstream.ObjectStore
}

// NewStore makes the store; box seals the secrets (nil: secrets refused).
func NewStore(nc *nats.Conn, box *secretbox.Box, log *slog.Logger, opts Options) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.DefaultRef == "" {
		opts.DefaultRef = "default"
	}
	if opts.Replicas <= 0 {
		opts.Replicas = 1
	}
	return &Store{nc: nc, box: box, log: log.With("component", "functions"), opts: opts}
}

// DefaultRef is the project a request names when it names none.
func (s *Store) DefaultRef() string { return s.opts.DefaultRef }

// buckets returns the key-value bucket and the object store, creating them
// on first use.
func (s *Store) buckets(ctx context.Context) (jetstream.KeyValue, jetstream.ObjectStore, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kv != nil {
		return s.kv, s.obj, nil
	}
	if s.nc == nil {
		return nil, nil, ErrUnavailable
	}
	js, err := jetstream.New(s.nc)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      bus.FunctionsBucket,
		Description: "MadBase edge functions and their secrets (sealed), published by control",
		History:     1,
		Replicas:    s.opts.Replicas,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	obj, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      bus.FunctionsObjectStore,
		Description: "MadBase edge functions' bundles, one object per version",
		Replicas:    s.opts.Replicas,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	s.kv, s.obj = kv, obj
	return kv, obj, nil
}

// checkProject refuses a ref that names no project.
func (s *Store) checkProject(ctx context.Context, ref string) error {
	if ref == s.opts.DefaultRef {
		return nil
	}
	if s.opts.ProjectExists == nil {
		return ErrProjectNotFound
	}
	ok, err := s.opts.ProjectExists(ctx, ref)
	if err != nil {
		return err
	}
	if !ok {
		return ErrProjectNotFound
	}
	return nil
}

// Settings are a deploy's per-function settings; nil keeps the deployed
// value (or the default: verify_jwt true, the workers' timeouts).
type Settings struct {
	VerifyJWT     *bool
	WallTimeoutMS *int64
	CPUTimeoutMS  *int64
}

// Deploy stores bundle as the next version of a project's function.
func (s *Store) Deploy(ctx context.Context, ref, name string, bundle []byte, set Settings) (bus.FunctionConfig, error) {
	var fc bus.FunctionConfig
	if !bus.ValidFunctionName(name) {
		return fc, ErrBadName
	}
	if len(bundle) == 0 {
		return fc, fmt.Errorf("%w: the bundle is empty", ErrInvalid)
	}
	if len(bundle) > MaxBundleBytes {
		return fc, fmt.Errorf("%w: the bundle is larger than %d bytes", ErrInvalid, MaxBundleBytes)
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if err := s.checkProject(ctx, ref); err != nil {
		return fc, err
	}
	kv, obj, err := s.buckets(ctx)
	if err != nil {
		return fc, err
	}
	key := bus.FunctionKey(ref, name)
	sum := sha256.Sum256(bundle)
	for range casAttempts {
		held, rev, err := s.get(ctx, kv, key)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return fc, err
		}
		fc = bus.FunctionConfig{Project: ref, Name: name, Version: 1, VerifyJWT: true}
		if rev != 0 {
			fc = held
			fc.Version = held.Version + 1
		}
		if set.VerifyJWT != nil {
			fc.VerifyJWT = *set.VerifyJWT
		}
		if set.WallTimeoutMS != nil {
			fc.WallTimeoutMS = *set.WallTimeoutMS
		}
		if set.CPUTimeoutMS != nil {
			fc.CPUTimeoutMS = *set.CPUTimeoutMS
		}
		fc.Object = bus.FunctionObject(ref, name, fc.Version)
		fc.SHA256 = hex.EncodeToString(sum[:])
		fc.Size = int64(len(bundle))
		fc.DeployedAt = time.Now().UTC().Truncate(time.Millisecond)
		// The bundle first: a worker that sees the metadata finds it.
		if _, err := obj.PutBytes(ctx, fc.Object, bundle); err != nil {
			return fc, fmt.Errorf("storing the bundle: %w", err)
		}
		val, _ := json.Marshal(fc)
		if rev == 0 {
			_, err = kv.Create(ctx, key, val)
		} else {
			_, err = kv.Update(ctx, key, val, rev)
		}
		if err == nil {
			if fc.Version > 2 {
				// The version before the previous one has no invocation
				// left (the previous one may still run).
				_ = obj.Delete(ctx, bus.FunctionObject(ref, name, fc.Version-2))
			}
			s.log.Info("function deployed", "project", ref, "function", name, "version", fc.Version, "bytes", fc.Size)
			return fc, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !isWrongSequence(err) {
			return fc, fmt.Errorf("publishing the function: %w", err)
		}
	}
	return fc, fmt.Errorf("%w: too many concurrent deploys of this function; try again", ErrConflict)
}

func isWrongSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// get reads one function's metadata and its revision.
func (s *Store) get(ctx context.Context, kv jetstream.KeyValue, key string) (bus.FunctionConfig, uint64, error) {
	var fc bus.FunctionConfig
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return fc, 0, ErrNotFound
	}
	if err != nil {
		return fc, 0, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if err := json.Unmarshal(e.Value(), &fc); err != nil {
		return fc, 0, fmt.Errorf("function %s: undecodable metadata: %w", key, err)
	}
	return fc, e.Revision(), nil
}

// Get returns one function.
func (s *Store) Get(ctx context.Context, ref, name string) (bus.FunctionConfig, error) {
	if !bus.ValidFunctionName(name) {
		return bus.FunctionConfig{}, ErrNotFound
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	kv, _, err := s.buckets(ctx)
	if err != nil {
		return bus.FunctionConfig{}, err
	}
	fc, _, err := s.get(ctx, kv, bus.FunctionKey(ref, name))
	return fc, err
}

// Bundle returns a function's deployed bundle.
func (s *Store) Bundle(ctx context.Context, ref, name string) ([]byte, error) {
	fc, err := s.Get(ctx, ref, name)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	_, obj, err := s.buckets(ctx)
	if err != nil {
		return nil, err
	}
	return obj.GetBytes(ctx, fc.Object)
}

// List returns a project's functions, by name.
func (s *Store) List(ctx context.Context, ref string) ([]bus.FunctionConfig, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	kv, _, err := s.buckets(ctx)
	if err != nil {
		return nil, err
	}
	prefix := bus.FunctionKey(ref, "")
	lister, err := kv.ListKeysFiltered(ctx, prefix+"*")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := []bus.FunctionConfig{}
	for _, k := range keys {
		fc, _, err := s.get(ctx, kv, k)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, fc)
	}
	return out, nil
}

// Delete removes a function and its bundles.
func (s *Store) Delete(ctx context.Context, ref, name string) error {
	fc, err := s.Get(ctx, ref, name)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	kv, obj, err := s.buckets(ctx)
	if err != nil {
		return err
	}
	if err := kv.Delete(ctx, bus.FunctionKey(ref, name)); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	for v := max(fc.Version-1, 1); v <= fc.Version; v++ {
		_ = obj.Delete(ctx, bus.FunctionObject(ref, name, v))
	}
	s.log.Info("function deleted", "project", ref, "function", name)
	return nil
}

// SecretNames lists a project's function secrets (their values never
// leave control).
func (s *Store) SecretNames(ctx context.Context, ref string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	kv, _, err := s.buckets(ctx)
	if err != nil {
		return nil, err
	}
	fs, _, err := s.secrets(ctx, kv, ref)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(fs.Values))
	for k := range fs.Values {
		names = append(names, k)
	}
	slices.Sort(names)
	return names, nil
}

func (s *Store) secrets(ctx context.Context, kv jetstream.KeyValue, ref string) (bus.FunctionSecrets, uint64, error) {
	fs := bus.FunctionSecrets{Project: ref, Values: map[string]string{}}
	e, err := kv.Get(ctx, bus.FunctionSecretsKey(ref))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return fs, 0, nil
	}
	if err != nil {
		return fs, 0, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if err := json.Unmarshal(e.Value(), &fs); err != nil {
		return fs, 0, fmt.Errorf("secrets of %s: undecodable: %w", ref, err)
	}
	if fs.Values == nil {
		fs.Values = map[string]string{}
	}
	return fs, e.Revision(), nil
}

// ChangeSecrets sets (and unsets) a project's function secrets in one
// revision.
func (s *Store) ChangeSecrets(ctx context.Context, ref string, set map[string]string, unset []string) error {
	if s.box == nil {
		return fmt.Errorf("%w: secrets need MADBASE_ENCRYPTION_KEY", ErrUnavailable)
	}
	for k := range set {
		if !secretName.MatchString(k) || strings.HasPrefix(strings.ToUpper(k), "SUPABASE_") {
			return fmt.Errorf("%w: %q", ErrBadSecret, k)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if err := s.checkProject(ctx, ref); err != nil {
		return err
	}
	kv, _, err := s.buckets(ctx)
	if err != nil {
		return err
	}
	for range casAttempts {
		fs, rev, err := s.secrets(ctx, kv, ref)
		if err != nil {
			return err
		}
		for k, v := range set {
			fs.Values[k] = s.box.SealString(v, bus.FunctionSecretContext(ref, k))
		}
		for _, k := range unset {
			delete(fs.Values, k)
		}
		fs.Revision++
		val, _ := json.Marshal(fs)
		if rev == 0 {
			_, err = kv.Create(ctx, bus.FunctionSecretsKey(ref), val)
		} else {
			_, err = kv.Update(ctx, bus.FunctionSecretsKey(ref), val, rev)
		}
		if err == nil {
			names := make([]string, 0, len(set))
			for k := range set {
				names = append(names, k)
			}
			s.log.Info("function secrets changed", "project", ref, "set", names, "unset", unset)
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !isWrongSequence(err) {
			return fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
	}
	return fmt.Errorf("%w: too many concurrent changes of the secrets; try again", ErrConflict)
}

// isJS reports whether b looks like a script rather than an archive or an
// HTML page a misconfigured client sent.
func isJS(b []byte) bool {
	return !bytes.HasPrefix(b, []byte("PK\x03\x04")) && !bytes.HasPrefix(b, []byte("\x1f\x8b")) && !bytes.HasPrefix(bytes.TrimSpace(b), []byte("<"))
}
