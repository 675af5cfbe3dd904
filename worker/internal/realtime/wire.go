package realtime

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"sync"
)

// The worker writes its sockets' frames itself (socket.go), so that a
// message fanned out to many sockets is framed once and the same bytes go
// to each: a frame here is the whole of it on the wire, header included.
// Server frames are never masked (RFC 6455 §5.1).

// WebSocket opcodes (RFC 6455 §5.2).
const (
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPong   = 0xA
)

// deflateMin is the smallest payload sent compressed to a socket that
// negotiated permessage-deflate: below it a frame barely shrinks, and the
// extension lets each message choose (RFC 7692 §6).
const deflateMin = 1024

// frame is one message ready to be written: its plain frame, and the
// compressed one made on first need, both shared by every socket the
// message goes to and never changed once made.
type frame struct {
	op    byte
	plain []byte

	once     sync.Once
	deflated []byte // nil: compressing does not pay (short, or no smaller)
}

// newFrame frames payload as one final frame of opcode op.
func newFrame(op byte, payload []byte) *frame {
	return &frame{op: op, plain: appendFrame(nil, op, false, payload)}
}

// wire returns the bytes to write to a socket that negotiated deflate or
// not.
func (f *frame) wire(deflate bool) []byte {
	if !deflate || f.op&0x8 != 0 {
		return f.plain
	}
	f.once.Do(f.deflate)
	if f.deflated != nil {
		return f.deflated
	}
	return f.plain
}

// payload returns the frame's payload (after the header).
func (f *frame) payload() []byte {
	n := 2
	switch f.plain[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	return f.plain[n:]
}

// deflate compresses the payload as permessage-deflate without context
// takeover (what the handshake agreed: upgrader in upgrade.go): a raw
// DEFLATE stream flushed, without the flush's final 00 00 ff ff, and RSV1
// set (RFC 7692 §7.2.1).
func (f *frame) deflate() {
	p := f.payload()
	if len(p) < deflateMin {
		return
	}
	var buf bytes.Buffer
	buf.Grow(len(p)/2 + 64)
	fw, _ := flateWriters.Get().(*flate.Writer)
	if fw == nil {
		fw, _ = flate.NewWriter(&buf, flate.BestSpeed)
	} else {
		fw.Reset(&buf)
	}
	_, err := fw.Write(p)
	if err == nil {
		err = fw.Flush()
	}
	flateWriters.Put(fw)
	out := buf.Bytes()
	if err != nil || !bytes.HasSuffix(out, []byte{0, 0, 0xff, 0xff}) {
		return
	}
	out = out[:len(out)-4]
	if len(out) >= len(p) {
		return
	}
	f.deflated = appendFrame(make([]byte, 0, len(out)+10), f.op, true, out)
}

var flateWriters sync.Pool

// appendFrame appends a final, unmasked frame of opcode op carrying
// payload.
func appendFrame(b []byte, op byte, rsv1 bool, payload []byte) []byte {
	if b == nil {
		b = make([]byte, 0, len(payload)+10)
	}
	b0 := 0x80 | op
	if rsv1 {
		b0 |= 0x40
	}
	switch n := len(payload); {
	case n <= 125:
		b = append(b, b0, byte(n))
	case n <= 0xffff:
		b = append(b, b0, 126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, b0, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}
