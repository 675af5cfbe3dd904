// Package eventloop is the edge's fast engine: epoll event loops that serve
// the plain HTTP/1.1 requests of the API routes, in front of the fasthttp
// handler of package proxy, which serves everything else.
//
// It follows nginx's design. Each loop runs on its own OS thread; every
// socket is non-blocking and registered once with its loop's epoll,
// edge-triggered for reads, writes and hang-ups. Every loop watches the
// listener, and the one that accepts a connection hands it to the serving
// loop holding the fewest (handover.go). By default one loop serves until
// it is the bottleneck, and the others start serving, or rest again, as the
// load asks (balance.go). A request then costs the
// four system calls that move it (read it from the client, write it to the
// worker, read the answer, write that to the client) and no goroutine
// switch: on two cores, the goroutine-per-connection server spent about half
// of its CPU per request in Go's scheduler and netpoller, parking and waking
// a goroutine for every read.
//
// Those calls never block, so they are made as raw system calls: they skip
// the runtime's bookkeeping for a call that may block (entersyscall and
// exitsyscall), and sysmon never hands a loop's P to another thread because
// the loop seems stuck in one. Only epoll_wait blocks. While a loop waits
// there it keeps its thread and its P; with no P left idle, sysmon would
// take the waiting loop's P after 20 µs and wake a thread to look for work
// there is none of, a futex wake-up and a sleep for most requests. So the
// edge keeps one P more than it has loops (see edge.spareProcessor), and
// that spare P runs the goroutines: NATS, health probes, WebSockets.
//
// Bodies of known length of 128 KiB or more move from one socket to the
// other with splice(2) through a pipe: the bytes stay in the kernel and never
// cross the edge's memory. Chunked and close-delimited answers go through
// the read buffer, relayed as they arrive while their framing is followed,
// so that the end of each answer is known and the connection stays in step.
// Pooled connections to a worker are dropped as soon as the worker's FIN
// arrives, and one is peeked at before it carries a request body, so a
// restarted worker costs no failed request.
//
// The loops serve a strict subset of HTTP/1.1 (httphead.go, fuzzed against
// net/http's reading of the same bytes). Whatever falls outside it is not an
// error here but a reason to hand the connection, with the bytes read so
// far, to the fasthttp server, which serves it from then on: WebSocket
// upgrades, chunked request bodies, Expect, HTTP/1.0, CORS preflights,
// /health, /metrics, /admin, paths that need normalizing, heads over 64 KiB.
// Both engines read one forwarding policy (package forwarding), so what a
// worker receives does not depend on which engine served the request, and
// count connections in one per-address limit (package connlimit). A head
// must arrive within EDGE_HEADER_TIMEOUT of the connection's opening (or of
// its first byte, for the next requests): the sweep that checks every
// socket's deadlines answers a slower one 408 and closes it.
package eventloop

import "errors"

// ErrUnsupported is New's answer where the event loops cannot run (they
// need Linux); the fasthttp server then serves every connection.
var ErrUnsupported = errors.New("the edge's event loops need Linux")
