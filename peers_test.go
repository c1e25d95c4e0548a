package tandem_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/tandem-rpc/tandem"
	"github.com/tandem-rpc/tandem/wire"
)

// Ping and Pong call each other back through the calling peer, depth levels deep.
type Ping struct{}

// Bounce calls the other side's Pong.Bounce with depth-1 and appends its own mark.
func (Ping) Bounce(ctx context.Context, depth int, trail string) (string, error) {
	return bounce(ctx, "Pong", depth, trail+"A")
}

type Pong struct{}

func (Pong) Bounce(ctx context.Context, depth int, trail string) (string, error) {
	return bounce(ctx, "Ping", depth, trail+"B")
}

func bounce(ctx context.Context, other string, depth int, trail string) (string, error) {
	if depth == 0 {
		return trail, nil
	}
	var out string
	err := tandem.PeerFromContext(ctx).Call(ctx, other+".Bounce", &out, depth-1, trail)
	return out, err
}

func TestReentrantCallsBothWays(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		a := newServer(t, tandem.WithMaxInflight(4096))
		must(t, a.Register(Ping{}))
		b := newServer(t, tandem.WithMaxInflight(4096))
		must(t, b.Register(Pong{}))
		p := tr.dial(t, a, b) // b dials a; each calls the other

		ctx := ctxTimeout(t, 30*time.Second)
		// B calls A, A's handler calls B, B's handler calls A: three levels deep, many at once.
		const chains = 200
		var wg sync.WaitGroup
		errs := make(chan error, chains)
		for i := range chains {
			wg.Go(func() {
				var out string
				start := fmt.Sprint(i, ":")
				if err := p.Call(ctx, "Ping.Bounce", &out, 3, start); err != nil {
					errs <- err
					return
				}
				if want := start + "ABAB"; out != want {
					errs <- fmt.Errorf("trail %q, want %q", out, want)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		// And the acceptor can start calls too, through its list of peers.
		peers := a.Peers()
		if len(peers) != 1 {
			t.Fatalf("a has %d peers, want 1", len(peers))
		}
		var out string
		must(t, peers[0].Call(ctx, "Pong.Bounce", &out, 2, ""))
		if out != "BAB" {
			t.Fatalf("trail %q", out)
		}
	})
}

// Hub remembers its callers and pushes events to them later.
type Hub struct {
	mu      sync.Mutex
	members []*tandem.Peer
}

func (h *Hub) Join(ctx context.Context) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.members = append(h.members, tandem.PeerFromContext(ctx))
}

type Inbox struct{ got chan string }

func (in Inbox) Deliver(msg string) { in.got <- msg }

func TestServerPushesToClients(t *testing.T) {
	srv := newServer(t)
	hub := &Hub{}
	must(t, srv.Register(hub))
	ln, err := tandem.Listen("tcp://127.0.0.1:0")
	must(t, err)
	go srv.Serve(ln)
	const n = 5
	inboxes := make([]Inbox, n)
	for i := range inboxes {
		inboxes[i] = Inbox{got: make(chan string, 4)}
		c := newServer(t)
		must(t, c.Register(inboxes[i]))
		p, err := c.Dial(ctxTimeout(t, 5*time.Second), "tcp://"+ln.Addr().String())
		must(t, err)
		must(t, p.Call(ctxTimeout(t, 5*time.Second), "Hub.Join", nil))
	}
	// After the Join calls returned: push with Notify to remembered peers, and with Call to
	// every connected peer.
	hub.mu.Lock()
	members := hub.members
	hub.mu.Unlock()
	for _, m := range members {
		must(t, m.Notify(context.Background(), "Inbox.Deliver", "notified"))
	}
	if got := len(srv.Peers()); got != n {
		t.Fatalf("server lists %d peers, want %d", got, n)
	}
	for _, p := range srv.Peers() {
		must(t, p.Call(ctxTimeout(t, 5*time.Second), "Inbox.Deliver", nil, "called"))
	}
	for i, in := range inboxes {
		// The two deliveries run concurrently on the client, in either order.
		got := map[string]bool{<-in.got: true, <-in.got: true}
		if !got["notified"] || !got["called"] {
			t.Fatalf("inbox %d got %v", i, got)
		}
	}
}

func TestConnectionLossFailsPendingCalls(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv, p := setup(t, tr)
		h := watchBlock(t)
		const n = 100
		calls := make([]*tandem.Call, n)
		for i := range calls {
			calls[i] = p.Go(ctxTimeout(t, time.Hour), "Calc.Block", nil)
		}
		for range n {
			<-h.started
		}
		// The server side drops the connection: every pending call fails at once.
		srv.Close()
		for _, c := range calls {
			if err := c.Wait(); !errors.Is(err, tandem.ErrConnectionLost) || tandem.CodeOf(err) != tandem.CodeUnavailable {
				t.Fatalf("pending call: %v, want ErrConnectionLost", err)
			}
		}
		<-p.Done()
		if !errors.Is(p.Err(), tandem.ErrConnectionLost) {
			t.Fatalf("Err() = %v", p.Err())
		}
		for range n {
			<-h.ended
		}
		// New calls fail fast with the same error.
		err := p.Call(context.Background(), "Calc.Add", nil, 1, 2)
		if !errors.Is(err, tandem.ErrConnectionLost) {
			t.Fatalf("call after loss: %v", err)
		}
		if err := p.Go(context.Background(), "Calc.Add", nil, 1, 2).Wait(); !errors.Is(err, tandem.ErrConnectionLost) {
			t.Fatalf("Go after loss: %v", err)
		}
		if err := p.Notify(context.Background(), "Calc.Add", 1, 2); !errors.Is(err, tandem.ErrConnectionLost) {
			t.Fatalf("Notify after loss: %v", err)
		}
	})
}

func TestCloseFailsCallsWithErrClosed(t *testing.T) {
	_, p := setup(t, transports()[0])
	h := watchBlock(t)
	c := p.Go(context.Background(), "Calc.Block", nil)
	<-h.started
	must(t, p.Close())
	if err := c.Wait(); !errors.Is(err, tandem.ErrClosed) {
		t.Fatalf("call pending at Close: %v", err)
	}
	<-h.ended
	if err := p.Call(context.Background(), "Calc.Add", nil, 1, 2); !errors.Is(err, tandem.ErrClosed) {
		t.Fatalf("call after Close: %v", err)
	}
}

// Slow finishes after a signal, to hold calls in flight during a shutdown.
type Slow struct {
	started chan struct{}
	release chan struct{}
}

func (s Slow) Work(x int) int {
	s.started <- struct{}{}
	<-s.release
	return x * 10
}

func TestGracefulShutdown(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := newServer(t)
		slow := Slow{started: make(chan struct{}, 100), release: make(chan struct{})}
		must(t, srv.Register(slow))
		must(t, srv.Register(&Calc{}))
		p := tr.dial(t, srv, newServer(t))

		const n = 20
		var results [n]int
		calls := make([]*tandem.Call, n)
		for i := range calls {
			calls[i] = p.Go(ctxTimeout(t, time.Minute), "Slow.Work", &results[i], i)
		}
		for range n {
			<-slow.started
		}
		shutdown := make(chan error, 1)
		go func() { shutdown <- srv.Shutdown(ctxTimeout(t, time.Minute)) }()

		// New calls fail fast with ErrShuttingDown once the going-away frame arrives; the
		// ones in flight still complete.
		for {
			err := p.Call(ctxTimeout(t, 5*time.Second), "Calc.Add", nil, 1, 2)
			if err == nil {
				continue // sent before the going-away frame arrived
			}
			if !errors.Is(err, tandem.ErrShuttingDown) {
				t.Fatalf("call during shutdown: %v", err)
			}
			break
		}
		close(slow.release)
		for i, c := range calls {
			must(t, c.Wait())
			if results[i] != i*10 {
				t.Fatalf("result %d = %d", i, results[i])
			}
		}
		must(t, <-shutdown)
		<-p.Done()
	})
}

func TestShutdownDeadline(t *testing.T) {
	srv, p := setup(t, transports()[0])
	h := watchBlock(t)
	c := p.Go(ctxTimeout(t, time.Minute), "Calc.Block", nil)
	<-h.started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown with an ended ctx = %v", err)
	}
	if err := c.Wait(); !errors.Is(err, tandem.ErrConnectionLost) {
		t.Fatalf("call cut by shutdown: %v", err)
	}
	<-h.ended
}

// TestShutdownRightAfterHandshakeSaysGoingAway: a connection whose handshake the dialer
// has finished when the server starts shutting down, though the server may not have taken
// it on yet, is told the server is going away. The dialer's calls on it then fail with
// ErrShuttingDown, which says they never ran and may go elsewhere, not as a lost
// connection, which would leave a non-idempotent call in doubt. Both for connections the
// server accepts (Serve) and for those handed to it (ServeConn).
func TestShutdownRightAfterHandshakeSaysGoingAway(t *testing.T) {
	ctx := ctxTimeout(t, time.Minute)
	client := newServer(t)
	serve := map[string]func(t *testing.T, srv *tandem.Server) *tandem.Peer{
		"Serve": func(t *testing.T, srv *tandem.Server) *tandem.Peer {
			ln, err := tandem.Listen("tcp://127.0.0.1:0")
			must(t, err)
			go srv.Serve(ln)
			p, err := client.Dial(ctx, "tcp://"+ln.Addr().String())
			must(t, err)
			return p
		},
		"ServeConn": func(t *testing.T, srv *tandem.Server) *tandem.Peer {
			c1, c2 := net.Pipe()
			go srv.ServeConn(ctx, c2)
			p, err := client.DialConn(ctx, c1)
			must(t, err)
			return p
		},
	}
	for name, connect := range serve {
		t.Run(name, func(t *testing.T) {
			for i := range 100 {
				srv := newServer(t)
				must(t, srv.Register(&Calc{}))
				p := connect(t, srv)
				must(t, srv.Shutdown(ctx))
				var sum int
				if err := p.Call(ctx, "Calc.Add", &sum, 1, 2); !errors.Is(err, tandem.ErrShuttingDown) {
					t.Fatalf("connection %d: call after the server shut down = %v, want ErrShuttingDown", i, err)
				}
				p.Close()
			}
		})
	}
}

// TestShutdownCutsAWelcomeNobodyReads: a handshake welcomed before Shutdown began holds it
// only until its context ends; then it is cut, and Shutdown says the context ended.
func TestShutdownCutsAWelcomeNobodyReads(t *testing.T) {
	srv := newServer(t, tandem.WithHandshakeTimeout(time.Hour))
	c1, c2 := net.Pipe()
	defer c1.Close()
	served := make(chan error, 1)
	go func() {
		_, err := srv.ServeConn(context.Background(), c2)
		served <- err
	}()
	_, err := c1.Write(wire.AppendHello(nil, wire.Hello{Version: wire.Version, MaxFrameSize: wire.DefaultMaxFrameSize, Codec: "msgpack"}))
	must(t, err)
	// One byte of the welcome: the server is writing it, so it has welcomed the dialer,
	// and the rest of the write waits for a read that never comes.
	must(t, readFull(c1, make([]byte, 1)))

	ctx, cancel := context.WithCancel(context.Background())
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()
	cancel()
	select {
	case err := <-shut:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Shutdown = %v, want context.Canceled", err)
		}
	case <-time.After(time.Minute): // a guard against hanging, not a measurement
		t.Fatal("Shutdown still waits for the handshake after its context ended")
	}
	if err := <-served; err == nil {
		t.Fatal("ServeConn succeeded on a handshake cut by Shutdown")
	}
}

func readFull(c net.Conn, b []byte) error {
	_, err := io.ReadFull(c, b)
	return err
}

// heldConn holds its first Read: it reads one byte, reports that the other side is
// writing, and returns the byte only when released.
type heldConn struct {
	net.Conn
	writing chan struct{}
	release chan struct{}
	first   sync.Once
}

func (c *heldConn) Read(b []byte) (int, error) {
	var n int
	var err error
	held := false
	c.first.Do(func() {
		held = true
		n, err = c.Conn.Read(b[:1])
		close(c.writing)
		<-c.release
	})
	if held {
		return n, err
	}
	return c.Conn.Read(b)
}

// TestShutdownTellsALateConnectionAtOnce: a connection welcomed before Shutdown began but
// taken on after it is told the server is going away at once, not after the calls that
// other connections have in progress finish.
func TestShutdownTellsALateConnectionAtOnce(t *testing.T) {
	ctx := ctxTimeout(t, time.Minute)
	srv := newServer(t)
	slow := Slow{started: make(chan struct{}, 1), release: make(chan struct{})}
	must(t, srv.Register(slow))
	client := newServer(t)
	busy := dialPipe(t, srv, client)
	var x int
	running := busy.Go(ctx, "Slow.Work", &x, 4)
	<-slow.started

	// A second connection, whose welcome the server is writing when Shutdown begins.
	c1, c2 := net.Pipe()
	held := &heldConn{Conn: c1, writing: make(chan struct{}), release: make(chan struct{})}
	go srv.ServeConn(ctx, c2)
	dialed := make(chan *tandem.Peer, 1)
	go func() {
		p, err := client.DialConn(ctx, held)
		if err != nil {
			t.Errorf("DialConn: %v", err)
		}
		dialed <- p
	}()
	<-held.writing

	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()
	<-busy.GoingAway() // Shutdown has begun
	close(held.release)
	late := <-dialed
	if late == nil {
		return
	}
	defer late.Close()
	select {
	case <-late.GoingAway():
	case <-time.After(time.Minute): // a guard against hanging, not a measurement
		t.Fatal("the late connection is not told the server is going away while another's call runs")
	}
	if err := late.Call(ctx, "Slow.Work", nil, 1); !errors.Is(err, tandem.ErrShuttingDown) {
		t.Fatalf("call on the late connection = %v, want ErrShuttingDown", err)
	}

	close(slow.release)
	if err := running.Wait(); err != nil || x != 40 {
		t.Fatalf("call in progress during Shutdown = %d, %v", x, err)
	}
	must(t, <-shut)
}
