package redisstore

import (
	"testing"
	"time"

	"github.com/rcgateway/rcgateway/internal/redistest"
	"github.com/rcgateway/rcgateway/session/seamtest"
)

// TestSeamContract runs the session seams' contract on two Stores (two nodes) sharing one
// real redis-server: leases carry the watermark and expire.
func TestSeamContract(t *testing.T) {
	seamtest.Run(t, func(t *testing.T) seamtest.Setup {
		r := redistest.Start(t)
		var s seamtest.Setup
		for i, id := range []string{"n1", "n2"} {
			st := newStore(t, r.URL(), id, 15*time.Second)
			s.Nodes[i] = seamtest.Node{Leaser: st, Tokens: st, Presence: st, Tombstones: st}
		}
		s.Watermark, s.LeaseExpires = true, true
		return s
	})
}
