package auth

import (
	"github.com/gofiber/fiber/v2"
)

// healthBody is GET /auth/v1/health (GoTrue's shape).
type healthBody struct {
	Version     string `json:"version"`
	Name        string `json:"name"`
	Description string `json:"description"`
}

func (s *service) health(c *fiber.Ctx) error {
	return c.JSON(healthBody{
		Version:     "madbase",
		Name:        "GoTrue",
		Description: "GoTrue is a user registration and authentication API",
	})
}

// settingsBody is GET /auth/v1/settings (GoTrue's shape): which providers
// are on and how sign-ups behave.
type settingsBody struct {
	External          map[string]bool `json:"external"`
	DisableSignup     bool            `json:"disable_signup"`
	MailerAutoconfirm bool            `json:"mailer_autoconfirm"`
	PhoneAutoconfirm  bool            `json:"phone_autoconfirm"`
	SMSProvider       string          `json:"sms_provider"`
	SAMLEnabled       bool            `json:"saml_enabled"`
}

// oauthProviders are listed (all off) so dashboards find every key.
var oauthProviders = []string{"apple", "azure", "bitbucket", "discord", "facebook", "figma", "fly", "github",
	"gitlab", "google", "keycloak", "kakao", "linkedin", "linkedin_oidc", "notion", "spotify", "slack",
	"slack_oidc", "workos", "twitch", "twitter", "x", "zoom"}

func (s *service) settings(c *fiber.Ctx) error {
	ext := map[string]bool{
		"email":           s.cfg.emailEnabled,
		"phone":           false,
		"anonymous_users": s.cfg.anonymous,
		"saml":            false,
		"web3_ethereum":   false,
		"web3_solana":     false,
	}
	for _, p := range oauthProviders {
		ext[p] = false
	}
	for name, p := range s.cfg.external {
		ext[name] = p.cfg.Enabled
	}
	return c.JSON(settingsBody{
		External:          ext,
		DisableSignup:     s.cfg.disableSignup,
		MailerAutoconfirm: s.cfg.autoconfirm,
		PhoneAutoconfirm:  false,
		SMSProvider:       "",
		SAMLEnabled:       false,
	})
}

// jwks lists the public keys that verify access tokens (JWT_KEYS' RS256 and
// ES256 keys, public members only); HS256 secrets are never listed, so a
// project on JWT_SECRET alone answers an empty set.
func (s *service) jwks(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "public, max-age=600")
	keys := []map[string]any{}
	if ks := s.keys.KeySet(); ks != nil {
		keys = ks.PublicJWKS()
	}
	return c.JSON(fiber.Map{"keys": keys})
}
