package functions

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/shared/apierr"
)

// Mount adds the functions and secrets routes to the admin group (behind
// the admin password). A project is named by ?project=REF or by the path
// /projects/REF/..., and is the default project otherwise. s nil answers
// 503.
func Mount(admin fiber.Router, s *Store) {
	h := &handlers{s: s}
	for _, prefix := range []string{"", "/projects/:ref"} {
		admin.Get(prefix+"/functions", h.available, h.list)
		admin.Get(prefix+"/functions/:name", h.available, h.get)
		admin.Get(prefix+"/functions/:name/body", h.available, h.body)
		admin.Put(prefix+"/functions/:name", h.available, h.deploy)
		admin.Post(prefix+"/functions/:name", h.available, h.deploy)
		admin.Delete(prefix+"/functions/:name", h.available, h.delete)
		admin.Get(prefix+"/secrets", h.available, h.secrets)
		admin.Put(prefix+"/secrets", h.available, h.setSecrets)
		admin.Post(prefix+"/secrets", h.available, h.setSecrets)
		admin.Delete(prefix+"/secrets/:key", h.available, h.unsetSecret)
	}
}

type handlers struct{ s *Store }

func (h *handlers) available(c *fiber.Ctx) error {
	if h.s == nil {
		return apierr.Unavailable("functions are unavailable: control needs NATS with JetStream and MADBASE_ENCRYPTION_KEY")
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Next()
}

// project is the ref the request names.
func (h *handlers) project(c *fiber.Ctx) string {
	if r := c.Params("ref"); r != "" {
		return strings.Clone(r)
	}
	if r := c.Query("project"); r != "" {
		return strings.Clone(r)
	}
	return h.s.DefaultRef()
}

// functionBody is a function as the admin API answers it (admin API
// contract, docs/api/functions.md).
type functionBody struct {
	Project       string    `json:"project"`
	Name          string    `json:"name"`
	Slug          string    `json:"slug"`
	Version       int64     `json:"version"`
	Status        string    `json:"status"`
	VerifyJWT     bool      `json:"verify_jwt"`
	SHA256        string    `json:"sha256"`
	Size          int64     `json:"size"`
	WallTimeoutMS int64     `json:"wall_timeout_ms,omitempty"`
	CPUTimeoutMS  int64     `json:"cpu_timeout_ms,omitempty"`
	DeployedAt    time.Time `json:"deployed_at"`
}

func bodyOf(fc bus.FunctionConfig) functionBody {
	return functionBody{
		Project: fc.Project, Name: fc.Name, Slug: fc.Name, Version: fc.Version, Status: "ACTIVE",
		VerifyJWT: fc.VerifyJWT, SHA256: fc.SHA256, Size: fc.Size,
		WallTimeoutMS: fc.WallTimeoutMS, CPUTimeoutMS: fc.CPUTimeoutMS, DeployedAt: fc.DeployedAt,
	}
}

func (h *handlers) list(c *fiber.Ctx) error {
	fcs, err := h.s.List(c.UserContext(), h.project(c))
	if err != nil {
		return render(err)
	}
	out := make([]functionBody, len(fcs))
	for i, fc := range fcs {
		out[i] = bodyOf(fc)
	}
	return c.JSON(fiber.Map{"functions": out})
}

func (h *handlers) get(c *fiber.Ctx) error {
	fc, err := h.s.Get(c.UserContext(), h.project(c), strings.Clone(c.Params("name")))
	if err != nil {
		return render(err)
	}
	return c.JSON(bodyOf(fc))
}

// body answers the deployed bundle.
func (h *handlers) body(c *fiber.Ctx) error {
	b, err := h.s.Bundle(c.UserContext(), h.project(c), strings.Clone(c.Params("name")))
	if err != nil {
		return render(err)
	}
	c.Set(fiber.HeaderContentType, "application/javascript; charset=utf-8")
	return c.Send(b)
}

// deploy takes the bundle as the body (JavaScript, as `madbase functions
// deploy` makes it) and the settings as query parameters: verify_jwt,
// wall_timeout_ms, cpu_timeout_ms.
func (h *handlers) deploy(c *fiber.Ctx) error {
	var set Settings
	if v := c.Query("verify_jwt"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return apierr.BadRequest("verify_jwt must be true or false")
		}
		set.VerifyJWT = &b
	}
	for _, p := range []struct {
		name string
		dst  **int64
	}{{"wall_timeout_ms", &set.WallTimeoutMS}, {"cpu_timeout_ms", &set.CPUTimeoutMS}} {
		if v := c.Query(p.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 || n > int64(time.Hour/time.Millisecond) {
				return apierr.BadRequest(p.name + " must be a number of milliseconds from 0 to 3600000")
			}
			*p.dst = &n
		}
	}
	bundle := append([]byte(nil), c.Body()...)
	if !isJS(bundle) {
		return apierr.BadRequest("the body must be the function's bundled JavaScript (madbase functions deploy makes it)")
	}
	ref := h.project(c)
	name := strings.Clone(c.Params("name"))
	existed := true
	if _, err := h.s.Get(c.UserContext(), ref, name); errors.Is(err, ErrNotFound) {
		existed = false
	}
	fc, err := h.s.Deploy(c.UserContext(), ref, name, bundle, set)
	if err != nil {
		return render(err)
	}
	if !existed {
		c.Status(fiber.StatusCreated)
	}
	return c.JSON(bodyOf(fc))
}

func (h *handlers) delete(c *fiber.Ctx) error {
	if err := h.s.Delete(c.UserContext(), h.project(c), strings.Clone(c.Params("name"))); err != nil {
		return render(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// secretsBody lists the secrets' names (admin API contract); values are
// never answered.
type secretsBody struct {
	Secrets []secretBody `json:"secrets"`
}

type secretBody struct {
	Name string `json:"name"`
}

func (h *handlers) secrets(c *fiber.Ctx) error {
	names, err := h.s.SecretNames(c.UserContext(), h.project(c))
	if err != nil {
		return render(err)
	}
	out := secretsBody{Secrets: make([]secretBody, len(names))}
	for i, n := range names {
		out.Secrets[i] = secretBody{Name: n}
	}
	return c.JSON(out)
}

// setSecrets takes {"KEY": "value", ...} (a null value unsets the key) or
// Supabase's [{"name": "KEY", "value": "value"}].
func (h *handlers) setSecrets(c *fiber.Ctx) error {
	set := map[string]string{}
	var unset []string
	body := c.Body()
	var asMap map[string]*string
	var asList []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	switch {
	case json.Unmarshal(body, &asMap) == nil:
		for k, v := range asMap {
			if v == nil {
				unset = append(unset, k)
			} else {
				set[k] = *v
			}
		}
	case json.Unmarshal(body, &asList) == nil:
		for _, p := range asList {
			set[p.Name] = p.Value
		}
	default:
		return apierr.BadRequest(`the body must be {"NAME": "value", ...} or [{"name": "NAME", "value": "value"}]`)
	}
	if err := h.s.ChangeSecrets(c.UserContext(), h.project(c), set, unset); err != nil {
		return render(err)
	}
	return h.secrets(c)
}

func (h *handlers) unsetSecret(c *fiber.Ctx) error {
	if err := h.s.ChangeSecrets(c.UserContext(), h.project(c), nil, []string{strings.Clone(c.Params("key"))}); err != nil {
		return render(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// render maps the store's errors to the admin API's.
func render(err error) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return apierr.NotFound("function not found")
	case errors.Is(err, ErrProjectNotFound):
		return apierr.NotFound("project not found")
	case errors.Is(err, ErrBadName), errors.Is(err, ErrBadSecret), errors.Is(err, ErrInvalid):
		return apierr.BadRequest(err.Error())
	case errors.Is(err, ErrConflict):
		return apierr.Conflict(err.Error())
	case errors.Is(err, ErrUnavailable):
		return apierr.Unavailable(err.Error())
	}
	return apierr.Internal(err)
}
