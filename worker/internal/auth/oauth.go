package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/madbase/madbase/shared/apierr"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/httpserver"
	"golang.org/x/oauth2"
)

// The redirect flow (signInWithOAuth, linkIdentity): GET /authorize sends
// the browser to the provider with a signed state; the provider sends it
// back to GET or POST /callback with a code, which MadBase exchanges for
// the provider's user; the user is found, linked or created, and the
// browser goes on to redirect_to with the session in the fragment
// (implicit flow) or ?code= (PKCE flow: exchangeCodeForSession then calls
// /token?grant_type=pkce).

// methodOAuth is the amr method and flow_state method of provider sign-ins.
const methodOAuth = "oauth"

// reservedAuthorizeParams are the query parameters of /authorize that are
// MadBase's or that only MadBase may set toward the provider; the others
// (prompt, access_type, login_hint ...) are passed on to the provider.
var reservedAuthorizeParams = map[string]bool{
	"provider": true, "scopes": true, "redirect_to": true, "code_challenge": true, "code_challenge_method": true,
	"state": true, "client_id": true, "client_secret": true, "redirect_uri": true, "response_type": true,
	"response_mode": true, "scope": true, "nonce": true, "code_verifier": true, "apikey": true,
	"skip_http_redirect": true, "invite_token": true,
}

// authorize is GET /authorize: 302 to the provider.
func (s *service) authorize(c *fiber.Ctx) error {
	to, err := s.providerRedirect(c, uuid.Nil)
	if err != nil {
		return err
	}
	return c.Redirect(to, http.StatusFound)
}

// callbackURL is where the provider sends the browser back: the
// provider's REDIRECT_URI, else this API's /callback.
func (s *service) callbackURL(c *fiber.Ctx, p *externalProvider) string {
	if p.cfg.RedirectURI != "" {
		return p.cfg.RedirectURI
	}
	return s.externalURL(c) + "/auth/v1/callback"
}

// providerRedirect builds the URL of the provider's authorization page for
// the request's provider, scopes, redirect_to and PKCE challenge; linkTo is
// the user an identity is linked to (uuid.Nil: a sign-in).
func (s *service) providerRedirect(c *fiber.Ctx, linkTo uuid.UUID) (string, error) {
	p, err := s.provider(c.Query("provider"))
	if err != nil {
		return "", err
	}
	pkce, err := pkceFrom(c.Query("code_challenge"), c.Query("code_challenge_method"))
	if err != nil {
		return "", err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	pctx, pcancel := context.WithTimeout(ctx, providerTimeout)
	defer pcancel()
	f, err := s.newFlow(pctx, p, s.callbackURL(c, p), c.Query("scopes"))
	if err != nil {
		return "", badRequest(CodeValidationFailed, "Unsupported provider: the provider's OpenID configuration cannot be read").WithInternal(err)
	}
	st := &oauthState{Provider: p.cfg.Name, Referrer: s.cfg.redirectTo(c.Query("redirect_to")), RedirectURI: f.oauth.RedirectURL}
	if linkTo != uuid.Nil {
		st.LinkUser = linkTo.String()
	}
	if pkce != nil {
		id, err := s.startOAuthFlow(ctx, p.cfg.Name, pkce)
		if err != nil {
			return "", err
		}
		st.FlowID = id.String()
	}
	state, err := s.signState(st)
	if err != nil {
		return "", internalError("Unexpected failure", err)
	}
	var opts []oauth2.AuthCodeOption
	if f.pkce {
		opts = append(opts, oauth2.S256ChallengeOption(s.derive(st, "pkce")))
	}
	if f.op != nil {
		opts = append(opts, oidc.Nonce(s.derive(st, "nonce")))
	}
	if f.formPost {
		opts = append(opts, oauth2.SetAuthURLParam("response_mode", "form_post"))
	}
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		if key := string(k); !reservedAuthorizeParams[strings.ToLower(key)] {
			opts = append(opts, oauth2.SetAuthURLParam(key, string(v)))
		}
	})
	return f.oauth.AuthCodeURL(state, opts...), nil
}

// startOAuthFlow records the app's PKCE challenge for a redirect flow; the
// callback gives the row its user and auth code. Flows past any use (the
// state expired, or the code's exchange window passed) are removed as new
// ones start.
func (s *service) startOAuthFlow(ctx context.Context, provider string, p *pkceRequest) (uuid.UUID, error) {
	if s.db == nil {
		return uuid.Nil, internalError("Database not configured", errors.New("the worker has no DATABASE_URL"))
	}
	id := uuid.New()
	now := s.now().UTC()
	_, err := s.db.Exec(ctx, `with old as (delete from auth.flow_state where id in (
			select id from auth.flow_state where authentication_method = $6 and created_at < $7 limit 100))
		insert into auth.flow_state (id, user_id, auth_code, code_challenge_method, code_challenge,
			provider_type, created_at, updated_at, authentication_method)
		values ($1, null, $2, $3, $4, $5, $8, $8, $6)`,
		id, uuid.NewString(), p.Method, p.Challenge, provider, methodOAuth, now.Add(-stateLifetime-flowStateLifetime), now)
	if err != nil {
		return uuid.Nil, dbError(err)
	}
	return id, nil
}

// callbackParams are the callback's parameters: the query, or the form a
// provider posted (Apple's form_post).
func callbackParams(c *fiber.Ctx) (url.Values, error) {
	if c.Method() == http.MethodPost {
		b, err := readBody(c)
		if err != nil {
			return nil, err
		}
		v, err := url.ParseQuery(string(b))
		if err != nil {
			return nil, badRequest(CodeBadOAuthCallback, "OAuth callback with a malformed form")
		}
		for k, vs := range v {
			if len(vs) > 0 && v.Get(k) == "" {
				v.Set(k, vs[len(vs)-1])
			}
		}
		return v, nil
	}
	v, err := url.ParseQuery(string(c.Context().QueryArgs().QueryString()))
	if err != nil {
		return nil, badRequest(CodeBadOAuthCallback, "OAuth callback with a malformed query")
	}
	return v, nil
}

// providerError is an error a provider sent back (error, error_description):
// it goes on to the app as the provider worded it.
type providerError struct{ name, description string }

func (e *providerError) Error() string { return e.name + ": " + e.description }

// callback is GET|POST /callback.
func (s *service) callback(c *fiber.Ctx) error {
	params, err := callbackParams(c)
	if err != nil {
		return s.redirectExternalError(c, s.cfg.siteURL, err, http.StatusSeeOther, false)
	}
	st, err := s.parseState(params.Get("state"))
	if err != nil {
		return s.redirectExternalError(c, s.cfg.siteURL, err, http.StatusSeeOther, false)
	}
	to, err := s.finishCallback(c, st, params)
	if err != nil {
		return s.redirectExternalError(c, st.Referrer, err, http.StatusFound, true)
	}
	return c.Redirect(to, http.StatusFound)
}

// finishCallback exchanges the code and signs the user in; it returns
// where the browser goes.
func (s *service) finishCallback(c *fiber.Ctx, st *oauthState, params url.Values) (string, error) {
	if e := params.Get("error"); e != "" {
		return "", &providerError{name: e, description: params.Get("error_description")}
	}
	code := params.Get("code")
	if code == "" {
		return "", badRequest(CodeBadOAuthCallback, "OAuth callback with missing authorization code missing")
	}
	p, ok := s.cfg.external[st.Provider]
	if !ok || !p.cfg.Enabled {
		return "", badRequest(CodeOAuthProviderNotSupported, "Unsupported provider: provider is not enabled")
	}
	ctx, cancel := s.ctx()
	defer cancel()
	pctx, pcancel := context.WithTimeout(s.providerContext(ctx), providerTimeout)
	defer pcancel()
	f, err := s.newFlow(pctx, p, st.RedirectURI, "")
	if err != nil {
		return "", internalError("Error getting user profile from external provider", err)
	}
	var opts []oauth2.AuthCodeOption
	if f.pkce {
		opts = append(opts, oauth2.VerifierOption(s.derive(st, "pkce")))
	}
	tok, err := f.oauth.Exchange(pctx, code, opts...)
	if err != nil {
		return "", internalError(fmt.Sprintf("Unable to exchange external code: %s", code[:min(4, len(code))]), err)
	}
	pu, err := f.userData(pctx, tok, s.derive(st, "nonce"))
	if err != nil {
		return "", internalError("Error getting user profile from external provider", err)
	}
	if p.cfg.Name == config.ProviderApple {
		appleName(pu, params.Get("user"))
	}
	in := externalSignIn{provider: p.cfg.Name, user: pu, redirect: st.Referrer, base: s.externalURL(c)}
	if st.LinkUser != "" {
		if in.linkTo, err = uuid.Parse(st.LinkUser); err != nil {
			return "", errStateInvalid
		}
	}
	cl, iss := clientOf(c), s.issuer(c)
	var (
		sess     *sessionJSON
		authCode string
		pending  *apierr.Error
	)
	err = s.tx(ctx, func(tx pgx.Tx) error {
		u, pend, err := s.externalAccount(ctx, tx, in)
		if err != nil {
			return err
		}
		if pend != nil {
			pending = pend
			return nil // commit: the confirmation mail was sent
		}
		if st.FlowID != "" {
			authCode, err = s.issueOAuthCode(ctx, tx, st.FlowID, u.ID, tok)
			return err
		}
		sess, err = s.newSession(ctx, tx, u, methodOAuth, cl, iss)
		return err
	})
	switch {
	case err != nil:
		return "", err
	case pending != nil:
		return "", pending
	}
	target, perr := url.Parse(st.Referrer)
	if perr != nil {
		return "", internalError("Unexpected failure", perr)
	}
	target.Fragment, target.RawFragment = "", ""
	if authCode != "" {
		q := target.Query()
		q.Set("code", authCode)
		target.RawQuery = q.Encode()
		return target.String(), nil
	}
	frag := url.Values{}
	frag.Set("access_token", sess.AccessToken)
	frag.Set("token_type", sess.TokenType)
	frag.Set("expires_in", strconv.Itoa(sess.ExpiresIn))
	frag.Set("expires_at", strconv.FormatInt(sess.ExpiresAt, 10))
	frag.Set("refresh_token", sess.RefreshToken)
	frag.Set("provider_token", tok.AccessToken)
	if tok.RefreshToken != "" {
		frag.Set("provider_refresh_token", tok.RefreshToken)
	}
	frag.Set("sb", "")
	return target.String() + "#" + frag.Encode(), nil
}

// issueOAuthCode gives the app's PKCE flow its user and auth code (and
// the provider's tokens, which the pkce grant hands out with the session).
func (s *service) issueOAuthCode(ctx context.Context, tx pgx.Tx, flowID string, userID uuid.UUID, tok *oauth2.Token) (string, error) {
	id, err := uuid.Parse(flowID)
	if err != nil {
		return "", errStateInvalid
	}
	now := s.now().UTC()
	var code string
	var refresh any
	if tok.RefreshToken != "" {
		refresh = tok.RefreshToken
	}
	err = tx.QueryRow(ctx, `update auth.flow_state set user_id = $2, provider_access_token = $3, provider_refresh_token = $4,
			auth_code_issued_at = $5, updated_at = $5
		where id = $1 and user_id is null returning auth_code`, id, userID, tok.AccessToken, refresh, now).Scan(&code)
	if errors.Is(err, pgx.ErrNoRows) {
		var used bool
		if err := tx.QueryRow(ctx, `select exists(select 1 from auth.flow_state where id = $1)`, id).Scan(&used); err != nil {
			return "", dbError(err)
		}
		if used {
			return "", badRequest(CodeFlowStateAlreadyUsed, "State has already been used")
		}
		return "", badRequest(CodeBadOAuthState, "OAuth state not found or expired")
	}
	if err != nil {
		return "", dbError(err)
	}
	return code, nil
}

// redirectExternalError sends the browser of a failed callback on to
// target with the error in the query (and, with fragment, in the fragment
// too), as GoTrue does: a provider's own error as it sent it, MadBase's
// with its error_code.
func (s *service) redirectExternalError(c *fiber.Ctx, target string, err error, status int, fragment bool) error {
	q := url.Values{}
	var pe *providerError
	if errors.As(err, &pe) {
		q.Set("error", pe.name)
		q.Set("error_description", pe.description)
	} else {
		e := toError(err)
		if e.Internal != nil || e.Status >= 500 {
			s.log.Warn("oauth callback failed", "request_id", httpserver.RequestID(c), "status", e.Status,
				"code", e.Code, "cause", e.Cause())
		}
		name := oauthErrorNames[e.Status]
		switch {
		case e.Code == CodeSignupDisabled || e.Code == CodeUserBanned || e.Code == CodeProviderEmailNeedsVerify:
			name = "access_denied"
		case name == "":
			name = "server_error"
		}
		q.Set("error", name)
		q.Set("error_description", e.Message)
		q.Set("error_code", e.Code)
	}
	u, perr := url.Parse(target)
	if perr != nil {
		return toError(err)
	}
	query := u.Query()
	for k, v := range q {
		query[k] = v
	}
	u.RawQuery = query.Encode()
	u.Fragment, u.RawFragment = "", ""
	to := u.String()
	if fragment {
		q.Set("sb", "")
		to += "#" + q.Encode()
	}
	return c.Redirect(to, status)
}

// externalTime is now for the external flows' rows.
func (s *service) externalTime() time.Time { return s.now().UTC().Round(time.Microsecond) }
