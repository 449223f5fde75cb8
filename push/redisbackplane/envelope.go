package redisbackplane

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/rcgateway/rcgateway/push"
)

// Wire format of one Envelope on a channel (version 2):
//
//	byte   version (2)
//	byte   address kind
//	byte   op
//	string address key, string group, string envelope key
//	uvarint before (OpClose: connections created before, Unix ns; 0: all)
//	uvarint count, then count × string (excluded connection ids)
//	string json record, string msgpack record
//
// where string is a uvarint length followed by the bytes. Version 1 is the same without the
// envelope key and before; it is still read, so that a cluster can be upgraded one node at a time (a
// version 1 node drops the version 2 envelopes it cannot read, and counts them as corrupt).
const (
	wireVersion   = 2
	wireVersionV1 = 1
)

// maxField bounds one decoded field, so a corrupt length cannot ask for gigabytes.
const maxField = 64 << 20

var errCorrupt = errors.New("redisbackplane: corrupt envelope")

func appendString(b []byte, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// encode appends e's wire form to b.
func encode(b []byte, e push.Envelope) []byte {
	b = append(b, wireVersion, byte(e.To.Kind), byte(e.Op))
	b = appendString(b, []byte(e.To.Key))
	b = appendString(b, []byte(e.Group))
	b = appendString(b, []byte(e.Key))
	b = binary.AppendUvarint(b, uint64(max(e.Before, 0)))
	b = binary.AppendUvarint(b, uint64(len(e.Exclude)))
	for _, x := range e.Exclude {
		b = appendString(b, []byte(x))
	}
	b = appendString(b, e.JSON)
	return appendString(b, e.MsgPack)
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > maxField || n > uint64(len(r.b)) {
		r.err = errCorrupt
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// decode parses one wire envelope. The returned byte slices alias b.
func decode(b []byte) (push.Envelope, error) {
	if len(b) < 3 {
		return push.Envelope{}, errCorrupt
	}
	if b[0] != wireVersion && b[0] != wireVersionV1 {
		return push.Envelope{}, fmt.Errorf("redisbackplane: envelope version %d not supported", b[0])
	}
	e := push.Envelope{To: push.Address{Kind: push.AddressKind(b[1])}, Op: push.Op(b[2])}
	if e.To.Kind < push.ToAll || e.To.Kind > push.ToConnection || e.Op < push.OpSend || e.Op > push.OpGroupRemove {
		return push.Envelope{}, errCorrupt
	}
	r := &reader{b: b[3:]}
	e.To.Key = string(r.bytes())
	e.Group = string(r.bytes())
	if b[0] == wireVersion {
		e.Key = string(r.bytes())
		before := r.uvarint()
		if before > math.MaxInt64 {
			return push.Envelope{}, errCorrupt
		}
		e.Before = int64(before)
	}
	n := r.uvarint()
	if n > uint64(len(r.b)) { // each id takes at least one byte
		return push.Envelope{}, errCorrupt
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		e.Exclude = append(e.Exclude, string(r.bytes()))
	}
	e.JSON = r.bytes()
	e.MsgPack = r.bytes()
	if r.err != nil {
		return push.Envelope{}, r.err
	}
	if len(r.b) != 0 {
		return push.Envelope{}, errCorrupt
	}
	if len(e.JSON) == 0 {
		e.JSON = nil
	}
	if len(e.MsgPack) == 0 {
		e.MsgPack = nil
	}
	return e, nil
}
