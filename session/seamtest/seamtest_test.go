package seamtest

import (
	"testing"

	"github.com/rcgateway/rcgateway/session"
)

// TestLocalSeams runs the contract on the single-node implementations: both "nodes" are
// one process's state, leases carry no watermark and do not expire.
func TestLocalSeams(t *testing.T) {
	Run(t, func(t *testing.T) Setup {
		n := Node{Leaser: session.NewLocalLeaser(), Tokens: session.NewMemoryTokenStore(),
			Presence: session.NewLocalPresence(), Tombstones: session.NewMemoryTombstones()}
		return Setup{Nodes: [2]Node{n, n}}
	})
}
