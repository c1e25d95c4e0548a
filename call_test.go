package tandem_test

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-rpc/tandem"
)

func TestCallKinds(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		_, p := setup(t, tr)
		ctx := ctxTimeout(t, 10*time.Second)

		var sum int
		must(t, p.Call(ctx, "Calc.Add", &sum, 2, 3))
		if sum != 5 {
			t.Fatalf("Add = %d", sum)
		}
		var swapped Pair
		must(t, p.Call(ctx, "Calc.Swap", &swapped, Pair{1, 2}))
		if swapped != (Pair{2, 1}) {
			t.Fatalf("Swap = %+v", swapped)
		}
		var st Stats
		must(t, p.Call(ctx, "Calc.Stats", &st))
		if !st.When.Equal(time.Unix(1700000000, 5)) || st.Tags["a"][1] != "y" || st.Next == nil || st.Next.Calls != 1 {
			t.Fatalf("Stats = %+v", st)
		}
		big := bytes.Repeat([]byte("x"), 1<<20)
		var echoed []byte
		must(t, p.Call(ctx, "Calc.Echo", &echoed, big))
		if !bytes.Equal(echoed, big) {
			t.Fatalf("Echo returned %d bytes", len(echoed))
		}
		must(t, p.Call(ctx, "Calc.Nothing", nil))
		must(t, p.Call(ctx, "Calc.Add", nil, 1, 2)) // result discarded

		// Async with a callback.
		got := make(chan error, 1)
		var r int
		c := p.Go(ctx, "Calc.Add", &r, 40, 2)
		c.Then(func(err error) { got <- err })
		must(t, <-got)
		<-c.Done()
		if r != 42 || c.Err() != nil {
			t.Fatalf("Go: r=%d err=%v", r, c.Err())
		}
		// Then after completion still runs.
		c.Then(func(err error) { got <- err })
		must(t, <-got)

		// Notify: no reply; a later call on the same connection observes its effect.
		must(t, p.Notify(ctx, "Calc.Add", 1, 1))
		must(t, p.Notify(ctx, "Calc.NoSuchMethod"))
	})
}

func TestDeadlineTravelsAndCancelReachesHandler(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		_, p := setup(t, tr)
		var left time.Duration
		must(t, p.Call(ctxTimeout(t, 5*time.Second), "Calc.Deadline", &left))
		if left <= 0 || left > 5*time.Second {
			t.Fatalf("handler saw %v left, want (0, 5s]", left)
		}
		// Without a deadline the default timeout travels.
		must(t, p.Call(context.Background(), "Calc.Deadline", &left))
		if left <= 0 || left > tandem.DefaultTimeout {
			t.Fatalf("handler saw %v left, want (0, %v]", left, tandem.DefaultTimeout)
		}

		h := watchBlock(t)

		// Deadline exceeded: the caller gets DeadlineExceeded (raised locally or by the
		// handler's copy of the deadline, whichever fires first); the handler's ctx ends too.
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		err := p.Call(ctx, "Calc.Block", nil)
		wantCode(t, err, tandem.CodeDeadlineExceeded, context.DeadlineExceeded, "")
		<-h.started
		if herr := <-h.ended; !errors.Is(herr, context.DeadlineExceeded) && !errors.Is(herr, context.Canceled) {
			t.Fatalf("handler context ended with %v", herr)
		}

		// Cancellation: the cancel frame ends the handler's context.
		ctx, cancel = context.WithCancel(context.Background())
		c := p.Go(ctx, "Calc.Block", nil)
		<-h.started
		cancel()
		wantCode(t, c.Wait(), tandem.CodeCanceled, context.Canceled, "Calc.Block")
		if tandem.IsRemote(c.Err()) {
			t.Fatalf("local cancellation reported as remote: %v", c.Err())
		}
		if herr := <-h.ended; !errors.Is(herr, context.Canceled) {
			t.Fatalf("handler saw %v, want context.Canceled", herr)
		}
		// Call.Cancel does the same.
		c = p.Go(context.Background(), "Calc.Block", nil)
		<-h.started
		c.Cancel()
		wantCode(t, c.Wait(), tandem.CodeCanceled, context.Canceled, "cancelled")
		if herr := <-h.ended; !errors.Is(herr, context.Canceled) {
			t.Fatalf("handler saw %v, want context.Canceled", herr)
		}
	})
}

func TestDefaultTimeout(t *testing.T) {
	_, p := setup(t, transports()[0], tandem.WithDefaultTimeout(30*time.Millisecond))
	err := p.Call(context.Background(), "Calc.Block", nil)
	wantCode(t, err, tandem.CodeDeadlineExceeded, context.DeadlineExceeded, "Calc.Block")
	c := p.Go(context.Background(), "Calc.Block", nil)
	wantCode(t, c.Wait(), tandem.CodeDeadlineExceeded, context.DeadlineExceeded, "Calc.Block")
}

func TestErrors(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		_, p := setup(t, tr)
		ctx := ctxTimeout(t, 10*time.Second)
		var f float64
		var n int
		tests := []struct {
			name     string
			method   string
			result   any
			args     []any
			code     tandem.Code
			sentinel error
			msg      string
		}{
			{"unknown service", "Nope.Add", &n, nil, tandem.CodeNotFound, tandem.ErrUnknownService, `unknown service "Nope"`},
			{"unknown method", "Calc.Nope", &n, nil, tandem.CodeNotFound, tandem.ErrUnknownMethod, `no method "Nope"`},
			{"unexported method", "Calc.unexported", &n, nil, tandem.CodeNotFound, tandem.ErrUnknownMethod, `no method "unexported"`},
			{"no dot", "CalcAdd", &n, nil, tandem.CodeNotFound, tandem.ErrUnknownMethod, "Service.Method"},
			{"too many args", "Calc.Add", &n, []any{1, 2, 3}, tandem.CodeInvalidArgument, tandem.ErrBadArguments, "want 2 arguments, got 3; signature func(a int, b int) int"},
			{"too few args", "Calc.Add", &n, []any{1}, tandem.CodeInvalidArgument, tandem.ErrBadArguments, "want 2 arguments, got 1"},
			{"wrong type", "Calc.Add", &n, []any{"one", 2}, tandem.CodeInvalidArgument, tandem.ErrBadArguments, "func(a int, b int) int"},
			{"handler error with code", "Calc.Div", &f, []any{1.0, 0.0}, tandem.CodeInvalidArgument, nil, "division by zero"},
			{"plain handler error", "Calc.Fail", nil, nil, tandem.CodeUnknown, nil, "plain failure"},
			{"panic", "Calc.Panic", &n, nil, tandem.CodeInternal, tandem.ErrHandlerPanic, "boom"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := p.Call(ctx, tt.method, tt.result, tt.args...)
				wantCode(t, err, tt.code, tt.sentinel, tt.msg)
				if !tandem.IsRemote(err) {
					t.Fatalf("%v: want a remote error", err)
				}
			})
		}
		// Details arrive intact.
		err := p.Call(ctx, "Calc.Div", &f, 1.0, 0.0)
		var te *tandem.Error
		if !errors.As(err, &te) || !reflect.DeepEqual(te.Details, map[string]string{"arg": "b"}) || te.Message != "division by zero" {
			t.Fatalf("Div error = %#v", err)
		}
		// The connection survived every error above.
		must(t, p.Call(ctx, "Calc.Add", &n, 1, 2))
		if n != 3 {
			t.Fatalf("Add after errors = %d", n)
		}
	})
}

func TestFrameTooLarge(t *testing.T) {
	srv := newServer(t, tandem.WithMaxFrameSize(64<<10))
	must(t, srv.Register(&Calc{}))
	p := dialPipe(t, srv, newServer(t))
	ctx := ctxTimeout(t, 10*time.Second)
	var out []byte
	// The call is refused locally: the server's limit was learned in the handshake.
	err := p.Call(ctx, "Calc.Echo", &out, make([]byte, 100<<10))
	wantCode(t, err, tandem.CodeResourceExhausted, tandem.ErrFrameTooLarge, "frame limit")
	if tandem.IsRemote(err) {
		t.Fatal("oversized call should fail locally")
	}
	// A result too large for the caller comes back as an error reply.
	small := newServer(t, tandem.WithMaxFrameSize(64<<10))
	big := newServer(t)
	must(t, big.Register(&Calc{}))
	p2 := dialPipe(t, big, small)
	var st []byte
	err = p2.Call(ctx, "Calc.Echo", &st, make([]byte, 100<<10))
	wantCode(t, err, tandem.CodeResourceExhausted, tandem.ErrFrameTooLarge, "exceeds the caller's frame limit")
	if !tandem.IsRemote(err) {
		t.Fatal("oversized result should be reported by the other side")
	}
	must(t, p2.Call(ctx, "Calc.Add", nil, 1, 2))
}

func TestConcurrentCallsOutOfOrder(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		_, p := setup(t, tr)
		ctx := ctxTimeout(t, 20*time.Second)
		// A blocked handler does not delay the others.
		blocked := p.Go(ctx, "Calc.Block", nil)
		var wg sync.WaitGroup
		errs := make(chan error, 64*20)
		for g := range 64 {
			wg.Go(func() {
				for i := range 20 {
					var sum int
					if err := p.Call(ctx, "Calc.Add", &sum, g, i); err != nil {
						errs <- err
						return
					}
					if sum != g+i {
						errs <- errors.New("wrong sum")
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		select {
		case <-blocked.Done():
			t.Fatalf("blocked call finished early: %v", blocked.Err())
		default:
		}
		blocked.Cancel()
	})
}

func TestRegister(t *testing.T) {
	srv := newServer(t)
	must(t, srv.RegisterName("Other", &Calc{}))
	if err := srv.Register(&Calc{}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Register(&Calc{}); err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Fatalf("duplicate Register: %v", err)
	}
	type empty struct{}
	if err := srv.Register(empty{}); err == nil || !strings.Contains(err.Error(), "no method") {
		t.Fatalf("Register(empty): %v", err)
	}
	if err := srv.Register(onlyPtr{}); err == nil || !strings.Contains(err.Error(), "hint: some methods have pointer receivers") {
		t.Fatalf("Register(value with pointer methods): %v", err)
	}
	err := srv.Register(bad{})
	for _, want := range []string{"Chan: argument 1: type chan int cannot be sent", "Three: at most two results", "Ctx: a context.Context is allowed only as the first argument", "SecondNotErr: the second result must be error"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Register(bad) = %v; want it to say %q", err, want)
		}
	}
	if err := srv.RegisterName("Tandem", &Calc{}); err == nil {
		t.Fatal("registering the reserved introspection name succeeded")
	}
	if err := srv.RegisterName("a.b", &Calc{}); err == nil {
		t.Fatal("registering a dotted name succeeded")
	}
}

type onlyPtr struct{}

func (*onlyPtr) M() {}

type bad struct{}

func (bad) Chan(chan int)            {}
func (bad) Three() (int, int, error) { return 0, 0, nil }
func (bad) Ctx(int, context.Context) {}
func (bad) SecondNotErr() (int, int) { return 0, 0 }

func TestIntrospection(t *testing.T) {
	_, p := setup(t, transports()[0])
	var services []tandem.ServiceInfo
	must(t, p.Call(ctxTimeout(t, 5*time.Second), "Tandem.Describe", &services))
	var calc *tandem.ServiceInfo
	for i := range services {
		if services[i].Name == "Calc" {
			calc = &services[i]
		}
	}
	if calc == nil || calc.Mode != "concurrent" {
		t.Fatalf("Describe = %+v", services)
	}
	found := false
	for _, m := range calc.Methods {
		if m.Name == "AddCtx" {
			found = m.Signature == "func(ctx context.Context, a int, b int) (int, error)"
		}
		if m.Name == "unexported" {
			t.Fatal("unexported method listed")
		}
	}
	if !found {
		t.Fatalf("AddCtx missing or wrong signature: %+v", calc.Methods)
	}
}

func TestMetadata(t *testing.T) {
	srv, p := setup(t, transports()[0])
	must(t, srv.RegisterName("MD", mdReader{}))
	ctx := tandem.ContextWithMetadata(ctxTimeout(t, 5*time.Second), tandem.Metadata{"trace": "abc"})
	var got string
	must(t, p.Call(ctx, "MD.Get", &got, "trace"))
	if got != "abc" {
		t.Fatalf("metadata = %q", got)
	}
}

type mdReader struct{}

func (mdReader) Get(ctx context.Context, k string) string { return tandem.MetadataFromContext(ctx)[k] }

func TestMetadataLimits(t *testing.T) {
	_, p := setup(t, transports()[0])
	big := tandem.Metadata{"a": strings.Repeat("x", 10<<10), "b": strings.Repeat("y", 10<<10)}
	err := p.Call(tandem.ContextWithMetadata(ctxTimeout(t, 5*time.Second), big), "Calc.Add", nil, 1, 2)
	wantCode(t, err, tandem.CodeInvalidArgument, nil, "metadata of more than 16384 bytes")
	many := tandem.Metadata{}
	for i := range 65 {
		many[strings.Repeat("k", i+1)] = "v"
	}
	err = p.Call(tandem.ContextWithMetadata(ctxTimeout(t, 5*time.Second), many), "Calc.Add", nil, 1, 2)
	wantCode(t, err, tandem.CodeInvalidArgument, nil, "65 metadata entries, limit 64")
	must(t, p.Call(ctxTimeout(t, 5*time.Second), "Calc.Add", nil, 1, 2))
}

// tagged answers with its tag, so that a test can tell which of several services of the
// same type a call reached.
type tagged string

func (t tagged) Name() string { return string(t) }

// TestCallsReachTheirService alternates calls between services that share method names,
// including one registered after the connection was up, and names that differ from a
// known one by a letter: the reader's method cache must never answer for another name.
func TestCallsReachTheirService(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv, p := setup(t, tr)
		must(t, srv.RegisterName("A", tagged("a")))
		ctx := ctxTimeout(t, 10*time.Second)
		name := func(method string) (string, error) {
			var got string
			err := p.Call(ctx, method, &got)
			return got, err
		}
		if _, err := name("B.Name"); !errors.Is(err, tandem.ErrUnknownService) {
			t.Fatalf("B.Name before B is registered: %v", err)
		}
		must(t, srv.RegisterName("B", tagged("b")))
		for i := range 6 {
			for _, c := range []struct{ method, want string }{{"A.Name", "a"}, {"A.Name", "a"}, {"B.Name", "b"}, {"A.Name", "a"}} {
				got, err := name(c.method)
				if err != nil || got != c.want {
					t.Fatalf("round %d: %s = %q, %v; want %q", i, c.method, got, err, c.want)
				}
			}
			for _, unknown := range []string{"A.Nam", "A.Names", "A.name", "B.Nome"} {
				if _, err := name(unknown); !errors.Is(err, tandem.ErrUnknownMethod) {
					t.Fatalf("round %d: %s: %v, want ErrUnknownMethod", i, unknown, err)
				}
			}
		}
	})
}
