// Package rtclient is the benches' realtime client: a socket joined to a
// channel as supabase-js joins one, and frames decoded in either protocol
// version.
package rtclient

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/valyala/fastjson"
)

// URL is the realtime WebSocket address behind the edge at host
// (host:port), for protocol version vsn, with an anon key signed by
// jwtSecret, as supabase-js connects.
func URL(host, vsn, jwtSecret string) (string, error) {
	key, err := jwtauth.Sign([]byte(jwtSecret), jwt.MapClaims{"iss": jwtauth.Issuer, "role": "anon", "exp": time.Now().Add(24 * time.Hour).Unix()})
	if err != nil {
		return "", err
	}
	return "ws://" + host + "/realtime/v1/websocket?vsn=" + vsn + "&apikey=" + key, nil
}

// Parser reads text frames in either protocol version, each parsed whole
// in one validating pass, as supabase-js's JSON.parse does, and about as
// cheaply: the subscribers share the machine's cores with what they
// measure. The zero value is ready; one Parser is not for concurrent use,
// and what Parse returns is valid until its next call.
type Parser struct{ p fastjson.Parser }

// Parse returns a text frame's event and payload.
func (p *Parser) Parse(vsn string, data []byte) (event string, payload *fastjson.Value, err error) {
	v, err := p.p.ParseBytes(data)
	if err != nil {
		return "", nil, err
	}
	if vsn == "1.0.0" {
		return string(v.GetStringBytes("event")), v.Get("payload"), nil
	}
	if a, err := v.Array(); err != nil || len(a) != 5 {
		return "", nil, fmt.Errorf("frame is not a 5-element array: %.80s", data)
	}
	return string(v.GetStringBytes("3")), v.Get("4"), nil
}

// Join opens a socket at wsURL (whose vsn parameter is vsn) and joins topic
// as supabase-js does, with join ref ref, waiting for the join's ok.
func Join(ctx context.Context, d *websocket.Dialer, wsURL, vsn, topic, ref string) (*websocket.Conn, error) {
	c, res, err := d.DialContext(ctx, wsURL, nil)
	if err != nil {
		if res != nil && res.Body != nil {
			res.Body.Close()
			return nil, fmt.Errorf("%w: %s", err, res.Status)
		}
		return nil, err
	}
	payload := map[string]any{"config": map[string]any{
		"broadcast": map[string]any{"self": false, "ack": false}, "presence": map[string]any{"key": "", "enabled": false},
		"postgres_changes": []any{}, "private": false,
	}}
	var msg []byte
	if vsn == "1.0.0" {
		msg, _ = json.Marshal(map[string]any{"topic": topic, "event": "phx_join", "ref": ref, "join_ref": ref, "payload": payload})
	} else {
		msg, _ = json.Marshal([]any{ref, ref, topic, "phx_join", payload})
	}
	if err := c.WriteMessage(websocket.TextMessage, msg); err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var p Parser
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			c.Close()
			return nil, err
		}
		event, payload, err := p.Parse(vsn, data)
		if err != nil || event != "phx_reply" {
			continue
		}
		if string(payload.GetStringBytes("status")) != "ok" {
			c.Close()
			return nil, fmt.Errorf("join refused: %s", data)
		}
		_ = c.SetReadDeadline(time.Time{})
		return c, nil
	}
}
