package tandem_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-rpc/tandem"
)

// Calc is the object most tests expose.
type Calc struct {
	calls atomic.Int64
}

type Pair struct {
	A, B int
}

type Stats struct {
	Calls int64
	When  time.Time
	Tags  map[string][]string
	Next  *Stats
}

func (c *Calc) Add(a, b int) int                                  { c.calls.Add(1); return a + b }
func (c *Calc) AddCtx(ctx context.Context, a, b int) (int, error) { return a + b, ctx.Err() }
func (c *Calc) Div(a, b float64) (float64, error) {
	if b == 0 {
		return 0, tandem.NewError(tandem.CodeInvalidArgument, "division by zero").WithDetail("arg", "b")
	}
	return a / b, nil
}
func (c *Calc) Fail() error      { return errors.New("plain failure") }
func (c *Calc) Panic() int       { panic("boom") }
func (c *Calc) Swap(p Pair) Pair { return Pair{p.B, p.A} }
func (c *Calc) Stats() (Stats, error) {
	return Stats{Calls: c.calls.Load(), When: time.Unix(1700000000, 5).UTC(), Tags: map[string][]string{"a": {"x", "y"}}, Next: &Stats{Calls: 1}}, nil
}
func (c *Calc) Echo(b []byte) []byte { return b }
func (c *Calc) Nothing()             {}
func (c *Calc) Deadline(ctx context.Context) (time.Duration, error) {
	dl, ok := ctx.Deadline()
	if !ok {
		return 0, errors.New("no deadline")
	}
	return time.Until(dl), nil
}

// Block waits until its context ends, reporting its start and end to blockHooks if set.
func (c *Calc) Block(ctx context.Context) error {
	h := blockHooks.Load()
	if h != nil {
		h.started <- struct{}{}
	}
	<-ctx.Done()
	if h != nil {
		h.ended <- ctx.Err()
	}
	return ctx.Err()
}

type hooks struct {
	started chan struct{}
	ended   chan error
}

var blockHooks atomic.Pointer[hooks]

// watchBlock installs hooks for Calc.Block for the rest of the test.
func watchBlock(t *testing.T) *hooks {
	h := &hooks{started: make(chan struct{}, 100), ended: make(chan error, 100)}
	blockHooks.Store(h)
	t.Cleanup(func() { blockHooks.Store(nil) })
	return h
}

// unexported exists to prove that unexported methods are never reachable.
//
//lint:ignore U1000 called only remotely, where it must fail.
func (c *Calc) unexported() int { return 1 }

// transport connects a client to srv over one kind of connection.
type transport struct {
	name string
	dial func(t *testing.T, srv *tandem.Server, client *tandem.Server) *tandem.Peer
}

func transports() []transport {
	return []transport{
		{"pipe", dialPipe},
		{"tcp", func(t *testing.T, srv, client *tandem.Server) *tandem.Peer {
			return dialListener(t, srv, client, "tcp://127.0.0.1:0", nil)
		}},
		{"unix", func(t *testing.T, srv, client *tandem.Server) *tandem.Peer {
			return dialListener(t, srv, client, "unix://"+filepath.Join(t.TempDir(), "s.sock"), nil)
		}},
		{"tls", func(t *testing.T, srv, client *tandem.Server) *tandem.Peer {
			return dialListener(t, srv, client, "tcp://127.0.0.1:0", testTLS(t))
		}},
	}
}

// forEachTransport runs body once per transport.
func forEachTransport(t *testing.T, body func(t *testing.T, tr transport)) {
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) { body(t, tr) })
	}
}

func dialPipe(t *testing.T, srv, client *tandem.Server) *tandem.Peer {
	t.Helper()
	a, b := net.Pipe()
	errc := make(chan error, 1)
	go func() {
		_, err := srv.ServeConn(context.Background(), a)
		errc <- err
	}()
	p, err := client.DialConn(context.Background(), b)
	if err != nil {
		t.Fatalf("DialConn: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("ServeConn: %v", err)
	}
	return p
}

func dialListener(t *testing.T, srv, client *tandem.Server, addr string, tlsConf *tls.Config) *tandem.Peer {
	t.Helper()
	ln, err := tandem.Listen(addr)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, tandem.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	target := ln.Addr().Network() + "://" + ln.Addr().String()
	if tlsConf != nil {
		conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: tlsConf.RootCAs, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatalf("tls.Dial: %v", err)
		}
		p, err := client.DialConn(context.Background(), conn)
		if err != nil {
			t.Fatalf("DialConn over TLS: %v", err)
		}
		return p
	}
	p, err := client.Dial(context.Background(), target)
	if err != nil {
		t.Fatalf("Dial %s: %v", target, err)
	}
	return p
}

// newServer returns a server that is closed when the test ends.
func newServer(t *testing.T, opts ...tandem.Option) *tandem.Server {
	t.Helper()
	s, err := tandem.NewServer(opts...)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// setup serves a Calc and returns a client peer over tr.
func setup(t *testing.T, tr transport, opts ...tandem.Option) (*tandem.Server, *tandem.Peer) {
	t.Helper()
	srv := newServer(t, opts...)
	must(t, srv.Register(&Calc{}))
	client := newServer(t, opts...)
	p := tr.dial(t, srv, client)
	return srv, p
}

func wantCode(t *testing.T, err error, code tandem.Code, sentinel error, msgPart string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want code %v", code)
	}
	if got := tandem.CodeOf(err); got != code {
		t.Fatalf("CodeOf(%v) = %v, want %v", err, got, code)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Fatalf("errors.Is(%v, %v) = false", err, sentinel)
	}
	if !strings.Contains(err.Error(), msgPart) {
		t.Fatalf("error %q does not mention %q", err, msgPart)
	}
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

var _ = fmt.Sprint
