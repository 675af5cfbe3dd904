package realtime

import (
	"encoding/json"
	"errors"

	"github.com/madbase/madbase/bus"
	"github.com/nats-io/nats.go"
)

// broadcast handles a client's broadcast (docs/api/realtime.md §5): binary kind 3 on vsn
// 2.0.0, or the JSON event with {type, event, payload}.
func (ch *channel) broadcast(m Message) {
	b := bus.RealtimeBroadcast{Origin: ch.sock.svc.worker, Sender: ch.id, Topic: ch.name, Private: ch.private}
	if m.BinaryEvent != "" || m.Raw {
		b.Event = m.BinaryEvent
		if m.Raw {
			b.Raw, b.IsRaw = m.Payload, true
		} else {
			b.Payload = m.Payload
		}
	} else {
		var p struct {
			Event   json.RawMessage `json:"event"`
			Payload json.RawMessage `json:"payload"`
		}
		if json.Unmarshal(m.Payload, &p) != nil {
			ch.sock.replyError(m, "broadcast payload must be an object")
			return
		}
		b.Event = keyString(p.Event)
		b.Payload = p.Payload
		if len(b.Payload) == 0 {
			b.Payload = json.RawMessage("null")
		}
	}
	size := len(b.Payload) + len(b.Raw)
	if size > ch.sock.svc.cfg.RealtimeMaxMessageBytes {
		if ch.ack {
			ch.sock.replyError(m, "Payload too large")
			return
		}
		ch.sock.systemError(ch, "Payload too large")
		return
	}
	if ch.private && !ch.currentPerms().writeBroadcast {
		if ch.ack {
			ch.sock.reply(m, "ok", nil)
		}
		return
	}
	if err := ch.sock.svc.publishBroadcast(b, ch.sock); err != nil {
		if ch.ack {
			ch.sock.replyError(m, "Unable to broadcast the message")
		}
		return
	}
	if ch.ack {
		ch.sock.reply(m, "ok", nil)
	}
}

// publishBroadcast sends a broadcast to every worker. This service's own
// sockets get it from the sending goroutine, without the round trip through
// the bus, and the copy the bus brings back is skipped
// (bus.RealtimeBroadcast.Delivered). from is the socket whose handler
// sends it, nil for any other sender: while its handler has more messages
// at hand, the fan-out's frames are held until its batch ends.
func (s *Service) publishBroadcast(b bus.RealtimeBroadcast, from *socket) error {
	b.Delivered = s.instance
	if err := s.publishBroadcastAt(b, ""); err != nil {
		return err
	}
	s.mu.Lock()
	ts := s.topics[b.Topic]
	s.mu.Unlock()
	if ts == nil {
		return nil
	}
	hold := from != nil && from.hold
	s.deliver(ts, &b, hold)
	if hold {
		if n := len(from.held); n == 0 || from.held[n-1] != ts {
			from.held = append(from.held, ts)
		}
	}
	return nil
}

// publishBroadcastAt sends a broadcast read from the WAL at pos (a
// walHeader value) to every worker, this one included: the topic's
// subscription drops what a new WAL reader replays (walMark).
func (s *Service) publishBroadcastAt(b bus.RealtimeBroadcast, pos string) error {
	if s.nc == nil {
		return errors.New("realtime: no bus")
	}
	data, err := json.Marshal(b)
	if err != nil {
		return err
	}
	msg := &nats.Msg{Subject: bus.Realtime(s.tenant, b.Topic), Data: data}
	if pos != "" {
		msg.Header = nats.Header{}
		msg.Header.Set(walHeader, pos)
	}
	return s.nc.PublishMsg(msg)
}

// onBroadcast delivers a broadcast from the bus to this worker's channels
// of the topic ts, unless this service sent it and delivered it already;
// more says that more of the topic's messages wait on the bus.
func (s *Service) onBroadcast(ts *topicSub, data []byte, more bool) {
	var b bus.RealtimeBroadcast
	if err := json.Unmarshal(data, &b); err != nil {
		s.log.Warn("realtime: undecodable broadcast on the bus", "error", err)
		return
	}
	if b.Delivered == s.instance {
		return
	}
	s.deliver(ts, &b, more)
}

// maxHeld is how many broadcasts a topic's fan-out holds back at most
// (deliver).
const maxHeld = 64

// deliver fans a broadcast out to this service's channels of its topic.
// A topic's broadcasts are fanned out one at a time (topicSub.fanout),
// whether they came by the bus or from a local sender: every socket gets
// them in the same order, and a message sent in answer to another, once the
// sender saw it, never overtakes it. With hold (more messages wait on the
// bus, or in the batch of the socket sending it), the frames are kept and
// go out with the next ones, each socket's in one write, so that a fan-out
// that fell behind catches up in fewer system calls, on its side and on
// its clients'.
func (s *Service) deliver(ts *topicSub, b *bus.RealtimeBroadcast, hold bool) {
	s.mu.Lock()
	chans := ts.channels(b.Private)
	s.mu.Unlock()
	s.metrics.broadcasts.Inc()
	ts.fanout.Lock()
	defer ts.fanout.Unlock()
	batch := hold || ts.heldMsgs > 0
	if batch {
		ts.heldMsgs++
		ts.holding.Store(true)
		if ts.held == nil {
			ts.held = map[*socket][]*frame{}
		}
		if !hold || ts.heldMsgs >= maxHeld {
			defer ts.flush()
		}
	}
	// Each shape of the message (protocol version, topic as joined) is
	// framed once, and the same bytes go to every socket.
	var text map[string]any
	var frames []shapedFrame
	for _, ch := range chans {
		if ch.id == b.Sender && !ch.self {
			continue
		}
		if ch.private && !ch.currentPerms().readBroadcast {
			continue
		}
		if b.ID != "" && ch.wasReplayed(b.ID) {
			continue
		}
		if b.IsRaw && ch.sock.vsn != vsn2 {
			continue
		}
		var f *frame
		for _, sf := range frames {
			if sf.vsn == ch.sock.vsn && sf.topic == ch.topic {
				f = sf.f
				break
			}
		}
		if f == nil {
			if b.IsRaw {
				data, err := encodeUserBroadcast(ch.topic, b.Event, b.Raw, true)
				if err != nil {
					continue
				}
				f = newFrame(opBinary, data)
			} else {
				if text == nil {
					text = map[string]any{"type": "broadcast", "event": b.Event, "payload": b.Payload}
					if b.ID != "" {
						text["meta"] = map[string]any{"id": b.ID}
					}
				}
				data, err := encodeText(ch.sock.vsn, nil, nil, ch.topic, "broadcast", text)
				if err != nil {
					s.log.Error("realtime: encoding a broadcast", "error", err)
					return
				}
				f = newFrame(opText, data)
			}
			frames = append(frames, shapedFrame{ch.sock.vsn, ch.topic, f})
		}
		if batch {
			ts.held[ch.sock] = append(ts.held[ch.sock], f)
		} else {
			ch.sock.send(f)
		}
	}
}

// release writes the frames the topic's fan-out holds, once no more
// messages wait. What another goroutine starts holding meanwhile is its
// to release.
func (ts *topicSub) release() {
	if !ts.holding.Load() {
		return
	}
	ts.fanout.Lock()
	defer ts.fanout.Unlock()
	ts.flush()
}

// flush writes the held frames. Caller holds ts.fanout.
func (ts *topicSub) flush() {
	for sock, fs := range ts.held {
		sock.sendAll(fs)
	}
	clear(ts.held)
	ts.heldMsgs = 0
	ts.holding.Store(false)
}

// shapedFrame is a broadcast framed for one protocol version and topic.
type shapedFrame struct {
	vsn, topic string
	f          *frame
}

// wasReplayed reports whether replay already sent the stored message id.
func (ch *channel) wasReplayed(id string) bool {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.replayed[id]
}
