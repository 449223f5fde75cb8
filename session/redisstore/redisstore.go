// Package redisstore implements the session package's cluster seams on Redis: the
// per-user upstream lease (with a fencing token), the shared user-token cache and the
// cluster-wide count of browser connections per user.
//
// Keys, with Prefix (default "rcgw:session"):
//
//	<prefix>:lease:<user>    "<member>:<fence>", with the lease's expiry
//	<prefix>:fence:<user>    the user's last fencing token (INCR), expiring FenceTTL after
//	                         its last lease was granted
//	<prefix>:mark:<user>     the user's delivery watermark (Unix ms) left by its last owner,
//	                         for the next one; expires after MarkTTL
//	<prefix>:token:<user>    the user's Rocket.Chat credentials, with the token's TTL
//	<prefix>:presence:<user> hash member → that process's connection count
//	<prefix>:alive:<member>  present while the process lives (refreshed every AliveTTL/3)
//	<prefix>:tomb:<user>     when the user was deleted (Unix ms), for the tombstone's TTL
//
// A member is the node id plus a random incarnation, new at every start: a node that restarts
// under a fixed id (as docker-compose.yml sets) does not inherit the presence counts or the
// leases of the process that crashed, which vanish with that process's alive key. Every key
// expires or empties itself: nothing per user stays in Redis for good.
//
// Redis may run a command long after the caller gave up on it (a hung server that wakes). A
// lease acquisition carries the caller's deadline and Redis refuses it once that has passed,
// so a grant nobody waits for any more is never made.
//
// Tokens are stored as they are: Redis must be private to the gateway nodes (and should use
// TLS and a password). This package never logs them.
package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/rcgateway/rcgateway/rocketchat"
	"github.com/rcgateway/rcgateway/session"
)

// Options configures a Store.
type Options struct {
	URL      string // redis:// or rediss://
	Password string // overrides the URL's password when set
	Prefix   string // default "rcgw:session"
	// NodeID names this node (default: the host name). The process's member name adds a
	// random incarnation, so two processes never share one.
	NodeID string
	// AliveTTL is how long a node's connection counts outlive it (default 15 s).
	AliveTTL time.Duration
	// FenceTTL is how long a user's fencing counter outlives the last lease granted on it
	// (default 24 h; far longer than any lease, so tokens only grow while leases matter).
	FenceTTL time.Duration
	// MarkTTL is how long a delivery watermark waits for a next owner (default 10 min): a
	// user back later than that starts fresh.
	MarkTTL time.Duration
	// IOTimeout bounds every Redis round trip and the silence after which a connection is
	// taken for dead (default 5 s).
	IOTimeout time.Duration
	Logger    *slog.Logger
}

// Store implements session.Leaser, session.TokenStore, session.Presence and
// session.Tombstones.
type Store struct {
	o      Options
	member string // NodeID + "/" + this process's incarnation
	log    *slog.Logger
	client rueidis.Client
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var (
	_ session.Leaser     = (*Store)(nil)
	_ session.TokenStore = (*Store)(nil)
	_ session.Presence   = (*Store)(nil)
	_ session.Tombstones = (*Store)(nil)
)

// New connects to Redis and starts the node's liveness refresher. Close stops it.
func New(o Options) (*Store, error) {
	opt, err := rueidis.ParseURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("redisstore: parse url: %w", err)
	}
	if o.Password != "" {
		opt.Password = o.Password
	}
	opt.DisableCache = true
	if o.IOTimeout <= 0 {
		o.IOTimeout = 5 * time.Second
	}
	opt.ConnWriteTimeout = o.IOTimeout
	opt.Dialer.Timeout = o.IOTimeout
	client, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("redisstore: connect: %w", err)
	}
	if o.Prefix == "" {
		o.Prefix = "rcgw:session"
	}
	if o.NodeID == "" {
		o.NodeID, _ = os.Hostname()
		if o.NodeID == "" {
			o.NodeID = "node"
		}
	}
	if o.AliveTTL <= 0 {
		o.AliveTTL = 15 * time.Second
	}
	if o.FenceTTL <= 0 {
		o.FenceTTL = 24 * time.Hour
	}
	if o.MarkTTL <= 0 {
		o.MarkTTL = 10 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var inc [4]byte
	_, _ = rand.Read(inc[:])
	s := &Store{o: o, member: o.NodeID + "/" + hex.EncodeToString(inc[:]), log: o.Logger, client: client}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if err := s.beat(ctx); err != nil {
		cancel()
		client.Close()
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	s.wg.Add(1)
	go s.alive(ctx)
	return s, nil
}

// NodeID is this node's configured name.
func (s *Store) NodeID() string { return s.o.NodeID }

// Member is this process's name in presence counts and leases: the node id and a random
// incarnation.
func (s *Store) Member() string { return s.member }

func (s *Store) key(kind, id string) string { return s.o.Prefix + ":" + kind + ":" + id }

func (s *Store) beat(ctx context.Context) error {
	cmd := s.client.B().Set().Key(s.key("alive", s.member)).Value("1").Px(s.o.AliveTTL).Build()
	if err := s.client.Do(ctx, cmd).Error(); err != nil {
		return fmt.Errorf("node heartbeat: %w", err)
	}
	return nil
}

func (s *Store) alive(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.o.AliveTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.beat(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("redisstore: node heartbeat failed", "err", err)
			}
		}
	}
}

// Close is Shutdown with two seconds for Redis.
func (s *Store) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.Shutdown(ctx)
}

// Shutdown stops the refresher, removes this process's liveness key (within ctx: a hung Redis
// only delays it until ctx ends, and the key expires by itself) and closes the client.
func (s *Store) Shutdown(ctx context.Context) error {
	s.cancel()
	s.wg.Wait()
	// rueidis waits for a command already written whatever ctx says; closing the client
	// ends that wait.
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.client.Do(ctx, s.client.B().Del().Key(s.key("alive", s.member)).Build()).Error()
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
	s.client.Close()
	<-done
	return nil
}

// Leases.

// acquireScript grants the lease unless it is held, or the caller's deadline (ARGV[3], Unix
// ms) has passed by Redis's clock: a request that waited in a hung server is refused (-1).
// It answers {fence, watermark}: the watermark the previous owner left (0 if none).
var acquireScript = rueidis.NewLuaScript(`
local t = redis.call('TIME')
if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(ARGV[3]) then return {-1, 0} end
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, 0} end
local fence = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. fence, 'PX', ARGV[2])
return {fence, tonumber(redis.call('GET', KEYS[3]) or '0')}`)

// renewScript extends the lease and, with a mark (ARGV[3] > 0), records it (PX ARGV[4]).
var renewScript = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[3]) > 0 then redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4]) end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])`)

// releaseScript frees the lease and leaves the mark (ARGV[2] > 0) or clears it.
var releaseScript = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[2]) > 0 then redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) else redis.call('DEL', KEYS[2]) end
return redis.call('DEL', KEYS[1])`)

// Acquire makes this process the owner of userID's upstream for ttl, unless another is. The
// request carries its deadline (ctx's, at most IOTimeout from now): if Redis only gets to it
// later, it refuses, so a grant is never made to a caller that stopped waiting.
func (s *Store) Acquire(ctx context.Context, userID string, ttl time.Duration) (session.Lease, bool, error) {
	deadline := time.Now().Add(s.o.IOTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	// Redis refuses from a margin before the caller's deadline, so that the answer to a
	// grant made just in time still has time to arrive (node and Redis clocks are assumed
	// to agree within that margin, as NTP keeps them).
	last := deadline.Add(-min(time.Until(deadline)/4, 250*time.Millisecond))
	ms := strconv.FormatInt(ttl.Milliseconds(), 10)
	args := []string{s.member, ms, strconv.FormatInt(last.UnixMilli(), 10), strconv.FormatInt(s.o.FenceTTL.Milliseconds(), 10)}
	res, err := acquireScript.Exec(ctx, s.client, []string{s.key("lease", userID), s.key("fence", userID), s.key("mark", userID)}, args).AsIntSlice()
	if err == nil && len(res) != 2 {
		err = fmt.Errorf("answer of %d values", len(res))
	}
	if err != nil {
		return nil, false, fmt.Errorf("redisstore: acquire lease: %w", err)
	}
	fence := res[0]
	switch {
	case fence == -1:
		return nil, false, errors.New("redisstore: acquire lease: Redis ran the request after its deadline and refused it")
	case fence == 0:
		return nil, false, nil
	}
	l := &lease{s: s, key: s.key("lease", userID), markKey: s.key("mark", userID), value: s.member + ":" + strconv.FormatInt(fence, 10), fence: fence, ms: ms}
	if res[1] > 0 {
		l.mark = time.UnixMilli(res[1])
	}
	return l, true, nil
}

type lease struct {
	s            *Store
	key, markKey string
	value        string
	fence        int64
	ms           string
	mark         time.Time // left by the previous owner
}

func (l *lease) Token() int64 { return l.fence }

func (l *lease) Watermark() time.Time { return l.mark }

// unixMs is t in Unix milliseconds, 0 for the zero time.
func unixMs(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.FormatInt(t.UnixMilli(), 10)
}

func (l *lease) Renew(ctx context.Context, mark time.Time) error {
	args := []string{l.value, l.ms, unixMs(mark), strconv.FormatInt(l.s.o.MarkTTL.Milliseconds(), 10)}
	n, err := renewScript.Exec(ctx, l.s.client, []string{l.key, l.markKey}, args).AsInt64()
	if err != nil {
		return fmt.Errorf("redisstore: renew lease: %w", err)
	}
	if n == 0 {
		return session.ErrLeaseLost
	}
	return nil
}

func (l *lease) Release(ctx context.Context, mark time.Time) error {
	args := []string{l.value, unixMs(mark), strconv.FormatInt(l.s.o.MarkTTL.Milliseconds(), 10)}
	if err := releaseScript.Exec(ctx, l.s.client, []string{l.key, l.markKey}, args).Error(); err != nil {
		return fmt.Errorf("redisstore: release lease: %w", err)
	}
	return nil
}

// Tokens.

type storedToken struct {
	UserID string `json:"u"`
	Token  string `json:"t"`
}

// Get returns the user's shared credentials and when they expire.
func (s *Store) Get(ctx context.Context, userID string) (rocketchat.Credentials, time.Time, bool, error) {
	k := s.key("token", userID)
	res := s.client.DoMulti(ctx, s.client.B().Get().Key(k).Build(), s.client.B().Pttl().Key(k).Build())
	raw, err := res[0].AsBytes()
	if rueidis.IsRedisNil(err) {
		return rocketchat.Credentials{}, time.Time{}, false, nil
	}
	if err != nil {
		return rocketchat.Credentials{}, time.Time{}, false, fmt.Errorf("redisstore: get token: %w", err)
	}
	pttl, err := res[1].AsInt64()
	if err != nil {
		return rocketchat.Credentials{}, time.Time{}, false, fmt.Errorf("redisstore: get token ttl: %w", err)
	}
	if pttl <= 0 {
		return rocketchat.Credentials{}, time.Time{}, false, nil
	}
	var st storedToken
	if err := json.Unmarshal(raw, &st); err != nil || st.Token == "" {
		return rocketchat.Credentials{}, time.Time{}, false, errors.New("redisstore: get token: unreadable entry")
	}
	return rocketchat.Credentials{UserID: st.UserID, Token: st.Token}, time.Now().Add(time.Duration(pttl) * time.Millisecond), true, nil
}

// Put shares the user's credentials for ttl.
func (s *Store) Put(ctx context.Context, userID string, cred rocketchat.Credentials, ttl time.Duration) error {
	raw, _ := json.Marshal(storedToken{UserID: cred.UserID, Token: cred.Token})
	if err := s.client.Do(ctx, s.client.B().Set().Key(s.key("token", userID)).Value(rueidis.BinaryString(raw)).Px(ttl).Build()).Error(); err != nil {
		return fmt.Errorf("redisstore: put token: %w", err)
	}
	return nil
}

// Delete forgets the user's credentials.
func (s *Store) Delete(ctx context.Context, userID string) error {
	if err := s.client.Do(ctx, s.client.B().Del().Key(s.key("token", userID)).Build()).Error(); err != nil {
		return fmt.Errorf("redisstore: delete token: %w", err)
	}
	return nil
}

// Tombstones.

// Bury records userID's deletion time for ttl, for every node.
func (s *Store) Bury(ctx context.Context, userID string, at time.Time, ttl time.Duration) error {
	v := strconv.FormatInt(at.UnixMilli(), 10)
	if err := s.client.Do(ctx, s.client.B().Set().Key(s.key("tomb", userID)).Value(v).Px(ttl).Build()).Error(); err != nil {
		return fmt.Errorf("redisstore: bury: %w", err)
	}
	return nil
}

// Lift removes userID's tombstone.
func (s *Store) Lift(ctx context.Context, userID string) error {
	if err := s.client.Do(ctx, s.client.B().Del().Key(s.key("tomb", userID)).Build()).Error(); err != nil {
		return fmt.Errorf("redisstore: lift: %w", err)
	}
	return nil
}

// Buried returns userID's deletion time when a tombstone is there.
func (s *Store) Buried(ctx context.Context, userID string) (time.Time, bool, error) {
	ms, err := s.client.Do(ctx, s.client.B().Get().Key(s.key("tomb", userID)).Build()).AsInt64()
	if rueidis.IsRedisNil(err) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("redisstore: buried: %w", err)
	}
	return time.UnixMilli(ms), true, nil
}

// Presence.

var removeScript = rueidis.NewLuaScript(`
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return n`)

// Add counts one more connection of userID on this node.
func (s *Store) Add(ctx context.Context, userID string) error {
	if err := s.client.Do(ctx, s.client.B().Hincrby().Key(s.key("presence", userID)).Field(s.member).Increment(1).Build()).Error(); err != nil {
		return fmt.Errorf("redisstore: presence add: %w", err)
	}
	return nil
}

// Remove counts one connection of userID less on this node.
func (s *Store) Remove(ctx context.Context, userID string) error {
	if err := removeScript.Exec(ctx, s.client, []string{s.key("presence", userID)}, []string{s.member}).Error(); err != nil {
		return fmt.Errorf("redisstore: presence remove: %w", err)
	}
	return nil
}

// Count sums the user's connections in live processes; counts of dead ones are removed.
func (s *Store) Count(ctx context.Context, userID string) (int, error) {
	k := s.key("presence", userID)
	m, err := s.client.Do(ctx, s.client.B().Hgetall().Key(k).Build()).AsIntMap()
	if err != nil {
		return 0, fmt.Errorf("redisstore: presence count: %w", err)
	}
	if len(m) == 0 {
		return 0, nil
	}
	nodes := make([]string, 0, len(m))
	cmds := make(rueidis.Commands, 0, len(m))
	for node := range m {
		nodes = append(nodes, node)
		cmds = append(cmds, s.client.B().Exists().Key(s.key("alive", node)).Build())
	}
	total := 0
	for i, r := range s.client.DoMulti(ctx, cmds...) {
		alive, err := r.AsInt64()
		if err != nil {
			return 0, fmt.Errorf("redisstore: presence count: %w", err)
		}
		if alive == 0 {
			_ = s.client.Do(ctx, s.client.B().Hdel().Key(k).Field(nodes[i]).Build()).Error()
			continue
		}
		total += int(m[nodes[i]])
	}
	return total, nil
}
