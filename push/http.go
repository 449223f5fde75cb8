package push

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// transportWriteTimeout bounds one write to a client (ASP.NET's TransportSendTimeout).
const transportWriteTimeout = 10 * time.Second

// ServeHTTP serves negotiate and the three transports under the hub's path.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch path {
	case h.o.Path + "/negotiate":
		h.negotiate(w, r)
	case h.o.Path:
		h.serveConnection(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (h *Hub) authenticate(w http.ResponseWriter, r *http.Request) (string, time.Time, bool) {
	user, exp, err := h.o.Authenticate(r)
	if err != nil || user == "" {
		w.Header().Set("WWW-Authenticate", "Bearer")
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return "", time.Time{}, false
	}
	return user, exp, true
}

// allowNegotiate asks Options.AllowNegotiate for a new connection of user; a refusal
// answers 429 with Retry-After (whole seconds, at least 1).
func (h *Hub) allowNegotiate(w http.ResponseWriter, user string) bool {
	if h.o.AllowNegotiate == nil {
		return true
	}
	ok, wait := h.o.AllowNegotiate(user)
	if ok {
		return true
	}
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int((wait+time.Second-1)/time.Second))))
	http.Error(w, "Too Many Requests", http.StatusTooManyRequests)
	return false
}

func tooManyConnections(w http.ResponseWriter) {
	http.Error(w, "Too many connections for this user", http.StatusTooManyRequests)
}

type negotiateTransport struct {
	Transport       string   `json:"transport"`
	TransferFormats []string `json:"transferFormats"`
}

var availableTransports = []negotiateTransport{
	{"WebSockets", []string{"Text", "Binary"}},
	{"ServerSentEvents", []string{"Text"}},
	{"LongPolling", []string{"Text", "Binary"}},
}

func (h *Hub) negotiate(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	user, exp, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	version := 0
	if v := q.Get("negotiateVersion"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeJSON(w, map[string]string{"error": "The client requested an invalid protocol version '" + v + "'"})
			return
		}
		version = min(n, 1)
	}
	if !h.allowNegotiate(w, user) {
		return
	}
	c := h.newConn(user)
	c.extendExpiry(exp)
	if version == 0 {
		c.token = c.id
	}
	c.allowStateful = q.Get("useStatefulReconnect") == "true"
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
		return
	}
	if !h.admitLocked(c) {
		h.mu.Unlock()
		tooManyConnections(w)
		return
	}
	h.mu.Unlock()
	resp := struct {
		NegotiateVersion     int                  `json:"negotiateVersion"`
		ConnectionID         string               `json:"connectionId"`
		ConnectionToken      string               `json:"connectionToken,omitempty"`
		AvailableTransports  []negotiateTransport `json:"availableTransports"`
		UseStatefulReconnect bool                 `json:"useStatefulReconnect,omitempty"`
	}{version, c.id, "", availableTransports, c.allowStateful}
	if version > 0 {
		resp.ConnectionToken = c.token
	}
	writeJSON(w, resp)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache, no-store")
	_ = json.NewEncoder(w).Encode(v)
}

func noCache(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-cache, no-store")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Expires", "Thu, 01 Jan 1970 00:00:00 GMT")
}

func (h *Hub) serveConnection(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("id")
	isWS := r.Method == http.MethodGet && strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
	if token == "" {
		if isWS { // skipNegotiation: a WebSocket without negotiate
			user, exp, ok := h.authenticate(w, r)
			if !ok {
				return
			}
			if !h.allowNegotiate(w, user) {
				return
			}
			c := h.newConn(user)
			c.extendExpiry(exp)
			h.mu.Lock()
			if h.closed {
				h.mu.Unlock()
				http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
				return
			}
			if !h.admitLocked(c) {
				h.mu.Unlock()
				tooManyConnections(w)
				return
			}
			h.byID[c.id] = c
			h.mu.Unlock()
			c.transport.Store(transportWebSockets)
			h.serveWebSocket(w, r, c)
			return
		}
		http.Error(w, "Connection ID required", http.StatusBadRequest)
		return
	}
	user, exp, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	h.mu.RLock()
	c := h.byToken[token]
	h.mu.RUnlock()
	if c == nil || c.userID != user || c.removed.Load() {
		http.Error(w, "No Connection with that ID", http.StatusNotFound)
		return
	}
	c.extendExpiry(exp)
	switch {
	case isWS:
		if err := c.bind(transportWebSockets); err != nil {
			if c.stateful.Load() {
				h.resumeWebSocket(w, r, c)
				return
			}
			bindRefused(w, c, err)
			return
		}
		h.track(c)
		h.serveWebSocket(w, r, c)
	case r.Method == http.MethodGet && strings.Contains(r.Header.Get("Accept"), "text/event-stream"):
		if err := c.bind(transportSSE); err != nil {
			bindRefused(w, c, err)
			return
		}
		h.track(c)
		h.serveSSE(w, r, c)
	case r.Method == http.MethodGet:
		if err := c.bind(transportLongPolling); err != nil {
			bindRefused(w, c, err)
			return
		}
		h.track(c)
		h.servePoll(w, r, c)
	case r.Method == http.MethodPost:
		h.servePost(w, r, c)
	case r.Method == http.MethodDelete:
		if c.transport.Load() != transportLongPolling {
			http.Error(w, "Cannot terminate this connection using the DELETE endpoint.", http.StatusBadRequest)
			return
		}
		c.close(nil, CloseClientClosed)
		// Forgotten now, not after DisconnectTimeout: by the poll in flight when it ends,
		// or here if none is.
		c.deleted.Store(true)
		if !c.polling.Load() {
			h.remove(c)
		}
		w.WriteHeader(http.StatusAccepted)
	default:
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
	}
}

// bindRefused answers a transport request the connection cannot take: 404 once it has
// ended, 409 for a second stream of its transport, 400 for another transport.
func bindRefused(w http.ResponseWriter, c *conn, err error) {
	switch {
	case c.isClosed():
		http.Error(w, "No Connection with that ID", http.StatusNotFound)
	case errors.Is(err, errAlreadyBound):
		http.Error(w, "Conflict", http.StatusConflict)
	default:
		http.Error(w, err.Error(), http.StatusBadRequest)
	}
}

// track makes a connection that started a transport addressable by id.
func (h *Hub) track(c *conn) {
	h.mu.Lock()
	h.byID[c.id] = c
	h.mu.Unlock()
}

func (h *Hub) serveWebSocket(w http.ResponseWriter, r *http.Request, c *conn) {
	ws, err := acceptWebSocket(w, r)
	if err != nil {
		c.close(nil, CloseTransportLost)
		h.remove(c)
		return
	}
	done := make(chan struct{})
	c.smu.Lock()
	c.st.ws, c.st.wsDone = ws, done
	c.smu.Unlock()
	h.goSocket(c, ws, nil, done)
}

// goSocket runs a hijacked WebSocket (runWebSocket) on a goroutine of the hub's, ended by
// Close, and lets the HTTP handler return. The handler's goroutine comes through the router
// and the middleware and keeps the stack it grew there; an idle connection parked on it would
// hold that stack for its whole life. done is closed once the socket is let go of; when the
// hub is closing, at once, having ended the connection.
func (h *Hub) goSocket(c *conn, ws *websocket.Conn, preamble []byte, done chan struct{}) {
	h.mu.Lock()
	if h.closed { // Close may already be waiting for the hub's goroutines
		h.mu.Unlock()
		close(done)
		ws.CloseNow()
		c.close(nil, CloseShutdown)
		h.remove(c)
		return
	}
	h.wg.Add(1)
	h.mu.Unlock()
	go func() {
		defer h.wg.Done()
		defer close(done)
		h.runWebSocket(h.ctx, c, ws, preamble)
	}()
}

// resumeWebSocket takes a stateful connection's new socket after a drop.
func (h *Hub) resumeWebSocket(w http.ResponseWriter, r *http.Request, c *conn) {
	if !c.supersede(r.Context()) {
		http.Error(w, "Conflict", http.StatusConflict)
		return
	}
	ws, err := acceptWebSocket(w, r)
	if err != nil {
		return
	}
	done := make(chan struct{})
	preamble, ok := c.resume(ws, done)
	if !ok {
		close(done)
		ws.CloseNow()
		return
	}
	h.goSocket(c, ws, preamble, done)
}

// runWebSocket reads from one socket of c; its sockWriter writes to it. When the socket
// drops without a close on a stateful connection, c stays for a resume.
func (h *Hub) runWebSocket(parent context.Context, c *conn, ws *websocket.Conn, preamble []byte) {
	ws.SetReadLimit(int64(h.maxRecv)*4 + 64<<10)
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	w := &sockWriter{c: c, ws: ws, preamble: preamble, stop: ctx.Done()}
	if w := c.q.attach(w, len(preamble) > 0); w != nil {
		go w.run()
	}
	suspended := false
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) == -1 && c.suspend() {
				suspended = true
			} else if websocket.CloseStatus(err) != -1 {
				c.close(nil, CloseClientClosed)
			} else {
				c.close(nil, CloseTransportLost)
			}
			break
		}
		if err := c.receive(ctx, data); err != nil {
			h.log.Debug("push: closing connection after bad input", "conn", c.id, "err", err)
			break
		}
	}
	if suspended {
		// The connection waits for a new socket: this one's writer stops, and the queue
		// is the next socket's.
		c.q.detach(w)
		cancel()
		ws.CloseNow()
	}
	// Every other way out closed c first, which started the writer for its last records
	// and the close frame (close kicks the queue before it returns).
	w.wg.Wait()
	if !suspended {
		h.remove(c)
	}
}

// sockWriter writes a connection's queued records to one WebSocket. It has a goroutine only
// while there is something to write (sendQueue starts it), and writes everything queued in
// one frame, so a burst costs one write.
type sockWriter struct {
	c        *conn
	ws       *websocket.Conn
	preamble []byte          // written first (a resume's replay), by the first goroutine
	stop     <-chan struct{} // the socket's reader ended
	wg       sync.WaitGroup  // the running goroutine, waited for by the reader
}

// writeBufs holds writers' buffers between bursts: an idle connection keeps none.
var writeBufs = sync.Pool{New: func() any { return new([]byte) }}

func (w *sockWriter) run() {
	defer w.wg.Done()
	c := w.c
	// Nothing is written before the connection is registered: the handshake answer is
	// queued before that, and every send after it must reach a client that has seen it.
	select {
	case <-c.started:
	case <-c.done:
	case <-w.stop:
		return
	}
	bp := writeBufs.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 64<<10 {
			*bp = (*bp)[:0]
			writeBufs.Put(bp)
		}
	}()
	if p := w.preamble; len(p) > 0 {
		w.preamble = nil
		if err := w.write(p); err != nil {
			w.fail()
			return
		}
	}
	for {
		buf, more, last := c.q.next(w, (*bp)[:0])
		*bp = buf
		if !more {
			return
		}
		if last {
			if buf = append(buf, c.finalRec...); len(buf) > 0 {
				_ = w.write(buf)
			}
			_ = w.ws.Close(websocket.StatusNormalClosure, "")
			return
		}
		if err := w.write(buf); err != nil {
			w.fail()
			return
		}
	}
}

// fail aborts the socket after a failed write; the reader sees it broken and closes or
// suspends the connection.
func (w *sockWriter) fail() {
	w.c.q.failed(w)
	w.ws.CloseNow()
}

func (w *sockWriter) write(b []byte) error {
	c := w.c
	typ := websocket.MessageText
	if c.protocol().Binary() {
		typ = websocket.MessageBinary
	}
	// No per-write context (it would allocate a timer on every write): the heartbeat aborts
	// a socket whose write has been stuck for transportWriteTimeout.
	c.writingSince.Store(time.Now().UnixNano())
	err := w.ws.Write(context.Background(), typ, b)
	now := time.Now().UnixNano()
	c.writingSince.Store(0)
	c.lastSent.Store(now)
	return err
}

func (h *Hub) serveSSE(w http.ResponseWriter, r *http.Request, c *conn) {
	defer h.remove(c)
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	noCache(w)
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, ":\r\n")
	fl.Flush()
	rc := http.NewResponseController(w)
	buf := make([]byte, 0, 4096)
	write := func(records []byte) error {
		buf = append(append(append(buf[:0], "data: "...), records...), "\r\n\r\n"...)
		_ = rc.SetWriteDeadline(time.Now().Add(transportWriteTimeout))
		_, err := w.Write(buf)
		if err == nil {
			err = rc.Flush()
		}
		c.lastSent.Store(time.Now().UnixNano())
		return err
	}
	var recs []byte
	c.waitStarted(r.Context())
	for {
		select {
		case <-c.q.ready:
			if recs = c.drain(recs[:0]); len(recs) == 0 {
				continue
			}
			if err := write(recs); err != nil {
				c.close(nil, CloseTransportLost)
				return
			}
		case <-c.done:
			recs = append(c.drain(recs[:0]), c.finalRec...)
			if len(recs) > 0 {
				_ = write(recs)
			}
			return
		case <-r.Context().Done():
			c.close(nil, CloseTransportLost)
			return
		}
	}
}

func (h *Hub) servePoll(w http.ResponseWriter, r *http.Request, c *conn) {
	noCache(w)
	if !c.polling.CompareAndSwap(false, true) {
		http.Error(w, "Conflict", http.StatusConflict)
		return
	}
	// The poll ends before its answer is written: a client that has read the answer may
	// poll again at once, and that poll must not conflict with this one.
	var endOnce sync.Once
	endPoll := func() {
		endOnce.Do(func() {
			c.lastActive.Store(time.Now().UnixNano())
			c.polling.Store(false)
		})
	}
	defer func() {
		endPoll()
		if c.deleted.Load() {
			h.remove(c)
		}
	}()
	w.Header().Set("Content-Type", "application/octet-stream")
	if !c.handshaken.Load() && c.lastSent.Load() == c.created.UnixNano() && c.q.len() == 0 && !c.isClosed() {
		// The first poll answers at once: the client then sends its handshake.
		c.lastSent.Store(time.Now().UnixNano())
		endPoll()
		w.WriteHeader(http.StatusOK)
		return
	}
	t := time.NewTimer(h.o.PollTimeout)
	defer t.Stop()
	var body []byte
	select {
	case <-c.started:
	case <-c.done:
	case <-t.C:
		endPoll()
		w.WriteHeader(http.StatusOK)
		return
	case <-r.Context().Done():
		return
	}
	select {
	case <-c.q.ready:
		// Nothing else takes from a polled connection's queue, so this finds what woke
		// it; were it empty, the answer is an empty 200, as at the poll timeout.
		body = c.drain(nil)
	case <-c.done:
		if !c.finalSent.CompareAndSwap(false, true) {
			h.remove(c)
			endPoll()
			w.WriteHeader(http.StatusNoContent)
			return
		}
		body = append(c.drain(nil), c.finalRec...)
		if len(body) == 0 {
			h.remove(c)
			endPoll()
			w.WriteHeader(http.StatusNoContent)
			return
		}
	case <-t.C:
	case <-r.Context().Done():
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	endPoll()
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	c.lastSent.Store(time.Now().UnixNano())
}

func (h *Hub) servePost(w http.ResponseWriter, r *http.Request, c *conn) {
	if c.transport.Load() == transportWebSockets {
		http.Error(w, "POST requests are not allowed on WebSocket connections.", http.StatusMethodNotAllowed)
		return
	}
	if c.isClosed() {
		http.Error(w, "No Connection with that ID", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(h.maxRecv)*4+64<<10))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			c.closeFor(CloseProtocolError)
			http.Error(w, "Request Entity Too Large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	c.lastActive.Store(time.Now().UnixNano())
	if err := c.receive(r.Context(), body); err != nil {
		h.log.Debug("push: closing connection after bad input", "conn", c.id, "err", err)
	}
	w.WriteHeader(http.StatusOK)
}
