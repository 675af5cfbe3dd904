package devmode

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/cmd/internal/fndeploy"
)

// functionsPoll is how often dev looks for changed function files.
const functionsPoll = 500 * time.Millisecond

// functionsDir is the Supabase functions folder beside the migrations'.
func (d *dev) functionsDir() string {
	if d.opts.FunctionsDir != "" {
		return d.opts.FunctionsDir
	}
	if d.opts.MigrationsDir == "" {
		return ""
	}
	return filepath.Join(filepath.Dir(d.opts.MigrationsDir), "functions")
}

// watchFunctions deploys the functions of the functions folder once
// control answers, then redeploys each one whose files change (a change in
// a shared folder such as _shared redeploys them all). A function that
// fails to bundle or deploy is reported and tried again at its next change.
func (d *dev) watchFunctions(controlURL, apiURL string) func(context.Context) error {
	return func(ctx context.Context) error {
		dir := d.functionsDir()
		if dir == "" {
			<-ctx.Done()
			return nil
		}
		pw, _ := d.env.lookup("ADMIN_PASSWORD")
		c := &fndeploy.Client{Base: controlURL, Password: pw}
		deployed := map[string]string{} // name → signature of what was deployed (or tried)
		t := time.NewTicker(functionsPoll)
		defer t.Stop()
		for {
			d.deployChanged(ctx, c, dir, apiURL, deployed)
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	}
}

func (d *dev) deployChanged(ctx context.Context, c *fndeploy.Client, dir, apiURL string, deployed map[string]string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	shared := ""
	for _, e := range ents {
		if e.IsDir() && (strings.HasPrefix(e.Name(), "_") || strings.HasPrefix(e.Name(), ".")) {
			shared += signature(filepath.Join(dir, e.Name()))
		}
	}
	settings, _ := fndeploy.VerifyJWTSettings(filepath.Join(filepath.Dir(dir), "config.toml"))
	for _, e := range ents {
		name := e.Name()
		if !e.IsDir() || strings.HasPrefix(name, "_") || strings.HasPrefix(name, ".") || !bus.ValidFunctionName(name) {
			continue
		}
		sig := signature(filepath.Join(dir, name)) + shared
		if deployed[name] == sig {
			continue
		}
		entry, err := fndeploy.Entry(filepath.Join(dir, name))
		if err != nil {
			continue // a folder being created
		}
		bundle, err := fndeploy.Bundle(entry)
		if err != nil {
			deployed[name] = sig
			fmt.Fprintf(d.opts.Stderr, "function %s not deployed: %v\n", name, err)
			continue
		}
		var verify *bool
		if v, ok := settings[name]; ok {
			verify = &v
		}
		f, err := c.Deploy(ctx, "", name, bundle, verify)
		var ce *fndeploy.Error
		switch {
		case err == nil:
			deployed[name] = sig
			fmt.Fprintf(d.opts.Stdout, "Function %s deployed (version %d): %s/functions/v1/%s\n", name, f.Version, apiURL, name)
		case errors.As(err, &ce) && ce.Status != 503:
			deployed[name] = sig
			fmt.Fprintf(d.opts.Stderr, "function %s not deployed: %v\n", name, err)
		default:
			// Control is not up yet: try again at the next poll.
			d.log.Debug("function deploy deferred", "function", name, "error", err.Error())
		}
	}
}

// signature sums up a folder's files: names, sizes and modification times.
func signature(dir string) string {
	var b strings.Builder
	_ = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return nil
		}
		fmt.Fprintf(&b, "%s:%d:%d;", p, info.Size(), info.ModTime().UnixNano())
		return nil
	})
	return b.String()
}
