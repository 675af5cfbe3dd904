package auth

import (
	"net/http"

	"github.com/gofiber/fiber/v2"
)

// Features MadBase does not have answer as a GoTrue with them turned off
// does, so auth-js reports them by their codes: SAML single sign-on
// (signInWithSSO) and Web3 wallets (signInWithWeb3).

var (
	errSAMLDisabled = newError(http.StatusNotFound, CodeSAMLProviderDisabled, "SAML 2.0 is disabled")
	errWeb3Disabled = unprocessable(CodeWeb3ProviderDisabled, "Web3 provider is disabled")
)

// samlDisabled answers /sso and /sso/saml/*.
func (s *service) samlDisabled(*fiber.Ctx) error { return errSAMLDisabled }
