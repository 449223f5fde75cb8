package main

import (
	"bytes"
	"slices"
	"strconv"
	"sync"
	"time"
)

// track follows one connection's stream of one user's events: it counts deliveries, the
// events missing between sequence numbers and any that arrive out of order, and keeps
// each event's latency (receive time minus the upstream's send time).
type track struct {
	last       uint64
	deliveries uint64
	gaps       uint64
	reorders   uint64
	lat        []int64 // ns
}

var (
	seqKey  = []byte(`"bench":{"seq":`)
	sentKey = []byte(`,"sent":`)
)

// observe records every benchmark event found in one received frame.
func (t *track) observe(frame []byte, now int64, keepLatency bool) {
	for {
		i := bytes.Index(frame, seqKey)
		if i < 0 {
			return
		}
		frame = frame[i+len(seqKey):]
		seq, n := leadingUint(frame)
		if n == 0 {
			continue
		}
		frame = frame[n:]
		var sent int64
		if bytes.HasPrefix(frame, sentKey) {
			v, m := leadingUint(frame[len(sentKey):])
			sent = int64(v)
			frame = frame[len(sentKey)+m:]
		}
		t.deliveries++
		switch {
		case seq <= t.last:
			t.reorders++
		case seq > t.last+1 && t.last != 0:
			t.gaps += seq - t.last - 1
		}
		if seq > t.last {
			t.last = seq
		}
		if keepLatency && sent > 0 {
			t.lat = append(t.lat, now-sent)
		}
	}
}

func leadingUint(b []byte) (uint64, int) {
	n := 0
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		n++
	}
	v, err := strconv.ParseUint(string(b[:n]), 10, 64)
	if err != nil {
		return 0, 0
	}
	return v, n
}

// totals sums tracks.
type totals struct {
	mu                         sync.Mutex
	deliveries, gaps, reorders uint64
	lat                        []int64
}

func (s *totals) add(t *track) {
	s.mu.Lock()
	s.deliveries += t.deliveries
	s.gaps += t.gaps
	s.reorders += t.reorders
	s.lat = append(s.lat, t.lat...)
	s.mu.Unlock()
}

// percentile returns the p-th percentile (0..100) of the latencies in microseconds.
func percentile(sorted []int64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return float64(sorted[i]) / float64(time.Microsecond)
}

func sortedCopy(v []int64) []int64 {
	c := slices.Clone(v)
	slices.Sort(c)
	return c
}
