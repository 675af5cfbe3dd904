package realtime

import (
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/madbase/madbase/shared/db"
	"github.com/madbase/madbase/worker/internal/apikey"
)

// Socket timing.
const (
	idleTimeout  = 60 * time.Second // no frame at all (heartbeats are every 25 s)
	writeTimeout = 10 * time.Second
	outQueue     = 1024
	// lingerTimeout and lingerBytes bound what is read and dropped after
	// the socket's close frame (socket.drain).
	lingerTimeout = time.Second
	lingerBytes   = 1 << 20
)

const localsClaims = "realtime.claims"

// upgrade authenticates the handshake (docs/api/realtime.md §1): the apikey (x-api-key
// header, else apikey param) must resolve to a role.
func (s *Service) upgrade(c *fiber.Ctx) error {
	if !websocket.FastHTTPIsWebSocketUpgrade(c.Context()) {
		return errUpgradeRequired()
	}
	key := c.Get("x-api-key")
	if key == "" {
		key = c.Query("apikey")
	}
	res, err := s.resolveToken(strings.Clone(key))
	if err != nil {
		return errHandshake(err)
	}
	c.Locals(localsClaims, res)
	return c.Next()
}

// resolveToken turns an apikey or access token into claims: opaque keys
// stand for their role, JWTs must verify and carry a usable role.
func (s *Service) resolveToken(tok string) (apikey.Result, error) {
	if tok == "" {
		return apikey.Result{}, apikey.ErrNoKey
	}
	if strings.HasPrefix(tok, "sb_") {
		return s.keys.Resolve(tok, "")
	}
	res, err := s.keys.Resolve("", "Bearer "+tok)
	if err != nil {
		return res, err
	}
	if _, ok := res.Claims["role"].(string); !ok {
		return res, errMissingRole
	}
	if _, ok := res.Claims["exp"].(float64); !ok {
		return res, errMissingRole
	}
	return res, nil
}

var errMissingRole = errors.New("Fields `role` and `exp` are required in JWT")

func tokenError(err error) string {
	switch {
	case errors.Is(err, apikey.ErrNoKey):
		return "No apikey or access token provided"
	case errors.Is(err, apikey.ErrExpiredJWT):
		return "Token has expired"
	case errors.Is(err, errMissingRole):
		return err.Error()
	case errors.Is(err, apikey.ErrBadRole):
		return "Invalid JWT role"
	}
	return "Invalid token: signature or format is invalid"
}

// outFrame is a frame waiting for its socket's writer.
type outFrame struct {
	data  []byte // the whole frame on the wire, maybe partly written
	close bool   // a close frame: the socket ends once it is written
}

// socket is one client connection.
type socket struct {
	svc  *Service
	conn *websocket.Conn // reads frames; frames are written by the socket (write)
	// out is the connection frames are written to; direct writes to its
	// descriptor (nil where it has none: every frame goes through the
	// writer).
	out    net.Conn
	direct *directWrite
	// deflate: the handshake agreed on permessage-deflate.
	deflate bool
	vsn     string
	claims  db.Claims
	token   string

	done      chan struct{}
	closeOnce sync.Once

	// qmu guards the frames waiting to be written; writing is true while
	// a writer goroutine drains them, closing once a close frame is
	// queued, and closed once the socket ended.
	qmu     sync.Mutex
	queue   []outFrame
	writing bool
	closing bool
	closed  bool
	writers sync.WaitGroup
	// hold is true while the handler has more of its batch after the
	// message it handles: the broadcasts it fans out here are held
	// (deliver) until the batch ends; held lists their topics. Only the
	// handler touches them.
	hold bool
	held []*topicSub

	// inbox holds the messages read and not handled yet; a handler
	// goroutine, started on demand, handles them in order, so that the
	// reading goroutine, the one an idle socket keeps, stays shallow.
	inMu     sync.Mutex
	inbox    []inFrame
	handling bool
	handlers sync.WaitGroup

	mu    sync.Mutex
	chans map[string]*channel // by full topic
	joins []time.Time
	// events counts broadcast and presence messages in the current second.
	events      int
	eventsStart time.Time
}

func (sock *socket) run() {
	sock.svc.metrics.sockets.Inc()
	defer sock.svc.metrics.sockets.Dec()
	sock.conn.SetReadLimit(int64(sock.svc.cfg.RealtimeMaxMessageBytes) + 4096)
	// Control frames are answered through the socket's own writes, so
	// that they never land inside a frame being written.
	sock.conn.SetPingHandler(func(data string) error {
		sock.enqueue(outFrame{data: appendFrame(nil, opPong, false, []byte(data))})
		return nil
	})
	sock.conn.SetCloseHandler(func(code int, _ string) error {
		sock.enqueue(outFrame{close: true, data: appendFrame(nil, opClose, false, websocket.FormatCloseMessage(code, ""))})
		return nil
	})
	sock.svc.addSocket(sock)
	defer func() {
		sock.svc.removeSocket(sock)
		sock.shutdown()
		sock.handlers.Wait()
		sock.leaveAll()
		sock.writers.Wait()
		sock.drain()
		_ = sock.conn.Close()
	}()
	for {
		_ = sock.conn.SetReadDeadline(time.Now().Add(idleTimeout))
		select {
		case <-sock.done: // after stop: its deadline, not this one, holds
			return
		default:
		}
		mt, data, err := sock.conn.ReadMessage()
		if err != nil {
			return // closed, idle too long, or a frame over the size limit
		}
		if mt != websocket.TextMessage && mt != websocket.BinaryMessage {
			continue
		}
		if !sock.receive(inFrame{binary: mt == websocket.BinaryMessage, data: data}) {
			sock.svc.log.Warn("realtime: client sends faster than it is served, closing its socket")
			sock.closeWith(websocket.CloseTryAgainLater, "too many messages")
			return
		}
	}
}

// inFrame is a frame read and not decoded yet: decoding is the handler's,
// so that the reading goroutine's stack stays small.
type inFrame struct {
	binary bool
	data   []byte
}

// decode reads a frame as the socket's protocol version writes it.
func (sock *socket) decode(f inFrame) (Message, error) {
	switch {
	case !f.binary:
		return decodeText(sock.vsn, f.data)
	case sock.vsn != vsn2:
		return Message{}, errBadFrame
	default:
		return decodeBinary(f.data)
	}
}

// receive queues m for the handler, starting it if none runs; false when
// outQueue messages already wait.
func (sock *socket) receive(m inFrame) bool {
	sock.inMu.Lock()
	defer sock.inMu.Unlock()
	if len(sock.inbox) >= outQueue {
		return false
	}
	sock.inbox = append(sock.inbox, m)
	if !sock.handling {
		sock.handling = true
		sock.handlers.Add(1)
		go sock.handleAll()
	}
	return true
}

// takeBatch takes what the queue q (guarded by mu) holds; when it is empty,
// it clears busy instead and returns nil, so that the next item queued
// starts a new drainer (the socket's writer or its handler).
func takeBatch[T any](mu *sync.Mutex, q *[]T, busy *bool) []T {
	mu.Lock()
	defer mu.Unlock()
	batch := *q
	*q = nil
	if len(batch) == 0 {
		*busy = false
		return nil
	}
	return batch
}

// handleAll handles the inbox in order until it is empty, or the socket
// ended (what is left is dropped: the socket leaves every channel).
func (sock *socket) handleAll() {
	defer sock.handlers.Done()
	for {
		batch := takeBatch(&sock.inMu, &sock.inbox, &sock.handling)
		if batch == nil {
			return
		}
		for i, f := range batch {
			select {
			case <-sock.done:
				continue
			default:
			}
			sock.hold = i < len(batch)-1
			m, err := sock.decode(f)
			if err != nil {
				// The close frame goes out, then the socket ends;
				// nothing after it is handled.
				sock.closeWith(websocket.CloseUnsupportedData, "malformed frame")
				sock.shutdown()
				continue
			}
			if m.Event != "broadcast" {
				// What is held does not wait on a join's or a
				// token's database round trip.
				sock.release()
			}
			sock.handle(m)
		}
		sock.hold = false
		sock.release()
	}
}

// release writes the broadcasts the handler's batch held so far.
func (sock *socket) release() {
	for _, ts := range sock.held {
		ts.release()
	}
	clear(sock.held)
	sock.held = sock.held[:0]
}

// addSocket and removeSocket keep the sockets the sweeper looks after.
func (s *Service) addSocket(sock *socket) {
	s.sockMu.Lock()
	s.sockets[sock] = struct{}{}
	s.sockMu.Unlock()
}

func (s *Service) removeSocket(sock *socket) {
	s.sockMu.Lock()
	delete(s.sockets, sock)
	s.sockMu.Unlock()
}

// sweep closes the channels whose token expired and rechecks private
// channels' policies, every second, and ends every socket when the worker
// shuts down: one goroutine for all sockets.
func (s *Service) sweep() {
	defer s.bg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var socks []*socket
	for {
		select {
		case <-s.base.Done():
			for _, sock := range s.socketList(socks[:0]) {
				sock.closeWith(websocket.CloseGoingAway, "server shutting down")
			}
			return
		case now := <-t.C:
			socks = s.socketList(socks[:0])
			for _, sock := range socks {
				sock.expireTokens(now)
			}
			clear(socks)
		}
	}
}

// socketList appends the open sockets to out.
func (s *Service) socketList(out []*socket) []*socket {
	s.sockMu.Lock()
	defer s.sockMu.Unlock()
	for sock := range s.sockets {
		out = append(out, sock)
	}
	return out
}

// push sends a text frame.
func (sock *socket) push(joinRef, ref *string, topic, event string, payload any) {
	data, err := encodeText(sock.vsn, joinRef, ref, topic, event, payload)
	if err != nil {
		sock.svc.log.Error("realtime: encoding a frame", "error", err)
		return
	}
	sock.send(newFrame(opText, data))
}

func (sock *socket) reply(m Message, status string, response any) {
	if m.Ref == nil && m.Event != "phx_join" {
		return
	}
	if response == nil {
		response = map[string]any{}
	}
	sock.push(m.JoinRef, m.Ref, m.Topic, "phx_reply", map[string]any{"status": status, "response": response})
}

func (sock *socket) replyError(m Message, reason string) {
	sock.reply(m, "error", map[string]any{"reason": reason})
}

// handle dispatches one client frame.
func (sock *socket) handle(m Message) {
	if m.Topic == "phoenix" {
		if m.Event == "heartbeat" {
			sock.reply(m, "ok", nil)
		}
		return
	}
	if m.Event == "phx_join" {
		sock.join(m)
		return
	}
	sock.mu.Lock()
	ch := sock.chans[m.Topic]
	sock.mu.Unlock()
	if ch == nil {
		if m.Event != "phx_leave" && m.Event != "access_token" {
			sock.replyError(m, "unmatched topic")
		}
		return
	}
	if (m.Event == "broadcast" || m.Event == "presence") && !sock.allowEvent(time.Now()) {
		msg := "Too many messages per second"
		if m.Event == "presence" {
			msg = "Too many presence messages per second"
		}
		sock.systemError(ch, msg)
		return
	}
	switch m.Event {
	case "phx_leave":
		sock.reply(m, "ok", nil)
		sock.closeChannel(ch)
	case "broadcast":
		ch.broadcast(m)
	case "presence":
		ch.presenceEvent(m)
	case "access_token":
		ch.refreshToken(m)
	default:
		sock.replyError(m, "unknown event")
	}
}

// closeChannel stops a channel and tells the client (phx_close).
func (sock *socket) closeChannel(ch *channel) {
	sock.mu.Lock()
	if sock.chans[ch.topic] == ch {
		delete(sock.chans, ch.topic)
	}
	sock.mu.Unlock()
	ch.stop()
	sock.push(strp(ch.joinRef), strp(ch.joinRef), ch.topic, "phx_close", map[string]any{})
}

// systemError pushes a system error and closes the channel.
func (sock *socket) systemError(ch *channel, msg string) {
	sock.push(strp(ch.joinRef), nil, ch.topic, "system", map[string]any{
		"extension": "system", "status": "error", "message": msg, "channel": ch.name,
	})
	sock.closeChannel(ch)
}

func (sock *socket) leaveAll() {
	sock.mu.Lock()
	chans := make([]*channel, 0, len(sock.chans))
	for _, ch := range sock.chans {
		chans = append(chans, ch)
	}
	sock.chans = map[string]*channel{}
	sock.mu.Unlock()
	for _, ch := range chans {
		ch.stop()
	}
}

func (sock *socket) expireTokens(now time.Time) {
	sock.mu.Lock()
	var expired []*channel
	for _, ch := range sock.chans {
		if exp := ch.expiry(); !exp.IsZero() && now.After(exp) {
			expired = append(expired, ch)
		}
	}
	sock.mu.Unlock()
	for _, ch := range expired {
		ago := int(time.Since(ch.expiry()).Seconds())
		sock.systemError(ch, "Token has expired "+itoa(ago)+" seconds ago")
	}
	sock.recheckPrivate(now)
}

// recheckPrivate re-runs the read policies of private channels now and
// then (docs/api/realtime.md §4): permissions revoked meanwhile close the channel.
func (sock *socket) recheckPrivate(now time.Time) {
	svc := sock.svc
	sock.mu.Lock()
	var due []*channel
	for _, ch := range sock.chans {
		ch.mu.Lock()
		if ch.private && now.Sub(ch.checked) >= time.Duration(svc.recheck.Load()) {
			ch.checked = now
			due = append(due, ch)
		}
		ch.mu.Unlock()
	}
	sock.mu.Unlock()
	for _, ch := range due {
		pr, err := svc.authorize(svc.base, ch.name, ch.currentClaims())
		if err != nil {
			svc.log.Warn("realtime: re-checking a private channel", "error", err)
			continue
		}
		if !pr.readBroadcast && !pr.readPresence {
			sock.systemError(ch, "You no longer have permission to read from this Channel topic: "+ch.name)
			continue
		}
		ch.mu.Lock()
		ch.perms = pr
		ch.mu.Unlock()
	}
}

// allowJoin applies the joins-per-second limit. Caller holds sock.mu.
func (sock *socket) allowJoin(now time.Time) bool {
	cut := now.Add(-time.Second)
	kept := sock.joins[:0]
	for _, t := range sock.joins {
		if t.After(cut) {
			kept = append(kept, t)
		}
	}
	sock.joins = kept
	if len(sock.joins) >= sock.svc.cfg.RealtimeMaxJoinsPerSecond {
		return false
	}
	sock.joins = append(sock.joins, now)
	return true
}

// allowEvent applies the events-per-second limit of the socket.
func (sock *socket) allowEvent(now time.Time) bool {
	sock.mu.Lock()
	defer sock.mu.Unlock()
	if now.Sub(sock.eventsStart) >= time.Second {
		sock.eventsStart, sock.events = now, 0
	}
	sock.events++
	return sock.events <= sock.svc.cfg.RealtimeMaxEventsPerSecond
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
