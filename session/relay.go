package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat"
)

// Forwarding to the owner of a user's upstream (Options.Relay). A tab's REST calls land on
// any node, its upstream runs on one: open rooms and the user's own typing reaching another
// node are forwarded there. The owner applies open rooms at once (they only change what the
// upstream follows) and sends typing from relayWorker, off the relay's receiving goroutine.
// A node that takes a user over learns the open rooms from the tabs' next refresh (every
// 25 s, WatchTTL 60 s).

// relayQueue bounds the forwarded typing calls waiting on this node; beyond it they are
// dropped (typing is best effort, and a stale "typing" is worse than none).
const relayQueue = 256

// relayMsg is what one node forwards to another about one user.
type relayMsg struct {
	Op     string   `json:"op"` // "watch" or "typing"
	Tab    string   `json:"tab,omitempty"`
	Rooms  []string `json:"rooms,omitempty"`
	RID    string   `json:"rid,omitempty"`
	Typing bool     `json:"typing,omitempty"`
}

type relayed struct {
	userID, rid string
	typing      bool
}

// forward sends msg to the owner of userID's upstream.
func (m *Manager) forward(ctx context.Context, userID string, msg relayMsg) error {
	raw, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("session: forward %s: %w", msg.Op, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := m.o.Relay.Forward(ctx, userID, raw); err != nil {
		return fmt.Errorf("session: forward %s: %w", msg.Op, err)
	}
	return nil
}

// onRelayed applies what another node forwarded. It never blocks (the relay's goroutine
// calls it) and never forwards again: the owner may have changed meanwhile, and the tab's
// next refresh finds the new one.
func (m *Manager) onRelayed(userID string, raw []byte) {
	var msg relayMsg
	if userID == "" || len(raw) > 4<<10 || json.Unmarshal(raw, &msg) != nil {
		m.log.Warn("session: relayed message refused", "user", userID, "bytes", len(raw))
		return
	}
	switch msg.Op {
	case "watch":
		invalid := func(rid string) bool { return !rocketchat.ValidID(rid) }
		if len(msg.Rooms) > maxWatchedRooms || msg.Tab == "" || len(msg.Tab) > 64 || slices.ContainsFunc(msg.Rooms, invalid) {
			m.log.Warn("session: relayed open rooms refused", "user", userID)
			return
		}
		m.watchHere(userID, msg.Tab, msg.Rooms)
	case "typing":
		if !rocketchat.ValidID(msg.RID) {
			return
		}
		select {
		case m.relayQ <- relayed{userID: userID, rid: msg.RID, typing: msg.Typing}:
		default:
			m.relayDropped.Add(1)
		}
	}
}

// serveRelay receives what other nodes forward to this one until the manager shuts down,
// starting over with a pause when the relay's connection fails.
func (m *Manager) serveRelay() {
	defer m.wg.Done()
	for attempt := 1; ; attempt++ {
		err := m.o.Relay.Serve(m.ctx, m.onRelayed)
		if m.ctx.Err() != nil {
			return
		}
		d := m.backoff(attempt)
		m.log.Warn("session: relay receiver stopped; starting over", "err", err, "in", d)
		t := time.NewTimer(d)
		select {
		case <-m.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// relayWorker sends forwarded typing on this node's upstreams, one at a time.
func (m *Manager) relayWorker() {
	defer m.wg.Done()
	for {
		select {
		case <-m.ctx.Done():
			return
		case r := <-m.relayQ:
			ctx, cancel := context.WithTimeout(m.ctx, 5*time.Second)
			err := m.typingHere(ctx, r.userID, r.rid, r.typing)
			cancel()
			if err != nil && !errors.Is(err, ErrNoUpstream) && m.ctx.Err() == nil {
				m.log.Debug("session: relayed typing failed", "user", r.userID, "err", err)
			}
		}
	}
}
