package push

import (
	"bufio"
	"bytes"
	"net"
	"net/http"

	"github.com/coder/websocket"
)

// Buffers of a browser's WebSocket. net/http hands a hijacked connection its own 4 KiB
// reader and 4 KiB writer, and coder/websocket keeps both for the socket's life: 8 KiB of
// every idle tab. A browser sends little (the handshake, pings, acknowledgements, small
// invocations), and one push record fits in the writer; a longer write costs a second write
// call (as one longer than 4 KiB did before), never a lost byte.
const (
	sockReadBuffer  = 1 << 10
	sockWriteBuffer = 2 << 10
)

// acceptWebSocket upgrades a SignalR WebSocket request with the hub's options and buffers.
func acceptWebSocket(w http.ResponseWriter, r *http.Request) (*websocket.Conn, error) {
	return websocket.Accept(smallBuffers{w}, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled, InsecureSkipVerify: true})
}

// smallBuffers is a ResponseWriter whose Hijack returns the connection with sockReadBuffer
// and sockWriteBuffer buffers instead of net/http's, which become garbage.
type smallBuffers struct{ http.ResponseWriter }

func (s smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	// net/http has written the 101 answer and hands over an empty writer.
	nc, brw, err := http.NewResponseController(s.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// Bytes the client sent right behind its upgrade request (a pipelined first frame) sit in
	// net/http's reader: they are read first.
	if n := brw.Reader.Buffered(); n > 0 {
		pre, _ := brw.Reader.Peek(n)
		nc = &prefixConn{Conn: nc, pre: bytes.Clone(pre)}
	}
	return nc, bufio.NewReadWriter(bufio.NewReaderSize(nc, sockReadBuffer), bufio.NewWriterSize(nc, sockWriteBuffer)), nil
}

// Unwrap lets http.ResponseController reach the server's writer.
func (s smallBuffers) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// prefixConn reads pre before the connection.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		if len(c.pre) == 0 {
			c.pre = nil
		}
		return n, nil
	}
	return c.Conn.Read(p)
}
