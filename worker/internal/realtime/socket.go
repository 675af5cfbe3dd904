package realtime

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

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
	// out is the connection frames are written to, raw its descriptor
	// (nil where it has none: every frame goes through the writer).
	out net.Conn
	raw syscall.RawConn
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

// handleAll handles the inbox in order until it is empty, or the socket
// ended (what is left is dropped: the socket leaves every channel).
func (sock *socket) handleAll() {
	defer sock.handlers.Done()
	for {
		sock.inMu.Lock()
		batch := sock.inbox
		sock.inbox = nil
		if len(batch) == 0 {
			sock.handling = false
			sock.inMu.Unlock()
			return
		}
		sock.inMu.Unlock()
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

// write drains the queue, then ends; enqueue starts it again. What is
// queued by then goes out in one write (writev), so a client that fell
// behind catches up in few system calls.
func (sock *socket) write() {
	defer sock.writers.Done()
	var bufs net.Buffers
	for {
		sock.qmu.Lock()
		batch := sock.queue
		sock.queue = nil
		if len(batch) == 0 {
			sock.writing = false
			sock.qmu.Unlock()
			return
		}
		sock.qmu.Unlock()
		bufs = bufs[:0]
		end := false
		for _, f := range batch {
			bufs = append(bufs, f.data)
			end = end || f.close
		}
		_ = sock.out.SetWriteDeadline(time.Now().Add(writeTimeout))
		pending := bufs // WriteTo consumes it
		_, err := pending.WriteTo(sock.out)
		clear(bufs)
		if err != nil || end {
			sock.stop()
			return
		}
	}
}

// tryWrite writes frames if the socket takes them now, without waiting:
// the sending goroutine writes (write(2), or writev(2) for several), and a
// writer goroutine is started only for what the kernel did not take. It
// returns how much was written, and false when the socket failed.
func (sock *socket) tryWrite(fs []outFrame) (int, bool) {
	if sock.raw == nil {
		return 0, true
	}
	var n int
	var werr error
	b := fs[0].data
	write := func(fd uintptr) bool {
		for {
			n, werr = syscall.Write(int(fd), b)
			if werr != syscall.EINTR {
				return true
			}
		}
	}
	if len(fs) > 1 {
		iov := make([]syscall.Iovec, 0, len(fs))
		for _, f := range fs {
			if len(f.data) > 0 {
				v := syscall.Iovec{Base: &f.data[0]}
				v.SetLen(len(f.data))
				iov = append(iov, v)
			}
		}
		write = func(fd uintptr) bool {
			for {
				r, _, errno := syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
				n, werr = int(r), nil
				if errno != 0 {
					n, werr = 0, errno
				}
				if werr != syscall.EINTR {
					return true
				}
			}
		}
	}
	err := sock.raw.Write(write)
	switch {
	case err != nil:
		// A deadline the writer set has passed: the writer, which
		// sets a new one, takes the frames.
		return 0, errors.Is(err, os.ErrDeadlineExceeded)
	case werr == syscall.EAGAIN:
		return 0, true
	case werr != nil:
		return 0, false
	}
	return n, true
}

// stop ends the socket from its writer or a full queue: nothing more is
// queued or written, and the reader's next read fails.
func (sock *socket) stop() {
	sock.qmu.Lock()
	graceful := sock.closing
	sock.closed, sock.queue, sock.writing = true, nil, false
	sock.qmu.Unlock()
	sock.shutdown()
	if graceful && sock.halfClose() {
		return
	}
	_ = sock.conn.Close()
}

// halfClose ends the sending side after the socket's close frame (a FIN
// follows it) and leaves the reader lingerTimeout to finish; the reader
// then drains and closes the connection. False when the connection cannot
// be half-closed.
func (sock *socket) halfClose() bool {
	cw, ok := sock.out.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return false
	}
	_ = sock.out.SetReadDeadline(time.Now().Add(lingerTimeout))
	return true
}

// drain reads and drops what the client still sends after the socket's
// close frame, until the client closes, lingerTimeout passes or
// lingerBytes were read. Closing with bytes unread makes the kernel answer
// with a reset, which can destroy the close frame before the client reads
// it: a frame over the size limit is answered while its rest still arrives.
func (sock *socket) drain() {
	sock.qmu.Lock()
	graceful := sock.closing
	sock.qmu.Unlock()
	if !graceful {
		return
	}
	_ = sock.out.SetReadDeadline(time.Now().Add(lingerTimeout))
	_, _ = io.CopyN(io.Discard, sock.out, lingerBytes)
}

func (sock *socket) shutdown() {
	sock.closeOnce.Do(func() {
		sock.qmu.Lock()
		sock.closed = true
		sock.qmu.Unlock()
		close(sock.done)
	})
}

// closeWith sends a close frame and ends the socket.
func (sock *socket) closeWith(code int, reason string) {
	sock.enqueue(outFrame{close: true, data: appendFrame(nil, opClose, false, websocket.FormatCloseMessage(code, reason))})
}

// enqueue writes frames in order, or queues them for the writer: a socket
// with nothing pending is written to at once (in one system call) if it
// takes the frames without waiting; otherwise a writer goroutine, started
// if none runs, writes what is left. A client too slow to keep up (more
// than outQueue frames waiting) is disconnected.
func (sock *socket) enqueue(fs ...outFrame) {
	sock.qmu.Lock()
	if sock.closed || sock.closing {
		sock.qmu.Unlock()
		return
	}
	if len(sock.queue)+len(fs) > outQueue {
		sock.qmu.Unlock()
		sock.svc.log.Warn("realtime: client too slow, closing its socket")
		sock.stop()
		return
	}
	for _, f := range fs {
		sock.closing = sock.closing || f.close
	}
	if !sock.writing {
		n, ok := sock.tryWrite(fs)
		for ok && len(fs) > 0 && n >= len(fs[0].data) {
			n -= len(fs[0].data)
			fs = fs[1:]
		}
		if !ok || (len(fs) == 0 && sock.closing) {
			sock.qmu.Unlock()
			sock.stop()
			return
		}
		if len(fs) == 0 {
			sock.qmu.Unlock()
			return
		}
		fs[0].data = fs[0].data[n:]
		sock.writing = true
		sock.writers.Add(1)
		go sock.write()
	}
	sock.queue = append(sock.queue, fs...)
	sock.qmu.Unlock()
}

// send writes a frame made for many sockets, compressed where this
// socket agreed to it.
func (sock *socket) send(f *frame) { sock.enqueue(outFrame{data: f.wire(sock.deflate)}) }

// sendAll writes frames made for many sockets, in order, as send does
// each, in one system call where the socket takes them now.
func (sock *socket) sendAll(fs []*frame) {
	out := make([]outFrame, len(fs))
	for i, f := range fs {
		out[i] = outFrame{data: f.wire(sock.deflate)}
	}
	sock.enqueue(out...)
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
