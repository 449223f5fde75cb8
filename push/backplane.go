package push

import (
	"context"
	"sync"
	"time"
)

// AddressKind says which connections an Envelope is for.
type AddressKind uint8

// The address kinds. Their numeric values travel between nodes; do not renumber.
const (
	ToAll        AddressKind = 1 // every connection on every node
	ToUser       AddressKind = 2 // every connection of one user id
	ToGroup      AddressKind = 3 // every member connection of one group
	ToConnection AddressKind = 4 // one connection id
)

// Address names the connections an Envelope is for. Key is empty for ToAll.
type Address struct {
	Kind AddressKind
	Key  string
}

// Op is what a node does with an Envelope for its local connections.
type Op uint8

// The operations. Their numeric values travel between nodes; do not renumber.
const (
	// OpSend writes the pre-encoded record to each addressed connection.
	OpSend Op = 1
	// OpClose writes the pre-encoded Close record, then closes each addressed connection
	// (kick, single-login policy).
	OpClose Op = 2
	// OpGroupAdd and OpGroupRemove change the group membership (Envelope.Group) of the
	// addressed connections, wherever they are.
	OpGroupAdd    Op = 3
	OpGroupRemove Op = 4
)

// Envelope is one hub operation as it travels between nodes. The records are already
// encoded once per hub protocol, so a receiving node writes them out without marshalling.
type Envelope struct {
	To      Address
	Op      Op
	Exclude []string // connection ids left out
	Group   string   // for OpGroupAdd / OpGroupRemove
	// Key, when not empty, names what an OpSend carries (a message version, say): a
	// connection that was recently sent a record under the same key is not sent this one.
	// A sender that may repeat itself, or be repeated by another node taking its work
	// over, sets it; see Hub.SendToUserOnce.
	Key string
	// Before, when not zero, limits an OpClose to the connections created before it (Unix
	// nanoseconds): a loss notice leaves alone the connections that did not exist yet when
	// the loss happened, and so missed nothing.
	Before  int64
	JSON    []byte // the complete JSON record, 0x1E included
	MsgPack []byte // the complete MessagePack record, length prefix included
}

// Backplane carries Envelopes between the hubs of a cluster. The hub routes every send
// through its backplane, even on a single node, so a cluster implementation drops in
// without changing the hub.
//
// Publish must not block a sender for long: an implementation that cannot keep up drops
// and counts. Subscribe and Unsubscribe tell the backplane which addresses have local
// connections on this node; an implementation may use them to limit what it receives.
// They are counted: the hub subscribes once per local connection (or group member) and
// unsubscribes as often, concurrently, so an address stays subscribed until it has had
// as many Unsubscribes as Subscribes.
type Backplane interface {
	// Start begins delivering Envelopes for this node's subscribed addresses to deliver.
	// deliver may run on several goroutines at once (MemoryBackplane calls it on each
	// publisher's goroutine); Envelopes one goroutine publishes are delivered on each node in
	// the order published, whatever their addresses (the hub's "remove from a group, then send
	// to it" relies on that). The hub's deliver is safe for concurrent use. push/backplanetest
	// holds every implementation to this contract with real hubs.
	Start(ctx context.Context, deliver func(Envelope)) error
	Publish(ctx context.Context, e Envelope) error
	Subscribe(ctx context.Context, a Address) error
	Unsubscribe(ctx context.Context, a Address) error
	// Close stops delivery and waits for the backplane's goroutines.
	Close() error
}

// MemoryBackplane is the single-node Backplane: Publish hands the Envelope straight to
// this node's hub, on the caller's goroutine.
type MemoryBackplane struct {
	mu      sync.RWMutex
	deliver func(Envelope)
}

// NewMemoryBackplane returns a Backplane for a hub that runs alone.
func NewMemoryBackplane() *MemoryBackplane { return &MemoryBackplane{} }

// Start records where Envelopes go.
func (b *MemoryBackplane) Start(_ context.Context, deliver func(Envelope)) error {
	b.mu.Lock()
	b.deliver = deliver
	b.mu.Unlock()
	return nil
}

// Publish delivers e to the local hub. Before Start or after Close it is dropped.
func (b *MemoryBackplane) Publish(_ context.Context, e Envelope) error {
	b.mu.RLock()
	d := b.deliver
	b.mu.RUnlock()
	if d != nil {
		d(e)
	}
	return nil
}

// Subscribe is a no-op: every Envelope is local.
func (b *MemoryBackplane) Subscribe(context.Context, Address) error { return nil }

// Unsubscribe is a no-op: every Envelope is local.
func (b *MemoryBackplane) Unsubscribe(context.Context, Address) error { return nil }

// Close stops delivery.
func (b *MemoryBackplane) Close() error {
	b.mu.Lock()
	b.deliver = nil
	b.mu.Unlock()
	return nil
}

// ReconnectEnvelope closes the connections at to with allowReconnect, telling their clients
// that pushes may have been lost: they reconnect and refetch. A backplane sends it for the
// addresses whose envelopes it could not carry.
func ReconnectEnvelope(to Address) Envelope {
	js, mp := CloseBackplaneGap.records()
	return Envelope{To: to, Op: OpClose, JSON: js, MsgPack: mp}
}

// LossNotice is ReconnectEnvelope for a loss whose last envelope was dropped at last: it
// closes only the connections created before last plus skew (the clock difference allowed
// between the nodes), since a connection opened later was not there to miss it.
func LossNotice(to Address, last time.Time, skew time.Duration) Envelope {
	e := ReconnectEnvelope(to)
	e.Before = last.Add(skew).UnixNano()
	return e
}
