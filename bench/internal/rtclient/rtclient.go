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

// DecodeFrame reads a text frame's event and payload, every field decoded.
func DecodeFrame(vsn string, data []byte) (string, json.RawMessage, error) {
	var joinRef, ref *string
	var topic, event string
	if vsn == "1.0.0" {
		var f struct {
			JoinRef *string         `json:"join_ref"`
			Ref     *string         `json:"ref"`
			Topic   string          `json:"topic"`
			Event   string          `json:"event"`
			Payload json.RawMessage `json:"payload"`
		}
		err := json.Unmarshal(data, &f)
		return f.Event, f.Payload, err
	}
	var f [5]json.RawMessage
	if err := json.Unmarshal(data, &f); err != nil {
		return "", nil, err
	}
	for i, dst := range []any{&joinRef, &ref, &topic, &event} {
		if err := json.Unmarshal(f[i], dst); err != nil {
			return "", nil, err
		}
	}
	return event, f[4], nil
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
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			c.Close()
			return nil, err
		}
		event, payload, err := DecodeFrame(vsn, data)
		if err != nil || event != "phx_reply" {
			continue
		}
		var r struct {
			Status string `json:"status"`
		}
		if json.Unmarshal(payload, &r) != nil || r.Status != "ok" {
			c.Close()
			return nil, fmt.Errorf("join refused: %s", data)
		}
		_ = c.SetReadDeadline(time.Time{})
		return c, nil
	}
}
