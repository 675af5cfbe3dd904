package rest

import (
	"encoding/binary"
	"strings"
	"sync"
	"sync/atomic"
)

// A read's SQL depends on its query string's shape, not on its filters'
// values, which are bind parameters: `id=eq.1` and `id=eq.2` are the same
// statement with another argument. readPlans remembers the plans of table
// reads by their shape (the query string without the filters' values, and
// what else the plan reads: schema, table, method, Accept, Prefer: count,
// Range), so that a read of a known shape takes its filters' values from
// its own query string instead of being planned again.
type readPlans struct {
	schema *Schema // the plans are this schema's; a reloaded one starts afresh

	mu    sync.RWMutex
	byKey map[string]*readPlan
	size  int // bytes of keys and SQL held

	hits atomic.Int64 // reads that took a remembered plan
}

// readPlansMaxBytes bounds what a handler's remembered plans hold: shapes
// are chosen by clients. When a new plan would pass it, the plans are
// forgotten and remembering starts again.
const readPlansMaxBytes = 1 << 20

// argKind says how an argument is made of its filter's operator.
type argKind uint8

const (
	argValue argKind = iota // the value as given
	argLike                 // the value with * as %
	argList                 // the in.(…) list as an array literal
)

// of is the argument kind k makes of o.
func (k argKind) of(o opExpr) string {
	switch k {
	case argLike:
		return strings.ReplaceAll(o.Value, "*", "%")
	case argList:
		return pgArrayLiteral(dedupe(o.List))
	}
	return o.Value
}

// argSrc is where an argument of a plan comes from: the value of the
// filter query.filterOps[filter-1], made into an argument as kind says; or,
// with filter 0, the plan's shape itself (a JSON key, a value inside a
// logic tree), so that the argument is the same for every read of it.
type argSrc struct {
	filter int
	kind   argKind
}

// plans returns the handler's remembered plans for schema s.
func (h *Handler) plans(s *Schema) *readPlans {
	c := h.readPlans.Load()
	if c != nil && c.schema == s {
		return c
	}
	fresh := &readPlans{schema: s, byKey: map[string]*readPlan{}}
	if h.readPlans.CompareAndSwap(c, fresh) {
		return fresh
	}
	if c = h.readPlans.Load(); c != nil && c.schema == s {
		return c
	}
	return fresh // another schema is current: remember nothing in it
}

// get returns a copy of the plan remembered under key with q's values as
// its arguments, or nil.
func (rp *readPlans) get(key []byte, q *query) *readPlan {
	rp.mu.RLock()
	cached := rp.byKey[string(key)]
	rp.mu.RUnlock()
	if cached == nil {
		return nil
	}
	p := cached.with(q)
	if p != nil {
		rp.hits.Add(1)
	}
	return p
}

// put remembers p under key, without its filters' values (they are the
// request's, and each read brings its own).
func (rp *readPlans) put(key []byte, p *readPlan) {
	size := len(key) + len(p.sql) + len(p.exactSQL)
	if size > readPlansMaxBytes/16 {
		return // a shape this large is not worth remembering
	}
	kept := *p
	kept.args = make([]any, len(p.args))
	for i, src := range p.srcs {
		if src.filter == 0 {
			kept.args[i] = p.args[i]
		}
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if _, ok := rp.byKey[string(key)]; ok {
		return
	}
	if rp.size+size > readPlansMaxBytes {
		clear(rp.byKey)
		rp.size = 0
	}
	rp.byKey[string(key)] = &kept
	rp.size += size
}

// with is p with the arguments q's filters give.
func (p *readPlan) with(q *query) *readPlan {
	out := *p
	out.args = make([]any, len(p.args))
	for i, a := range p.args {
		src := p.srcs[i]
		if src.filter == 0 {
			out.args[i] = a
			continue
		}
		if src.filter > len(q.filterOps) {
			return nil // not of the shape after all: plan it
		}
		out.args[i] = src.kind.of(q.filterOps[src.filter-1])
	}
	return &out
}

// readKey is what a table read's plan depends on besides its filters'
// values: the table, the method, the media, Prefer:
// count, the Range header and the query string's shape.
func readKey(rc *reqCtx, t *Table, q *query, m media, rangeHeader string) []byte {
	b := make([]byte, 0, 64+len(q.shape)+len(rangeHeader))
	b = appendShapePart(b, t.Schema)
	b = appendShapePart(b, t.Name)
	b = appendShapePart(b, rc.method)
	strip := byte(0)
	if m.StripNulls {
		strip = 1
	}
	b = append(b, byte(m.Kind), strip)
	b = appendShapePart(b, rc.prefs.Count)
	b = appendShapePart(b, rangeHeader)
	return append(b, q.shape...)
}

// appendShapePart appends s, length first, so that no two sequences of
// parts make the same bytes.
func appendShapePart(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendOpShape appends what of a filter's operator its SQL depends on:
// everything but the value, except for is (whose value is SQL) and an
// empty in.() (which is false).
func appendOpShape(b []byte, o *opExpr) []byte {
	flags := byte(0)
	if o.Not {
		flags |= 1
	}
	if o.Op == "in" && len(o.List) == 0 {
		flags |= 2
	}
	b = append(b, flags)
	b = appendShapePart(b, o.Op)
	b = appendShapePart(b, o.Quant)
	b = appendShapePart(b, o.Config)
	if o.Op == "is" {
		b = appendShapePart(b, o.Value)
	}
	return b
}
