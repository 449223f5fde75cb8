package session

import (
	"context"
	"sync"
	"time"

	gocache "github.com/patrickmn/go-cache"

	"github.com/rcgateway/rcgateway/rocketchat"
)

// NewLocalLeaser returns the single-node Leaser: this process is the only candidate, so a
// lease is granted unless this process already holds it.
func NewLocalLeaser() Leaser { return &localLeaser{held: map[string]int64{}} }

type localLeaser struct {
	mu    sync.Mutex
	held  map[string]int64
	fence int64
}

func (l *localLeaser) Acquire(_ context.Context, userID string, _ time.Duration) (Lease, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.held[userID]; ok {
		return nil, false, nil
	}
	l.fence++
	l.held[userID] = l.fence
	return &localLease{l: l, user: userID, token: l.fence}, true, nil
}

type localLease struct {
	l     *localLeaser
	user  string
	token int64
}

func (x *localLease) Token() int64 { return x.token }

// Watermark is always zero: on one node the user's loop keeps its own mark.
func (x *localLease) Watermark() time.Time { return time.Time{} }

func (x *localLease) Renew(context.Context, time.Time) error {
	x.l.mu.Lock()
	defer x.l.mu.Unlock()
	if x.l.held[x.user] != x.token {
		return ErrLeaseLost
	}
	return nil
}

func (x *localLease) Release(context.Context, time.Time) error {
	x.l.mu.Lock()
	defer x.l.mu.Unlock()
	if x.l.held[x.user] == x.token {
		delete(x.l.held, x.user)
	}
	return nil
}

// NewMemoryTokenStore returns the single-node TokenStore, on go-cache. It starts no
// goroutine of its own: the Manager's janitor calls DeleteExpired.
func NewMemoryTokenStore() TokenStore {
	return &memoryTokens{c: gocache.New(time.Hour, 0)}
}

type memoryTokens struct{ c *gocache.Cache }

func (m *memoryTokens) Get(_ context.Context, userID string) (rocketchat.Credentials, time.Time, bool, error) {
	v, exp, ok := m.c.GetWithExpiration(userID)
	if !ok {
		return rocketchat.Credentials{}, time.Time{}, false, nil
	}
	return v.(rocketchat.Credentials), exp, true, nil
}

func (m *memoryTokens) Put(_ context.Context, userID string, cred rocketchat.Credentials, ttl time.Duration) error {
	m.c.Set(userID, cred, ttl)
	return nil
}

// DeleteExpired frees expired entries.
func (m *memoryTokens) DeleteExpired() { m.c.DeleteExpired() }

func (m *memoryTokens) Delete(_ context.Context, userID string) error {
	m.c.Delete(userID)
	return nil
}

// NewLocalPresence returns the single-node Presence: counts in this process only.
func NewLocalPresence() Presence { return &localPresence{n: map[string]int{}} }

type localPresence struct {
	mu sync.Mutex
	n  map[string]int
}

func (p *localPresence) Add(_ context.Context, userID string) error {
	p.mu.Lock()
	p.n[userID]++
	p.mu.Unlock()
	return nil
}

func (p *localPresence) Remove(_ context.Context, userID string) error {
	p.mu.Lock()
	if p.n[userID] <= 1 {
		delete(p.n, userID)
	} else {
		p.n[userID]--
	}
	p.mu.Unlock()
	return nil
}

func (p *localPresence) Count(_ context.Context, userID string) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n[userID], nil
}

// NewMemoryTombstones returns the single-node Tombstones, on go-cache: they live as long as
// the process (docs/identity.md: after a restart of a single node, a deleted user's old
// token could provision the account again; a cluster keeps them in Redis).
func NewMemoryTombstones() Tombstones { return &memoryTombs{c: gocache.New(time.Hour, 0)} }

type memoryTombs struct{ c *gocache.Cache }

func (m *memoryTombs) Bury(_ context.Context, userID string, at time.Time, ttl time.Duration) error {
	m.c.Set(userID, at, ttl)
	return nil
}

func (m *memoryTombs) Lift(_ context.Context, userID string) error {
	m.c.Delete(userID)
	return nil
}

func (m *memoryTombs) Buried(_ context.Context, userID string) (time.Time, bool, error) {
	v, ok := m.c.Get(userID)
	if !ok {
		return time.Time{}, false, nil
	}
	return v.(time.Time), true, nil
}

// DeleteExpired frees expired entries.
func (m *memoryTombs) DeleteExpired() { m.c.DeleteExpired() }
