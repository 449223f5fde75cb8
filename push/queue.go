package push

import "sync"

// sendQueue holds the records waiting for one connection's writer, at most max of them. It
// takes no memory while empty beyond a one-slot signal channel (a channel of max slots cost
// every idle connection 3 KiB), and its writer takes everything queued at once.
//
// Two kinds of writer drain it. The SSE and long-polling loops wait on ready. A WebSocket's
// writer (sockWriter, attached while the socket lives) has no goroutine while the queue is
// empty: the record that finds no writer running starts one, and the writer ends when it
// finds nothing left. An idle WebSocket connection then holds one goroutine, its reader.
type sendQueue struct {
	mu    sync.Mutex
	recs  [][]byte
	max   int
	ready chan struct{} // holds a token while recs may be non-empty (no socket attached)

	sock    *sockWriter     // the attached WebSocket's writer, nil if none
	writing bool            // sock's goroutine runs (or its socket failed: none may start)
	done    <-chan struct{} // the connection's end: the writer then writes its last records
}

func newSendQueue(max int, done <-chan struct{}) sendQueue {
	return sendQueue{max: max, ready: make(chan struct{}, 1), done: done}
}

// push queues rec; false when max records already wait.
func (q *sendQueue) push(rec []byte) bool {
	q.mu.Lock()
	if len(q.recs) >= q.max {
		q.mu.Unlock()
		return false
	}
	q.recs = append(q.recs, rec)
	first := len(q.recs) == 1
	sock, w := q.sock, q.startLocked()
	q.mu.Unlock()
	switch {
	case w != nil:
		go w.run()
	case first && sock == nil:
		select {
		case q.ready <- struct{}{}:
		default:
		}
	}
	return true
}

// startLocked claims the right to run the attached writer's goroutine: it returns the writer
// to start, or nil when there is none or it runs already. The writer's WaitGroup counts it
// from here, under mu, so detach-then-Wait cannot miss it.
func (q *sendQueue) startLocked() *sockWriter {
	if q.sock == nil || q.writing {
		return nil
	}
	q.writing = true
	q.sock.wg.Add(1)
	return q.sock
}

// kick starts the attached writer unless it runs: the connection ended, or a socket was
// attached with something to write first.
func (q *sendQueue) kick() {
	q.mu.Lock()
	w := q.startLocked()
	q.mu.Unlock()
	if w != nil {
		go w.run()
	}
}

// attach makes w the queue's writer. It returns w when w must run at once, which the caller
// starts (go w.run()): when start says so (it has a preamble), when records wait, or when the
// connection has ended (for its last records and close frame).
func (q *sendQueue) attach(w *sockWriter, start bool) *sockWriter {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sock, q.writing = w, false
	select {
	case <-q.done: // closed before the socket was attached: its kick found no writer
		start = true
	default:
	}
	if start || len(q.recs) > 0 {
		return q.startLocked()
	}
	return nil
}

// detach lets go of w: no new goroutine of it starts. One already running ends on its own
// (its socket is aborted by the caller), and the caller waits for it on w.wg.
func (q *sendQueue) detach(w *sockWriter) {
	q.mu.Lock()
	if q.sock == w {
		q.sock, q.writing = nil, false
	}
	q.mu.Unlock()
}

// next is w's turn: it appends every queued record to buf. more is false when there was
// nothing, and the writer must end (it no longer counts as running); last is true when the
// connection has ended, and the writer must write buf, the final record and close.
func (q *sendQueue) next(w *sockWriter, buf []byte) (out []byte, more, last bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.sock != w {
		return buf, false, false // detached: the socket is being let go of
	}
	select {
	case <-q.done:
		return q.takeLocked(buf), true, true
	default:
	}
	if len(q.recs) == 0 {
		q.writing = false
		return buf, false, false
	}
	return q.takeLocked(buf), true, false
}

// failed keeps w's socket from starting any other writer: a write on it failed, and its
// reader is about to see the socket broken.
func (q *sendQueue) failed(w *sockWriter) {
	q.mu.Lock()
	if q.sock == w {
		q.writing = true
	}
	q.mu.Unlock()
}

// take appends every queued record to buf, in order, and empties the queue. After a wake on
// ready it may find nothing (the queue was cleared meanwhile).
func (q *sendQueue) take(buf []byte) []byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.takeLocked(buf)
}

func (q *sendQueue) takeLocked(buf []byte) []byte {
	for i, r := range q.recs {
		buf = append(buf, r...)
		q.recs[i] = nil
	}
	if cap(q.recs) > 16 {
		q.recs = nil // a burst's backing array is not kept by an idle connection
	} else {
		q.recs = q.recs[:0]
	}
	return buf
}

// len is the number of records waiting.
func (q *sendQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.recs)
}

// clear drops every queued record (a resumed connection replays them from its buffer).
func (q *sendQueue) clear() {
	q.mu.Lock()
	clear(q.recs)
	q.recs = q.recs[:0]
	q.mu.Unlock()
}
