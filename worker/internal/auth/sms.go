package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// SMSSender delivers a text message to a phone number (digits, no '+').
// Implementations must not log the body: it carries a one-time code.
type SMSSender interface {
	SendSMS(ctx context.Context, phone, body string) error
}

// twilioAPI is Twilio's REST API base URL.
const twilioAPI = "https://api.twilio.com"

// twilioSender sends SMS through Twilio's Messages API:
// POST {base}/2010-04-01/Accounts/{sid}/Messages.json, basic auth with the
// account SID and auth token, form fields To, Body and MessagingServiceSid
// (a messaging service, "MG…") or From (a sender number).
type twilioSender struct {
	base      string
	accountID string
	token     string
	from      string
	client    *http.Client
}

func newTwilioSender(base, accountID, token, from string) *twilioSender {
	if base == "" {
		base = twilioAPI
	}
	return &twilioSender{
		base: strings.TrimRight(base, "/"), accountID: accountID, token: token, from: from,
		client: &http.Client{Timeout: 10 * time.Second},
	}
}

// twilioReply is the part of Twilio's message or error resource read here.
type twilioReply struct {
	SID          string `json:"sid"`
	Status       string `json:"status"`
	ErrorCode    *int   `json:"error_code"`
	ErrorMessage string `json:"error_message"`
	Code         int    `json:"code"`    // error resource
	Message      string `json:"message"` // error resource
}

func (t *twilioSender) SendSMS(ctx context.Context, phone, body string) error {
	form := url.Values{"To": {"+" + strings.TrimPrefix(phone, "+")}, "Body": {body}}
	if strings.HasPrefix(t.from, "MG") {
		form.Set("MessagingServiceSid", t.from)
	} else {
		form.Set("From", t.from)
	}
	endpoint := t.base + "/2010-04-01/Accounts/" + url.PathEscape(t.accountID) + "/Messages.json"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.SetBasicAuth(t.accountID, t.token)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	res, err := t.client.Do(req)
	if err != nil {
		return fmt.Errorf("twilio: %w", err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("twilio: reading the reply: %w", err)
	}
	var r twilioReply
	_ = json.Unmarshal(raw, &r)
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("twilio: status %d: code %d: %s", res.StatusCode, r.Code, r.Message)
	}
	if r.ErrorCode != nil || r.Status == "failed" || r.Status == "undelivered" {
		code := 0
		if r.ErrorCode != nil {
			code = *r.ErrorCode
		}
		return fmt.Errorf("twilio: message %s %s: code %d: %s", r.SID, r.Status, code, r.ErrorMessage)
	}
	return nil
}

// errNoSMSProvider is returned when a phone factor needs an SMS and no
// provider is configured.
var errNoSMSProvider = errors.New("no SMS provider configured (AUTH_SMS_TWILIO_*)")
