package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/madbase/madbase/shared/apierr"
	"github.com/madbase/madbase/shared/config"
)

// idTokenGrant is POST /token?grant_type=id_token (signInWithIdToken): an
// ID token a provider gave the app (Google, Apple, the OIDC provider),
// verified against the issuer's published keys, becomes a session. With
// link_identity and a user's bearer, the identity is linked to that user.
func (s *service) idTokenGrant(c *fiber.Ctx, ctx context.Context, p tokenParams, cl client, iss string) (*sessionJSON, error) {
	if p.IDToken == "" {
		return nil, oauthError("invalid request", "id_token required")
	}
	if p.Provider == "" && (p.ClientID == "" || p.Issuer == "") {
		return nil, oauthError("invalid request", "provider or client_id and issuer required")
	}
	if err := s.rateLimit(ctx, "sign_in", cl.IP, s.cfg.rateSignIn); err != nil {
		return nil, err
	}
	in := externalSignIn{redirect: s.cfg.siteURL, base: s.externalURL(c)}
	if p.LinkIdentity {
		if c.Get(fiber.HeaderAuthorization) == "" {
			return nil, oauthError("invalid request", "Linking requires a valid user access token in Authorization")
		}
		who, err := s.userPrincipal(c)
		if err != nil {
			return nil, err
		}
		if _, err := s.loadPrincipalUser(ctx, s.db, who); err != nil {
			return nil, err
		}
		in.linkTo = who.UserID
	}
	prov, err := s.idTokenProvider(p)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(s.providerContext(ctx), providerTimeout)
	defer cancel()
	op, err := s.discover(pctx, prov.issuer)
	if err != nil {
		return nil, internalError("Unable to read the provider's OpenID configuration", err)
	}
	idt, err := op.Verifier(&oidc.Config{SkipClientIDCheck: true}).Verify(pctx, p.IDToken)
	if err != nil {
		return nil, oauthError("invalid request", "Bad ID token").WithInternal(err)
	}
	if idt.Subject == "" {
		return nil, oauthError("invalid request", "Missing sub claim in id_token")
	}
	if !slices.ContainsFunc(prov.cfg.ClientIDs, func(id string) bool { return id != "" && slices.Contains(idt.Audience, id) }) {
		return nil, oauthError("invalid request", fmt.Sprintf("Unacceptable audience in id_token: %v", idt.Audience))
	}
	switch {
	case (idt.Nonce != "") != (p.Nonce != ""):
		return nil, oauthError("invalid request", "Passed nonce and nonce in id_token should either both exist or not.")
	case p.Nonce != "":
		sum := sha256.Sum256([]byte(p.Nonce))
		if hex.EncodeToString(sum[:]) != idt.Nonce {
			return nil, oauthError("invalid nonce", "Nonces mismatch")
		}
	}
	if p.AccessToken != "" && idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(p.AccessToken); err != nil {
			return nil, oauthError("invalid request", "Bad ID token").WithInternal(err)
		}
	}
	in.user, err = oidcUser(idt, prov.issuer)
	if err != nil {
		return nil, oauthError("invalid request", "Bad ID token").WithInternal(err)
	}
	in.provider = prov.cfg.Name
	var (
		sess    *sessionJSON
		pending *apierr.Error
	)
	err = s.tx(ctx, func(tx pgx.Tx) error {
		u, pend, err := s.externalAccount(ctx, tx, in)
		if err != nil {
			return err
		}
		if pend != nil {
			pending = pend
			return nil
		}
		sess, err = s.newSession(ctx, tx, u, methodOAuth, cl, iss)
		return err
	})
	switch {
	case err != nil:
		return nil, err
	case pending != nil:
		return nil, pending
	}
	return sess, nil
}

// idTokenProvider picks the provider of an ID token by the request's
// provider name or issuer.
func (s *service) idTokenProvider(p tokenParams) (*externalProvider, error) {
	var prov *externalProvider
	for _, name := range []string{config.ProviderApple, config.ProviderGoogle, config.ProviderOIDC} {
		ep := s.cfg.external[name]
		if p.Provider == name || (p.Provider == "" && p.Issuer != "" && p.Issuer == ep.issuer) {
			prov = ep
			break
		}
	}
	if prov == nil {
		name := p.Provider
		if len(name) > 64 {
			name = name[:64]
		}
		return nil, badRequest(CodeValidationFailed, "Custom OIDC provider %q not allowed", name)
	}
	if !prov.cfg.Enabled || prov.issuer == "" {
		return nil, badRequest(CodeProviderDisabled, "Provider (issuer %q) is not enabled", prov.issuer)
	}
	return prov, nil
}

// linkPrincipal is the user a request's bearer names, when it is a
// signed-in user's (for the identity routes).
func (s *service) linkPrincipal(c *fiber.Ctx) (uuid.UUID, error) {
	who, err := s.userPrincipal(c)
	if err != nil {
		return uuid.Nil, err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if _, err := s.loadPrincipalUser(ctx, s.db, who); err != nil {
		return uuid.Nil, err
	}
	return who.UserID, nil
}
