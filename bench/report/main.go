// Command report turns the loadgen JSON lines of a bench run into the ratio table of
// BENCHMARKS.md: for each workload, the measured figure of the gateway divided (or, for
// latency, subtracted) by its baseline from the same repetition, as median, min and max over
// the repetitions.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
)

type line struct {
	Label          string  `json:"label"` // "<workload>/<peer>/<rep>[/<size>]"
	Users          int     `json:"users"`
	Conns          int     `json:"conns"`
	ReadyS         float64 `json:"ready_s"`
	RSSKiB         int64   `json:"rss_kib"`
	Deliveries     uint64  `json:"deliveries"`
	Expected       uint64  `json:"expected"`
	Gaps           uint64  `json:"gaps"`
	Reorders       uint64  `json:"reorders"`
	P50us          float64 `json:"p50_us"`
	P99us          float64 `json:"p99_us"`
	CPUusPerDel    float64 `json:"cpu_us_per_delivery"`
	LoadgenCPUS    float64 `json:"loadgen_cpu_s"`
	ReconnectS     float64 `json:"reconnect_s"`
	ReconnectRatio float64 `json:"reconnect_ratio"`
	Errors         int64   `json:"errors"`
	ServerCPUS     float64 `json:"server_cpu_s"`
	QuietS         float64 `json:"quiet_s"`
	RoomMessages   uint64  `json:"room_messages"`
	RCFramesPer    float64 `json:"rc_frames_per_message"`
	RCBytesPer     float64 `json:"rc_bytes_per_message"`
}

func main() {
	in := flag.String("in", "", "loadgen JSON lines")
	flag.Parse()
	f, err := os.Open(*in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	defer f.Close()
	by := map[string]line{}
	reps := map[string]bool{}
	sizes := map[int]bool{} // W7 room sizes
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l line
		if json.Unmarshal(sc.Bytes(), &l) != nil || l.Label == "" {
			continue
		}
		by[l.Label] = l
		if p := strings.Split(l.Label, "/"); len(p) >= 3 {
			reps[p[2]] = true
			if p[0] == "W7" && len(p) == 4 {
				sizes[l.Users] = true
			}
		}
	}
	var rs []string
	for r := range reps {
		rs = append(rs, r)
	}
	slices.Sort(rs)
	var ns []int
	for n := range sizes {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	fmt.Print(table(by, rs, ns))
}

type row struct {
	name, unit, target string
	value              func(rep string) (float64, bool)
	note               func() string
}

func table(by map[string]line, reps []string, roomSizes []int) string {
	get := func(label string) (line, bool) { l, ok := by[label]; return l, ok }
	ratio := func(w, a, b string, f func(line) float64) func(string) (float64, bool) {
		return func(rep string) (float64, bool) {
			la, ok1 := get(w + "/" + a + "/" + rep)
			lb, ok2 := get(w + "/" + b + "/" + rep)
			if !ok1 || !ok2 || f(lb) == 0 {
				return 0, false
			}
			return f(la) / f(lb), true
		}
	}
	slope := func(peer string) func(string) (float64, bool) {
		return func(rep string) (float64, bool) {
			s, ok1 := get("W1/" + peer + "/" + rep + "/small")
			l, ok2 := get("W1/" + peer + "/" + rep + "/large")
			if !ok1 || !ok2 {
				return 0, false
			}
			dc := float64(l.Users*l.Conns - s.Users*s.Conns)
			return float64(l.RSSKiB-s.RSSKiB) / dc, true
		}
	}
	w1 := func(rep string) (float64, bool) {
		g, ok1 := slope("gateway")(rep)
		f, ok2 := slope("floor")(rep)
		if !ok1 || !ok2 || f <= 0 {
			return 0, false
		}
		return g / f, true
	}
	delta := func(f func(line) float64) func(string) (float64, bool) {
		return func(rep string) (float64, bool) {
			g, ok1 := get("W3/gateway/" + rep)
			d, ok2 := get("W3/ddp/" + rep)
			if !ok1 || !ok2 {
				return 0, false
			}
			return (f(g) - f(d)) / 1000, true
		}
	}
	sum := func(w, peer string, f func(line) uint64) func() string {
		return func() string {
			var n uint64
			for _, r := range reps {
				if l, ok := get(w + "/" + peer + "/" + r); ok {
					n += f(l)
				}
			}
			return fmt.Sprint(n)
		}
	}
	cpu := func(l line) float64 { return l.CPUusPerDel }
	lost := lostOf
	rows := []row{
		{"W1 idle memory per browser connection (slope), gateway ÷ floor", "×", "≤ 1.3", w1, func() string {
			g, _ := slope("gateway")(reps[0])
			f, _ := slope("floor")(reps[0])
			return fmt.Sprintf("rep 1: gateway %.1f KiB/conn, floor %.1f KiB/conn", g, f)
		}},
		{"W2 CPU per delivery, gateway ÷ floor", "×", "≤ 1.5", ratio("W2", "gateway", "floor", cpu), func() string {
			return "gateway lost " + sum("W2", "gateway", lost)() + ", reorders " + sum("W2", "gateway", func(l line) uint64 { return l.Reorders })()
		}},
		{"W3 Δp50 latency, gateway − direct DDP", "ms", "≤ 0.3", delta(func(l line) float64 { return l.P50us }), nil},
		{"W3 Δp99 latency, gateway − direct DDP", "ms", "≤ 2", delta(func(l line) float64 { return l.P99us }), nil},
		{"W4 login storm, time to all upstreams ready, gateway ÷ direct DDP", "×", "≤ 1.1", ratio("W4", "gateway", "ddp", func(l line) float64 { return l.ReadyS }), nil},
		{"W5 reconnect storm, browser side (stateful reconnect): time until every connection is back ÷ initial connect time", "×", "≤ 1.5", func(rep string) (float64, bool) {
			l, ok := get("W5/gateway/" + rep)
			return l.ReconnectRatio, ok && l.ReconnectRatio > 0
		}, func() string {
			l, _ := get("W5/floor/" + reps[0])
			return "gateway lost " + sum("W5", "gateway", lost)() + " of " + sum("W5", "gateway", func(l line) uint64 { return l.Expected })() +
				fmt.Sprintf("; rep 1: floor (no resume) %.2f×, lost %d of %d", l.ReconnectRatio, lost(l), l.Expected)
		}},
		{"W5 reconnect storm, upstream side: time until every user is subscribed again ÷ initial time (gateway)", "×", "≤ 1.5", func(rep string) (float64, bool) {
			l, ok := get("W5u/gateway/" + rep)
			return l.ReconnectRatio, ok && l.ReconnectRatio > 0
		}, func() string {
			return "lost " + sum("W5u", "gateway", lost)() + " of " + sum("W5u", "gateway", func(l line) uint64 { return l.Expected })() +
				", reorders " + sum("W5u", "gateway", func(l line) uint64 { return l.Reorders })()
		}},
		{"W6 CPU per delivery, gateway via Redis ÷ gateway in-process", "×", "≤ 1.1", ratio("W6", "gateway-redis", "gateway", cpu), func() string {
			return "lost via Redis " + sum("W6", "gateway-redis", lost)() + ", in-process " + sum("W6", "gateway", lost)()
		}},
	}
	for _, n := range roomSizes {
		size := fmt.Sprint(n)
		w7 := func(rep string) (line, bool) { return get("W7/gateway/" + rep + "/" + size) }
		rows = append(rows, row{fmt.Sprintf("W7 big room, %d members × 2 tabs: CPU per delivered push, gateway ÷ its W2", n), "×", "≤ 1.5", func(rep string) (float64, bool) {
			l, ok1 := w7(rep)
			w2, ok2 := get("W2/gateway/" + rep)
			if !ok1 || !ok2 || w2.CPUusPerDel == 0 || l.CPUusPerDel == 0 {
				return 0, false
			}
			return l.CPUusPerDel / w2.CPUusPerDel, true
		}, func() string {
			var lost, reorders, gaps uint64
			for _, r := range reps {
				if l, ok := w7(r); ok {
					lost, reorders, gaps = lost+lostOf(l), reorders+l.Reorders, gaps+l.Gaps
				}
			}
			l, _ := w7(reps[0])
			perMember := 0.0
			if l.RoomMessages > 0 {
				perMember = l.ServerCPUS * 1e6 / float64(l.RoomMessages) / float64(n)
			}
			return fmt.Sprintf("lost %d, reorders %d, gaps %d; rep 1: %.2f µs/push, Rocket.Chat sends %.0f frames and %.0f KiB per message, gateway %.1f µs CPU per member per message, p50 %.1f / p99 %.1f ms (loadgen %.1f s CPU on the core it shares with fakerc)",
				lost, reorders, gaps, l.CPUusPerDel, l.RCFramesPer, l.RCBytesPer/1024, perMember, l.P50us/1000, l.P99us/1000, l.LoadgenCPUS)
		}})
	}
	rows = append(rows, row{"W8 full node: p99 latency", "ms", "< 50, 0 lost", func(rep string) (float64, bool) {
		l, ok := get("W8/gateway/" + rep)
		return l.P99us / 1000, ok && l.Deliveries > 0
	}, func() string {
		l, _ := get("W8/gateway/" + reps[0])
		if l.Users == 0 {
			return ""
		}
		f, _ := get("W8/floor/" + reps[0])
		return fmt.Sprintf("lost %s of %s, reorders %s; rep 1: %d users × %d tabs, all subscribed after %.1f s, quiet %.1f s later; %.1f KiB RSS per user (%.0f MiB), %.2f µs CPU per delivery, p50 %.1f ms; floor: %.1f KiB per user, %.2f µs per delivery, p50 %.1f / p99 %.1f ms",
			sum("W8", "gateway", lost)(), sum("W8", "gateway", func(l line) uint64 { return l.Expected })(), sum("W8", "gateway", func(l line) uint64 { return l.Reorders })(),
			l.Users, l.Conns, l.ReadyS, l.QuietS, float64(l.RSSKiB)/float64(l.Users), float64(l.RSSKiB)/1024, l.CPUusPerDel, l.P50us/1000,
			float64(f.RSSKiB)/float64(max(f.Users, 1)), f.CPUusPerDel, f.P50us/1000, f.P99us/1000)
	}})
	var b strings.Builder
	b.WriteString("| workload | median | min | max | target | notes |\n|---|---|---|---|---|---|\n")
	for _, r := range rows {
		var v []float64
		for _, rep := range reps {
			if x, ok := r.value(rep); ok {
				v = append(v, x)
			}
		}
		note := ""
		if r.note != nil && len(reps) > 0 {
			note = r.note()
		}
		if len(v) == 0 {
			fmt.Fprintf(&b, "| %s | n/a | | | %s | not measured |\n", r.name, r.target)
			continue
		}
		slices.Sort(v)
		fmt.Fprintf(&b, "| %s | %.2f %s | %.2f | %.2f | %s | %s |\n", r.name, v[len(v)/2], r.unit, v[0], v[len(v)-1], r.target, note)
	}
	b.WriteString("\nRaw figures (per repetition):\n\n| label | users×conns | CPU µs/delivery | deliveries/expected | gaps | reorders | p50 µs | p99 µs | ready s | RSS KiB | loadgen CPU s |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	var labels []string
	for k := range by {
		labels = append(labels, k)
	}
	slices.Sort(labels)
	for _, k := range labels {
		l := by[k]
		fmt.Fprintf(&b, "| %s | %d×%d | %.2f | %d/%d | %d | %d | %.0f | %.0f | %.2f | %d | %.2f |\n", k, l.Users, l.Conns, l.CPUusPerDel, l.Deliveries, l.Expected, l.Gaps, l.Reorders, l.P50us, l.P99us, l.ReadyS, l.RSSKiB, l.LoadgenCPUS)
	}
	return b.String()
}

// lostOf: events emitted for a connection's user that the connection never received.
func lostOf(l line) uint64 {
	if l.Deliveries >= l.Expected {
		return 0
	}
	return l.Expected - l.Deliveries
}
