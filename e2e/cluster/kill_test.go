package cluster_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rcgateway/rcgateway/config"
	"github.com/rcgateway/rcgateway/internal/demotest"
	"github.com/rcgateway/rcgateway/push/pushtest"
)

// procNode is a gateway node running as a real rcgateway process (built from
// ./cmd/rcgateway), so that it can be killed with SIGKILL: no lease release, no logout,
// its sockets closed by the kernel.
type procNode struct {
	Base    string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
	once    sync.Once
	secrets []string // credentials the process knows of: masked in what the test logs
}

// startProcess runs bin as a cluster node configured as startNode configures the in-process
// ones (gatewaytest.Config: linger 300 ms; the cluster's JWT secret, API key and Redis), with
// its own node id, and waits for /readyz. Its output goes to a file whose tail is logged,
// with the test's secrets masked, when the test fails; the process is killed when the test
// ends.
func (c *cluster) startProcess(bin, nodeID string) *procNode {
	t := c.t
	t.Helper()
	dir := t.TempDir()
	addr := demotest.FreeAddr(t)
	adminUser, adminPass := c.rc.AdminCredentials()
	cfg := map[string]any{
		"rocketchat": map[string]any{
			"url":   c.rc.URL(),
			"admin": map[string]any{"username": adminUser, "password": adminPass},
		},
		"user_tokens": map[string]any{"create_token_secret": "create-secret", "linger": "300ms"},
		"auth": map[string]any{
			"jwt":      map[string]any{"hs256_secret": secret},
			"api_keys": []string{apiKey},
		},
		"http":     map[string]any{"listen": addr},
		"log":      map[string]any{"level": "debug"},
		"redis":    map[string]any{"url": c.redis.URL(), "node_id": nodeID},
		"shutdown": map[string]any{"timeout": "10s"},
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "rcgateway.yaml")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "rcgateway.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(bin, "serve", "-config", cfgPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	for _, kv := range os.Environ() { // nothing overrides the file
		if !strings.HasPrefix(kv, config.EnvPrefix) {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &procNode{Base: "http://" + addr, logPath: logPath, cmd: cmd, exited: make(chan struct{}),
		secrets: []string{secret, apiKey, "create-secret", adminPass}}
	go func() {
		defer close(p.exited)
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		p.kill(t)
		if t.Failed() {
			t.Logf("%s (process %d) log tail:\n%s", nodeID, cmd.Process.Pid, p.logTail(t, 60))
		}
	})
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if resp, err := http.Get(p.Base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited before it was ready (%v); log:\n%s", nodeID, cmd.ProcessState, p.logTail(t, 60))
		case <-deadline.C:
			t.Fatalf("%s not ready after 20 s; log:\n%s", nodeID, p.logTail(t, 60))
		case <-tick.C:
		}
	}
}

// kill sends SIGKILL and waits for the process to be gone (idempotent).
func (p *procNode) kill(t *testing.T) {
	p.once.Do(func() {
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			select {
			case <-p.exited: // already gone
			default:
				t.Errorf("kill: %v", err)
			}
		}
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			t.Error("the killed process did not exit within 10 s")
		}
	})
}

// logText is the process's output so far.
func (p *procNode) logText(t *testing.T) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		t.Errorf("read the process log: %v", err)
	}
	return string(b)
}

// logTail is the last n lines of the output, with p.secrets masked in case the process
// printed them (the test checks it did not).
func (p *procNode) logTail(t *testing.T, n int) string {
	lines := strings.Split(strings.TrimRight(p.logText(t), "\n"), "\n")
	tail := strings.Join(lines[max(0, len(lines)-n):], "\n")
	for _, s := range p.secrets {
		if s != "" {
			tail = strings.ReplaceAll(tail, s, "***")
		}
	}
	return tail
}

// TestOwnerKilledAnotherNodeTakesOverExactlyOnce: the node that owns alice's upstream is a
// real process and is killed (SIGKILL: it neither releases the lease nor records a final
// watermark, its Rocket.Chat connection just dies) while bob posts ten messages a second.
// The survivor takes the lease over once it expires and resyncs from the mark the dead owner
// last renewed: alice's tab on the survivor must get every message exactly once, and alice
// must end with one upstream. The lease TTL is the default redis.lease_ttl, 15 s, so the
// takeover comes 10 to 20 s after the kill (expiry, then the survivor's next try, every TTL/3).
func TestOwnerKilledAnotherNodeTakesOverExactlyOnce(t *testing.T) {
	bin := demotest.Build(t)
	c := startCluster(t, 1, false)
	survivorNode := c.nodes[0]
	owner := c.startProcess(bin, "node-killed")
	rid := c.rc.DirectRoom(rcName("alice"), rcName("bob"))
	uid := c.rc.UserID(rcName("alice"))

	// alice's first tab is on the process, so the process takes the lease and the upstream.
	aliceJWT := token(t, "alice")
	owner.secrets = append(owner.secrets, aliceJWT)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	first, err := pushtest.Dial(ctx, owner.Base+"/signalr", aliceJWT, 1000)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = first.Close() })
	waitFor(t, "alice's upstream on the process", 20*time.Second, func() bool { return c.rc.DDPConnections(uid) == 1 })
	survivor := collect(dial(t, survivorNode, "alice"))
	// The survivor's tab gets the owner's pushes through Redis before the stream starts.
	warm := c.rc.PostMessage(rid, rcName("bob"), "warm-up")
	waitFor(t, "the warm-up message on the survivor's tab", 15*time.Second, func() bool { return survivor.count(warm) > 0 })
	if n := c.rc.DDPConnections(uid); n != 1 {
		t.Fatalf("%d upstreams for alice before the kill, want 1 (the process's)", n)
	}

	// bob posts ten messages a second throughout. The kill comes 11 s in: past a lease renewal
	// (every 5 s) plus the 5 s resync slack, so that the oldest messages lie before any window
	// the new owner may resync (a resync from when the dead owner's upstream began would show
	// as duplicates of them). The stream goes on through the takeover and 3 s after it.
	const (
		beforeKill    = 11 * time.Second
		afterTakeover = 3 * time.Second
	)
	ids := []string{warm}
	posted := map[string]time.Time{warm: time.Now()}
	pace := time.NewTicker(100 * time.Millisecond)
	defer pace.Stop()
	probe := time.NewTicker(10 * time.Millisecond)
	defer probe.Stop()
	giveUp := time.NewTimer(45 * time.Second)
	defer giveUp.Stop()
	start := time.Now()
	var killedAt, downAt, upAt time.Time
stream:
	for {
		select {
		case <-pace.C:
			id := c.rc.PostMessage(rid, rcName("bob"), "msg "+strconv.Itoa(len(ids)))
			ids = append(ids, id)
			posted[id] = time.Now()
			if killedAt.IsZero() && time.Since(start) >= beforeKill {
				killedAt = time.Now()
				owner.kill(t)
			}
			if !upAt.IsZero() && time.Since(upAt) >= afterTakeover {
				break stream
			}
		case <-probe.C:
			if killedAt.IsZero() {
				continue
			}
			switch n := c.rc.DDPConnections(uid); {
			case downAt.IsZero() && n == 0:
				downAt = time.Now() // Rocket.Chat saw the dead owner's connection go
			case !downAt.IsZero() && upAt.IsZero() && n > 0:
				upAt = time.Now() // the survivor's upstream logged in
			}
		case <-giveUp.C:
			t.Fatalf("no takeover: killed %v ago, owner's upstream gone %v, survivor's upstream up %v",
				since(killedAt), since(downAt), since(upAt))
		}
	}
	pace.Stop()

	// Everything posted arrives (what has not within 20 s counts as lost), then a last message
	// after it all gives late duplicates the time to show.
	all := func() bool {
		for _, id := range ids {
			if survivor.count(id) == 0 {
				return false
			}
		}
		return true
	}
	eventually(20*time.Second, all)
	last := c.rc.PostMessage(rid, rcName("bob"), "last")
	waitFor(t, "the last message", 15*time.Second, func() bool { return survivor.count(last) > 0 })
	ids = append(ids, last)
	posted[last] = time.Now()

	// lost and dup: how many messages, and when they were posted relative to the kill.
	type span struct {
		n           int
		first, last time.Duration
	}
	add := func(sp *span, at time.Duration) {
		if sp.n == 0 || at < sp.first {
			sp.first = at
		}
		if sp.n == 0 || at > sp.last {
			sp.last = at
		}
		sp.n++
	}
	var lost, dup span
	extra := 0
	for _, id := range ids {
		switch n := survivor.count(id); {
		case n == 0:
			add(&lost, posted[id].Sub(killedAt))
		case n > 1:
			add(&dup, posted[id].Sub(killedAt))
			extra += n - 1
		}
	}
	t.Logf("killed %.1f s after the stream began; Rocket.Chat saw the owner's upstream go %v after the kill; "+
		"takeover (kill -> survivor's upstream) %v", beforeKill.Seconds(), downAt.Sub(killedAt).Round(time.Millisecond),
		upAt.Sub(killedAt).Round(time.Millisecond))
	t.Logf("sent %d, delivered %d, lost %d, duplicated %d messages (%d extra copies)", len(ids), len(ids)-lost.n, lost.n, dup.n, extra)
	for what, sp := range map[string]span{"lost": lost, "duplicated": dup} {
		if sp.n > 0 {
			t.Logf("the %s messages were posted between %v and %v relative to the kill", what, sp.first.Round(time.Millisecond), sp.last.Round(time.Millisecond))
		}
	}
	if lost.n != 0 || dup.n != 0 {
		t.Errorf("takeover after a kill: %d lost, %d duplicated (want 0, 0)", lost.n, dup.n)
	}
	// The new owner did repeat what the dead one pushed after its last renewal (minus the
	// slack): the survivor's hub held those back. None would mean the scenario did not test
	// the takeover's repeats at all.
	repeats := metric(t, survivorNode.Base, "rcgw_hub_repeats_total")
	t.Logf("repeats held back by the survivor's hub: %v", repeats)
	if repeats == 0 {
		t.Errorf("the takeover repeated nothing: the scenario did not reach the repeat window")
	}
	if n := c.rc.DDPConnections(uid); n != 1 {
		t.Errorf("%d upstreams for alice after the takeover, want 1", n)
	}
	// The process logged at debug level the whole time: none of the test's credentials in it.
	out := owner.logText(t)
	for i, s := range owner.secrets {
		if strings.Contains(out, s) {
			t.Errorf("the process's log contains credential %d of %v (JWT secret, API key, createToken secret, admin password, alice's JWT)", i, len(owner.secrets))
		}
	}
	if !strings.Contains(out, "rcgateway listening") {
		t.Errorf("the process's log is not the gateway's (no \"rcgateway listening\"):\n%s", owner.logTail(t, 20))
	}
}

func since(at time.Time) string {
	if at.IsZero() {
		return "never"
	}
	return fmt.Sprint(time.Since(at).Round(time.Millisecond))
}

// eventually polls cond until it holds (true) or d has passed (false).
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			return cond()
		}
	}
	return true
}

// metric reads one unlabelled sample from a node's /metrics.
func metric(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("%s not in %s/metrics", name, base)
	return 0
}
