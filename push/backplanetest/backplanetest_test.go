package backplanetest

import (
	"testing"

	"github.com/rcgateway/rcgateway/push"
)

// TestMemoryBackplane runs the contract on the single-node backplane: one hub.
func TestMemoryBackplane(t *testing.T) {
	Run(t, 1, func(t *testing.T, n int) []push.Backplane {
		bps := make([]push.Backplane, n)
		for i := range bps {
			b := push.NewMemoryBackplane()
			t.Cleanup(func() { _ = b.Close() })
			bps[i] = b
		}
		return bps
	})
}
