package tandem_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tandem-rpc/tandem"
	"github.com/tandem-rpc/tandem/wire"
)

// blackhole relays bytes between two pipes until cut, then swallows everything: a
// connection whose other end vanished without a FIN or RST.
type blackhole struct {
	cut atomic.Bool
}

func (bh *blackhole) relay(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			if !bh.cut.Load() { // a vanished peer sends no FIN either
				dst.Close()
			}
			return
		}
		if !bh.cut.Load() {
			if _, err := dst.Write(buf[:n]); err != nil {
				src.Close()
				return
			}
		}
	}
}

// pipeThrough connects client to srv through a blackhole.
func pipeThrough(t *testing.T, srv, client *tandem.Server, bh *blackhole) *tandem.Peer {
	a1, a2 := net.Pipe()
	b1, b2 := net.Pipe()
	go bh.relay(b1, a2)
	go bh.relay(a2, b1)
	errc := make(chan error, 1)
	go func() { _, err := srv.ServeConn(context.Background(), b2); errc <- err }()
	p, err := client.DialConn(context.Background(), a1)
	must(t, err)
	must(t, <-errc)
	t.Cleanup(func() { a1.Close(); b2.Close() })
	return p
}

func TestKeepaliveDetectsHalfOpenConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		opts := []tandem.Option{tandem.WithKeepalive(time.Second, time.Second), tandem.WithMinPingInterval(time.Second / 2)}
		srv := newServer(t, opts...)
		must(t, srv.Register(&Calc{}))
		bh := &blackhole{}
		p := pipeThrough(t, srv, newServer(t, opts...), bh)
		must(t, p.Call(context.Background(), "Calc.Add", nil, 1, 2))

		// Quiet but healthy: pings keep it up far beyond keepalive+timeout.
		time.Sleep(time.Minute)
		must(t, p.Call(context.Background(), "Calc.Add", nil, 1, 2))

		bh.cut.Store(true)
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		start := time.Now()
		err := p.Call(ctx, "Calc.Block", nil)
		if !errors.Is(err, tandem.ErrConnectionLost) || !strings.Contains(err.Error(), "keepalive") {
			t.Fatalf("call over a half-open connection: %v", err)
		}
		// In the bubble time is exact: detection within interval + timeout.
		if waited := time.Since(start); waited > 2*time.Second+10*time.Millisecond {
			t.Fatalf("detected after %v, want at most keepalive+timeout = 2s", waited)
		}
		<-p.Done()
		srv.Close()
	})
}

func TestIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The server itself does not ping: a peer that answers pings is never idle.
		srv := newServer(t, tandem.WithIdleTimeout(time.Minute), tandem.WithKeepalive(-1, 0))
		must(t, srv.Register(&Calc{}))
		// A client that sends keepalive pings is never idle.
		alive := dialPipe(t, srv, newServer(t, tandem.WithKeepalive(20*time.Second, 10*time.Second)))
		// One that sends nothing is dropped after the idle timeout.
		silent := dialPipe(t, srv, newServer(t, tandem.WithKeepalive(-1, 0), tandem.WithIdleTimeout(-1)))
		start := time.Now()
		<-silent.Done()
		if !errors.Is(silent.Err(), tandem.ErrConnectionLost) {
			t.Fatalf("silent peer: %v", silent.Err())
		}
		if waited := time.Since(start); waited < time.Minute || waited > time.Minute+time.Second {
			t.Fatalf("dropped after %v, want the idle timeout (1m)", waited)
		}
		time.Sleep(10 * time.Minute)
		must(t, alive.Call(context.Background(), "Calc.Add", nil, 1, 2))
		srv.Close()
	})
}

func TestPingFloodClosesConnection(t *testing.T) {
	addr, sink := hostileServer(t)
	c, br := rawConn(t, addr, true)
	var flood []byte
	for range 10 {
		flood = wire.AppendPing(flood, wire.KindPing, [8]byte{})
	}
	go io.Copy(io.Discard, br)
	_, err := c.Write(flood)
	must(t, err)
	if !sink.has("ping flood") {
		t.Fatalf("ping flood not logged: %q", sink.msgs)
	}
	healthy(t, addr)
}

func TestSlowConsumerIsDropped(t *testing.T) {
	sink := newLogSink()
	srv := newServer(t, tandem.WithLogger(slog.New(sink)), tandem.WithWriteTimeout(200*time.Millisecond))
	must(t, srv.Register(&Calc{}))
	ln, err := tandem.Listen("tcp://127.0.0.1:0")
	must(t, err)
	go srv.Serve(ln)
	c, _ := rawConn(t, ln.Addr().String(), true)
	c.(*net.TCPConn).SetReadBuffer(4 << 10)
	// Ask for 1 MiB echoes and never read the replies.
	payload := append([]byte{0x91, 0xc6, 0x00, 0x10, 0x00, 0x00}, make([]byte, 1<<20)...)
	for i := range 16 {
		if _, err := c.Write(callFrame(uint64(2*i+1), "Calc.Echo", payload)); err != nil {
			break // the server dropped us already
		}
	}
	for {
		peers := srv.Peers()
		if len(peers) == 0 {
			break
		}
		<-peers[0].Done()
		if !errors.Is(peers[0].Err(), tandem.ErrConnectionLost) || !strings.Contains(peers[0].Err().Error(), "slow consumer") {
			t.Fatalf("server-side peer ended with %v", peers[0].Err())
		}
	}
}

func TestMaxConns(t *testing.T) {
	srv := newServer(t, tandem.WithMaxConns(2))
	must(t, srv.Register(&Calc{}))
	ln, err := tandem.Listen("tcp://127.0.0.1:0")
	must(t, err)
	go srv.Serve(ln)
	addr := "tcp://" + ln.Addr().String()
	for range 2 {
		p, err := tandem.Dial(ctxTimeout(t, 5*time.Second), addr)
		must(t, err)
		defer p.Close()
	}
	_, err = tandem.Dial(ctxTimeout(t, 5*time.Second), addr)
	if !errors.Is(err, tandem.ErrHandshake) {
		t.Fatalf("third connection: %v, want a refused handshake", err)
	}
}
