// Package pushtest is a small SignalR client for tests (negotiate, WebSocket, JSON hub
// protocol) and, for benchmarks, a fleet of browser connections in a child process
// (Browsers). It is written from the wire format, independently of package push.
package pushtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/coder/websocket"
)

// Invocation is a server-to-client call.
type Invocation struct {
	Target    string
	Arguments []json.RawMessage
}

// CloseMessage is the server's Close hub message.
type CloseMessage struct {
	Error          string
	AllowReconnect bool
}

// Client is one SignalR connection.
type Client struct {
	ConnectionID string
	// Invocations receives every server invocation in order; it is closed when the
	// connection ends. Close, if the server sent one, is then in Closed.
	Invocations chan Invocation

	ws      *websocket.Conn
	cancel  context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex
	closed  *CloseMessage
	err     error
	nextID  int
	pending map[string]chan completion
	wmu     sync.Mutex
}

type completion struct {
	result json.RawMessage
	err    string
}

// Dial negotiates at base (the hub URL, e.g. http://host/signalr) with the bearer token,
// opens the WebSocket and completes the JSON handshake. buffer sizes Invocations.
func Dial(ctx context.Context, base, token string, buffer int) (*Client, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+"/negotiate?negotiateVersion=1", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("pushtest: negotiate: %w", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &StatusError{Code: resp.StatusCode}
	}
	var n struct {
		ConnectionID    string `json:"connectionId"`
		ConnectionToken string `json:"connectionToken"`
		Error           string `json:"error"`
	}
	if err := json.Unmarshal(body, &n); err != nil || n.Error != "" {
		return nil, fmt.Errorf("pushtest: negotiate answer %q: %v", body, err)
	}
	u := strings.Replace(strings.TrimSuffix(base, "/"), "http", "ws", 1) + "?id=" + url.QueryEscape(n.ConnectionToken) + "&access_token=" + url.QueryEscape(token)
	ws, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		return nil, fmt.Errorf("pushtest: websocket: %w", err)
	}
	ws.SetReadLimit(16 << 20)
	if err := ws.Write(ctx, websocket.MessageText, []byte("{\"protocol\":\"json\",\"version\":1}\x1e")); err != nil {
		ws.CloseNow()
		return nil, err
	}
	_, hs, err := ws.Read(ctx)
	if err != nil {
		ws.CloseNow()
		return nil, fmt.Errorf("pushtest: handshake: %w", err)
	}
	recs := bytes.Split(hs, []byte{0x1e})
	if string(recs[0]) != "{}" {
		ws.CloseNow()
		return nil, fmt.Errorf("pushtest: handshake refused: %s", recs[0])
	}
	rctx, cancel := context.WithCancel(context.Background())
	c := &Client{ConnectionID: n.ConnectionID, Invocations: make(chan Invocation, buffer), ws: ws, cancel: cancel,
		done: make(chan struct{}), pending: map[string]chan completion{}}
	go c.read(rctx, recs[1:])
	return c, nil
}

// StatusError is a negotiate answer other than 200.
type StatusError struct{ Code int }

func (e *StatusError) Error() string { return "pushtest: negotiate: HTTP " + strconv.Itoa(e.Code) }

func (c *Client) read(ctx context.Context, first [][]byte) {
	defer close(c.done)
	defer close(c.Invocations)
	handle := func(recs [][]byte) bool {
		for _, r := range recs {
			if len(r) == 0 {
				continue
			}
			var m struct {
				Type           int               `json:"type"`
				Target         string            `json:"target"`
				Arguments      []json.RawMessage `json:"arguments"`
				InvocationID   string            `json:"invocationId"`
				Result         json.RawMessage   `json:"result"`
				Error          string            `json:"error"`
				AllowReconnect bool              `json:"allowReconnect"`
			}
			if err := json.Unmarshal(r, &m); err != nil {
				c.fail(fmt.Errorf("pushtest: bad record %q: %w", r, err))
				return false
			}
			switch m.Type {
			case 1:
				select {
				case c.Invocations <- Invocation{Target: m.Target, Arguments: m.Arguments}:
				case <-ctx.Done():
					return false
				}
			case 3:
				c.mu.Lock()
				ch := c.pending[m.InvocationID]
				delete(c.pending, m.InvocationID)
				c.mu.Unlock()
				if ch != nil {
					ch <- completion{m.Result, m.Error}
				}
			case 7:
				c.mu.Lock()
				c.closed = &CloseMessage{Error: m.Error, AllowReconnect: m.AllowReconnect}
				c.mu.Unlock()
			}
		}
		return true
	}
	if !handle(first) {
		return
	}
	for {
		_, data, err := c.ws.Read(ctx)
		if err != nil {
			c.fail(err)
			return
		}
		if !handle(bytes.Split(data, []byte{0x1e})) {
			return
		}
	}
}

func (c *Client) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	for id, ch := range c.pending {
		ch <- completion{err: "connection closed"}
		delete(c.pending, id)
	}
	c.mu.Unlock()
}

// Closed is the server's Close message, once the connection has ended (nil if none came).
func (c *Client) Closed() *CloseMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Invoke calls a hub method and waits for its completion.
func (c *Client) Invoke(ctx context.Context, method string, args ...any) (json.RawMessage, error) {
	c.mu.Lock()
	c.nextID++
	id := strconv.Itoa(c.nextID)
	ch := make(chan completion, 1)
	c.pending[id] = ch
	c.mu.Unlock()
	rec, err := json.Marshal(map[string]any{"type": 1, "invocationId": id, "target": method, "arguments": orEmpty(args)})
	if err != nil {
		return nil, err
	}
	if err := c.write(ctx, append(rec, 0x1e)); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		if r.err != "" {
			return nil, errors.New(r.err)
		}
		return r.result, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func orEmpty(a []any) []any {
	if a == nil {
		return []any{}
	}
	return a
}

// Write sends raw bytes (for bad-input tests).
func (c *Client) Write(ctx context.Context, b []byte) error { return c.write(ctx, b) }

// Ping sends a Ping message.
func (c *Client) Ping(ctx context.Context) error { return c.write(ctx, []byte("{\"type\":6}\x1e")) }

func (c *Client) write(ctx context.Context, b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.ws.Write(ctx, websocket.MessageText, b)
}

// Close closes the connection and waits for the reader.
func (c *Client) Close() error {
	c.cancel()
	c.ws.CloseNow()
	<-c.done
	return nil
}
