package realtime

import (
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDirectWrite: frames a socket takes at once are written whole and in
// order, one frame with write(2) and several with writev(2), and a delivery
// allocates nothing (the fan-out makes one per subscriber per message).
func TestDirectWrite(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer client.Close()
	server, err := ln.Accept()
	require.NoError(t, err)
	defer server.Close()
	raw, err := server.(syscall.Conn).SyscallConn()
	require.NoError(t, err)
	sock := &socket{direct: newDirectWrite(raw)}

	one := []outFrame{{data: appendFrame(nil, opText, false, []byte(`one`))}}
	two := []outFrame{{data: appendFrame(nil, opText, false, []byte(`two`))}, {data: appendFrame(nil, opText, false, []byte(`three`))}}
	var want []byte
	for _, fs := range [][]outFrame{one, two} {
		n, ok := sock.tryWrite(fs)
		require.True(t, ok)
		size := 0
		for _, f := range fs {
			want = append(want, f.data...)
			size += len(f.data)
		}
		require.Equal(t, size, n, "written whole")
	}
	got := make([]byte, len(want))
	_, err = io.ReadFull(client, got)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.Nil(t, sock.direct.b, "a written frame is not kept")
	for _, v := range sock.direct.iov[:cap(sock.direct.iov)] {
		assert.Nil(t, v.Base, "a written frame is not kept")
	}

	// The client reads nothing more: 2 × 200 small frames fit in the
	// socket's buffers.
	assert.Zero(t, testing.AllocsPerRun(200, func() { sock.tryWrite(one) }), "one frame")
	assert.Zero(t, testing.AllocsPerRun(200, func() { sock.tryWrite(two) }), "two frames")
}
