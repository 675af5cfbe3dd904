package control_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/madbase/madbase/control"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAdminOutbox(t *testing.T) {
	t.Parallel()
	in := start(t, nil, nil, control.Options{Dev: true})

	res, _ := in.get(t, "/admin/v1/outbox", nil)
	assert.Equal(t, 401, res.StatusCode, "the outbox holds credentials: admin only")

	for _, to := range []string{"a@example.com", "b@example.com", "a@example.com"} {
		in.publish(t, bus.MailOutbox, bus.OutboxMail{To: to, Subject: "Reset Your Password", Type: "recovery",
			Link: "http://x/auth/v1/verify?token=t&type=recovery", OTP: "123456", CreatedAt: time.Now()})
	}
	var body struct {
		Messages []bus.OutboxMail `json:"messages"`
	}
	bustest.Eventually(t, 5*time.Second, func() bool {
		res, b := in.get(t, "/admin/v1/outbox?to=A@example.com", admin)
		return res.StatusCode == 200 && json.Unmarshal(b, &body) == nil && len(body.Messages) == 2
	}, "two mails to a@example.com")
	assert.Equal(t, "recovery", body.Messages[0].Type)
	assert.Equal(t, "123456", body.Messages[0].OTP)

	res, b := in.get(t, "/admin/v1/outbox?limit=1", admin)
	require.Equal(t, 200, res.StatusCode)
	require.NoError(t, json.Unmarshal(b, &body))
	assert.Len(t, body.Messages, 1)

	res, _ = in.get(t, "/admin/v1/outbox?limit=x", admin)
	assert.Equal(t, 400, res.StatusCode)
}
