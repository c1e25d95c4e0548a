package conformance_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/tandem-rpc/tandem"
)

// conn is one established connection for a test: the peer the test calls through, and the
// peer on the other side, which serves.
type conn struct {
	client *tandem.Peer // the test calls through it
	server *tandem.Peer // the other end
}

// transport connects a server that registered its services with register to a client
// that registered its own with clientRegister (may be nil).
type transport struct {
	name    string
	connect func(t testing.TB, register, clientRegister func(*tandem.Server) error) conn
}

var transports = []transport{
	{"pipe", connectPipe},
	{"tcp", connectTCP},
	{"pipe-reversed", connectReversed},
}

func newServer(t testing.TB, register func(*tandem.Server) error) *tandem.Server {
	t.Helper()
	srv, err := tandem.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if register != nil {
		if err := register(srv); err != nil {
			t.Fatal(err)
		}
	}
	return srv
}

// handshake runs both sides of a handshake on the two ends of a pipe.
func handshake(t testing.TB, dialer, acceptor *tandem.Server) (dialed, accepted *tandem.Peer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c1, c2 := net.Pipe()
	var wg sync.WaitGroup
	var aerr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		accepted, aerr = acceptor.ServeConn(ctx, c2)
	}()
	dialed, err := dialer.DialConn(ctx, c1)
	wg.Wait()
	if err != nil || aerr != nil {
		t.Fatalf("handshake: dial: %v, accept: %v", err, aerr)
	}
	return dialed, accepted
}

// connectPipe: the test dials the server over net.Pipe.
func connectPipe(t testing.TB, register, clientRegister func(*tandem.Server) error) conn {
	srv := newServer(t, register)
	cli := newServer(t, clientRegister)
	dialed, accepted := handshake(t, cli, srv)
	return conn{client: dialed, server: accepted}
}

// connectReversed: the server dials the test, which calls back over the accepted side, so
// calls travel from acceptor to dialer.
func connectReversed(t testing.TB, register, clientRegister func(*tandem.Server) error) conn {
	srv := newServer(t, register)
	cli := newServer(t, clientRegister)
	dialed, accepted := handshake(t, srv, cli)
	return conn{client: accepted, server: dialed}
}

// connectTCP: the server listens on loopback TCP and the test dials it.
func connectTCP(t testing.TB, register, clientRegister func(*tandem.Server) error) conn {
	srv := newServer(t, register)
	ln, err := tandem.Listen("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, srv, ln)
	cli := newServer(t, clientRegister)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := cli.Dial(ctx, "tcp://"+ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	// The accepted peer is the server's only one once the handshake is done.
	deadline := time.Now().Add(5 * time.Second)
	for len(srv.Peers()) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	var server *tandem.Peer
	if ps := srv.Peers(); len(ps) == 1 {
		server = ps[0]
	}
	return conn{client: p, server: server}
}

// serveOn serves srv on ln until the returned stop is called or the test ends; stop closes
// srv and waits for Serve to return.
func serveOn(t testing.TB, srv *tandem.Server, ln net.Listener) (stop func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	stop = func() {
		srv.Close()
		<-done
	}
	t.Cleanup(stop)
	return stop
}
