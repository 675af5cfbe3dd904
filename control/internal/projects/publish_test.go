package projects

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/bustest"
	controlmigrations "github.com/madbase/madbase/control/migrations"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/madbase/madbase/shared/db/platform"
	"github.com/madbase/madbase/shared/secretbox"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// TestPublisherResync: the bucket is repaired from the store (a lost key
// comes back, a stray one goes), and a put never replaces a newer revision
// of the same project, while a new incarnation of a ref replaces any.
func TestPublisherResync(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := dbtest.NewDB(t, platform.Source, controlmigrations.Source)
	box, err := secretbox.New(secretbox.NewKey())
	require.NoError(t, err)
	store := NewStore(d.Pool, box, nil, Options{Env: config.Map(map[string]string{})})
	nc := bustest.Connect(t, bustest.RunServer(t))
	pub, err := NewPublisher(nc, store, nil, PublisherOptions{})
	require.NoError(t, err)

	// An external database (the platform's own) keeps the test from creating one.
	p, err := store.Create(ctx, NewProject{Ref: "resync", DatabaseURL: d.URL})
	require.NoError(t, err)
	require.NoError(t, pub.Sync(ctx))
	kv, err := pub.bucket(ctx)
	require.NoError(t, err)
	held := func(ref string) (bus.ProjectConfig, bool) {
		e, err := kv.Get(ctx, ref)
		if err != nil {
			return bus.ProjectConfig{}, false
		}
		var cfg bus.ProjectConfig
		require.NoError(t, json.Unmarshal(e.Value(), &cfg))
		return cfg, true
	}
	cfg, ok := held("resync")
	require.True(t, ok)
	assert.Equal(t, int64(1), cfg.Revision)

	require.NoError(t, kv.Delete(ctx, "resync"))
	_, err = kv.Put(ctx, "ghost", []byte(`{"id":"x","ref":"ghost","revision":9}`))
	require.NoError(t, err)
	require.NoError(t, pub.Sync(ctx))
	_, ok = held("resync")
	assert.True(t, ok, "a lost key is published again")
	_, err = kv.Get(ctx, "ghost")
	assert.ErrorIs(t, err, jetstream.ErrKeyNotFound, "a key without a project is removed")

	// A newer revision in the bucket (another control instance ahead of us)
	// stays; a stale one is replaced.
	newer := store.Published(p)
	newer.Revision = 7
	b, _ := json.Marshal(newer)
	_, err = kv.Put(ctx, "resync", b)
	require.NoError(t, err)
	require.NoError(t, pub.Sync(ctx))
	cfg, _ = held("resync")
	assert.Equal(t, int64(7), cfg.Revision, "a newer revision is never replaced by an older one")

	other := store.Published(p)
	other.ID = "an-older-incarnation"
	other.Revision = 50
	b, _ = json.Marshal(other)
	_, err = kv.Put(ctx, "resync", b)
	require.NoError(t, err)
	require.NoError(t, pub.Sync(ctx))
	cfg, _ = held("resync")
	assert.Equal(t, p.ID, cfg.ID, "another incarnation's config is replaced whatever its revision")
	assert.Equal(t, int64(1), cfg.Revision)

	// Run publishes at start, and changes go out at once.
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = pub.Run(runCtx) }()
	defer func() { cancel(); <-done }()
	_, err = store.PatchConfig(ctx, "resync", map[string]*string{"DB_MAX_ROWS": ptr("3")})
	require.NoError(t, err)
	bustest.Eventually(t, 10*time.Second, func() bool {
		cfg, ok := held("resync")
		return ok && cfg.Revision == 2 && cfg.Settings["DB_MAX_ROWS"] == "3"
	}, "the change is published")
}

func ptr(s string) *string { return &s }

// TestWrongKeyIsNoticed: a store whose platform key is not the one its
// secrets were sealed with says so instead of answering garbage.
func TestWrongKeyIsNoticed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := dbtest.NewDB(t, platform.Source, controlmigrations.Source)
	box, err := secretbox.New(secretbox.NewKey())
	require.NoError(t, err)
	store := NewStore(d.Pool, box, nil, Options{Env: config.Map(map[string]string{})})
	_, err = store.Create(ctx, NewProject{Ref: "keyed", DatabaseURL: d.URL, Settings: map[string]string{"SMTP_PASS": "x"}})
	require.NoError(t, err)

	otherBox, err := secretbox.New(secretbox.NewKey())
	require.NoError(t, err)
	other := NewStore(d.Pool, otherBox, nil, Options{Env: config.Map(map[string]string{})})
	p, err := other.Get(ctx, "keyed")
	require.NoError(t, err)
	_, err = other.Keys(p)
	assert.ErrorContains(t, err, "MADBASE_ENCRYPTION_KEY")
	_, err = other.PatchConfig(ctx, "keyed", map[string]*string{"DB_MAX_ROWS": ptr("3")})
	assert.ErrorContains(t, err, "MADBASE_ENCRYPTION_KEY")
}

// TestRetiredSecretIsForgotten: once the grace has passed, the resync drops
// the old secret from the store and from the bucket, as a new revision.
func TestRetiredSecretIsForgotten(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := dbtest.NewDB(t, platform.Source, controlmigrations.Source)
	box, err := secretbox.New(secretbox.NewKey())
	require.NoError(t, err)
	now := time.Now()
	store := NewStore(d.Pool, box, nil, Options{Env: config.Map(map[string]string{}), Now: func() time.Time { return now }})
	nc := bustest.Connect(t, bustest.RunServer(t))
	pub, err := NewPublisher(nc, store, nil, PublisherOptions{})
	require.NoError(t, err)
	_, err = store.Create(ctx, NewProject{Ref: "retire", DatabaseURL: d.URL})
	require.NoError(t, err)
	p, err := store.RotateKeys(ctx, "retire", time.Hour)
	require.NoError(t, err)
	require.Equal(t, int64(2), p.Revision)
	require.NoError(t, pub.Sync(ctx))
	kv, err := pub.bucket(ctx)
	require.NoError(t, err)
	published := func() bus.ProjectConfig {
		e, err := kv.Get(ctx, "retire")
		require.NoError(t, err)
		var cfg bus.ProjectConfig
		require.NoError(t, json.Unmarshal(e.Value(), &cfg))
		return cfg
	}
	assert.Len(t, published().JWTSecrets, 2)
	prev, err := store.PreviousKeys(p)
	require.NoError(t, err)
	assert.NotNil(t, prev)

	now = now.Add(time.Hour + time.Second)
	require.NoError(t, pub.Sync(ctx))
	cfg := published()
	assert.Equal(t, int64(3), cfg.Revision)
	assert.Len(t, cfg.JWTSecrets, 1, "the retired secret left the bucket")
	p, err = store.Get(ctx, "retire")
	require.NoError(t, err)
	assert.Nil(t, p.PreviousRetiresAt)
	n, err := store.ForgetRetired(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "forgotten once")
}

// TestProjectsTableIsControlsAlone: the platform database may also be the
// default project's, so the roles requests run as must not read the table.
func TestProjectsTableIsControlsAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := dbtest.NewDB(t, platform.Source, controlmigrations.Source)
	for _, role := range []string{"anon", "authenticated", "service_role", "authenticator"} {
		tx, err := d.Pool.Begin(ctx)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, "SET LOCAL ROLE "+role)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, "SELECT count(*) FROM madbase_control.projects")
		assert.ErrorContains(t, err, "permission denied", role)
		_ = tx.Rollback(ctx)
	}
}
