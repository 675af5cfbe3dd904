package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/madbase/madbase/control/internal/fleet"
	"github.com/madbase/madbase/control/internal/projects"
	"github.com/madbase/madbase/shared/apierr"
)

// Deadlines of project requests: creating and deleting may create, migrate
// or drop a database; the SQL endpoint has its own statement timeout.
const (
	projectSlowTimeout = 2 * time.Minute
	projectTimeout     = 30 * time.Second
)

// registerProjects mounts /admin/v1/projects on the admin group.
func registerProjects(admin fiber.Router, d Deps) {
	h := &projectHandlers{store: d.Projects, fleet: d.Fleet, log: d.Log}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	g := admin.Group("/projects", h.available)
	slow, quick := deadline(projectSlowTimeout), deadline(projectTimeout)
	g.Post("", slow, h.create)
	g.Get("", quick, h.list)
	g.Get("/:ref", quick, h.get)
	g.Patch("/:ref/config", quick, h.patchConfig)
	g.Post("/:ref/keys/rotate", quick, h.rotate)
	g.Delete("/:ref", slow, h.delete)
	g.Post("/:ref/sql", renderSQLError, h.sql)
}

type projectHandlers struct {
	store *projects.Store
	fleet *fleet.Fleet
	log   *slog.Logger
}

// available answers 503 when control runs without a project store.
func (h *projectHandlers) available(c *fiber.Ctx) error {
	if h.store == nil {
		return apierr.Unavailable("projects are unavailable: control needs DATABASE_URL and MADBASE_ENCRYPTION_KEY")
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Next()
}

// projectBody is a project as the admin API answers it (admin API
// contract). List answers leave every secret out: no keys, no JWT secret,
// no secret setting's value (secret_settings only names them).
type projectBody struct {
	ID             string            `json:"id"`
	Ref            string            `json:"ref"`
	Name           string            `json:"name"`
	Database       databaseBody      `json:"database"`
	Settings       map[string]string `json:"settings"`
	SecretSettings []string          `json:"secret_settings"`
	Revision       int64             `json:"revision"`
	CreatedAt      time.Time         `json:"created_at"`
	UpdatedAt      time.Time         `json:"updated_at"`
	// KeysRetiringUntil is set while a rotated-out secret still verifies.
	KeysRetiringUntil *time.Time `json:"keys_retiring_until,omitempty"`
	// Keys, JWTSecret and RetiringKeys are answered to one project's reads
	// and changes only.
	Keys         *projects.Keys `json:"keys,omitempty"`
	JWTSecret    string         `json:"jwt_secret,omitempty"`
	RetiringKeys *projects.Keys `json:"retiring_keys,omitempty"`
}

type databaseBody struct {
	// Mode is created (control made it and may drop it) or external.
	Mode string `json:"mode"`
	Name string `json:"name"`
}

type projectsBody struct {
	Projects []projectBody `json:"projects"`
}

func (h *projectHandlers) body(p *projects.Project, withSecrets bool) (projectBody, error) {
	b := projectBody{
		ID: p.ID, Ref: p.Ref, Name: p.Name,
		Database:       databaseBody{Mode: p.DBMode, Name: p.DatabaseName},
		Settings:       p.Settings,
		SecretSettings: p.SecretSettings,
		Revision:       p.Revision,
		CreatedAt:      p.CreatedAt.UTC(),
		UpdatedAt:      p.UpdatedAt.UTC(),
	}
	retiring, err := h.store.PreviousKeys(p)
	if err != nil {
		return b, err
	}
	if retiring != nil {
		t := p.PreviousRetiresAt.UTC()
		b.KeysRetiringUntil = &t
	}
	if !withSecrets {
		return b, nil
	}
	keys, err := h.store.Keys(p)
	if err != nil {
		return b, err
	}
	if b.JWTSecret, err = h.store.JWTSecret(p); err != nil {
		return b, err
	}
	b.Keys, b.RetiringKeys = &keys, retiring
	return b, nil
}

// createRequest is the body of POST /admin/v1/projects.
type createRequest struct {
	Ref         string                     `json:"ref"`
	Name        string                     `json:"name"`
	DatabaseURL string                     `json:"database_url"`
	Settings    map[string]json.RawMessage `json:"settings"`
}

func (h *projectHandlers) create(c *fiber.Ctx) error {
	var req createRequest
	if err := decodeStrict(c.Body(), &req); err != nil {
		return err
	}
	settings := map[string]string{}
	var problems []string
	for k, raw := range req.Settings {
		v, null, err := settingValue(raw)
		switch {
		case err != nil:
			problems = append(problems, k+": "+err.Error())
		case !null && v != "":
			settings[k] = v
		}
	}
	if len(problems) > 0 {
		return invalidRequest(problems)
	}
	p, err := h.store.Create(c.UserContext(), projects.NewProject{
		Ref: req.Ref, Name: req.Name, DatabaseURL: req.DatabaseURL, Settings: settings,
	})
	if err != nil {
		return projectError(err)
	}
	return h.answer(c, fiber.StatusCreated, p)
}

func (h *projectHandlers) list(c *fiber.Ctx) error {
	list, err := h.store.List(c.UserContext())
	if err != nil {
		return apierr.Internal(err)
	}
	out := projectsBody{Projects: make([]projectBody, 0, len(list))}
	for _, p := range list {
		b, err := h.body(p, false)
		if err != nil {
			return apierr.Internal(err)
		}
		out.Projects = append(out.Projects, b)
	}
	return c.JSON(out)
}

// projectWithWorkers is GET /admin/v1/projects/{ref}'s answer: the
// project and what each live worker runs of it (admin API contract).
type projectWithWorkers struct {
	projectBody
	Workers []fleet.ProjectWorker `json:"workers"`
}

func (h *projectHandlers) get(c *fiber.Ctx) error {
	p, err := h.store.Get(c.UserContext(), ref(c))
	if err != nil {
		return projectError(err)
	}
	b, err := h.body(p, true)
	if err != nil {
		return apierr.Internal(err)
	}
	out := projectWithWorkers{projectBody: b, Workers: []fleet.ProjectWorker{}}
	if h.fleet != nil {
		out.Workers = h.fleet.ProjectWorkers(p.Ref, p.Revision)
	}
	return c.JSON(out)
}

// patchConfig takes {"VARIABLE": value, ...}: a string, number or boolean
// sets the variable, null or "" removes it.
func (h *projectHandlers) patchConfig(c *fiber.Ctx) error {
	var req map[string]json.RawMessage
	if err := decodeStrict(c.Body(), &req); err != nil {
		return err
	}
	if len(req) == 0 {
		return apierr.BadRequest(`no settings given: send {"VARIABLE": "value", ...} (null removes one)`)
	}
	changes := make(map[string]*string, len(req))
	var problems []string
	for k, raw := range req {
		v, null, err := settingValue(raw)
		switch {
		case err != nil:
			problems = append(problems, k+": "+err.Error())
		case null || v == "":
			changes[k] = nil
		default:
			changes[k] = &v
		}
	}
	if len(problems) > 0 {
		return invalidRequest(problems)
	}
	p, err := h.store.PatchConfig(c.UserContext(), ref(c), changes)
	if err != nil {
		return projectError(err)
	}
	return h.answer(c, fiber.StatusOK, p)
}

// rotateRequest is the optional body of POST .../keys/rotate: how long the
// old keys keep working, as a duration ("0s" retires them at once).
type rotateRequest struct {
	Grace *string `json:"grace"`
}

func (h *projectHandlers) rotate(c *fiber.Ctx) error {
	var req rotateRequest
	if len(bytes.TrimSpace(c.Body())) > 0 {
		if err := decodeStrict(c.Body(), &req); err != nil {
			return err
		}
	}
	var grace time.Duration // the store's default
	if req.Grace != nil {
		d, err := time.ParseDuration(*req.Grace)
		if err != nil || d < 0 {
			return apierr.BadRequest(`grace: not a duration like "24h" or "0s"`)
		}
		grace = d
		if d == 0 {
			grace = -1 // at once
		}
	}
	p, err := h.store.RotateKeys(c.UserContext(), ref(c), grace)
	if err != nil {
		return projectError(err)
	}
	return h.answer(c, fiber.StatusOK, p)
}

// deletedBody is the answer of DELETE /admin/v1/projects/{ref} (admin API
// contract).
type deletedBody struct {
	Ref             string `json:"ref"`
	Database        string `json:"database"`
	DatabaseDropped bool   `json:"database_dropped"`
}

func (h *projectHandlers) delete(c *fiber.Ctx) error {
	drop := false
	if v := c.Query("drop_database"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return apierr.BadRequest("drop_database: true or false")
		}
		drop = b
	}
	p, err := h.store.Delete(c.UserContext(), ref(c), drop)
	if err != nil {
		return projectError(err)
	}
	return c.JSON(deletedBody{Ref: p.Ref, Database: p.DatabaseName, DatabaseDropped: drop})
}

// sqlRequest is the body of POST .../sql.
type sqlRequest struct {
	Query string `json:"query"`
	// TimeoutMS lowers the statement timeout for this query.
	TimeoutMS int64 `json:"timeout_ms"`
}

func (h *projectHandlers) sql(c *fiber.Ctx) error {
	var req sqlRequest
	if err := decodeStrict(c.Body(), &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.Query) == "" {
		return apierr.BadRequest("query: required")
	}
	if req.TimeoutMS < 0 {
		return apierr.BadRequest("timeout_ms: must not be negative")
	}
	res, err := h.store.RunSQL(c.UserContext(), ref(c), req.Query, time.Duration(req.TimeoutMS)*time.Millisecond)
	if err != nil {
		return projectError(err)
	}
	return c.JSON(res)
}

// sqlErrorBody is the answer to SQL PostgreSQL refused (admin API contract):
// the default error shape plus PostgreSQL's fields.
type sqlErrorBody struct {
	Error    string `json:"error"`
	Code     int    `json:"code"`
	SQLState string `json:"sqlstate"`
	Position int32  `json:"position,omitempty"`
	Detail   string `json:"detail,omitempty"`
	Hint     string `json:"hint,omitempty"`
}

// renderSQLError is the SQL endpoint's renderer: PostgreSQL's error fields
// (carried in apierr.Error.Extra) join the default shape.
func renderSQLError(c *fiber.Ctx) error {
	err := c.Next()
	var e *apierr.Error
	if !errors.As(err, &e) {
		return err
	}
	se, ok := e.Extra.(*projects.SQLError)
	if !ok {
		return err
	}
	return c.Status(e.Status).JSON(sqlErrorBody{
		Error: e.Message, Code: e.Status, SQLState: se.SQLState, Position: se.Position, Detail: se.Detail, Hint: se.Hint,
	})
}

func (h *projectHandlers) answer(c *fiber.Ctx, status int, p *projects.Project) error {
	b, err := h.body(p, true)
	if err != nil {
		return apierr.Internal(err)
	}
	return c.Status(status).JSON(b)
}

// deadline gives the request's context a deadline (fiber's is Background),
// so a database that stops answering does not hold the request forever.
func deadline(d time.Duration) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), d)
		defer cancel()
		c.SetUserContext(ctx)
		return c.Next()
	}
}

// ref is the :ref parameter, copied (fiber reuses its buffers).
func ref(c *fiber.Ctx) string {
	return strings.Clone(c.Params("ref"))
}

// projectError maps the store's errors to the admin API's.
func projectError(err error) error {
	var inv *projects.InvalidError
	var conflict *projects.ConflictError
	var dbErr *projects.DatabaseError
	var sqlErr *projects.SQLError
	switch {
	case errors.Is(err, projects.ErrNotFound):
		return apierr.NotFound("project not found")
	case errors.Is(err, projects.ErrExists):
		if err == projects.ErrExists {
			return apierr.Conflict("a project with this ref already exists")
		}
		return apierr.Conflict(err.Error())
	case errors.As(err, &inv):
		return invalidRequest(inv.Problems)
	case errors.As(err, &conflict):
		return apierr.Conflict(conflict.Message)
	case errors.As(err, &sqlErr):
		e := apierr.BadRequest(sqlErr.Message)
		e.Extra = sqlErr
		return e
	case errors.As(err, &dbErr):
		return apierr.New(fiber.StatusBadGateway, apierr.CodeBadGateway, dbErr.Message).WithInternal(dbErr.Cause)
	}
	return apierr.Internal(err)
}

// invalidRequest names every problem in one 400.
func invalidRequest(problems []string) *apierr.Error {
	return apierr.BadRequest(strings.Join(problems, "; ")).WithDetails(problems)
}

// decodeStrict reads a JSON body, refusing unknown fields and trailing data.
func decodeStrict(body []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return apierr.BadRequest(fmt.Sprintf("invalid JSON body: %v", err))
	}
	if dec.More() {
		return apierr.BadRequest("invalid JSON body: more than one value")
	}
	return nil
}

// settingValue reads a setting's JSON value as the text a variable holds.
func settingValue(raw json.RawMessage) (v string, null bool, err error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return "", true, nil
	case raw[0] == '"':
		err = json.Unmarshal(raw, &v)
		return v, false, err
	case string(raw) == "true" || string(raw) == "false":
		return string(raw), false, nil
	case raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'):
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			return n.String(), false, nil
		}
	}
	return "", false, errors.New("must be a string, a number, a boolean, or null to remove it")
}
