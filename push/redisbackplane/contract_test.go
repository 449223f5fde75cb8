package redisbackplane

import (
	"testing"

	"github.com/rcgateway/rcgateway/internal/redistest"
	"github.com/rcgateway/rcgateway/push"
	"github.com/rcgateway/rcgateway/push/backplanetest"
)

// TestBackplaneContract runs push's backplane contract on two hubs, each with its own
// Backplane on one real redis-server.
func TestBackplaneContract(t *testing.T) {
	backplanetest.Run(t, 2, func(t *testing.T, n int) []push.Backplane {
		r := redistest.Start(t)
		bps := make([]push.Backplane, n)
		for i := range bps {
			b, err := New(Options{URL: r.URL()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = b.Close() })
			bps[i] = b
		}
		return bps
	})
}
