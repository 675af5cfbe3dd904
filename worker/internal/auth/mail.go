package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/shared/config"
	"github.com/nats-io/nats.go"
	gomail "github.com/wneessen/go-mail"
)

// Mail kinds (the verify "type" their link carries).
const (
	mailSignup             = "signup"
	mailInvite             = "invite"
	mailMagicLink          = "magiclink"
	mailRecovery           = "recovery"
	mailEmailChangeCurrent = "email_change_current"
	mailEmailChangeNew     = "email_change_new"
	mailReauthentication   = "reauthentication"
)

// Mail is one message the auth API sends.
type Mail struct {
	To         string
	Subject    string
	Type       string
	Link       string
	OTP        string
	TokenHash  string
	RedirectTo string
	HTML       string
}

// Mailer delivers auth mails.
type Mailer interface {
	Send(ctx context.Context, m Mail) error
}

// errNoMailer is what sending fails with outside dev when no SMTP server
// is configured.
var errNoMailer = errors.New("no mail server configured: set SMTP_HOST (or AUTH_AUTOCONFIRM=true to sign up without confirmation mails)")

// newMailer picks how mail goes out: SMTP when SMTP_HOST is set; in dev
// without it, the dev outbox (NATS to control; the log only notes each
// mail); otherwise nowhere (flows that need a mail fail, once-warned at
// start).
func newMailer(a config.Auth, dev bool, nc *nats.Conn, log *slog.Logger) Mailer {
	switch {
	case a.SMTPHost != "":
		return &smtpMailer{cfg: a}
	case dev:
		return &outboxMailer{nc: nc, log: log}
	}
	log.Warn("no SMTP server configured (SMTP_HOST): confirmation, magic link, recovery and invite mails cannot be sent")
	return noMailer{}
}

type noMailer struct{}

func (noMailer) Send(context.Context, Mail) error { return errNoMailer }

// outboxMailer is the dev outbox: each mail is published for control,
// which keeps it and serves it at GET /admin/v1/outbox. The log says only
// that a mail is waiting there: its link, code and token hash sign the
// user in, and logs are read by more people than the outbox is.
type outboxMailer struct {
	nc  *nats.Conn
	log *slog.Logger
}

func (o *outboxMailer) Send(_ context.Context, m Mail) error {
	o.log.Info("dev outbox: mail not sent (no SMTP_HOST); read it at /admin/v1/outbox",
		"to", m.To, "type", m.Type, "subject", m.Subject)
	if o.nc == nil {
		return nil
	}
	b, err := json.Marshal(bus.OutboxMail{
		To: m.To, Subject: m.Subject, Type: m.Type, Link: m.Link, OTP: m.OTP, TokenHash: m.TokenHash,
		RedirectTo: m.RedirectTo, HTML: m.HTML, CreatedAt: time.Now().UTC(),
	})
	if err != nil {
		return err
	}
	if err := o.nc.Publish(bus.MailOutbox, b); err != nil {
		o.log.Warn("dev outbox: publishing the mail failed", "error", err.Error())
	}
	return nil
}

// smtpMailer sends over SMTP, one connection per mail.
type smtpMailer struct {
	cfg config.Auth
}

func (s *smtpMailer) Send(ctx context.Context, m Mail) error {
	opts := []gomail.Option{gomail.WithPort(s.cfg.SMTPPort), gomail.WithTimeout(10 * time.Second)}
	if s.cfg.SMTPPort == 465 {
		opts = append(opts, gomail.WithSSL())
	} else {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if s.cfg.SMTPUser != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.cfg.SMTPUser), gomail.WithPassword(s.cfg.SMTPPass))
	}
	c, err := gomail.NewClient(s.cfg.SMTPHost, opts...)
	if err != nil {
		return err
	}
	msg := gomail.NewMsg()
	if err := msg.FromFormat(s.cfg.SMTPSenderName, s.cfg.SMTPAdminEmail); err != nil {
		return err
	}
	if err := msg.To(m.To); err != nil {
		return err
	}
	msg.Subject(m.Subject)
	msg.SetBodyString(gomail.TypeTextHTML, m.HTML)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return c.DialAndSendWithContext(ctx, msg)
}

// mailTemplates are GoTrue's default templates.
var mailTemplates = map[string]struct{ subject, body string }{
	mailSignup: {"Confirm Your Signup", `<h2>Confirm your signup</h2>
<p>Follow this link to confirm your user:</p>
<p><a href="{{.Link}}">Confirm your mail</a></p>
<p>Alternatively, enter the code: {{.OTP}}</p>`},
	mailInvite: {"You have been invited", `<h2>You have been invited</h2>
<p>You have been invited to create a user on {{.SiteURL}}. Follow this link to accept the invite:</p>
<p><a href="{{.Link}}">Accept the invite</a></p>
<p>Alternatively, enter the code: {{.OTP}}</p>`},
	mailMagicLink: {"Your Magic Link", `<h2>Magic Link</h2>
<p>Follow this link to login:</p>
<p><a href="{{.Link}}">Log In</a></p>
<p>Alternatively, enter the code: {{.OTP}}</p>`},
	mailRecovery: {"Reset Your Password", `<h2>Reset Password</h2>
<p>Follow this link to reset the password for your user:</p>
<p><a href="{{.Link}}">Reset Password</a></p>
<p>Alternatively, enter the code: {{.OTP}}</p>`},
	mailEmailChangeCurrent: {"Confirm Email Change", `<h2>Confirm Change of Email</h2>
<p>Follow this link to confirm the update of your email from {{.Email}} to {{.NewEmail}}:</p>
<p><a href="{{.Link}}">Change Email</a></p>
<p>Alternatively, enter the code: {{.OTP}}</p>`},
	mailEmailChangeNew: {"Confirm Email Change", `<h2>Confirm Change of Email</h2>
<p>Follow this link to confirm the update of your email from {{.Email}} to {{.NewEmail}}:</p>
<p><a href="{{.Link}}">Change Email</a></p>
<p>Alternatively, enter the code: {{.OTP}}</p>`},
	mailReauthentication: {"Confirm reauthentication", `<h2>Confirm reauthentication</h2>
<p>Enter the code: {{.OTP}}</p>`},
}

var (
	parsedTemplatesOnce sync.Once
	parsedTemplates     map[string]*template.Template
)

type mailData struct {
	Link, OTP, TokenHash, SiteURL, Email, NewEmail, RedirectTo string
}

// renderMail fills the template of kind.
func renderMail(kind string, d mailData) (subject, html string, err error) {
	parsedTemplatesOnce.Do(func() {
		parsedTemplates = map[string]*template.Template{}
		for k, t := range mailTemplates {
			parsedTemplates[k] = template.Must(template.New(k).Parse(t.body))
		}
	})
	t, ok := parsedTemplates[kind]
	if !ok {
		return "", "", fmt.Errorf("no mail template %q", kind)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return "", "", err
	}
	return mailTemplates[kind].subject, b.String(), nil
}

// verifyLink is the link an email carries: GET /auth/v1/verify with the
// hashed token, the type and where to go afterwards, in GoTrue's order
// (token first; url.Values would sort redirect_to before it).
func verifyLink(base, token, typ, redirect string) string {
	link := base + "/auth/v1/verify?token=" + url.QueryEscape(token) + "&type=" + url.QueryEscape(typ)
	if redirect != "" {
		link += "&redirect_to=" + url.QueryEscape(redirect)
	}
	return link
}

// sendMail renders and sends one mail of kind, within the project-wide
// mail budget. failMsg names the mail in the 500 a failed send becomes.
func (s *service) sendMail(ctx context.Context, kind, to string, d mailData) error {
	if !s.limits.allow(ctx, "email_sent", "project", s.cfg.rateEmailSent) {
		return tooManyRequests(CodeOverEmailSendRateLimit, "email rate limit exceeded")
	}
	d.SiteURL = s.cfg.siteURL
	subject, html, err := renderMail(kind, d)
	if err != nil {
		return internalError("Error sending email", err)
	}
	m := Mail{To: to, Subject: subject, Type: kind, Link: d.Link, OTP: d.OTP, TokenHash: d.TokenHash, RedirectTo: d.RedirectTo, HTML: html}
	if err := s.mailer.Send(ctx, m); err != nil {
		// The cause is kept as text: a mail server that cannot be reached
		// must not read as a database that cannot be (toError's 503).
		return internalError(fmt.Sprintf("Error sending %s email", mailNoun(kind)), fmt.Errorf("sending mail: %s", err))
	}
	return nil
}

func mailNoun(kind string) string {
	switch kind {
	case mailSignup:
		return "confirmation"
	case mailMagicLink:
		return "magic link"
	case mailEmailChangeCurrent, mailEmailChangeNew:
		return "email change"
	}
	return kind
}

// tooSoon reports the mail frequency limit: a mail of one kind to one user
// at most every AUTH_MAIL_MIN_INTERVAL.
func (s *service) tooSoon(sentAt *time.Time) error {
	if sentAt == nil || s.cfg.mailMinInterval <= 0 {
		return nil
	}
	next := sentAt.Add(s.cfg.mailMinInterval)
	now := s.now()
	if now.Before(next) {
		left := int(next.Sub(now)/time.Second) + 1
		return tooManyRequests(CodeOverEmailSendRateLimit, "For security purposes, you can only request this after %d seconds.", left)
	}
	return nil
}
