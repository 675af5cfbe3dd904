package functions

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/madbase/madbase/worker/internal/api"
	"github.com/madbase/madbase/worker/internal/apikey"
)

// depthHeader carries, on a function's fetch to MadBase's own API, how many
// invocations led to it; beyond maxDepth the call is refused (508), so a
// function that calls itself cannot tie up the worker.
const (
	depthHeader = "X-Madbase-Function-Depth"
	maxDepth    = 8
)

// maxRequestBody bounds a request body a function reads whole (the
// worker's MAX_BODY_BYTES when smaller).
const maxRequestBody = 64 << 20

// handler serves one project's /functions/v1.
type handler struct {
	m    *Manager
	ref  string
	keys *apikey.Keys
	host *host
	lim  limits
	pool int
	log  *slog.Logger
	// env are the variables every function of the project reads besides
	// its secrets (SUPABASE_URL is added per request).
	anonKey, serviceKey string
	apiURL              string
	maxBody             int64
	base                context.Context
}

// Register mounts /functions/v1 for the project of deps. It is the
// capability the worker lists; the manager is shared by every project.
func (m *Manager) Register(r fiber.Router, deps api.Deps) {
	cfg := deps.Config
	ref := deps.Project
	if ref == "" {
		ref = m.defaultRef
	}
	h := &handler{
		m: m, ref: ref, keys: apikey.New(cfg.JWTSecret),
		lim: limits{
			cpu: cfg.FunctionsCPUTimeout, wall: cfg.FunctionsWallTimeout, maxResponse: cfg.FunctionsMaxResponseBytes,
		},
		pool:    cfg.FunctionsPoolSize,
		log:     m.o.Log.With("component", "functions", "project", ref),
		apiURL:  strings.TrimRight(cfg.FunctionsAPIURL, "/"),
		maxBody: maxRequestBody,
		base:    deps.BaseContext,
	}
	if h.base == nil {
		h.base = context.Background()
	}
	if cfg.MaxBodyBytes > 0 && cfg.MaxBodyBytes < h.maxBody {
		h.maxBody = cfg.MaxBodyBytes
	}
	if h.lim.cpu <= 0 {
		h.lim.cpu = 2 * time.Second
	}
	if h.lim.wall <= 0 {
		h.lim.wall = 150 * time.Second
	}
	if h.lim.maxResponse <= 0 {
		h.lim.maxResponse = 10 << 20
	}
	if h.apiURL == "" && cfg.APIExternalURL != "" {
		h.apiURL = strings.TrimRight(cfg.APIExternalURL, "/")
	}
	if cfg.JWTSecret != "" {
		h.anonKey, h.serviceKey = jwtauth.OpaqueKeys([]byte(cfg.JWTSecret))
	}
	h.host = &host{allow: cfg.FunctionsFetchAllowHosts, fetchLimit: cfg.FunctionsFetchLimit}
	if h.apiURL != "" {
		if u, err := parseURL(h.apiURL, ""); err == nil {
			self := selfHost(u.Scheme, u.Host)
			h.host.self.Store(&self)
		}
	}
	h.host.client = newHTTPClient(h.host)
	g := r.Group("/functions/v1")
	g.All("/:name", h.serve)
	g.All("/:name/*", h.serve)
	g.All("/", func(c *fiber.Ctx) error { return notFound(c) })
}

// selfHost is host:port with the scheme's default port made explicit.
func selfHost(scheme, host string) string {
	host = strings.ToLower(host)
	if strings.LastIndex(host, ":") > strings.LastIndex(host, "]") {
		return host
	}
	if scheme == "https" {
		return host + ":443"
	}
	return host + ":80"
}

// serve runs one invocation: find the function, check the caller, read
// the body, run the handler, answer.
func (h *handler) serve(c *fiber.Ctx) error {
	name := strings.Clone(c.Params("name"))
	fc, ok, err := h.m.lookup(c.Context(), h.ref, name)
	if err != nil {
		h.m.metrics.count(outcomeBoot)
		return fail(c, http.StatusServiceUnavailable, "BOOT_ERROR", "Function failed to start (please check logs)")
	}
	if !ok {
		h.m.metrics.count(outcomeMissing)
		return notFound(c)
	}
	reqID := strings.Clone(c.GetRespHeader(fiber.HeaderXRequestID))
	log := sync.OnceValue(func() *slog.Logger {
		return h.log.With("function", name, "version", fc.Version, "request_id", reqID)
	})
	info := map[string]any{}
	if c.Method() != fiber.MethodOptions && fc.VerifyJWT {
		auth := c.Get(fiber.HeaderAuthorization)
		if auth == "" {
			h.m.metrics.count(outcomeRefused)
			return fail(c, http.StatusUnauthorized, "UNAUTHORIZED_NO_AUTH_HEADER", "Missing authorization header")
		}
		key, authorization := apikey.FromRequest(c)
		res, err := h.keys.Resolve(key, authorization)
		if err != nil || res.Role == "" {
			h.m.metrics.count(outcomeRefused)
			return fail(c, http.StatusUnauthorized, "UNAUTHORIZED_INVALID_JWT_FORMAT", "Invalid JWT")
		}
		info["role"] = res.Role
		info["claims"] = map[string]any(res.Claims)
	}
	depth, _ := strconv.Atoi(c.Get(depthHeader))
	if depth > maxDepth {
		h.m.metrics.count(outcomeLimit)
		return fail(c, http.StatusLoopDetected, "LOOP_DETECTED", "Function calls nested too deeply")
	}
	body, err := h.readBody(c)
	if err != nil {
		return fail(c, http.StatusRequestEntityTooLarge, "REQUEST_TOO_LARGE", "Request body too large")
	}
	lim := h.lim
	if fc.CPUTimeoutMS > 0 {
		lim.cpu = time.Duration(fc.CPUTimeoutMS) * time.Millisecond
	}
	if fc.WallTimeoutMS > 0 {
		lim.wall = time.Duration(fc.WallTimeoutMS) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(h.base, lim.wall)
	inv := &invocation{ctx: ctx, cancel: cancel, env: h.env(c, fc.Project), log: log, cpuLeft: lim.cpu, lim: lim, depth: max(depth, 0)}
	v, err := h.m.versionOf(ctx, fc, h.pool)
	if err != nil {
		cancel()
		log().Error("function bundle unavailable", "error", err.Error())
		h.m.metrics.count(outcomeBoot)
		return fail(c, http.StatusServiceUnavailable, "BOOT_ERROR", "Function failed to start (please check logs)")
	}
	in, _, err := v.acquire(h.host, h.m.guard, inv)
	if err != nil {
		cancel()
		return h.failed(c, log(), err, true)
	}
	res, err := in.serve(inv, h.request(c, name, body, info))
	if err != nil {
		v.release(in, inv)
		cancel()
		return h.failed(c, log(), err, false)
	}
	c.Status(res.status)
	for _, kv := range res.headers {
		switch strings.ToLower(kv[0]) {
		case "content-length", "transfer-encoding", "connection", "keep-alive":
			continue
		}
		c.Response().Header.Add(kv[0], kv[1])
	}
	h.m.metrics.count(outcomeOK)
	if !res.stream {
		c.Response().SetBody(res.body)
		v.release(in, inv)
		cancel()
		return nil
	}
	// The body is read from the function while it is sent: the writer
	// runs after this handler returned, on fasthttp's goroutine, and
	// releases the instance at the end.
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer cancel()
		err := in.streamTo(inv, res, func(b []byte) bool {
			if _, err := w.Write(b); err != nil {
				return false
			}
			return w.Flush() == nil
		})
		if err != nil {
			log().Warn("function stream ended early", "error", err.Error())
			in.broken = true
		}
		v.release(in, inv)
	})
	return nil
}

// request builds the Request the handler sees: the URL a Supabase function
// sees (/<name>/<rest> on the host the client called), the headers as sent.
func (h *handler) request(c *fiber.Ctx, name string, body []byte, info map[string]any) request {
	path := strings.TrimPrefix(string(c.Request().URI().PathOriginal()), "/functions/v1")
	if q := c.Request().URI().QueryString(); len(q) > 0 && !strings.Contains(path, "?") {
		path += "?" + string(q)
	}
	proto := c.Get("X-Forwarded-Proto")
	if proto != "https" {
		proto = "http"
	}
	hostName := c.Get("X-Forwarded-Host")
	if hostName == "" {
		hostName = string(c.Request().Host())
	}
	if hostName == "" {
		hostName = "localhost"
	}
	req := request{method: c.Method(), url: proto + "://" + hostName + path, body: body, info: info}
	c.Request().Header.VisitAll(func(k, v []byte) {
		req.headers = append(req.headers, [2]string{string(k), string(v)})
	})
	info["remoteAddr"] = map[string]any{"hostname": c.IP(), "transport": "tcp"}
	return req
}

// env is what Deno.env.get reads: SUPABASE_URL and the project's keys, then
// its secrets (which may override them).
func (h *handler) env(c *fiber.Ctx, ref string) map[string]string {
	secrets := h.m.secrets(ref)
	env := make(map[string]string, len(secrets)+4)
	api := h.apiURL
	if api == "" {
		// The worker serves the whole API itself: its own address is
		// MadBase's API, reached without leaving the machine.
		api = "http://" + c.Context().LocalAddr().String()
		h.allowSelf(api)
	}
	env["SUPABASE_URL"] = api
	if h.anonKey != "" {
		env["SUPABASE_ANON_KEY"], env["SUPABASE_PUBLISHABLE_KEY"] = h.anonKey, h.anonKey
		env["SUPABASE_SERVICE_ROLE_KEY"], env["SUPABASE_SECRET_KEY"] = h.serviceKey, h.serviceKey
	}
	for k, v := range secrets {
		env[k] = v
	}
	return env
}

// allowSelf records the worker's own address as fetch's loopback host the
// first time a request shows it.
func (h *handler) allowSelf(api string) {
	if h.host.self.Load() != nil {
		return
	}
	if u, err := parseURL(api, ""); err == nil {
		self := selfHost(u.Scheme, u.Host)
		h.host.self.CompareAndSwap(nil, &self)
	}
}

// readBody reads the request body whole (functions see it as bytes), at
// most maxBody; nil when there is none.
func (h *handler) readBody(c *fiber.Ctx) ([]byte, error) {
	if n := c.Request().Header.ContentLength(); int64(n) > h.maxBody {
		return nil, errTooLarge
	}
	var b []byte
	if s := c.Context().RequestBodyStream(); s != nil {
		var err error
		b, err = io.ReadAll(io.LimitReader(s, h.maxBody+1))
		if err != nil {
			return nil, err
		}
	} else {
		b = append([]byte(nil), c.Body()...)
	}
	if int64(len(b)) > h.maxBody {
		return nil, errTooLarge
	}
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead:
		if len(b) == 0 {
			return nil, nil
		}
	}
	return b, nil
}

var errTooLarge = errors.New("request body too large")

// failed logs why an invocation ended and answers the runtime's error.
func (h *handler) failed(c *fiber.Ctx, log *slog.Logger, err error, boot bool) error {
	var se *scriptError
	switch {
	case errors.Is(err, errCPULimit), errors.Is(err, errMemoryLimit), errors.Is(err, errResponseLimit):
		h.m.metrics.count(outcomeLimit)
		log.Warn("function stopped: "+err.Error(), "error", err.Error())
		return fail(c, 546, "WORKER_LIMIT", "Function failed due to not having enough compute resources (please check logs)")
	case errors.Is(err, errWallLimit):
		h.m.metrics.count(outcomeTimeout)
		log.Warn("function stopped: "+err.Error(), "error", err.Error())
		return fail(c, http.StatusGatewayTimeout, "WORKER_TIMEOUT", "Function timed out: wall clock limit reached (please check logs)")
	case boot:
		h.m.metrics.count(outcomeBoot)
		log.Error("function failed to start", "error", err.Error())
		return fail(c, http.StatusServiceUnavailable, "BOOT_ERROR", "Function failed to start (please check logs)")
	case errors.As(err, &se):
		h.m.metrics.count(outcomeError)
		log.Error("function threw", "error", se.msg)
	default:
		h.m.metrics.count(outcomeError)
		log.Error("function failed", "error", err.Error())
	}
	return fail(c, http.StatusInternalServerError, "WORKER_ERROR", "Function exited due to an error (please check logs)")
}

// errorBody is the JSON of the runtime's own answers, shaped as Supabase's
// edge runtime answers them (docs/api/functions.md).
type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func fail(c *fiber.Ctx, status int, code, msg string) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(status).JSON(errorBody{Code: code, Message: msg})
}

func notFound(c *fiber.Ctx) error {
	return fail(c, http.StatusNotFound, "NOT_FOUND", "Requested function was not found")
}
