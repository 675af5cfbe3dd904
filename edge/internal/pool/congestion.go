package pool

import (
	"net/netip"
	"strings"
)

// The edge's connections to peers on the same host or network never use
// BBR. BBR asks for its packets to be paced, and without the fq queueing
// discipline on the route (loopback and most hosts have none) TCP paces
// them itself, with a timer per burst: measured on loopback, a body through
// the edge cost it 2-3x the CPU per GiB it costs with CUBIC, and the
// throughput followed. Pacing buys nothing where no slow link queues the
// packets: to the workers, which sit beside the edge, and to clients on
// loopback or a private network (a load balancer in front of the edge).
// Other clients keep the system's default, which the operator chose for
// the internet.

// Local reports whether a client at addr is on the same host or network.
func Local(addr netip.Addr) bool { return addr.IsLoopback() || addr.IsPrivate() }

// congestionFor is the congestion control for local connections when the
// system's default is def: "" (keep it) unless def is a BBR; then the first
// of CUBIC and Reno that allowed accepts (Reno is open to every user, CUBIC
// to those allowed to pick it).
func congestionFor(def string, allowed func(name string) bool) string {
	if !strings.HasPrefix(def, "bbr") {
		return ""
	}
	for _, name := range []string{"cubic", "reno"} {
		if allowed(name) {
			return name
		}
	}
	return ""
}
