package session

import (
	"context"
	"errors"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat"
)

// The cluster seams. A single node uses the in-process defaults (NewLocalLeaser,
// NewMemoryTokenStore, NewLocalPresence); a cluster plugs in shared implementations
// (session/redisstore) without the Manager knowing where the state lives.

// ErrLeaseLost is returned by Lease.Renew when another node holds the lease now.
var ErrLeaseLost = errors.New("session: lease lost")

// Leaser grants the cluster-wide ownership of one user's upstream connection.
type Leaser interface {
	// Acquire tries to make this node the owner of userID's upstream for ttl. ok is false,
	// with a nil error, when another node holds the lease.
	Acquire(ctx context.Context, userID string, ttl time.Duration) (l Lease, ok bool, err error)
}

// Lease is a held ownership. Token is a fencing token: it grows with every grant of the
// same user's lease, so a stale owner can be told apart from the current one.
//
// A lease also carries the user's delivery watermark from owner to owner: the point from
// which a new owner's resync must start so that nothing the previous owner had not yet
// delivered is lost (the start of a gap it had not closed, or when its upstream last
// received). Owners record it on every renewal and at release.
type Lease interface {
	Token() int64
	// Watermark is the mark the previous owner left, zero when there is none (the user's
	// upstream ended cleanly, or never ran).
	Watermark() time.Time
	// Renew extends the lease by its ttl and records mark (zero: keep the recorded one);
	// ErrLeaseLost when it is no longer ours.
	Renew(ctx context.Context, mark time.Time) error
	// Release gives the lease up if it is still ours, leaving mark for the next owner
	// (zero: nothing is owed, the next owner starts fresh).
	Release(ctx context.Context, mark time.Time) error
}

// TokenStore caches users' Rocket.Chat credentials. Implementations never log them.
type TokenStore interface {
	// Get returns the cached credentials of a product user and when they expire.
	Get(ctx context.Context, userID string) (cred rocketchat.Credentials, expires time.Time, ok bool, err error)
	Put(ctx context.Context, userID string, cred rocketchat.Credentials, ttl time.Duration) error
	Delete(ctx context.Context, userID string) error
}

// Presence counts browser connections per user across the cluster.
type Presence interface {
	// Add and Remove record that this node gained or lost one connection of userID.
	Add(ctx context.Context, userID string) error
	Remove(ctx context.Context, userID string) error
	// Count is the number of the user's connections on all live nodes.
	Count(ctx context.Context, userID string) (int, error)
}

// Tombstones remember deleted product users, so that a token issued before the deletion
// cannot provision the account again. Entries expire after their ttl.
type Tombstones interface {
	// Bury records that userID was deleted at at, for ttl.
	Bury(ctx context.Context, userID string, at time.Time, ttl time.Duration) error
	// Lift forgets userID's tombstone.
	Lift(ctx context.Context, userID string) error
	// Buried returns when userID was deleted, if a tombstone is there.
	Buried(ctx context.Context, userID string) (at time.Time, ok bool, err error)
}

// ErrNoOwner is returned by Relay.Forward when no live node owns the user's upstream.
var ErrNoOwner = errors.New("session: no node owns the user's upstream")

// Relay carries what a user's tabs tell the gateway (the rooms they have open, the user's own
// typing) from the node a request lands on to the node that owns the user's upstream. The
// message is the session's own encoding; a relay moves it unchanged. A single node needs none.
type Relay interface {
	// Forward hands msg for userID to the node that holds the user's lease, without waiting
	// for it to be applied; ErrNoOwner when no live node does.
	Forward(ctx context.Context, userID string, msg []byte) error
	// Serve passes every message forwarded to this node to handle, until ctx ends. handle
	// must not block: it runs on the relay's receiving goroutine.
	Serve(ctx context.Context, handle func(userID string, msg []byte)) error
}
