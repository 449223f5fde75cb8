// Package redisbackplane implements push.Backplane on Redis pub/sub, so that the hubs of
// several gateway nodes deliver to each other's connections. It carries envelopes whose
// records are already encoded; a node writes them to its connections as they arrive.
//
// Channels, with Prefix (default "rcgw:push"):
//
//	<prefix>:all                   every connection
//	<prefix>:user:<user id>        subscribed while this node has a connection of that user
//	<prefix>:group:<group>         subscribed while this node has a member of that group
//	<prefix>:connection:<conn id>  subscribed while the connection is on this node
//
// Pub/sub is fire and forget, so the backplane tells clients when it lost something instead
// of losing it silently: while Redis is unreachable, envelopes are dropped and counted, and
// the subscriber reconnects and resubscribes by itself. Once Redis answers again, the
// addresses whose envelopes could not be published get a Close with allowReconnect on every
// node (push.ReconnectEnvelope), and a node whose subscriber was down closes all of its own
// connections the same way: their clients reconnect and refetch what they missed. Received envelopes are handed
// from rueidis's read loop to a delivery goroutine the backplane owns: the hub's delivery
// may itself subscribe (a group add), which needs that read loop to answer. Publishing never blocks the
// caller: envelopes queue (bounded) for one publisher goroutine that pipelines them.
//
// The client is rueidis: measured on these machines at about twice go-redis's pub/sub
// throughput (specs/performance.md B3), with auto-pipelining for the publisher.
package redisbackplane

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/rcgateway/rcgateway/push"
)

// ErrQueueFull is returned by Publish when the outbound queue is full; the envelope is dropped.
var ErrQueueFull = errors.New("redisbackplane: publish queue full, envelope dropped")

// Options configures a Backplane.
type Options struct {
	// URL is redis://[user:password@]host:port[/db] or rediss:// for TLS.
	URL string
	// Password overrides the URL's password when set.
	Password string
	// IOTimeout bounds every Redis round trip and is the silence after which a connection
	// (the subscriber's included) is taken for dead and redialled (default 5 s).
	IOTimeout time.Duration
	// Prefix of every channel (default "rcgw:push").
	Prefix string
	// QueueSize bounds the envelopes waiting to be published (default 8192).
	QueueSize int
	// DeliverQueueSize bounds the received envelopes waiting for the hub (default 65536);
	// beyond it they are dropped and counted rather than stall Redis's read loop.
	DeliverQueueSize int
	// OnState, if set, is called with false when the subscriber loses Redis and true when
	// it is subscribed again.
	OnState func(up bool)
	Logger  *slog.Logger
}

// Stats are the backplane's counters.
type Stats struct {
	Published, Received, Dropped, PublishErrors, DecodeErrors, Reconnects uint64
	// ReconnectsSent counts the reconnect notices sent after losses (one per address).
	ReconnectsSent uint64
	Up             bool
}

// Backplane is a push.Backplane on Redis.
type Backplane struct {
	o      Options
	log    *slog.Logger
	client rueidis.Client

	out chan outgoing
	in  chan push.Envelope // received, for the delivery goroutine

	// chanMu orders Subscribe and Unsubscribe per channel (striped by hash): a count
	// change and the command it calls for go out together, so a quick 1→0→1 cannot send
	// SUBSCRIBE before UNSUBSCRIBE; different channels do not wait for each other.
	chanMu   [64]sync.Mutex
	chanSeed maphash.Seed
	mu       sync.Mutex
	subs     map[string]int // channel → local reference count
	// unsub holds channels whose last reference went while the subscriber's connection is
	// still subscribed to them: the unsubscriber sends UNSUBSCRIBE, off the caller's path.
	unsub     map[string]struct{}
	unsubWake chan struct{}
	dc        rueidis.DedicatedClient
	deliver   func(push.Envelope)

	cancel      context.CancelFunc
	wg          sync.WaitGroup
	firstUp     chan struct{}
	firstOnce   sync.Once
	startedLate atomic.Bool // Start returned before the first subscription

	published, received, dropped, publishErrors, decodeErrors, reconnects atomic.Uint64
	up                                                                    atomic.Bool
	lastDropLog                                                           atomic.Int64
	reconnectsSent                                                        atomic.Uint64

	lost      losses      // publish side: told to every node once Redis answers
	localLost atomic.Bool // receive side: this node's connections missed envelopes
}

type outgoing struct {
	to      push.Address
	channel string
	payload []byte
}

// maxLostAddresses bounds the addresses remembered for a reconnect after an outage; beyond
// it every connection is told to reconnect.
const maxLostAddresses = 10_000

// losses are the addresses whose envelopes were dropped, each with when the last one was,
// for the reconnect after an outage.
type losses struct {
	mu    sync.Mutex
	to    map[push.Address]time.Time
	all   bool
	allAt time.Time
}

func (l *losses) add(a push.Address) { l.addAt(a, time.Now()) }

func (l *losses) addAt(a push.Address, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.all {
		l.allAt = later(l.allAt, at)
		return
	}
	if a.Kind == push.ToAll || len(l.to) >= maxLostAddresses {
		l.allAt = at
		for _, t := range l.to {
			l.allAt = later(l.allAt, t)
		}
		l.all, l.to = true, nil
		return
	}
	if l.to == nil {
		l.to = map[push.Address]time.Time{}
	}
	l.to[a] = later(l.to[a], at)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// lost is one address's loss: the last envelope dropped at at.
type lost struct {
	to push.Address
	at time.Time
}

// take returns what was lost and forgets it; with all, one entry addressed to all.
func (l *losses) take() []lost {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []lost
	if l.all {
		out = append(out, lost{push.Address{Kind: push.ToAll}, l.allAt})
	}
	for a, at := range l.to {
		out = append(out, lost{a, at})
	}
	l.to, l.all, l.allAt = nil, false, time.Time{}
	return out
}

// New connects to Redis. Start begins delivery.
func New(o Options) (*Backplane, error) {
	opt, err := rueidis.ParseURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("redisbackplane: parse url: %w", err)
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
		return nil, fmt.Errorf("redisbackplane: connect: %w", err)
	}
	if o.Prefix == "" {
		o.Prefix = "rcgw:push"
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 8192
	}
	if o.DeliverQueueSize <= 0 {
		o.DeliverQueueSize = 65536
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Backplane{o: o, log: o.Logger, client: client, out: make(chan outgoing, o.QueueSize),
		in: make(chan push.Envelope, o.DeliverQueueSize), subs: map[string]int{}, unsub: map[string]struct{}{}, unsubWake: make(chan struct{}, 1),
		chanSeed: maphash.MakeSeed()}, nil
}

// Channel is the Redis channel of an address.
func (b *Backplane) Channel(a push.Address) string {
	switch a.Kind {
	case push.ToUser:
		return b.o.Prefix + ":user:" + a.Key
	case push.ToGroup:
		return b.o.Prefix + ":group:" + a.Key
	case push.ToConnection:
		return b.o.Prefix + ":connection:" + a.Key
	default:
		return b.o.Prefix + ":all"
	}
}

// Start subscribes to the "all" channel and starts the publisher, subscriber and delivery
// goroutines.
func (b *Backplane) Start(ctx context.Context, deliver func(push.Envelope)) error {
	b.mu.Lock()
	if b.deliver != nil {
		b.mu.Unlock()
		return errors.New("redisbackplane: already started")
	}
	b.deliver = deliver
	b.subs[b.Channel(push.Address{Kind: push.ToAll})]++
	b.mu.Unlock()
	firstUp := make(chan struct{})
	b.firstUp = firstUp
	ctx, b.cancel = context.WithCancel(context.WithoutCancel(ctx))
	b.wg.Add(4)
	go b.publisher(ctx)
	go b.subscriber(ctx)
	go b.deliverer(ctx, deliver)
	go b.unsubscriber(ctx)
	// Be subscribed before the hub accepts connections, so none misses its first sends;
	// if Redis is down, go on and let the subscriber catch up.
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-firstUp:
	case <-t.C:
		b.startedLate.Store(true)
		b.log.Warn("redis backplane: not subscribed yet; continuing")
	}
	return nil
}

// Publish queues e for every node subscribed to its address, this one included. It never
// blocks: a full queue drops e and returns ErrQueueFull.
func (b *Backplane) Publish(_ context.Context, e push.Envelope) error {
	msg := outgoing{to: e.To, channel: b.Channel(e.To), payload: encode(make([]byte, 0, 32+len(e.JSON)+len(e.MsgPack)), e)}
	select {
	case b.out <- msg:
		return nil
	default:
		b.dropped.Add(1)
		b.lost.add(e.To)
		return ErrQueueFull
	}
}

// publisher sends queued envelopes in queue order, one pipeline at a time, each pipeline
// holding everything queued when it starts. The batch grows with the backlog, so the rate
// it sustains grows with the round-trip time: on a saturated core, where each round trip
// waits for scheduler turns, it drains what accumulated in one go instead of falling behind
// a fixed batch size until the queue overflows.
func (b *Backplane) publisher(ctx context.Context) {
	defer b.wg.Done()
	var batch []outgoing
	var cmds rueidis.Commands
	// Losses are announced after a round trip that worked; with nothing to publish, the
	// ticker tries on its own.
	retry := time.NewTicker(time.Second)
	defer retry.Stop()
	for {
		batch = batch[:0]
		select {
		case <-ctx.Done():
			return
		case <-retry.C:
			b.announceLosses(ctx)
			continue
		case m := <-b.out:
			batch = append(batch, m)
		}
		for n := len(b.out); n > 0; n-- {
			batch = append(batch, <-b.out)
		}
		cmds = cmds[:0]
		for _, m := range batch {
			cmds = append(cmds, b.client.B().Publish().Channel(m.channel).Message(rueidis.BinaryString(m.payload)).Build())
		}
		failed := 0
		for i, r := range b.client.DoMulti(ctx, cmds...) {
			if err := r.Error(); err != nil {
				if ctx.Err() != nil {
					return
				}
				b.publishErrors.Add(1)
				b.dropped.Add(1)
				b.lost.add(batch[i].to)
				failed++
				continue
			}
			b.published.Add(1)
		}
		clear(batch) // let the payloads go while the queue refills
		clear(cmds)
		if failed == 0 {
			b.announceLosses(ctx)
		} else {
			b.log.Warn("redis backplane: publish failed; clients will be told to reconnect once Redis answers", "failed", failed)
		}
	}
}

// announceLosses publishes, once Redis answers again, a reconnect to every address whose
// envelopes were dropped (to all connections if too many were).
func (b *Backplane) announceLosses(ctx context.Context) {
	ls := b.lost.take()
	if len(ls) == 0 {
		return
	}
	cmds := make(rueidis.Commands, 0, len(ls))
	for _, l := range ls {
		e := push.LossNotice(l.to, l.at, lossSkew)
		cmds = append(cmds, b.client.B().Publish().Channel(b.Channel(l.to)).Message(rueidis.BinaryString(encode(nil, e))).Build())
	}
	sent := 0
	for i, r := range b.client.DoMulti(ctx, cmds...) {
		if r.Error() != nil {
			b.lost.addAt(ls[i].to, ls[i].at) // try again after the next successful round trip
			continue
		}
		sent++
	}
	b.reconnectsSent.Add(uint64(sent))
	b.log.Warn("redis backplane: envelopes were lost while Redis was unreachable; their clients were told to reconnect and refetch", "addresses", len(ls), "all", len(ls) > 0 && ls[0].to.Kind == push.ToAll, "sent", sent)
}

// lossSkew is the clock difference allowed between the nodes when a loss notice spares the
// connections opened after the loss (they keep clocks within milliseconds with NTP, as the
// session's resync slack assumes too).
const lossSkew = time.Second

// subscriber keeps one dedicated connection subscribed to every channel this node needs,
// reconnecting with backoff when Redis goes away.
func (b *Backplane) subscriber(ctx context.Context) {
	defer b.wg.Done()
	failures := 0
	for ctx.Err() == nil {
		err := b.subscribeOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if b.up.Swap(false) && b.o.OnState != nil {
			b.o.OnState(false)
		}
		b.reconnects.Add(1)
		failures++
		d := min(50*time.Millisecond<<min(failures, 6), 2*time.Second)
		b.log.Warn("redis backplane subscriber lost; reconnecting", "err", err, "in", d)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (b *Backplane) subscribeOnce(ctx context.Context) error {
	dc, release := b.client.Dedicate()
	defer release()
	broken := dc.SetPubSubHooks(rueidis.PubSubHooks{OnMessage: b.onMessage})
	b.mu.Lock()
	channels := make([]string, 0, len(b.subs))
	for ch := range b.subs {
		channels = append(channels, ch)
	}
	b.dc = dc
	clear(b.unsub) // a new connection is subscribed to b.subs only
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.dc = nil
		b.mu.Unlock()
	}()
	if err := dc.Do(ctx, dc.B().Subscribe().Channel(channels...).Build()).Error(); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	if !b.up.Swap(true) && b.o.OnState != nil {
		b.o.OnState(true)
	}
	first := false
	b.firstOnce.Do(func() { close(b.firstUp); first = true })
	if !first || b.startedLate.Load() {
		// Whatever was published while this node was not subscribed never reached it: after
		// a reconnect, or when Start stopped waiting and the hub took connections before
		// this first subscription.
		b.loseLocally()
	}
	select {
	case err := <-broken:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *Backplane) onMessage(m rueidis.PubSubMessage) {
	e, err := decode([]byte(m.Message))
	if err != nil {
		b.decodeErrors.Add(1)
		b.log.Warn("redis backplane: dropping an undecodable envelope", "channel", m.Channel, "err", err)
		return
	}
	b.received.Add(1)
	// UNSUBSCRIBE goes out after Unsubscribe returns (unsubscriber): until Redis has it,
	// envelopes for a channel this node left still arrive, and are not delivered.
	b.mu.Lock()
	_, wanted := b.subs[m.Channel]
	b.mu.Unlock()
	if !wanted {
		return
	}
	select {
	case b.in <- e:
	default:
		b.dropped.Add(1)
		b.loseLocally()
		now := time.Now().UnixNano()
		if last := b.lastDropLog.Load(); now-last > int64(time.Second) && b.lastDropLog.CompareAndSwap(last, now) {
			b.log.Warn("redis backplane: delivery queue full; dropping received envelopes", "queue", cap(b.in), "dropped_total", b.dropped.Load())
		}
	}
}

// deliverer hands received envelopes to the hub, one at a time and in arrival order, off
// rueidis's read loop: a delivery that subscribes (a group add) waits for that read loop.
func (b *Backplane) deliverer(ctx context.Context, deliver func(push.Envelope)) {
	defer b.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-b.in:
			if e.Op != 0 { // zero: loseLocally's wake-up
				deliver(e)
			}
		}
		if len(b.in) == 0 && b.localLost.Swap(false) {
			b.reconnectsSent.Add(1)
			b.log.Warn("redis backplane: this node missed envelopes; its clients were told to reconnect and refetch")
			deliver(push.ReconnectEnvelope(push.Address{Kind: push.ToAll}))
		}
	}
}

// loseLocally records that this node's connections missed envelopes. The deliverer closes
// them with allowReconnect once what is queued before has been delivered.
func (b *Backplane) loseLocally() {
	b.localLost.Store(true)
	select {
	case b.in <- push.Envelope{}: // wake the deliverer; an empty envelope addresses nobody
	default:
	}
}

func (b *Backplane) chanLock(ch string) *sync.Mutex {
	return &b.chanMu[maphash.String(b.chanSeed, ch)%uint64(len(b.chanMu))]
}

// Subscribe makes this node receive envelopes for a (reference counted).
func (b *Backplane) Subscribe(ctx context.Context, a push.Address) error {
	ch := b.Channel(a)
	l := b.chanLock(ch)
	l.Lock()
	defer l.Unlock()
	b.mu.Lock()
	b.subs[ch]++
	first, dc := b.subs[ch] == 1, b.dc
	if _, onWire := b.unsub[ch]; first && onWire {
		delete(b.unsub, ch) // its UNSUBSCRIBE was not sent: still subscribed
		first = false
	}
	b.mu.Unlock()
	if first && dc != nil {
		if err := dc.Do(ctx, dc.B().Subscribe().Channel(ch).Build()).Error(); err != nil {
			// The subscriber reconnects and resubscribes everything in b.subs.
			return fmt.Errorf("redisbackplane: subscribe %s: %w", ch, err)
		}
	}
	return nil
}

// Unsubscribe drops one reference to a; the channel is left when none remains. It never waits
// for Redis: the hub calls it as connections end (shutdown included), and a hung Redis must
// not hold them. The UNSUBSCRIBE goes out from the unsubscriber goroutine; meanwhile extra
// envelopes for the channel reach a hub that has nobody to give them to.
func (b *Backplane) Unsubscribe(_ context.Context, a push.Address) error {
	ch := b.Channel(a)
	b.mu.Lock()
	b.subs[ch]--
	last := b.subs[ch] <= 0
	if last {
		delete(b.subs, ch)
		if b.dc != nil {
			b.unsub[ch] = struct{}{}
		}
	}
	b.mu.Unlock()
	if last {
		select {
		case b.unsubWake <- struct{}{}:
		default:
		}
	}
	return nil
}

// unsubscriber sends the UNSUBSCRIBEs Unsubscribe left, each under its channel's lock so that
// a Subscribe of the same channel comes strictly before or after it.
func (b *Backplane) unsubscriber(ctx context.Context) {
	defer b.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.unsubWake:
		}
		b.mu.Lock()
		chans := make([]string, 0, len(b.unsub))
		for ch := range b.unsub {
			chans = append(chans, ch)
		}
		b.mu.Unlock()
		for _, ch := range chans {
			if ctx.Err() != nil {
				return
			}
			b.unsubscribeNow(ctx, ch)
		}
	}
}

func (b *Backplane) unsubscribeNow(ctx context.Context, ch string) {
	l := b.chanLock(ch)
	l.Lock()
	defer l.Unlock()
	b.mu.Lock()
	_, pending := b.unsub[ch]
	delete(b.unsub, ch)
	dc := b.dc
	b.mu.Unlock()
	if !pending || dc == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, b.o.IOTimeout)
	defer cancel()
	if err := dc.Do(ctx, dc.B().Unsubscribe().Channel(ch).Build()).Error(); err != nil && ctx.Err() == nil {
		b.log.Warn("redis backplane: unsubscribe failed; the channel stays until the subscriber reconnects", "channel", ch, "err", err)
	}
}

// Stats returns the counters.
func (b *Backplane) Stats() Stats {
	return Stats{
		Published: b.published.Load(), Received: b.received.Load(), Dropped: b.dropped.Load(),
		PublishErrors: b.publishErrors.Load(), DecodeErrors: b.decodeErrors.Load(),
		Reconnects: b.reconnects.Load(), ReconnectsSent: b.reconnectsSent.Load(), Up: b.up.Load(),
	}
}

// Close stops delivery, waits for the goroutines and closes the Redis client.
func (b *Backplane) Close() error {
	if b.cancel != nil {
		b.cancel()
	}
	b.wg.Wait()
	b.mu.Lock()
	b.deliver = nil
	b.mu.Unlock()
	b.client.Close()
	return nil
}

var _ push.Backplane = (*Backplane)(nil)
