package config

import (
	"errors"
	"fmt"
	"strings"
)

// ParseTestOTP reads AUTH_SMS_TEST_OTP: phone:code pairs separated by
// commas. Phones are kept as written less a leading '+', spaces and dashes.
func ParseTestOTP(s string) (map[string]string, error) {
	m := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		phone, code, ok := strings.Cut(pair, ":")
		phone = strings.NewReplacer("+", "", " ", "", "-", "").Replace(strings.TrimSpace(phone))
		code = strings.TrimSpace(code)
		if !ok || phone == "" || code == "" || strings.Trim(phone, "0123456789") != "" || strings.Trim(code, "0123456789") != "" {
			return nil, fmt.Errorf("not phone:code with digits only: %q", pair)
		}
		m[phone] = code
	}
	return m, nil
}

// validateMFA checks the MFA and SMS settings.
func (a *Auth) validateMFA() error {
	var errs []error
	if a.MFAMaxFactors < 1 {
		errs = append(errs, fmt.Errorf("AUTH_MFA_MAX_ENROLLED_FACTORS: must be at least 1, not %d", a.MFAMaxFactors))
	}
	if a.MFAChallengeExp <= 0 {
		errs = append(errs, errors.New("AUTH_MFA_CHALLENGE_EXPIRY: must be positive"))
	}
	if a.MFAMaxFailed < 0 {
		errs = append(errs, errors.New("AUTH_MFA_MAX_FAILED_VERIFICATIONS: must not be negative"))
	}
	if a.MFAFailedLockout < 0 || a.MFAPhoneMaxFrequency < 0 {
		errs = append(errs, errors.New("AUTH_MFA_FAILED_VERIFICATION_LOCKOUT, AUTH_MFA_PHONE_MAX_FREQUENCY: must not be negative"))
	}
	if _, err := ParseTestOTP(a.SMSTestOTP); err != nil {
		errs = append(errs, fmt.Errorf("AUTH_SMS_TEST_OTP: %w", err))
	}
	if a.SMSTwilioAccountSID != "" && (a.SMSTwilioAuthToken == "" || a.SMSTwilioMessagingSID == "") {
		errs = append(errs, errors.New("AUTH_SMS_TWILIO_AUTH_TOKEN, AUTH_SMS_TWILIO_MESSAGE_SERVICE_SID: required with AUTH_SMS_TWILIO_ACCOUNT_SID"))
	}
	return errors.Join(errs...)
}
