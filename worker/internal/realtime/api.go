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

func unauthorized(c *fiber.Ctx) error {
	return c.Status(fiber.StatusUnauthorized).JSON(fiber.Map{"message": "Unauthorized"})
}

func unprocessable(c *fiber.Ctx, msg string) error {
	return c.Status(fiber.StatusUnprocessableEntity).JSON(fiber.Map{"message": msg, "error": msg})
}

// httpBroadcast serves POST /api/broadcast (batch, 202).
func (s *Service) httpBroadcast(c *fiber.Ctx) error {
	claims, ok := s.httpClaims(c)
	if !ok {
		return unauthorized(c)
	}
	if len(c.Body()) > s.cfg.RealtimeMaxMessageBytes {
		return c.Status(fiber.StatusRequestEntityTooLarge).JSON(fiber.Map{"message": "Payload too large"})
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
		return unprocessable(c, "body must be {\"messages\": [...]}")
	}
	out := make([]bus.RealtimeBroadcast, 0, len(body.Messages))
	for i, m := range body.Messages {
		if m.Topic == nil || *m.Topic == "" || m.Event == nil || *m.Event == "" {
			return unprocessable(c, "messages["+itoa(i)+"]: topic and event are required")
		}
		p := bytes.TrimSpace(m.Payload)
		if len(p) == 0 {
			p = []byte("{}")
		}
		b := bus.RealtimeBroadcast{Origin: s.worker, Topic: strings.TrimPrefix(*m.Topic, "realtime:"),
			Event: *m.Event, Payload: append(json.RawMessage(nil), p...), Private: bool(m.Private)}
		if m.ID != nil && *m.ID != "" {
			if _, err := uuid.Parse(*m.ID); err != nil {
				return unprocessable(c, "messages["+itoa(i)+"]: id must be a UUID")
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
		return unauthorized(c)
	}
	topic, err1 := url.PathUnescape(c.Params("topic"))
	event, err2 := url.PathUnescape(c.Params("event"))
	if err1 != nil || err2 != nil || topic == "" || event == "" {
		return unprocessable(c, "topic and event are required")
	}
	if len(c.Body()) > s.cfg.RealtimeMaxMessageBytes {
		return c.Status(fiber.StatusRequestEntityTooLarge).JSON(fiber.Map{"message": "Payload too large"})
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
			return unprocessable(c, "the body is not valid JSON")
		}
		b.Payload = body
	case strings.HasPrefix(ct, "application/octet-stream"):
		b.Raw, b.IsRaw = body, true
	default:
		return c.Status(fiber.StatusUnsupportedMediaType).JSON(fiber.Map{"message": "Content-Type must be application/json or application/octet-stream"})
	}
	return s.sendAll(c, claims, []bus.RealtimeBroadcast{b})
}

// sendAll publishes messages the caller may write (private ones are checked
// against realtime.messages policies and skipped when denied) and answers 202.
func (s *Service) sendAll(c *fiber.Ctx, claims db.Claims, msgs []bus.RealtimeBroadcast) error {
	for _, b := range msgs {
		if b.Private && claims.Role() != db.RoleServiceRole {
			pr, err := s.authorize(s.base, b.Topic, claims)
			if err != nil || !pr.writeBroadcast {
				continue
			}
		}
		if err := s.publishBroadcast(b); err != nil {
			return c.Status(fiber.StatusInternalServerError).JSON(fiber.Map{"message": "Unable to broadcast"})
		}
	}
	return c.SendStatus(fiber.StatusAccepted)
}
