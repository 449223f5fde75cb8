// Package faultproxy is a TCP proxy for fault tests: it forwards connections to a target and
// can cut them (close both sides, refuse new ones), stall them (keep them open and forward
// nothing, as a silent network partition does: no FIN, no RST) and let traffic through again.
// It knows nothing of the protocols it carries.
package faultproxy

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"
)

// Mode is what the proxy does with traffic.
type Mode int

// The modes.
const (
	Pass  Mode = iota // forward everything
	Stall             // accept and hold connections, forward nothing, close nothing
	Cut               // close every connection and refuse new ones
)

// Proxy forwards TCP connections from its listener to a target address.
type Proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	mode   Mode
	change chan struct{} // closed and replaced on every mode change
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
	stop   context.CancelFunc // ends dials in progress at Close
	ctx    context.Context
}

// New listens on 127.0.0.1 (a free port) and forwards to target.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	p := &Proxy{ln: ln, target: target, change: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	p.ctx, p.stop = context.WithCancel(context.Background())
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's listening address (host:port).
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Set changes the mode. Cut closes every open connection at once.
func (p *Proxy) Set(m Mode) {
	p.mu.Lock()
	p.mode = m
	close(p.change)
	p.change = make(chan struct{})
	var drop []net.Conn
	if m == Cut {
		for c := range p.conns {
			drop = append(drop, c)
		}
	}
	p.mu.Unlock()
	for _, c := range drop {
		_ = c.Close()
	}
}

// Close stops the proxy, closes every connection and waits for its goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		_ = c.Close()
	}
	close(p.change)
	p.change = make(chan struct{})
	p.mu.Unlock()
	err := p.ln.Close()
	p.stop()
	p.wg.Wait()
	return err
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.mode == Cut {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(in) {
			_ = in.Close()
			continue
		}
		p.wg.Add(1)
		go p.serve(in)
	}
}

func (p *Proxy) serve(in net.Conn) {
	defer p.wg.Done()
	defer p.untrack(in)
	d := net.Dialer{Timeout: 5 * time.Second}
	out, err := d.DialContext(p.ctx, "tcp", p.target)
	if err != nil {
		return
	}
	if !p.track(out) {
		_ = out.Close()
		return
	}
	defer p.untrack(out)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(out, in); _ = out.Close(); _ = in.Close() }()
	go func() { defer wg.Done(); p.pipe(in, out); _ = out.Close(); _ = in.Close() }()
	wg.Wait()
}

// pipe copies src to dst chunk by chunk; while the proxy stalls, a chunk waits (the peers see
// silence, not a close) until the proxy passes again or cuts.
func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.waitPass() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF or a closed connection: the caller closes both sides
		}
	}
}

// waitPass blocks while the proxy stalls; false once it cuts or closes.
func (p *Proxy) waitPass() bool {
	for {
		p.mu.Lock()
		m, ch, closed := p.mode, p.change, p.closed
		p.mu.Unlock()
		switch {
		case closed || m == Cut:
			return false
		case m == Pass:
			return true
		}
		<-ch
	}
}
