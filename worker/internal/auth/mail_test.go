package auth

import (
	"bufio"
	"context"
	"encoding/json"
	"github.com/madbase/madbase/shared/apitest"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/madbase/madbase/shared/config"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOutboxMailerPublishes(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t)
	pub := bustest.Connect(t, srv)
	sub := bustest.Connect(t, srv)
	got := make(chan *nats.Msg, 4)
	_, err := sub.ChanSubscribe(bus.MailOutbox, got)
	require.NoError(t, err)
	require.NoError(t, sub.Flush())

	var out strings.Builder
	var mu sync.Mutex
	log := testLoggerTo(&lockedWriter{w: &out, mu: &mu})
	m := newMailer(config.Auth{}, true, pub, log)
	require.IsType(t, &outboxMailer{}, m)
	require.NoError(t, m.Send(context.Background(), Mail{To: "a@example.com", Subject: "Reset Your Password", Type: mailRecovery,
		Link: "http://x/auth/v1/verify?token=abc&type=recovery", OTP: "123456", TokenHash: "abc"}))
	select {
	case msg := <-got:
		var om bus.OutboxMail
		require.NoError(t, json.Unmarshal(msg.Data, &om))
		assert.Equal(t, "a@example.com", om.To)
		assert.Equal(t, "recovery", om.Type)
		assert.Equal(t, "123456", om.OTP)
		assert.False(t, om.CreatedAt.IsZero())
	case <-time.After(5 * time.Second):
		t.Fatal("no outbox message on NATS")
	}
	mu.Lock()
	defer mu.Unlock()
	logged := out.String()
	assert.Contains(t, logged, "/admin/v1/outbox", "the log points at the outbox")
	assert.Contains(t, logged, "a@example.com")
	for _, secret := range []string{"123456", "token=abc", "verify?", "abc&"} {
		assert.NotContains(t, logged, secret, "codes, links and tokens stay out of the logs")
	}
}

// TestMailFlowsLogNoCredentials runs the flows that mail a code or a link
// through the dev outbox with every log record kept: none may carry the
// code, the link's token or the password.
func TestMailFlowsLogNoCredentials(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &out, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	outbox := newMailer(config.Auth{}, true, nil, log)
	kept := &keepingMailer{next: outbox}
	e := newEnvLogged(t, log, kept)
	svc := bearer(e.api.Service)
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "signup", Method: "POST", URL: "/signup", Body: map[string]any{"email": "logs@example.com", "password": "secret-pass-123"}, WantStatus: 200},
		{Name: "magic link", Method: "POST", URL: "/otp", Body: map[string]any{"email": "magic@example.com"}, WantStatus: 200},
		{Name: "a user to recover", Method: "POST", URL: "/admin/users", Headers: svc,
			Body: map[string]any{"email": "rec@example.com", "password": "secret-pass-456", "email_confirm": true}, WantStatus: 200},
		{Name: "recovery", Method: "POST", URL: "/recover", Body: map[string]any{"email": "rec@example.com"}, WantStatus: 200},
		{Name: "invite", Method: "POST", URL: "/invite", Headers: svc, Body: map[string]any{"email": "inv@example.com"}, WantStatus: 200},
		// A failing link logs its failure, not its token.
		{Name: "failing link", URL: "/verify?type=signup&token=0123456789abcdef0123456789abcdef", WantStatus: 303},
	})

	mails := kept.all()
	require.Len(t, mails, 4)
	mu.Lock()
	defer mu.Unlock()
	logged := out.String()
	require.Contains(t, logged, "dev outbox", "the mails went through the outbox's log")
	for _, m := range mails {
		require.NotEmpty(t, m.OTP)
		require.NotEmpty(t, m.TokenHash)
		assert.NotContains(t, logged, m.OTP, "the code of the %s mail", m.Type)
		assert.NotContains(t, logged, m.TokenHash, "the token of the %s mail", m.Type)
		assert.NotContains(t, logged, m.Link, "the link of the %s mail", m.Type)
	}
	for _, secret := range []string{"secret-pass-123", "secret-pass-456", "0123456789abcdef0123456789abcdef"} {
		assert.NotContains(t, logged, secret)
	}
}

// keepingMailer keeps every mail it passes on to next.
type keepingMailer struct {
	next  Mailer
	mu    sync.Mutex
	mails []Mail
}

func (k *keepingMailer) Send(ctx context.Context, m Mail) error {
	k.mu.Lock()
	k.mails = append(k.mails, m)
	k.mu.Unlock()
	return k.next.Send(ctx, m)
}

func (k *keepingMailer) all() []Mail {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]Mail(nil), k.mails...)
}

func TestNoMailerOutsideDev(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	var mu sync.Mutex
	m := newMailer(config.Auth{}, false, nil, testLoggerTo(&lockedWriter{w: &out, mu: &mu}))
	assert.ErrorIs(t, m.Send(context.Background(), Mail{To: "x@example.com"}), errNoMailer)
	mu.Lock()
	assert.Contains(t, out.String(), "SMTP_HOST")
	mu.Unlock()

	// Outside dev without SMTP: autoconfirmed sign-ups work, mail flows fail
	// with a 500 that says nothing about the configuration.
	e := newEnv(t, false, map[string]string{"AUTH_AUTOCONFIRM": "true"})
	e2 := newEnvNoMailer(t, e)
	e2.signUp(t, "nomail@example.com", "secret-123")
	apitest.Run(t, e2.api, []apitest.Scenario{
		{Name: "recovery without a mailer", Method: "POST", URL: "/recover", Body: map[string]any{"email": "nomail@example.com"},
			WantStatus: 500, WantFields: errCode("unexpected_failure"), WantNotContains: []string{"SMTP"}},
	})
}

// smtpServer is a minimal SMTP server that keeps the messages it receives.
type smtpServer struct {
	addr string
	mu   sync.Mutex
	msgs []string
	from []string
	rcpt []string
}

func startSMTP(t *testing.T) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	s := &smtpServer{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	w := func(line string) { _, _ = c.Write([]byte(line + "\r\n")) }
	w("220 test ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			w("250-test")
			w("250 8BITMIME")
		case strings.HasPrefix(cmd, "MAIL FROM"):
			s.mu.Lock()
			s.from = append(s.from, strings.TrimSpace(line))
			s.mu.Unlock()
			w("250 OK")
		case strings.HasPrefix(cmd, "RCPT TO"):
			s.mu.Lock()
			s.rcpt = append(s.rcpt, strings.TrimSpace(line))
			s.mu.Unlock()
			w("250 OK")
		case cmd == "DATA":
			w("354 go ahead")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, b.String())
			s.mu.Unlock()
			w("250 queued")
		case cmd == "QUIT":
			w("221 bye")
			return
		default:
			w("250 OK")
		}
	}
}

func TestSMTPMailer(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t)
	host, port, _ := net.SplitHostPort(srv.addr)
	e := newEnvWithMailer(t, false, map[string]string{
		"SMTP_HOST": host, "SMTP_PORT": port, "SMTP_ADMIN_EMAIL": "auth@madbase.test", "SMTP_SENDER_NAME": "Test App",
		"API_EXTERNAL_URL": "https://api.madbase.test",
	}, nil)
	r := e.api.Do(t, apitest.Request{Method: "POST", URL: "/signup", Body: map[string]any{"email": "smtp@example.com", "password": "secret-123"}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	srv.mu.Lock()
	defer srv.mu.Unlock()
	require.Len(t, srv.msgs, 1)
	msg := srv.msgs[0]
	assert.Contains(t, msg, "Subject: Confirm Your Signup")
	assert.Contains(t, msg, "auth@madbase.test")
	assert.Contains(t, srv.rcpt[0], "smtp@example.com")
	assert.Contains(t, msg, "Test App")
	assert.Contains(t, msg, "https://api.madbase.test/auth/v1/verify?", "links use API_EXTERNAL_URL, never the request's host")
}
