package realtime

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/shared/db"
	"github.com/madbase/madbase/worker/internal/apikey"
)

// httpClaims authenticates an HTTP broadcast: Authorization bearer first,
// else the apikey header.
func (s *Service) httpClaims(c *fiber.Ctx) (db.Claims, bool) {
	key, auth := apikey.FromRequest(c)
	tok := ""
	if len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
		tok = strings.TrimSpace(auth[7:])
	}
	if tok == "" {
		tok = key
	}
	res, err := s.resolveToken(tok)
	if err != nil {
		return nil, false
	}
	return res.Claims, true
}

// httpBroadcast serves POST /api/broadcast (batch, 202).
func (s *Service) httpBroadcast(c *fiber.Ctx) error {
	claims, ok := s.httpClaims(c)
	if !ok {
		return errUnauthorized()
	}
	if len(c.Body()) > s.cfg.RealtimeMaxMessageBytes {
		return errTooLarge()
	}
	var body struct {
		Messages []struct {
			Topic   *string         `json:"topic"`
			Event   *string         `json:"event"`
			Payload json.RawMessage `json:"payload"`
			Private flexBool        `json:"private"`
			ID      *string         `json:"id"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(c.Body(), &body); err != nil || body.Messages == nil {
		return errInvalidBody("body must be {\"messages\": [...]}")
	}
	out := make([]bus.RealtimeBroadcast, 0, len(body.Messages))
	for i, m := range body.Messages {
		if m.Topic == nil || *m.Topic == "" || m.Event == nil || *m.Event == "" {
			return errInvalidBody("messages[" + itoa(i) + "]: topic and event are required")
		}
		p := bytes.TrimSpace(m.Payload)
		if len(p) == 0 {
			p = []byte("{}")
		}
		b := bus.RealtimeBroadcast{Origin: s.worker, Topic: strings.TrimPrefix(*m.Topic, "realtime:"),
			Event: *m.Event, Payload: append(json.RawMessage(nil), p...), Private: bool(m.Private)}
		if m.ID != nil && *m.ID != "" {
			if _, err := uuid.Parse(*m.ID); err != nil {
				return errInvalidBody("messages[" + itoa(i) + "]: id must be a UUID")
			}
			b.ID = *m.ID
		}
		out = append(out, b)
	}
	return s.sendAll(c, claims, out)
}

// httpSend serves POST /api/broadcast/{topic}/events/{event} (one message).
func (s *Service) httpSend(c *fiber.Ctx) error {
	claims, ok := s.httpClaims(c)
	if !ok {
		return errUnauthorized()
	}
	topic, err1 := url.PathUnescape(c.Params("topic"))
	event, err2 := url.PathUnescape(c.Params("event"))
	if err1 != nil || err2 != nil || topic == "" || event == "" {
		return errInvalidBody("topic and event are required")
	}
	if len(c.Body()) > s.cfg.RealtimeMaxMessageBytes {
		return errTooLarge()
	}
	b := bus.RealtimeBroadcast{Origin: s.worker, Topic: strings.TrimPrefix(topic, "realtime:"), Event: event,
		Private: c.Query("private") == "true"}
	ct := strings.ToLower(string(c.Request().Header.ContentType()))
	body := append([]byte(nil), c.Body()...)
	switch {
	case strings.HasPrefix(ct, "application/json"):
		if len(bytes.TrimSpace(body)) == 0 {
			body = []byte("null")
		}
		if !json.Valid(body) {
			return errInvalidBody("the body is not valid JSON")
		}
		b.Payload = body
	case strings.HasPrefix(ct, "application/octet-stream"):
		b.Raw, b.IsRaw = body, true
	default:
		return errMediaType()
	}
	return s.sendAll(c, claims, []bus.RealtimeBroadcast{b})
}

// sendAll publishes messages the caller may write (private ones are checked
// against realtime.messages policies and skipped when denied, or when a
// policy fails) and answers 202. Nothing is sent while the database that
// holds the policies cannot be reached: the answer is a 503 to retry.
func (s *Service) sendAll(c *fiber.Ctx, claims db.Claims, msgs []bus.RealtimeBroadcast) error {
	allowed := make([]bus.RealtimeBroadcast, 0, len(msgs))
	for _, b := range msgs {
		if b.Private && claims.Role() != db.RoleServiceRole {
			pr, err := s.authorize(s.base, b.Topic, claims)
			if db.Unreachable(err) {
				return err
			}
			if err != nil || !pr.writeBroadcast {
				continue
			}
		}
		allowed = append(allowed, b)
	}
	for _, b := range allowed {
		if err := s.publishBroadcast(b, nil); err != nil {
			return errBroadcast(err)
		}
	}
	// 202 with an empty body (docs/api/realtime.md §5).
	c.Status(fiber.StatusAccepted)
	return nil
}
