package tandem

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-rpc/tandem/wire"
)

// liveness is a peer's watch over its connection: keepalive pings, dead-peer detection, the
// idle timeout, and the limit on how often the other side may ping. It runs on a timer,
// not on a goroutine of its own.
type liveness struct {
	mu       sync.Mutex // guards timer and stopped against a tick racing start or stop
	timer    *time.Timer
	stopped  bool
	lastRead atomic.Int64 // nanos (see clock) of the last frame read
	paused   atomic.Bool  // the reader has stopped reading until a handler ends
	pingSent int64        // nanos (clock) of our unanswered ping, or 0; used by tick only

	lastPing int64 // nanos (clock) of the last ping received; used by the reader only
	strikes  int   // pings received too soon; used by the reader only
}

// maxPingStrikes is how many too-early pings are forgiven before the connection is closed.
const maxPingStrikes = 2

// startLiveness arms the first tick and, on TCP, TCP_USER_TIMEOUT.
func (p *Peer) startLiveness() {
	now := p.clock.nanos()
	p.live.lastRead.Store(now)
	next, ok := p.nextTick(now, 0)
	if !ok {
		return
	}
	if p.cfg.keepalive > 0 {
		setUserTimeout(p.conn, p.cfg.keepalive+p.cfg.keepaliveTimeout)
	}
	p.live.mu.Lock()
	p.live.timer = time.AfterFunc(next, p.tick)
	p.live.mu.Unlock()
}

// nextTick returns how long until the watch must look again, given the time since the last
// read; false if there is nothing to watch.
func (p *Peer) nextTick(now int64, idle time.Duration) (time.Duration, bool) {
	next, ok := time.Duration(1<<62), false
	if p.cfg.idleTimeout > 0 {
		next, ok = p.cfg.idleTimeout-idle, true
	}
	if p.cfg.keepalive > 0 {
		ok = true
		if p.live.pingSent != 0 {
			next = min(next, time.Duration(p.live.pingSent-now)+p.cfg.keepaliveTimeout)
		} else {
			next = min(next, p.cfg.keepalive-idle)
		}
	}
	return max(next, time.Millisecond), ok
}

// tick runs on the timer: it pings a quiet connection and drops a dead or idle one.
func (p *Peer) tick() {
	select {
	case <-p.done:
		return
	default:
	}
	now := p.clock.nanos()
	if p.live.paused.Load() {
		// Input is waiting because this side stopped reading it (backpressure): the other
		// side is not idle, nor can its pongs be read.
		p.live.lastRead.Store(now)
	}
	last := p.live.lastRead.Load()
	idle := time.Duration(now - last)
	if p.cfg.idleTimeout > 0 && idle >= p.cfg.idleTimeout {
		p.terminate(newErr(ErrConnectionLost, nil, "connection closed: nothing received for %v (idle timeout)", p.cfg.idleTimeout), false)
		return
	}
	if p.cfg.keepalive > 0 {
		switch {
		case p.live.pingSent != 0 && last >= p.live.pingSent:
			p.live.pingSent = 0 // something arrived since the ping: alive
		case p.live.pingSent != 0 && time.Duration(now-p.live.pingSent) >= p.cfg.keepaliveTimeout:
			p.terminate(newErr(ErrConnectionLost, nil, "connection lost: no answer to a keepalive ping within %v", p.cfg.keepaliveTimeout), false)
			return
		case p.live.pingSent == 0 && idle >= p.cfg.keepalive:
			p.live.pingSent = now
			if dst, err := p.w.begin(); err == nil {
				var data [wire.PingDataSize]byte
				p.w.commit(wire.AppendPing(dst, wire.KindPing, data))
			}
		}
	}
	if next, ok := p.nextTick(now, idle); ok {
		p.live.mu.Lock()
		if !p.live.stopped {
			p.live.timer.Reset(next)
		}
		p.live.mu.Unlock()
	}
}

// stopLiveness stops the watch; a tick already running sees the peer done and stops too.
func (p *Peer) stopLiveness() {
	p.live.mu.Lock()
	p.live.stopped = true
	if p.live.timer != nil {
		p.live.timer.Stop()
	}
	p.live.mu.Unlock()
}

// pingReceived enforces the minimum ping interval. It runs on the reader.
func (p *Peer) pingReceived(now int64) error {
	if p.live.lastPing != 0 && time.Duration(now-p.live.lastPing) < p.cfg.minPingInterval {
		p.live.strikes++
		if p.live.strikes > maxPingStrikes {
			return newErr(ErrProtocol, nil, "protocol error: pings more often than every %v (ping flood)", p.cfg.minPingInterval)
		}
	} else {
		p.live.strikes = 0
	}
	p.live.lastPing = now
	return nil
}

// tcpConn returns the TCP connection under conn, looking through TLS.
func tcpConn(conn net.Conn) *net.TCPConn {
	for {
		switch c := conn.(type) {
		case *net.TCPConn:
			return c
		case interface{ NetConn() net.Conn }:
			conn = c.NetConn()
		default:
			return nil
		}
	}
}
