package push

import "sync"

// sendQueue holds the records waiting for one connection's writer, at most max of them. It
// takes no memory while empty beyond a one-slot signal channel (a channel of max slots cost
// every idle connection 3 KiB), and its writer takes everything queued at once.
type sendQueue struct {
	mu    sync.Mutex
	recs  [][]byte
	max   int
	ready chan struct{} // holds a token while recs may be non-empty
}

func newSendQueue(max int) sendQueue {
	return sendQueue{max: max, ready: make(chan struct{}, 1)}
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
	q.mu.Unlock()
	if first {
		select {
		case q.ready <- struct{}{}:
		default:
		}
	}
	return true
}

// take appends every queued record to buf, in order, and empties the queue. After a wake on
// ready it may find nothing (the queue was cleared meanwhile).
func (q *sendQueue) take(buf []byte) []byte {
	q.mu.Lock()
	defer q.mu.Unlock()
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
