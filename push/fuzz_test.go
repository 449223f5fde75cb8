package push

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/rcgateway/rcgateway/push/signalr"
)

// FuzzReceive feeds arbitrary client bytes, split at an arbitrary point, to a WebSocket
// connection: handshake (JSON or MessagePack, versions 1 and 2 with stateful reconnect),
// then records of every type, dispatched to a registered method. Nothing may panic or
// hang, and the connection must still be removable.
//
//	go test -run '^$' -fuzz '^FuzzReceive$' -fuzztime 30s ./push
func FuzzReceive(f *testing.F) {
	hsJSON := "{\"protocol\":\"json\",\"version\":2}\x1e"
	f.Add([]byte(hsJSON+"{\"type\":1,\"invocationId\":\"1\",\"target\":\"add\",\"arguments\":[1,2]}\x1e{\"type\":6}\x1e"), uint16(40))
	f.Add([]byte(hsJSON+"{\"type\":9,\"sequenceId\":1}\x1e{\"type\":8,\"sequenceId\":5}\x1e{\"type\":7}\x1e"), uint16(3))
	f.Add([]byte(hsJSON+"{\"type\":4,\"invocationId\":\"2\",\"target\":\"x\",\"arguments\":[]}\x1e{\"type\":5,\"invocationId\":\"2\"}\x1e"), uint16(0))
	mp, _ := signalr.MessagePack.Append(nil, &signalr.Message{Type: signalr.Invocation, InvocationID: "1", Target: "add",
		Arguments: []json.RawMessage{json.RawMessage("1"), json.RawMessage("2")}})
	f.Add(append([]byte("{\"protocol\":\"messagepack\",\"version\":1}\x1e"), mp...), uint16(45))
	f.Add([]byte("{\"protocol\":\"messagepack\",\"version\":2}\x1e\x02\x91\x06\x04\x92\x09\xcc\x24"), uint16(50))
	f.Add([]byte("{\"protocol\":\"json\"\x1e"), uint16(5))

	h, err := NewHub(Options{Authenticate: testAuth, SendQueueSize: 16})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.Close(ctx)
	})
	h.On("add", func(_ context.Context, _ CallInfo, args []json.RawMessage) (any, error) {
		return len(args), nil
	})
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		c := h.newConn("fuzz")
		c.allowStateful = true
		c.transport.Store(transportWebSockets)
		h.mu.Lock()
		h.byToken[c.token], h.byID[c.id] = c, c
		h.mu.Unlock()
		k := int(cut) % (len(data) + 1)
		ctx := context.Background()
		if err := c.receive(ctx, data[:k]); err == nil {
			_ = c.receive(ctx, data[k:])
		}
		c.close(nil, CloseTransportLost)
		h.remove(c)
		if st := h.Stats(); st.Connections != 0 || st.Users != 0 {
			t.Fatalf("connection not forgotten: %+v", st)
		}
	})
}
