package push

import "sync"

// sentKeysWindow is how many keyed records a connection remembers. A repeat comes from a
// resync, which repeats at most the few seconds before a takeover or a gap (rcgateway's
// session layer: one lease renewal plus its slack, about 10 s), and while the repeating
// node takes over nothing new is sent under the user's keys; 1,024 covers a user who
// receives 100 keyed records a second through that window.
const sentKeysWindow = 1024

// sentKeys remembers the hashed keys of the last sentKeysWindow keyed records sent on one
// connection. It costs nothing until the first keyed record, then grows with use.
type sentKeys struct {
	mu   sync.Mutex
	set  map[uint64]struct{}
	ring []uint64
	next int
}

// first records k and reports whether it was not already there.
func (s *sentKeys) first(k uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.set[k]; ok {
		return false
	}
	if s.set == nil {
		s.set = make(map[uint64]struct{}, 8)
	}
	if len(s.ring) < sentKeysWindow {
		s.ring = append(s.ring, k)
	} else {
		delete(s.set, s.ring[s.next])
		s.ring[s.next] = k
		s.next = (s.next + 1) % sentKeysWindow
	}
	s.set[k] = struct{}{}
	return true
}
