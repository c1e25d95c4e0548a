package conformance_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-rpc/tandem"
	"github.com/tandem-rpc/tandem/gen/contract"
	"github.com/tandem-rpc/tandem/internal/conformance"
	"github.com/tandem-rpc/tandem/internal/conformance/oldcalc"
)

// serveAt serves a new server, set up by register, on addr until the returned stop is
// called (or the test ends).
func serveAt(t *testing.T, addr string, register func(*tandem.Server) error) (stop func()) {
	t.Helper()
	srv := newServer(t, register)
	var ln net.Listener
	var err error
	for range 100 { // the previous server's listener may still be closing
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, srv, ln)
}

// oldCalc implements the older Calculator interface of package oldcalc.
type oldCalc struct{}

func (oldCalc) Add(_ context.Context, a, b float64) (float64, error) { return a + b, nil }
func (oldCalc) Neg(_ context.Context, a int) (int, error)            { return -a, nil }
func (oldCalc) Sum(_ context.Context, xs ...int) (int, error) {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s, nil
}

// TestContractThroughReconnectingClient: a generated client over a tandem.Client checks
// the server of each new connection once, before its first call there. A server rebuilt
// from an older interface is refused, with no method run; one that matches again, on the
// next connection, is accepted.
func TestContractThroughReconnectingClient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	var describes atomic.Int32
	local, err := tandem.NewServer(tandem.WithClientInterceptors(
		func(ctx context.Context, call tandem.CallInfo, args []any, next func(context.Context) error) error {
			if call.Method == tandem.IntrospectionService+".Describe" {
				describes.Add(1)
			}
			return next(ctx)
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { local.Close() })
	conns, err := local.NewClient("tcp://"+addr, tandem.WithBackoff(time.Millisecond, 20*time.Millisecond), tandem.WithWaitForReady())
	if err != nil {
		t.Fatal(err)
	}
	defer conns.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	calc := conformance.NewCalculatorClient(conns)

	// restart replaces the server with one set up by register, once the client has seen
	// its connection to the old one end (so that no call picks the dying connection).
	stop := serveAt(t, addr, registerGenerated)
	restart := func(register func(*tandem.Server) error) {
		t.Helper()
		old, err := conns.Peer(ctx)
		if err != nil {
			t.Fatal(err)
		}
		stop()
		<-old.Done()
		stop = serveAt(t, addr, register)
	}
	add := func(a, b int) (int, error) {
		t.Helper()
		return calc.Add(ctx, a, b)
	}

	for i := range 3 {
		if n, err := add(i, 1); n != i+1 || err != nil {
			t.Fatalf("Add(%d, 1) = %d, %v", i, n, err)
		}
	}
	if n := describes.Load(); n != 1 {
		t.Fatalf("%d contract checks on the first connection, want 1", n)
	}

	restart(func(s *tandem.Server) error { return oldcalc.RegisterCalculator(s, oldCalc{}) })
	for range 2 { // the verdict holds for the connection: checked once, refused twice
		_, err := add(1, 2)
		var m *contract.MismatchError
		if !errors.As(err, &m) || len(m.Diffs) == 0 || m.Diffs[0].Method != "Add" {
			t.Fatalf("Add against the older server = %v, want a mismatch starting with Add", err)
		}
	}
	if n := describes.Load(); n != 2 {
		t.Fatalf("%d contract checks after the second connection, want 2", n)
	}

	restart(registerGenerated)
	if n, err := add(40, 2); n != 42 || err != nil {
		t.Fatalf("Add on the third connection = %d, %v; want 42, nil", n, err)
	}
	if n := describes.Load(); n != 3 {
		t.Fatalf("%d contract checks after the third connection, want 3", n)
	}
}

// TestContractCheckThroughCaller: through a Caller that is neither a Peer nor a Client
// (here one that counts), the contract is checked through it, once.
func TestContractCheckThroughCaller(t *testing.T) {
	c := connectPipe(t, registerGenerated, nil)
	var calls atomic.Int32
	wrapped := countingCaller{Caller: c.client, calls: &calls}
	calc := conformance.NewCalculatorClient(wrapped)
	for i := range 3 {
		if n, err := calc.Add(context.Background(), i, i); n != 2*i || err != nil {
			t.Fatalf("Add(%d, %d) = %d, %v", i, i, n, err)
		}
	}
	if n := calls.Load(); n != 4 {
		t.Fatalf("%d calls through the Caller, want 4: one check and three calls", n)
	}
}

// countingCaller counts the calls made through it.
type countingCaller struct {
	tandem.Caller
	calls *atomic.Int32
}

func (c countingCaller) Call(ctx context.Context, method string, result any, args ...any) error {
	c.calls.Add(1)
	return c.Caller.Call(ctx, method, result, args...)
}
