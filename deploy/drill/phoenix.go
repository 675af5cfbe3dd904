package drill

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
)

// Phoenix is a realtime client on one WebSocket, speaking the Phoenix
// channel protocol as realtime-js does (vsn 2.0.0: JSON arrays), keeping
// every frame it receives.
type Phoenix struct {
	Worker string // X-Madbase-Worker of the upgrade answer

	conn   *websocket.Conn
	wmu    sync.Mutex
	mu     sync.Mutex
	frames [][]byte
	ref    int
	closed chan struct{}
}

// DialPhoenix opens /realtime/v1/websocket on base (http://host:port).
func DialPhoenix(ctx context.Context, base, apikey string) (*Phoenix, error) {
	u := "ws" + strings.TrimPrefix(base, "http") + "/realtime/v1/websocket?vsn=2.0.0&apikey=" + apikey
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.DialContext(ctx, u, http.Header{})
	if err != nil {
		status := ""
		if resp != nil {
			status = " (" + resp.Status + ")"
		}
		return nil, fmt.Errorf("realtime websocket through %s%s: %w", base, status, err)
	}
	p := &Phoenix{Worker: resp.Header.Get("X-Madbase-Worker"), conn: conn, closed: make(chan struct{})}
	go func() {
		defer close(p.closed)
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.frames = append(p.frames, data)
			p.mu.Unlock()
		}
	}()
	return p, nil
}

// Close closes the socket.
func (p *Phoenix) Close() { _ = p.conn.Close() }

// Send pushes one text frame and returns its ref; joinRef "" sends null,
// "self" uses the new ref as join ref (a join).
func (p *Phoenix) Send(joinRef, topic, event string, payload any) (string, error) {
	p.mu.Lock()
	p.ref++
	ref := strconv.Itoa(p.ref)
	p.mu.Unlock()
	var jr any
	switch joinRef {
	case "":
	case "self":
		jr = ref
	default:
		jr = joinRef
	}
	data, err := json.Marshal([]any{jr, ref, topic, event, payload})
	if err != nil {
		return "", err
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_ = p.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return ref, p.conn.WriteMessage(websocket.TextMessage, data)
}

// Wait returns the first frame (raw) for which match is true, waiting until
// ctx ends.
func (p *Phoenix) Wait(ctx context.Context, what string, match func(frame []byte) bool) ([]byte, error) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		p.mu.Lock()
		for _, f := range p.frames {
			if match(f) {
				p.mu.Unlock()
				return f, nil
			}
		}
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for %s on the socket through worker %s: %w", what, p.Worker, ctx.Err())
		case <-p.closed:
			return nil, fmt.Errorf("waiting for %s: the socket through worker %s closed", what, p.Worker)
		case <-tick.C:
		}
	}
}

// Join joins topic with payload and waits for an ok reply.
func (p *Phoenix) Join(ctx context.Context, topic string, payload map[string]any) (string, error) {
	ref, err := p.Send("self", topic, "phx_join", payload)
	if err != nil {
		return "", err
	}
	f, err := p.Wait(ctx, "the reply to joining "+topic, func(f []byte) bool {
		var arr []json.RawMessage
		if json.Unmarshal(f, &arr) != nil || len(arr) != 5 {
			return false
		}
		var r, ev string
		_ = json.Unmarshal(arr[1], &r)
		_ = json.Unmarshal(arr[3], &ev)
		return r == ref && ev == "phx_reply"
	})
	if err != nil {
		return "", err
	}
	if !bytes.Contains(f, []byte(`"status":"ok"`)) {
		return "", fmt.Errorf("joining %s: %s", topic, f)
	}
	return ref, nil
}

// Contains matches frames holding s.
func Contains(s string) func([]byte) bool {
	return func(f []byte) bool { return bytes.Contains(f, []byte(s)) }
}
