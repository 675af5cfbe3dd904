//go:build linux

package eventloop

// A listener's readiness wakes every loop, and whichever wakes first
// accepts all the connections waiting: a client that opens its connections
// at once (a load generator, a browser's six, a pool) would find them all
// on one loop, and the other loops idle while that one's CPU is the limit.
// So the loop that accepts a connection hands it to the serving loop that
// holds the fewest, through that loop's incoming list and a wake-up, as
// tunnels are handed over (tunnel.go). It costs a wake-up of the other loop
// per connection, not per request. Clients that move between loops as they
// start serving or rest (balance.go) travel the same way.

// pick chooses the serving loop holding the fewest client connections
// (from, when it serves and holds no more than the others) and counts one
// more there.
func (ls *Loops) pick(from *loop) *loop {
	ls.pickMu.Lock()
	defer ls.pickMu.Unlock()
	serving := ls.loops[:ls.serving()]
	best := from
	if from.index >= len(serving) {
		best = serving[0]
	}
	least := best.clients.Load()
	for _, lp := range serving {
		if n := lp.clients.Load(); n < least {
			best, least = lp, n
		}
	}
	best.clients.Add(1)
	return best
}

// handClient gives the accepted connection c to the loop to (which pick
// counted it on), which registers it when it wakes (takeClients); false
// when the loops are stopping, and c stays the caller's.
func (ls *Loops) handClient(to *loop, c *clientConn) bool {
	ls.clients.Add(1)
	if !ls.deliver(to, c) {
		ls.clients.Add(-1)
		return false
	}
	return true
}

// deliver puts c on to's incoming list and wakes to; false when the loops
// are stopping, and c stays the caller's.
func (ls *Loops) deliver(to *loop, c *clientConn) bool {
	ls.wakeMu.Lock()
	defer ls.wakeMu.Unlock()
	if ls.closed || ls.stop.Load() {
		return false
	}
	c.lp = to
	to.incoming.mu.Lock()
	to.incoming.clients = append(to.incoming.clients, c)
	to.incoming.mu.Unlock()
	to.wake()
	return true
}

// takeClients registers the client connections handed over since the last
// wake-up; once the loops stop, it closes them.
func (lp *loop) takeClients() {
	for _, c := range takeIncoming(lp, &lp.incoming.clients) {
		if lp.ls.stop.Load() {
			c.close()
			continue
		}
		if err := lp.register(c.fd, c); err != nil {
			c.close()
		}
	}
}
