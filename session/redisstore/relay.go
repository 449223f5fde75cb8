package redisstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/redis/rueidis"

	"github.com/rcgateway/rcgateway/session"
)

// The relay (session.Relay): each process listens on <prefix>:relay:<member>; a message for a
// user is published, in one script, to the channel of the member that holds the user's lease.
// A payload is uvarint(len(user)) + user + the session's message.

var _ session.Relay = (*Store)(nil)

// forwardScript publishes ARGV[2] to ARGV[1] .. the member holding the lease KEYS[1], and
// answers how many processes received it (0: that process is gone), or -1 with no lease.
var forwardScript = rueidis.NewLuaScript(`
local v = redis.call('GET', KEYS[1])
if not v then return -1 end
local m = string.match(v, '^(.*):%d+$')
if not m then return -1 end
return redis.call('PUBLISH', ARGV[1] .. m, ARGV[2])`)

func (s *Store) relayChannel(member string) string { return s.o.Prefix + ":relay:" + member }

// Forward hands msg for userID to the process that owns the user's upstream lease.
func (s *Store) Forward(ctx context.Context, userID string, msg []byte) error {
	payload := binary.AppendUvarint(make([]byte, 0, len(userID)+len(msg)+2), uint64(len(userID)))
	payload = append(append(payload, userID...), msg...)
	n, err := forwardScript.Exec(ctx, s.client, []string{s.key("lease", userID)},
		[]string{s.relayChannel(""), rueidis.BinaryString(payload)}).AsInt64()
	if err != nil {
		return fmt.Errorf("redisstore: forward: %w", err)
	}
	if n <= 0 {
		return session.ErrNoOwner
	}
	return nil
}

// Serve passes the messages forwarded to this process to handle until ctx ends or the
// subscription's connection fails (the caller starts over). It subscribes on a dedicated
// connection, which is closed when Serve returns: a Redis restart shows as a broken
// connection (the shared client's Receive would not return), and no subscription outlives
// Serve to make forwards count a listener that is gone. handle runs on rueidis's receiving
// goroutine and must not block or call Redis.
func (s *Store) Serve(ctx context.Context, handle func(userID string, msg []byte)) error {
	dc, release := s.client.Dedicate()
	defer release()
	broken := dc.SetPubSubHooks(rueidis.PubSubHooks{OnMessage: func(m rueidis.PubSubMessage) {
		b := []byte(m.Message)
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			s.log.Warn("redisstore: relay message refused: corrupt", "bytes", len(b))
			return
		}
		handle(string(b[k:k+int(n)]), b[k+int(n):])
	}})
	if err := dc.Do(ctx, dc.B().Subscribe().Channel(s.relayChannel(s.member)).Build()).Error(); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("redisstore: relay: subscribe: %w", err)
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-broken:
		if err == nil {
			err = errors.New("subscription ended")
		}
		return fmt.Errorf("redisstore: relay: %w", err)
	}
}
