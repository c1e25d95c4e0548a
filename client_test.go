package tandem_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/tandem-rpc/tandem"
	"github.com/tandem-rpc/tandem/wire"
)

// restartable serves fresh servers, one after another, on one TCP address.
type restartable struct {
	t    *testing.T
	addr string
}

func newRestartable(t *testing.T) *restartable {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return &restartable{t: t, addr: addr}
}

// start serves a new server, set up by register, on the address.
func (r *restartable) start(register func(*tandem.Server)) *tandem.Server {
	srv := newServer(r.t)
	register(srv)
	var ln net.Listener
	var err error
	for range 100 { // the previous server's listener may still be closing
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	must(r.t, err)
	done := make(chan struct{})
	go func() { srv.Serve(ln); close(done) }()
	r.t.Cleanup(func() { srv.Close(); <-done })
	return srv
}

// Stall blocks on the first server a test starts and answers on the second.
type Stall struct {
	block   bool
	started chan struct{}
}

func (s Stall) Do(ctx context.Context) (string, error) {
	if s.block {
		s.started <- struct{}{}
		<-ctx.Done()
		return "", ctx.Err()
	}
	return "ok", nil
}

func TestClientReconnectsAndServesItsObjectsAgain(t *testing.T) {
	r := newRestartable(t)
	register := func(s *tandem.Server) { must(t, s.Register(Caller{})) }
	srv1 := r.start(register)

	local := newServer(t)
	must(t, local.Register(Doubler{}))
	c, err := local.NewClient("tcp://"+r.addr, tandem.WithBackoff(5*time.Millisecond, 50*time.Millisecond), tandem.WithWaitForReady())
	must(t, err)
	defer c.Close()

	ctx := ctxTimeout(t, 20*time.Second)
	var n int
	must(t, c.Call(ctx, "Caller.Twice", &n, 4)) // the server calls our Doubler back
	if n != 8 {
		t.Fatalf("Twice = %d", n)
	}
	old, err := c.Peer(ctx)
	must(t, err)
	srv1.Close()
	<-old.Done() // the client has seen the loss

	// With WithWaitForReady a call made while disconnected waits for the new server.
	res := make(chan error, 1)
	go func() { res <- c.Call(ctx, "Caller.Twice", &n, 5) }()
	srv2 := r.start(register)
	must(t, <-res)
	if n != 10 {
		t.Fatalf("Twice after reconnect = %d", n)
	}
	// And the new server can call our objects directly.
	for len(srv2.Peers()) == 0 {
		time.Sleep(time.Millisecond)
	}
	var d int
	must(t, srv2.Peers()[0].Call(ctx, "Doubler.Double", &d, 21))
	if d != 42 {
		t.Fatalf("Double = %d", d)
	}
}

func TestClientFailsFastWhileDisconnected(t *testing.T) {
	r := newRestartable(t)
	c, err := newServer(t).NewClient("tcp://"+r.addr, tandem.WithBackoff(5*time.Millisecond, 20*time.Millisecond))
	must(t, err)
	defer c.Close()
	err = c.Call(ctxTimeout(t, 5*time.Second), "Calc.Add", nil, 1, 2)
	if !errors.Is(err, tandem.ErrConnectionLost) {
		t.Fatalf("call with no server: %v", err)
	}
	r.start(func(s *tandem.Server) { must(t, s.Register(&Calc{})) })
	for {
		err := c.Call(ctxTimeout(t, 5*time.Second), "Calc.Add", nil, 1, 2)
		if err == nil {
			break
		}
		if !errors.Is(err, tandem.ErrConnectionLost) {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // waiting for the OS to accept our redial
	}
}

func TestClientRetriesOnlyWhatIsSafe(t *testing.T) {
	r := newRestartable(t)
	started := make(chan struct{}, 2)
	srv1 := r.start(func(s *tandem.Server) { must(t, s.Register(Stall{block: true, started: started})) })
	c, err := newServer(t).NewClient("tcp://"+r.addr, tandem.WithBackoff(5*time.Millisecond, 50*time.Millisecond), tandem.WithWaitForReady())
	must(t, err)
	defer c.Close()
	ctx := ctxTimeout(t, 20*time.Second)

	// Both calls are in flight on srv1 when it closes hard: only the idempotent one is
	// retried, on the next server.
	idem := make(chan error, 1)
	var out string
	go func() { idem <- c.Call(tandem.MarkIdempotent(ctx), "Stall.Do", &out) }()
	plain := make(chan error, 1)
	go func() { plain <- c.Call(ctx, "Stall.Do", nil) }()
	<-started
	<-started
	srv1.Close()
	if err := <-plain; !errors.Is(err, tandem.ErrConnectionLost) {
		t.Fatalf("non-idempotent call cut by the loss: %v, want ErrConnectionLost", err)
	}
	r.start(func(s *tandem.Server) { must(t, s.Register(Stall{})) })
	if err := <-idem; err != nil || out != "ok" {
		t.Fatalf("idempotent call: %q %v, want it retried on the new server", out, err)
	}
}

// TestClientDoRunsAgainOnANewConnection: Do gives f the current connection and runs it
// again on the next one when the call f made was refused by a server going away; an error
// that makes no retry safe ends it after one run.
func TestClientDoRunsAgainOnANewConnection(t *testing.T) {
	r := newRestartable(t)
	srv1 := r.start(func(s *tandem.Server) { must(t, s.Register(&Calc{})) })
	c, err := newServer(t).NewClient("tcp://"+r.addr, tandem.WithBackoff(5*time.Millisecond, 50*time.Millisecond), tandem.WithWaitForReady())
	must(t, err)
	defer c.Close()
	ctx := ctxTimeout(t, 20*time.Second)

	var peers []*tandem.Peer
	var sum int
	err = c.Do(ctx, func(p *tandem.Peer) error {
		peers = append(peers, p)
		if len(peers) == 1 {
			must(t, srv1.Shutdown(ctx))
			<-p.Done()
			r.start(func(s *tandem.Server) { must(t, s.Register(&Calc{})) })
		}
		return p.Call(ctx, "Calc.Add", &sum, 2, 3)
	})
	if err != nil || sum != 5 {
		t.Fatalf("Do = %v with sum %d, want nil and 5 from the second server", err, sum)
	}
	if len(peers) != 2 || peers[0] == peers[1] {
		t.Fatalf("f ran on %d connections (%v), want 2 different ones", len(peers), peers)
	}

	mine := errors.New("not retryable")
	runs := 0
	if err := c.Do(ctx, func(*tandem.Peer) error { runs++; return mine }); err != mine || runs != 1 {
		t.Fatalf("Do = %v after %d runs, want f's own error after 1", err, runs)
	}

	// Typed one-off calls go through a Client too.
	if n, err := tandem.CallT[int](ctx, c, "Calc.Add", 20, 22); n != 42 || err != nil {
		t.Fatalf("CallT through the Client = %d, %v", n, err)
	}
}

func TestClientMovesToANewServerOnGoingAway(t *testing.T) {
	r := newRestartable(t)
	slow := Slow{started: make(chan struct{}, 1), release: make(chan struct{})}
	srv1 := r.start(func(s *tandem.Server) { must(t, s.Register(slow)); must(t, s.Register(&Calc{})) })
	c, err := newServer(t).NewClient("tcp://"+r.addr, tandem.WithBackoff(5*time.Millisecond, 50*time.Millisecond), tandem.WithWaitForReady())
	must(t, err)
	defer c.Close()
	ctx := ctxTimeout(t, 20*time.Second)
	old, err := c.Peer(ctx)
	must(t, err)

	var x int
	inflight := make(chan error, 1)
	go func() { inflight <- c.Call(ctx, "Slow.Work", &x, 7) }()
	<-slow.started
	shut := make(chan error, 1)
	go func() { shut <- srv1.Shutdown(ctx) }()
	<-old.GoingAway()

	r.start(func(s *tandem.Server) { must(t, s.Register(&Calc{})) })
	var sum int
	must(t, c.Call(ctx, "Calc.Add", &sum, 2, 2)) // served by the new server
	if sum != 4 {
		t.Fatalf("Add = %d", sum)
	}
	close(slow.release) // the call accepted by the old server still gets its reply
	if err := <-inflight; err != nil || x != 70 {
		t.Fatalf("call in flight during the shutdown: %d %v", x, err)
	}
	must(t, <-shut)
}

// TestGoAwayLastIDMarksCallsNeverStarted pins the protocol rule that lets a client retry
// safely: calls above the going-away frame's last accepted id were never started.
func TestGoAwayLastIDMarksCallsNeverStarted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		if _, err := wire.ReadHello(br); err != nil {
			return
		}
		conn.Write(wire.AppendWelcome(nil, wire.Welcome{Version: wire.Version, MaxFrameSize: wire.DefaultMaxFrameSize}))
		var hdr [wire.LengthSize]byte
		for range 2 { // two calls, ids 1 and 3: accept the first only, then vanish
			n, err := wire.ReadLength(br, &hdr, wire.DefaultMaxFrameSize)
			if err != nil {
				return
			}
			io.CopyN(io.Discard, br, int64(n))
		}
		conn.Write(wire.AppendGoAway(nil, 1, 14, "bye"))
	}()
	p, err := tandem.Dial(ctxTimeout(t, 5*time.Second), "tcp://"+ln.Addr().String())
	must(t, err)
	defer p.Close()
	first := p.Go(ctxTimeout(t, 5*time.Second), "X.Y", nil)
	second := p.Go(ctxTimeout(t, 5*time.Second), "X.Y", nil)
	if err := first.Wait(); !errors.Is(err, tandem.ErrConnectionLost) {
		t.Fatalf("accepted call: %v, want ErrConnectionLost (it may have run)", err)
	}
	if err := second.Wait(); !errors.Is(err, tandem.ErrShuttingDown) {
		t.Fatalf("call above the last accepted id: %v, want ErrShuttingDown (never started)", err)
	}
}
