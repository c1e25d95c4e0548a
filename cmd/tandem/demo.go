package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tandem-rpc/tandem"
)

func init() {
	commands["demo"] = command{summary: "run a server and a client in one process and show each kind of call", run: runDemo}
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCLI("demo", "tandem demo", stdout, stderr)
	if code := c.parse(args); code >= 0 {
		return code
	}
	if c.fs.NArg() != 0 {
		return c.usageError("takes no arguments")
	}
	if err := demo(ctx, stdout); err != nil {
		return c.fail(err)
	}
	return exitOK
}

// Jobs is the demo's service that calls its caller back while it works.
type Jobs struct{}

// Run reports progress to the caller's Client.Progress after each of steps steps.
func (Jobs) Run(ctx context.Context, steps int) (string, error) {
	caller := tandem.PeerFromContext(ctx)
	for i := 1; i <= steps; i++ {
		if err := caller.Call(ctx, "Client.Progress", nil, i, steps); err != nil {
			return "", err
		}
	}
	return strconv.Itoa(steps) + " steps done", nil
}

// Client is the object the demo's client exposes to the server.
type Client struct{ out io.Writer }

// Progress prints a progress report from the server.
func (c *Client) Progress(step, total int) {
	fmt.Fprintf(c.out, "%s  client ran Client.Progress(%d, %d)\n", demoIndent, step, total)
}

// Counter is the demo's serialized service: its calls run one at a time, so it has no lock.
type Counter struct{ n int }

// Incr adds one and returns the new count.
func (c *Counter) Incr() int { c.n++; return c.n }

// Value returns the count.
func (c *Counter) Value() int { return c.n }

// demoIndent lines up the demo's follow-up lines with the details above them.
var demoIndent = strings.Repeat(" ", 13+1+9+2)

// demoSerializedCalls is how many concurrent calls the serialized section makes.
const demoSerializedCalls = 100

// demo runs a server and a client over loopback TCP and prints one section per kind of
// call. Only the latencies vary from run to run.
func demo(ctx context.Context, w io.Writer) (err error) {
	events := make(chan string, 8)
	calc := newCalc()
	calc.observe = func(e string) {
		select {
		case events <- e:
		default:
		}
	}
	srv, err := tandem.NewServer()
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if serr := srv.Shutdown(sctx); serr != nil && err == nil {
			err = fmt.Errorf("shutdown: %w", serr)
		}
	}()
	for _, r := range []struct {
		obj  any
		opts []tandem.ServiceOption
	}{
		{calc, nil},
		{Jobs{}, nil},
		{&Counter{}, []tandem.ServiceOption{tandem.WithSerialized(0)}},
	} {
		if err := srv.Register(r.obj, r.opts...); err != nil {
			return err
		}
	}
	ln, err := tandem.Listen("tcp://127.0.0.1:0")
	if err != nil {
		return err
	}
	go srv.Serve(ln) //nolint:errcheck // returns ErrServerClosed at Shutdown

	// The client is a server too, with no listener: the peer it dials exposes Client.
	client, err := tandem.NewServer()
	if err != nil {
		return err
	}
	defer client.Close()
	if err := client.Register(&Client{out: w}); err != nil {
		return err
	}
	peer, err := client.Dial(ctx, listenAddr(ln))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "tandem demo: a server and a client in one process, over loopback TCP (msgpack codec)\n\n")
	// Each line: what kind of call, how long it took, what happened.
	line := func(title, detail string, d time.Duration) {
		fmt.Fprintf(w, "%-13s %9s  %s\n", title, fmtDuration(d), detail)
	}
	note := func(detail string) { fmt.Fprintf(w, "%s%s\n", demoIndent, detail) }
	wait := func(what string) (string, error) {
		select {
		case e := <-events:
			return e, nil
		case <-time.After(2 * time.Second):
			return "", errors.New("demo: " + what + " did not happen")
		}
	}

	// 1. A blocking call.
	start := time.Now()
	var sum int
	if err := peer.Call(ctx, "Calc.Add", &sum, 2, 3); err != nil {
		return err
	}
	line("sync call", fmt.Sprintf("Calc.Add(2, 3) = %d (the first call fills the codec's caches)", sum), time.Since(start))
	start = time.Now()
	if err := peer.Call(ctx, "Calc.Add", &sum, 20, 22); err != nil {
		return err
	}
	line("", fmt.Sprintf("Calc.Add(20, 22) = %d", sum), time.Since(start))

	// 2. A deadline that travels: the handler's context ends with the caller's.
	start = time.Now()
	tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	err = peer.Call(tctx, "Calc.Sleep", nil, 5000)
	cancel()
	if err == nil {
		return errors.New("demo: Calc.Sleep returned before its deadline")
	}
	line("timeout", fmt.Sprintf("Calc.Sleep(5000) with a 100ms deadline: %s; errors.Is(err, context.DeadlineExceeded) = %t",
		tandem.CodeOf(err), errors.Is(err, context.DeadlineExceeded)), time.Since(start))
	ev, err := wait("the handler's ctx.Done")
	if err != nil {
		return err
	}
	note("the handler saw " + ev + " and returned early")

	// 3. An asynchronous call with a callback.
	start = time.Now()
	var echo string
	done := make(chan string, 1)
	call := peer.Go(ctx, "Calc.Echo", &echo, "hello")
	started := time.Since(start)
	call.Then(func(err error) {
		if err != nil {
			done <- "failed: " + err.Error()
			return
		}
		done <- fmt.Sprintf("callback ran: Calc.Echo(%q) = %q", "hello", echo)
	})
	line("async call", "Go(Calc.Echo) returned at once; the caller goes on", started)
	select {
	case msg := <-done:
		line("", msg, time.Since(start))
	case <-time.After(2 * time.Second):
		return errors.New("demo: the callback did not run")
	}

	// 4. A one-way notification.
	start = time.Now()
	if err := peer.Notify(ctx, "Calc.Note", "hi"); err != nil {
		return err
	}
	line("notify", `Notify(Calc.Note, "hi") returned without waiting for a reply`, time.Since(start))
	if ev, err = wait("the notification"); err != nil {
		return err
	}
	line("", "the server ran Calc.Note: got "+strconv.Quote(ev[len("note "):]), time.Since(start))

	// 5. The server calls the client back during a call.
	start = time.Now()
	var report string
	line("callback", "Jobs.Run(3): the server's handler calls the client's own object back", 0)
	if err := peer.Call(ctx, "Jobs.Run", &report, 3); err != nil {
		return err
	}
	line("", "Jobs.Run(3) = "+strconv.Quote(report), time.Since(start))

	// 6. Errors keep their code across the wire.
	start = time.Now()
	var q float64
	err = peer.Call(ctx, "Calc.Div", &q, 1, 0)
	var te *tandem.Error
	if !errors.As(err, &te) {
		return fmt.Errorf("demo: Calc.Div(1, 0) = %v, want a tandem error", err)
	}
	line("remote error", fmt.Sprintf("Calc.Div(1, 0): code %s, message %q, detail dividend=%s, remote %t",
		te.Code, te.Message, te.Details["dividend"], te.Remote()), time.Since(start))
	start = time.Now()
	err = peer.Call(ctx, "Calc.Sqrt", nil, 2)
	line("", fmt.Sprintf("Calc.Sqrt(2): code %s, errors.Is(err, tandem.ErrUnknownMethod) = %t",
		tandem.CodeOf(err), errors.Is(err, tandem.ErrUnknownMethod)), time.Since(start))

	// 7. A serialized service: concurrent callers, one call at a time, no locks.
	start = time.Now()
	calls := make([]*tandem.Call, demoSerializedCalls)
	for i := range calls {
		calls[i] = peer.Go(ctx, "Counter.Incr", nil)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(calls))
	for _, c := range calls {
		wg.Go(func() { errs <- c.Wait() })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	var count int
	if err := peer.Call(ctx, "Counter.Value", &count); err != nil {
		return err
	}
	line("serialized", fmt.Sprintf("%d concurrent Counter.Incr calls run one at a time, no locks: Counter.Value() = %d",
		demoSerializedCalls, count), time.Since(start))

	fmt.Fprintln(w)
	fmt.Fprintln(w, "done: the server shuts down gracefully")
	return nil
}

// fmtDuration rounds d to a precision worth reading.
func fmtDuration(d time.Duration) string {
	switch {
	case d == 0:
		return ""
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
