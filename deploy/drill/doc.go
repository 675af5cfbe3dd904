// Package drill is MadBase's reliability drill: a real deployment, failures
// injected under a steady load, and a table of what clients saw.
//
// TestDrill builds madbase and the real nats-server, then runs two
// topologies against one PostgreSQL (started by pgcluster from the machine's
// binaries):
//
//   - cluster: every process on a host of its own, a Linux network namespace
//     whose veth is a port of a bridge the test creates (10.77.<n>.0/24; the
//     root namespace, PostgreSQL and the load are the bridge's address): a
//     three-node NATS cluster with JetStream, control, three workers and two
//     edges. Under load through both edges it kills a worker with SIGKILL
//     and restarts it, stops one with SIGTERM and restarts it, stops and
//     restarts the NATS node most of the platform is connected to, cuts a
//     worker's network (its veth down) and restores it, adds a fourth
//     worker, and checks that a broadcast and a database change reach
//     realtime clients connected through different edges and workers.
//   - onehost: NATS, control, two workers and an edge on loopback. Under
//     load NATS is down for 15 s and comes back, with every process's log
//     volume measured meanwhile; then failed admin passwords from one
//     address (through the edge) must end in 429 with Retry-After while
//     another address gets in, and a connection trickling header bytes
//     must be closed by the edge.
//
// The load (Load) is open loop: a fixed rate of GET /rest/v1/<table>?id=eq.N
// and GET /auth/v1/user with a signed-in user's token, and one request in
// twenty a 300 ms database call, so workers always have requests in flight.
// Each step's requests, failures, latency and time to recover (from the
// change to an event: the edges' /health, the first answers a worker gives
// through every edge (X-Madbase-Worker), the NATS nodes' connection lists)
// are printed, then the goals. Goals not yet met because of known bugs are
// printed without failing the test (notAsserted in drill_test.go says
// which and why); MADBASE_DRILL_STRICT=1 asserts them all, and
// MADBASE_DRILL_RATE changes the load's requests per second (160).
//
// It needs root and the ip command (iproute2); elsewhere it skips, loudly,
// and in CI (CI=true) it fails instead. Names carry the test process's id,
// so parallel runs do not collide, and a run deletes the namespaces and
// links that killed runs left. It takes about 80 s after the builds:
//
//	go test ./deploy/drill/ -run TestDrill -v -count=1
package drill
