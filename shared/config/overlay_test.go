package config

import (
	"strings"
	"testing"
	"time"
)

func TestOverlay(t *testing.T) {
	var w Worker
	if err := Load(&w, Map(map[string]string{"DB_MAX_ROWS": "10", "AUTH_DISABLE_SIGNUP": "false", "JWT_SECRET": "s"})); err != nil {
		t.Fatal(err)
	}
	err := Overlay(&w, map[string]string{"DB_MAX_ROWS": "50", "AUTH_DISABLE_SIGNUP": "true", "REALTIME_PRESENCE_EXPIRY": "9s"})
	if err != nil {
		t.Fatal(err)
	}
	if w.DBMaxRows != 50 || !w.DisableSignup || w.RealtimePresenceExpiry != 9*time.Second {
		t.Errorf("overlay not applied: %d %v %v", w.DBMaxRows, w.DisableSignup, w.RealtimePresenceExpiry)
	}
	if w.JWTSecret != "s" || w.Port != 8002 {
		t.Errorf("overlay changed what it was not given: %q %d", w.JWTSecret, w.Port)
	}
	if err := Overlay(&w, map[string]string{"DB_MAX_ROWS": ""}); err != nil || w.DBMaxRows != 1000 {
		t.Errorf("an empty value is the default: %d %v", w.DBMaxRows, err)
	}
	if err := Overlay(&w, map[string]string{"DB_MAX_ROWS": "many", "AUTH_DISABLE_SIGNUP": "maybe"}); err == nil {
		t.Error("bad values are errors")
	}
}

func TestProjectSettingsValidate(t *testing.T) {
	base := map[string]string{"NATS_URL": "nats://127.0.0.1:4222", "DATABASE_URL": "postgres://x@h/db", "JWT_SECRET": "0123456789abcdef0123456789abcdef0123", "STORAGE_DIR": "/tmp/x"}
	for name, c := range map[string]struct {
		vars map[string]string
		bad  string
	}{
		"defaults":       {nil, ""},
		"a domain":       {map[string]string{"PROJECT_DOMAIN": "supa.example.com"}, ""},
		"a URL":          {map[string]string{"PROJECT_DOMAIN": "https://supa.example.com"}, "PROJECT_DOMAIN"},
		"a port":         {map[string]string{"PROJECT_DOMAIN": "supa.example.com:8000"}, "PROJECT_DOMAIN"},
		"negative pool":  {map[string]string{"PROJECT_DB_MAX_CONNS": "-1"}, "PROJECT_DB_MAX_CONNS"},
		"negative idle":  {map[string]string{"PROJECT_IDLE_TIMEOUT": "-1s"}, "PROJECT_IDLE_TIMEOUT"},
		"a space inside": {map[string]string{"PROJECT_DOMAIN": "supa example.com"}, "PROJECT_DOMAIN"},
	} {
		vars := map[string]string{}
		for k, v := range base {
			vars[k] = v
		}
		for k, v := range c.vars {
			vars[k] = v
		}
		var w Worker
		if err := Load(&w, Map(vars)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		err := w.Validate(false)
		switch {
		case c.bad == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case c.bad != "" && (err == nil || !strings.Contains(err.Error(), c.bad)):
			t.Errorf("%s: want an error naming %s, got %v", name, c.bad, err)
		}
	}
}
