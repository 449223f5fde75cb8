package seamtest

import (
	"testing"
	"testing/synctest"

	"github.com/rcgateway/rcgateway/session"
)

// TestLocalSeams runs the contract on the single-node implementations: both "nodes" are
// one process's state, leases carry no watermark and do not expire. They use only
// in-process time, so each case runs in a synctest bubble: the TTLs pass on the fake clock.
func TestLocalSeams(t *testing.T) {
	for _, c := range Cases() {
		t.Run(c.Name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := Node{Leaser: session.NewLocalLeaser(), Tokens: session.NewMemoryTokenStore(),
					Presence: session.NewLocalPresence(), Tombstones: session.NewMemoryTombstones()}
				c.Run(t, Setup{Nodes: [2]Node{n, n}})
			})
		})
	}
}
