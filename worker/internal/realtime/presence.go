package realtime

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/madbase/madbase/bus"
	"github.com/nats-io/nats.go"
)

// presEntry is one presence meta in a replicated set.
type presEntry struct {
	worker string
	meta   json.RawMessage
}

// tracked is what a channel tracks.
type tracked struct {
	key     string
	ref     string
	payload []byte // compact JSON of the tracked object
	meta    json.RawMessage
}

// presence diff delivered to clients: key → {"metas": [...]}.
type presenceSide map[string]map[string][]json.RawMessage

func toSide(m map[string][]json.RawMessage) presenceSide {
	out := presenceSide{}
	for k, metas := range m {
		out[k] = map[string][]json.RawMessage{"metas": metas}
	}
	return out
}

func (s *Service) startPresence() {
	s.tracking = map[*channel]struct{}{}
	if _, err := s.nc.Subscribe(bus.RealtimePresence(s.tenant), func(m *nats.Msg) { s.onPresence(m.Data) }); err != nil {
		s.log.Error("realtime: subscribing to presence", "error", err)
		return
	}
	// No Flush: the subscription and the hello leave in order on one
	// connection (after a reconnect too), and waiting for NATS here would
	// hold a worker's start-up hostage to a NATS outage.
	s.publishPresence(bus.RealtimePresenceEvent{Worker: s.worker, Kind: "hello"})
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		t := time.NewTicker(presenceBeat)
		defer t.Stop()
		for {
			select {
			case <-s.base.Done():
				s.publishPresence(bus.RealtimePresenceEvent{Worker: s.worker, Kind: "leave"})
				return
			case now := <-t.C:
				s.publishSnapshot()
				s.expirePeers(now)
			}
		}
	}()
}

func (s *Service) publishPresence(ev bus.RealtimePresenceEvent) {
	if s.nc == nil {
		return
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return
	}
	if err := s.nc.Publish(bus.RealtimePresence(s.tenant), data); err != nil {
		s.log.Warn("realtime: publishing presence", "error", err)
	}
}

func (s *Service) publishSnapshot() {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	ev := bus.RealtimePresenceEvent{Worker: s.worker, Kind: "snapshot", Snapshot: []bus.RealtimePresenceEntry{}}
	for ch := range s.tracking {
		ch.mu.Lock()
		if tr := ch.tracked; tr != nil {
			ev.Snapshot = append(ev.Snapshot, bus.RealtimePresenceEntry{Topic: ch.name, Private: ch.private, Key: tr.key, Meta: tr.meta})
		}
		ch.mu.Unlock()
	}
	s.publishPresence(ev)
}

// presenceEvent handles track and untrack (docs/api/realtime.md §6).
func (ch *channel) presenceEvent(m Message) {
	var p struct {
		Event   string          `json:"event"`
		Payload json.RawMessage `json:"payload"`
	}
	if json.Unmarshal(m.Payload, &p) != nil {
		ch.sock.replyError(m, "Presence payload must be a map")
		return
	}
	switch p.Event {
	case "track":
		var obj map[string]json.RawMessage
		if json.Unmarshal(p.Payload, &obj) != nil || obj == nil {
			ch.sock.replyError(m, "Presence track payload must be a map")
			return
		}
		if len(p.Payload) > ch.sock.svc.cfg.RealtimeMaxMessageBytes {
			ch.sock.systemError(ch, "Track message size exceeded")
			return
		}
		if ch.private && !ch.currentPerms().writePresence {
			ch.sock.replyError(m, "Unauthorized: You do not have permissions to track presence on this Channel topic: "+ch.name)
			return
		}
		ch.track(obj)
		ch.sock.reply(m, "ok", nil)
	case "untrack":
		ch.untrack()
		ch.sock.reply(m, "ok", nil)
	default:
		ch.sock.replyError(m, "unknown presence event")
	}
}

func (ch *channel) track(obj map[string]json.RawMessage) {
	svc := ch.sock.svc
	compact, _ := json.Marshal(obj)
	svc.pubMu.Lock()
	defer svc.pubMu.Unlock()
	ch.mu.Lock()
	if ch.stopped {
		ch.mu.Unlock()
		return
	}
	old := ch.tracked
	if old != nil && bytes.Equal(old.payload, compact) {
		ch.mu.Unlock()
		return
	}
	ref := uuid.NewString()
	meta := map[string]json.RawMessage{}
	for k, v := range obj {
		meta[k] = v
	}
	meta["phx_ref"], _ = json.Marshal(ref)
	if old != nil {
		meta["phx_ref_prev"], _ = json.Marshal(old.ref)
	}
	metaJSON, _ := json.Marshal(meta)
	ch.tracked = &tracked{key: ch.presenceKey, ref: ref, payload: compact, meta: metaJSON}
	ch.mu.Unlock()
	svc.tracking[ch] = struct{}{}
	ev := bus.RealtimePresenceEvent{Worker: svc.worker, Kind: "diff", Topic: ch.name, Private: ch.private,
		Joins: map[string][]json.RawMessage{ch.presenceKey: {metaJSON}}}
	if old != nil {
		ev.Leaves = map[string][]json.RawMessage{old.key: {old.meta}}
	}
	svc.publishPresence(ev)
}

func (ch *channel) untrack() {
	svc := ch.sock.svc
	if svc.nc == nil {
		return
	}
	svc.pubMu.Lock()
	defer svc.pubMu.Unlock()
	ch.mu.Lock()
	old := ch.tracked
	ch.tracked = nil
	ch.mu.Unlock()
	delete(svc.tracking, ch)
	if old == nil {
		return
	}
	svc.publishPresence(bus.RealtimePresenceEvent{Worker: svc.worker, Kind: "diff", Topic: ch.name, Private: ch.private,
		Leaves: map[string][]json.RawMessage{old.key: {old.meta}}})
}

func metaRef(meta json.RawMessage) string {
	var m struct {
		Ref string `json:"phx_ref"`
	}
	_ = json.Unmarshal(meta, &m)
	return m.Ref
}

// onPresence applies a presence event from the bus.
func (s *Service) onPresence(data []byte) {
	var ev bus.RealtimePresenceEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		s.log.Warn("realtime: undecodable presence event on the bus", "error", err)
		return
	}
	if ev.Worker != s.worker {
		s.mu.Lock()
		s.peers[ev.Worker] = time.Now()
		s.mu.Unlock()
	}
	switch ev.Kind {
	case "diff":
		s.mu.Lock()
		s.applyDiffLocked(topicKey{ev.Topic, ev.Private}, ev.Worker, ev.Joins, ev.Leaves)
		s.mu.Unlock()
	case "snapshot":
		if ev.Worker != s.worker {
			s.reconcile(ev.Worker, ev.Snapshot)
		}
	case "hello":
		if ev.Worker != s.worker {
			s.publishSnapshot()
		}
	case "leave":
		if ev.Worker != s.worker {
			s.dropWorker(ev.Worker)
		}
	}
}

// applyDiffLocked updates a set and tells local listeners. Caller holds s.mu.
func (s *Service) applyDiffLocked(k topicKey, worker string, joins, leaves map[string][]json.RawMessage) {
	set := s.presence[k]
	if set == nil {
		set = map[string]map[string]presEntry{}
		s.presence[k] = set
	}
	for key, metas := range leaves {
		for _, meta := range metas {
			delete(set[key], metaRef(meta))
		}
		if len(set[key]) == 0 {
			delete(set, key)
		}
	}
	for key, metas := range joins {
		if set[key] == nil {
			set[key] = map[string]presEntry{}
		}
		for _, meta := range metas {
			set[key][metaRef(meta)] = presEntry{worker: worker, meta: meta}
		}
	}
	if len(set) == 0 {
		delete(s.presence, k)
	}
	if len(joins) == 0 && len(leaves) == 0 {
		return
	}
	diff := map[string]any{"joins": toSide(joins), "leaves": toSide(leaves)}
	for _, ch := range s.channelsOf(k) {
		if ch.presenceOn && ch.currentPerms().readPresence {
			ch.sock.push(nil, nil, ch.topic, "presence_diff", diff)
		}
	}
}

// reconcile makes a peer's presences equal to its snapshot.
func (s *Service) reconcile(worker string, snap []bus.RealtimePresenceEntry) {
	type side struct{ joins, leaves map[string][]json.RawMessage }
	want := map[topicKey]map[string]bus.RealtimePresenceEntry{} // ref → entry
	for _, e := range snap {
		k := topicKey{e.Topic, e.Private}
		if want[k] == nil {
			want[k] = map[string]bus.RealtimePresenceEntry{}
		}
		want[k][metaRef(e.Meta)] = e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	diffs := map[topicKey]*side{}
	get := func(k topicKey) *side {
		if diffs[k] == nil {
			diffs[k] = &side{map[string][]json.RawMessage{}, map[string][]json.RawMessage{}}
		}
		return diffs[k]
	}
	for k, set := range s.presence {
		for key, refs := range set {
			for ref, e := range refs {
				if e.worker != worker {
					continue
				}
				if _, ok := want[k][ref]; !ok {
					d := get(k)
					d.leaves[key] = append(d.leaves[key], e.meta)
				}
			}
		}
	}
	for k, refs := range want {
		for ref, e := range refs {
			if _, ok := s.presence[k][e.Key][ref]; !ok {
				d := get(k)
				d.joins[e.Key] = append(d.joins[e.Key], e.Meta)
			}
		}
	}
	for k, d := range diffs {
		s.applyDiffLocked(k, worker, d.joins, d.leaves)
	}
}

// dropWorker removes every presence a worker owned.
func (s *Service) dropWorker(worker string) {
	s.reconcile(worker, nil)
	s.mu.Lock()
	delete(s.peers, worker)
	s.mu.Unlock()
}

func (s *Service) expirePeers(now time.Time) {
	s.mu.Lock()
	var gone []string
	for w, last := range s.peers {
		if now.Sub(last) > s.cfg.RealtimePresenceExpiry {
			gone = append(gone, w)
		}
	}
	s.mu.Unlock()
	for _, w := range gone {
		s.log.Info("realtime: a worker stopped beating, dropping its presences", "worker", w)
		s.dropWorker(w)
	}
}

// presenceStateLocked is the presence_state payload of a set. Caller holds s.mu.
func (s *Service) presenceStateLocked(k topicKey) map[string]any {
	out := map[string]any{}
	for key, refs := range s.presence[k] {
		metas := make([]json.RawMessage, 0, len(refs))
		for _, e := range refs {
			metas = append(metas, e.meta)
		}
		out[key] = map[string]any{"metas": metas}
	}
	return out
}
