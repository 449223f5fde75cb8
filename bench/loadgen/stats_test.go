package main

import (
	"fmt"
	"testing"
)

func frame(seqs ...int) []byte {
	var b []byte
	for _, s := range seqs {
		b = fmt.Appendf(b, `{"type":1,"target":"getRoomMessageNotification","arguments":[{"_id":"m","bench":{"seq":%d,"sent":%d}}]}`+"\x1e", s, 1000+s)
	}
	return b
}

func TestTrackCountsGapsAndReorders(t *testing.T) {
	var tr track
	tr.observe(frame(1, 2, 3), 2000, true)
	tr.observe(frame(6), 2000, true)    // 4 and 5 missing
	tr.observe(frame(5, 7), 2000, true) // 5 late: a reorder
	tr.observe([]byte(`{"type":6}`+"\x1e"), 2000, true)
	if tr.deliveries != 6 || tr.gaps != 2 || tr.reorders != 1 || tr.last != 7 {
		t.Fatalf("track = %+v", tr)
	}
	if len(tr.lat) != 6 || tr.lat[0] != 2000-1001 {
		t.Fatalf("latencies = %v", tr.lat)
	}
}

func TestPercentile(t *testing.T) {
	v := sortedCopy([]int64{5000, 1000, 3000, 2000, 4000})
	if p := percentile(v, 50); p != 3 {
		t.Fatalf("p50 = %v µs, want 3", p)
	}
	if p := percentile(v, 100); p != 5 {
		t.Fatalf("p100 = %v µs, want 5", p)
	}
	if percentile(nil, 50) != 0 {
		t.Fatal("empty percentile")
	}
}
