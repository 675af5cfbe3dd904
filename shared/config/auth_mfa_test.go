package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseTestOTP(t *testing.T) {
	got, err := ParseTestOTP(" +1 555-000-1111:123456, 4915550002222:000111 ,")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"15550001111": "123456", "4915550002222": "000111"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"15550001111", "15550001111:", ":123456", "1555abc:123456", "15550001111:12a456"} {
		if _, err := ParseTestOTP(bad); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

func TestValidateMFA(t *testing.T) {
	a := Auth{MFAMaxFactors: 0, MFAChallengeExp: 0, MFAMaxFailed: -1, SMSTestOTP: "x", SMSTwilioAccountSID: "AC1"}
	err := a.validateMFA()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, name := range []string{"AUTH_MFA_MAX_ENROLLED_FACTORS", "AUTH_MFA_CHALLENGE_EXPIRY", "AUTH_MFA_MAX_FAILED_VERIFICATIONS",
		"AUTH_SMS_TEST_OTP", "AUTH_SMS_TWILIO_AUTH_TOKEN"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
	ok := Auth{MFAMaxFactors: 10, MFAChallengeExp: 1, SMSTestOTP: "15550001111:123456",
		SMSTwilioAccountSID: "AC1", SMSTwilioAuthToken: "t", SMSTwilioMessagingSID: "MG1"}
	if err := ok.validateMFA(); err != nil {
		t.Fatal(err)
	}
}
