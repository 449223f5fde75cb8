package push

import (
	"sync"
	"sync/atomic"
)

// sentKeysWindow is how many keyed records a user's connections on this node remember. A
// repeat comes from a resync, which repeats at most the few seconds before a takeover or a
// gap (rcgateway's session layer: one lease renewal plus its slack, about 10 s), and while
// the repeating node takes over nothing new is sent under the user's keys; 1,024 covers a
// user who receives 100 keyed records a second through that window.
const sentKeysWindow = 1024

// sentKeys remembers, for one user on this node, the hashed keys of the last sentKeysWindow
// keyed records and when each was first delivered (a tick of Hub.keyTick). A repeat goes
// only to the user's connections registered after that tick: those that were there got the
// record. It costs a small struct until the user's first keyed record, then grows with use.
type sentKeys struct {
	mu   sync.Mutex
	at   map[uint64]int64
	ring []uint64
	next int
}

// seen reports the tick at which k was first delivered, or records k now (a new tick from
// tick) and reports 0.
func (s *sentKeys) seen(k uint64, tick *atomic.Int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if at, ok := s.at[k]; ok {
		return at
	}
	if s.at == nil {
		s.at = make(map[uint64]int64, 8)
	}
	if len(s.ring) < sentKeysWindow {
		s.ring = append(s.ring, k)
	} else {
		delete(s.at, s.ring[s.next])
		s.ring[s.next] = k
		s.next = (s.next + 1) % sentKeysWindow
	}
	s.at[k] = tick.Add(1)
	return 0
}
