package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mail(t *testing.T, to string, i int) []byte {
	t.Helper()
	b, err := json.Marshal(bus.OutboxMail{To: to, Subject: fmt.Sprint("s", i), Type: "recovery", OTP: fmt.Sprint(i), CreatedAt: time.Unix(int64(i), 0)})
	require.NoError(t, err)
	return b
}

func TestOutboxKeepsTheNewestNewestFirst(t *testing.T) {
	t.Parallel()
	o := New(3)
	for i := 1; i <= 5; i++ {
		to := "a@example.com"
		if i%2 == 0 {
			to = "B@example.com"
		}
		require.NoError(t, o.Add(mail(t, to, i)))
	}
	var otps []string
	for _, m := range o.List("", 0) {
		otps = append(otps, m.OTP)
	}
	assert.Equal(t, []string{"5", "4", "3"}, otps, "bounded to 3, newest first")
	b := o.List("b@EXAMPLE.com", 0)
	require.Len(t, b, 1)
	assert.Equal(t, "4", b[0].OTP)
	assert.Len(t, o.List("", 2), 2)
	assert.Empty(t, o.List("nobody@example.com", 0))
}

func TestOutboxRefusesBadMessages(t *testing.T) {
	t.Parallel()
	o := New(0)
	for _, bad := range []string{"", "nope", "[]", `{"subject":"no recipient"}`, `{"to": 5}`} {
		assert.Error(t, o.Add([]byte(bad)), bad)
	}
	assert.Empty(t, o.List("", 0))
}

func TestOutboxFromNATS(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t)
	o := New(10)
	sub := bustest.Connect(t, srv)
	require.NoError(t, o.Subscribe(sub))
	require.NoError(t, sub.Flush())
	pub := bustest.Connect(t, srv)
	require.NoError(t, pub.Publish(bus.MailOutbox, mail(t, "x@example.com", 7)))
	require.NoError(t, pub.Flush())
	bustest.Eventually(t, 5*time.Second, func() bool { return len(o.List("x@example.com", 0)) == 1 }, "mail not received")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.NoError(t, o.Run(ctx))
}
