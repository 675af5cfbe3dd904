package realtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Protocol versions (the vsn query parameter).
const (
	vsn1 = "1.0.0"
	vsn2 = "2.0.0"
)

// Binary frame kinds realtime-js knows (docs/api/realtime.md §2).
const (
	kindUserBroadcastPush = 3 // client → server
	kindUserBroadcast     = 4 // server → client
)

// Message is one Phoenix frame. JoinRef and Ref are nil for null.
type Message struct {
	JoinRef *string
	Ref     *string
	Topic   string
	Event   string
	Payload json.RawMessage
	// Binary broadcast (kind 3) fields: the user event, and the payload
	// bytes with their encoding (Raw true for encoding 0).
	BinaryEvent string
	Raw         bool
}

var errBadFrame = errors.New("malformed frame")

// decodeText parses a text frame of the given protocol version.
func decodeText(vsn string, data []byte) (Message, error) {
	var m Message
	if vsn == vsn1 {
		var o struct {
			JoinRef json.RawMessage `json:"join_ref"`
			Ref     json.RawMessage `json:"ref"`
			Topic   string          `json:"topic"`
			Event   string          `json:"event"`
			Payload json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(data, &o); err != nil {
			return m, errBadFrame
		}
		var err1, err2 error
		m.JoinRef, err1 = refOf(o.JoinRef)
		m.Ref, err2 = refOf(o.Ref)
		if err1 != nil || err2 != nil {
			return m, errBadFrame
		}
		m.Topic, m.Event, m.Payload = o.Topic, o.Event, o.Payload
	} else {
		var arr []json.RawMessage
		if err := json.Unmarshal(data, &arr); err != nil || len(arr) != 5 {
			return m, errBadFrame
		}
		var err1, err2 error
		m.JoinRef, err1 = refOf(arr[0])
		m.Ref, err2 = refOf(arr[1])
		if err1 != nil || err2 != nil {
			return m, errBadFrame
		}
		if json.Unmarshal(arr[2], &m.Topic) != nil || json.Unmarshal(arr[3], &m.Event) != nil {
			return m, errBadFrame
		}
		m.Payload = arr[4]
	}
	if m.Topic == "" || m.Event == "" {
		return m, errBadFrame
	}
	if len(bytes.TrimSpace(m.Payload)) == 0 || string(bytes.TrimSpace(m.Payload)) == "null" {
		m.Payload = json.RawMessage("{}")
	}
	return m, nil
}

// refOf reads a ref: a string, a number (lenient) or null.
func refOf(raw json.RawMessage) (*string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return &s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		s = n.String()
		return &s, nil
	}
	return nil, errBadFrame
}

// decodeBinary parses a kind-3 user broadcast push.
func decodeBinary(data []byte) (Message, error) {
	var m Message
	if len(data) < 7 || data[0] != kindUserBroadcastPush {
		return m, errBadFrame
	}
	lens := []int{int(data[1]), int(data[2]), int(data[3]), int(data[4]), int(data[5])}
	enc := data[6]
	if enc > 1 {
		return m, errBadFrame
	}
	pos := 7
	parts := make([]string, 5)
	for i, n := range lens {
		if pos+n > len(data) {
			return m, errBadFrame
		}
		parts[i] = string(data[pos : pos+n])
		pos += n
	}
	if parts[0] != "" {
		m.JoinRef = &parts[0]
	}
	if parts[1] != "" {
		m.Ref = &parts[1]
	}
	m.Topic, m.Event, m.BinaryEvent = parts[2], "broadcast", parts[3]
	if m.Topic == "" {
		return m, errBadFrame
	}
	body := data[pos:]
	if enc == 0 {
		m.Raw = true
		m.Payload = append(json.RawMessage(nil), body...)
	} else {
		if !json.Valid(body) {
			return m, errBadFrame
		}
		m.Payload = append(json.RawMessage(nil), body...)
	}
	return m, nil
}

// encodeText renders a frame for the socket's protocol version.
func encodeText(vsn string, joinRef, ref *string, topic, event string, payload any) ([]byte, error) {
	if vsn == vsn1 {
		return json.Marshal(struct {
			JoinRef *string `json:"join_ref"`
			Ref     *string `json:"ref"`
			Topic   string  `json:"topic"`
			Event   string  `json:"event"`
			Payload any     `json:"payload"`
		}{joinRef, ref, topic, event, payload})
	}
	return json.Marshal([]any{joinRef, ref, topic, event, payload})
}

// encodeUserBroadcast renders a kind-4 frame carrying raw payload bytes
// (encoding 0) or JSON (encoding 1).
func encodeUserBroadcast(topic, event string, payload []byte, raw bool) ([]byte, error) {
	if len(topic) > 255 || len(event) > 255 {
		return nil, fmt.Errorf("topic or event longer than 255 bytes")
	}
	out := make([]byte, 0, 5+len(topic)+len(event)+len(payload))
	enc := byte(1)
	if raw {
		enc = 0
	}
	out = append(out, kindUserBroadcast, byte(len(topic)), byte(len(event)), 0, enc)
	out = append(out, topic...)
	out = append(out, event...)
	return append(out, payload...), nil
}

// strp returns a pointer to s.
func strp(s string) *string { return &s }
