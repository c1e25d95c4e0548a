package tandem_test

// Fault tests: the other side of a connection is a separate OS process that is killed or
// shut down under load, or a network path that silently drops everything. Children are
// this test binary run as TestFaultChild with TANDEM_FAULT_CHILD naming what to be.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-rpc/tandem"
	"github.com/tandem-rpc/tandem/codec/gob"
	"github.com/tandem-rpc/tandem/codec/json"
	"github.com/tandem-rpc/tandem/codec/msgpack"
	"github.com/tandem-rpc/tandem/wire"
)

const (
	faultChildEnv = "TANDEM_FAULT_CHILD" // the child's role: "server" or "client"
	faultAddrEnv  = "TANDEM_FAULT_ADDR"  // where the server listens, or the client dials
)

// Worker is the child processes' service: handlers the parent can hold open, timed work,
// and figures about the process.
type Worker struct {
	holding  atomic.Int64 // Hold handlers running
	started  atomic.Int64 // Do handlers started
	finished atomic.Int64 // Do handlers that ran to the end
}

// WorkerStats is what Worker.Stats reports about its process.
type WorkerStats struct {
	Holding, Started, Finished int64
	Goroutines                 int
	HeapInuse, TotalAlloc      uint64
}

// Hold runs until the caller cancels it or the connection ends.
func (w *Worker) Hold(ctx context.Context) error {
	w.holding.Add(1)
	defer w.holding.Add(-1)
	<-ctx.Done()
	return ctx.Err()
}

// Do works for ms milliseconds and returns ms.
func (w *Worker) Do(ctx context.Context, ms int) (int, error) {
	w.started.Add(1)
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	w.finished.Add(1)
	return ms, nil
}

// Stats reports the counters and, after a garbage collection, the process's memory.
func (w *Worker) Stats() WorkerStats {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return WorkerStats{
		Holding: w.holding.Load(), Started: w.started.Load(), Finished: w.finished.Load(),
		Goroutines: runtime.NumGoroutine(), HeapInuse: ms.HeapInuse, TotalAlloc: ms.TotalAlloc,
	}
}

// Rendezvous hands the parent the peer of a child client that has dialed it.
type Rendezvous struct{ joined chan *tandem.Peer }

// Join announces the calling peer.
func (r *Rendezvous) Join(ctx context.Context) { r.joined <- tandem.PeerFromContext(ctx) }

// TestFaultChild is not a test: it is the body of the child processes the fault tests
// start, and is skipped unless TANDEM_FAULT_CHILD is set. A child exits when its stdin
// closes, so none outlives its parent.
func TestFaultChild(t *testing.T) {
	mode := os.Getenv(faultChildEnv)
	if mode == "" {
		t.Skip("the body of the fault tests' child processes")
	}
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(3)
	}()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	w := &Worker{}
	srv, err := tandem.NewServer(tandem.WithLogger(logger), tandem.WithAcceptCodecs(msgpack.New(), json.New(), gob.New()))
	if err == nil {
		err = errors.Join(srv.Register(w), srv.Register(&Calc{}), srv.Register(Sink{}))
	}
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	switch mode {
	case "server":
		ln, err := tandem.Listen(os.Getenv(faultAddrEnv))
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		go func() {
			<-sig
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := srv.Shutdown(ctx)
			cancel()
			fmt.Printf("shutdown err=%v started=%d finished=%d\n", err, w.started.Load(), w.finished.Load())
			os.Exit(0)
		}()
		fmt.Printf("ready %s://%s\n", ln.Addr().Network(), ln.Addr())
		srv.Serve(ln)
		select {} // exit from the signal handler
	case "client":
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		p, err := srv.Dial(ctx, os.Getenv(faultAddrEnv))
		if err == nil {
			err = p.Call(ctx, "Rendezvous.Join", nil)
		}
		cancel()
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("ready")
		<-p.Done()
		os.Exit(0)
	}
	fmt.Println("error: unknown mode", mode)
	os.Exit(1)
}

// syncBuffer is a bytes.Buffer safe for a child's stderr and the test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// childProc is a running child process.
type childProc struct {
	cmd    *exec.Cmd
	addr   string      // from its "ready" line, for a server
	lines  chan string // the stdout lines after "ready"
	stderr *syncBuffer
	stdin  io.Closer
	exited chan struct{} // closed once the process has been waited for
	err    error         // its exit status, once exited is closed
}

// startFaultChild starts this binary as a child in mode and waits for it to be ready.
func startFaultChild(t *testing.T, mode, addr string) *childProc {
	t.Helper()
	c := &childProc{lines: make(chan string, 64), stderr: &syncBuffer{}, exited: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0], "-test.run=^TestFaultChild$")
	c.cmd.Env = append(os.Environ(), faultChildEnv+"="+mode, faultAddrEnv+"="+addr)
	c.cmd.Stderr = c.stderr
	stdin, err := c.cmd.StdinPipe()
	must(t, err)
	c.stdin = stdin
	stdout, err := c.cmd.StdoutPipe()
	must(t, err)
	must(t, c.cmd.Start())
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
		c.err = c.cmd.Wait() // only after stdout is drained, as os/exec requires
		close(c.exited)
	}()
	t.Cleanup(func() {
		c.stdin.Close()
		c.cmd.Process.Kill()
		<-c.exited
	})
	select {
	case line := <-c.lines:
		if !strings.HasPrefix(line, "ready") {
			t.Fatalf("child %s did not start: %q\n%s", mode, line, c.stderr)
		}
		c.addr = strings.TrimSpace(strings.TrimPrefix(line, "ready"))
	case <-time.After(30 * time.Second):
		t.Fatalf("child %s not ready after 30s\n%s", mode, c.stderr)
	}
	return c
}

// crash describes how the child died, or returns "" while it runs.
func (c *childProc) crash() string {
	select {
	case <-c.exited:
		return fmt.Sprintf("child exited: %v\n%s", c.err, tail(c.stderr.String(), 4000))
	default:
		return ""
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// waitUntil polls cond, which asks another process, until it holds or 30s pass.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for pause := time.Millisecond; !cond(); pause = min(2*pause, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(pause)
	}
}

// holdCalls starts n Worker.Hold calls on p with a one-minute deadline, and waits until the
// other side runs them all.
func holdCalls(t *testing.T, p *tandem.Peer, n int) []*tandem.Call {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	calls := make([]*tandem.Call, n)
	for i := range calls {
		calls[i] = p.Go(ctx, "Worker.Hold", nil)
	}
	var st WorkerStats
	waitUntil(t, fmt.Sprintf("%d held calls", n), func() bool {
		if err := p.Call(ctxTimeout(t, 10*time.Second), "Worker.Stats", &st); err != nil {
			t.Fatalf("Worker.Stats: %v", err)
		}
		return st.Holding == int64(n)
	})
	return calls
}

// expectAllLost kills the child and checks that every call fails promptly with
// ErrConnectionLost rather than at its deadline. It returns how long the last one took.
func expectAllLost(t *testing.T, child *childProc, calls []*tandem.Call) time.Duration {
	t.Helper()
	killed := time.Now()
	must(t, child.cmd.Process.Signal(syscall.SIGKILL))
	lost := 0
	for _, c := range calls {
		select {
		case <-c.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("a call still pending 10s after SIGKILL (its deadline is 1 minute)")
		}
		switch err := c.Err(); {
		case errors.Is(err, context.DeadlineExceeded):
			t.Fatalf("call failed at its deadline, not at the kill: %v", err)
		case !errors.Is(err, tandem.ErrConnectionLost):
			t.Fatalf("call after SIGKILL: %v, want ErrConnectionLost", err)
		}
		lost++
	}
	took := time.Since(killed)
	if took > 5*time.Second {
		t.Fatalf("%d calls took %v to fail after SIGKILL", len(calls), took)
	}
	if lost != len(calls) {
		t.Fatalf("%d of %d calls failed with ErrConnectionLost", lost, len(calls))
	}
	return took
}

func TestFaultServerKilledWithCallsInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	child := startFaultChild(t, "server", "tcp://127.0.0.1:0")
	base := measure()
	p, err := tandem.Dial(ctxTimeout(t, 10*time.Second), child.addr)
	must(t, err)
	const n = 1000
	calls := holdCalls(t, p, n)
	took := expectAllLost(t, child, calls)
	<-p.Done()
	if !errors.Is(p.Err(), tandem.ErrConnectionLost) {
		t.Fatalf("peer ended with %v, want ErrConnectionLost", p.Err())
	}
	p.Close()
	after := settle(t, base, 4<<20)
	t.Logf("server SIGKILLed with %d calls in flight: %d failed with ErrConnectionLost within %v; goroutines %d -> %d, fds %d -> %d",
		n, n, took.Round(time.Millisecond), base.goroutines, after.goroutines, base.fds, after.fds)
}

func TestFaultClientKilledWhileServerCallsIt(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	srv := newServer(t)
	rv := &Rendezvous{joined: make(chan *tandem.Peer, 1)}
	must(t, srv.Register(rv))
	addr := serveOn(t, srv)
	base := measure()
	child := startFaultChild(t, "client", addr)
	var p *tandem.Peer
	select {
	case p = <-rv.joined:
	case <-time.After(30 * time.Second):
		t.Fatalf("the child client never joined\n%s", child.stderr)
	}
	const n = 1000
	calls := holdCalls(t, p, n) // the server calls the client
	took := expectAllLost(t, child, calls)
	<-p.Done()
	if !errors.Is(p.Err(), tandem.ErrConnectionLost) {
		t.Fatalf("server-side peer ended with %v, want ErrConnectionLost", p.Err())
	}
	if peers := srv.Peers(); len(peers) != 0 {
		t.Fatalf("the server still holds %d peers", len(peers))
	}
	after := settle(t, base, 4<<20)
	t.Logf("client SIGKILLed while the server had %d calls to it in flight: all failed with ErrConnectionLost within %v; goroutines %d -> %d, fds %d -> %d",
		n, took.Round(time.Millisecond), base.goroutines, after.goroutines, base.fds, after.fds)
}

func TestFaultGracefulShutdownLosesNoAcceptedCall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	child := startFaultChild(t, "server", "tcp://127.0.0.1:0")
	base := measure()
	const conns, callers = 4, 600 // 2400 callers; the per-connection in-flight limit is 1024
	peers := make([]*tandem.Peer, conns)
	for i := range peers {
		p, err := tandem.Dial(ctxTimeout(t, 10*time.Second), child.addr)
		must(t, err)
		peers[i] = p
	}
	probe, err := tandem.Dial(ctxTimeout(t, 10*time.Second), child.addr)
	must(t, err)

	var (
		replied, shuttingDown, refusedClosed atomic.Int64 // refusedClosed: not sent, the peer had ended
		lostUnaccepted                       atomic.Int64 // see TestFaultGoingAwayRefusesWithShuttingDown
		mu                                   sync.Mutex
		others                               []error
		wg                                   sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range conns * callers {
		p := peers[i%conns]
		wg.Go(func() {
			for {
				select {
				case <-p.Done():
					refusedClosed.Add(1)
					return
				default:
				}
				var ms int
				want := 300 + rand.IntN(1200) // long enough that 2000 in flight needs few calls/s, even under -race on a loaded machine
				err := p.Call(ctx, "Worker.Do", &ms, want)
				switch {
				case err == nil && ms == want:
					replied.Add(1)
					continue
				case errors.Is(err, tandem.ErrShuttingDown):
					shuttingDown.Add(1)
				case errors.Is(err, tandem.ErrConnectionLost):
					// Never accepted if the child's count of started calls matches the
					// replies (checked below): a known bug makes a call started while the
					// connection closes after a going-away fail so, instead of retryably.
					lostUnaccepted.Add(1)
				default:
					mu.Lock()
					others = append(others, err)
					mu.Unlock()
				}
				return
			}
		})
	}
	// Shut down once thousands of calls are running in the child.
	var st WorkerStats
	waitUntil(t, "2000 calls in flight", func() bool {
		must(t, probe.Call(ctxTimeout(t, 10*time.Second), "Worker.Stats", &st))
		return st.Started-st.Finished >= 2000
	})
	inflight := st.Started - st.Finished
	must(t, child.cmd.Process.Signal(syscall.SIGTERM))
	wg.Wait()
	var summary string
	select {
	case summary = <-child.lines:
	case <-time.After(40 * time.Second):
		t.Fatalf("the child did not report its shutdown\n%s", child.stderr)
	}
	var shutdownErr string
	var started, finished int64
	if _, err := fmt.Sscanf(summary, "shutdown err=%s started=%d finished=%d", &shutdownErr, &started, &finished); err != nil {
		t.Fatalf("child's summary %q: %v", summary, err)
	}
	for _, p := range append(peers, probe) {
		p.Close()
	}
	after := settle(t, base, 8<<20)
	t.Logf("graceful shutdown with %d calls running: %d accepted and replied (the child started %d, finished %d), %d refused with ErrShuttingDown, %d never accepted but failed with ErrConnectionLost (BUG, see TestFaultGoingAwayRefusesWithShuttingDown), %d not sent (connection already ended), %d other errors, lost replies %d; Shutdown: %s; goroutines %d -> %d",
		inflight, replied.Load(), started, finished, shuttingDown.Load(), lostUnaccepted.Load(), refusedClosed.Load(), len(others), started-replied.Load(), shutdownErr, base.goroutines, after.goroutines)
	if shutdownErr != "<nil>" {
		t.Errorf("Shutdown returned %s", shutdownErr)
	}
	if started != replied.Load() || finished != started {
		t.Errorf("the child started %d calls and finished %d, but %d replies arrived: accepted calls lost their replies", started, finished, replied.Load())
	}
	if shuttingDown.Load() == 0 {
		t.Errorf("no call was refused with ErrShuttingDown")
	}
	for i, err := range others {
		if i == 5 {
			t.Errorf("... and %d more", len(others)-5)
			break
		}
		t.Errorf("call failed with %v, want a reply or ErrShuttingDown", err)
	}
}

func TestFaultGoingAwayRefusesWithShuttingDown(t *testing.T) {
	for round := range 10 {
		srv, err := tandem.NewServer()
		must(t, err)
		must(t, srv.Register(&Calc{}))
		p := dialPipe(t, srv, newServer(t))
		var wg sync.WaitGroup
		var lostAtStart, shuttingDown atomic.Int64
		var sample atomic.Value
		for range 8 {
			wg.Go(func() {
				for {
					select {
					case <-p.Done():
						return
					default:
					}
					c := p.Go(context.Background(), "Calc.Add", nil, 1, 2)
					select {
					case <-c.Done(): // refused at start: never sent
						switch err := c.Err(); {
						case errors.Is(err, tandem.ErrShuttingDown):
							shuttingDown.Add(1)
						case errors.Is(err, tandem.ErrConnectionLost):
							lostAtStart.Add(1)
							sample.Store(err.Error())
						}
					default:
						c.Wait()
					}
				}
			})
		}
		must(t, p.Call(ctxTimeout(t, 10*time.Second), "Calc.Add", nil, 1, 2))
		must(t, srv.Shutdown(ctxTimeout(t, 10*time.Second)))
		wg.Wait()
		if n := lostAtStart.Load(); n > 0 {
			t.Fatalf("round %d: %d calls started while the peer was up after a going-away were refused with %v; %d with ErrShuttingDown",
				round, n, sample.Load(), shuttingDown.Load())
		}
	}
}

// dropProxy relays TCP connections to target until cut; from then on it reads and discards
// everything in both directions and closes nothing, like a network path that vanished
// without a FIN or an RST.
type dropProxy struct {
	ln     net.Listener
	target string
	cut    atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newDropProxy(t *testing.T, target string) *dropProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	dp := &dropProxy{ln: ln, target: target}
	dp.wg.Go(dp.accept)
	t.Cleanup(func() {
		ln.Close()
		dp.mu.Lock()
		for _, c := range dp.conns {
			c.Close()
		}
		dp.mu.Unlock()
		dp.wg.Wait()
	})
	return dp
}

func (dp *dropProxy) accept() {
	for {
		in, err := dp.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", dp.target)
		if err != nil {
			in.Close()
			continue
		}
		dp.mu.Lock()
		dp.conns = append(dp.conns, in, out)
		dp.mu.Unlock()
		dp.wg.Go(func() { dp.relay(out, in) })
		dp.wg.Go(func() { dp.relay(in, out) })
	}
}

func (dp *dropProxy) relay(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			if !dp.cut.Load() {
				dst.Close()
			}
			return
		}
		if !dp.cut.Load() {
			if _, err := dst.Write(buf[:n]); err != nil {
				src.Close()
				return
			}
		}
	}
}

func TestFaultHalfOpenDetectedByKeepalive(t *testing.T) {
	const interval, timeout = 200 * time.Millisecond, 300 * time.Millisecond
	opts := []tandem.Option{tandem.WithKeepalive(interval, timeout), tandem.WithMinPingInterval(interval / 2)}
	srv := newServer(t, opts...)
	must(t, srv.Register(&Calc{}))
	addr := strings.TrimPrefix(serveOn(t, srv), "tcp://")
	dp := newDropProxy(t, addr)
	base := measure()
	base.fds += 2 // the proxy holds both of its sockets open after the cut, as a dead path would
	p, err := tandem.Dial(ctxTimeout(t, 10*time.Second), "tcp://"+dp.ln.Addr().String(), opts...)
	must(t, err)
	defer p.Close()
	must(t, p.Call(ctxTimeout(t, 10*time.Second), "Calc.Add", nil, 1, 2))
	serverSide := srv.Peers()[0]

	// Quiet but healthy for several keepalive periods: the pings keep it up.
	select {
	case <-p.Done():
		t.Fatalf("a healthy quiet connection was dropped: %v", p.Err())
	case <-serverSide.Done():
		t.Fatalf("the server dropped a healthy quiet connection: %v", serverSide.Err())
	case <-time.After(4 * (interval + timeout)):
	}
	must(t, p.Call(ctxTimeout(t, 10*time.Second), "Calc.Add", nil, 1, 2))

	dp.cut.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	call := p.Go(ctx, "Calc.Block", nil)
	<-call.Done()
	clientTook := time.Since(start)
	if err := call.Err(); !errors.Is(err, tandem.ErrConnectionLost) || !strings.Contains(err.Error(), "keepalive") {
		t.Fatalf("call over a half-open connection: %v, want ErrConnectionLost from keepalive", err)
	}
	<-serverSide.Done()
	serverTook := time.Since(start)
	if err := serverSide.Err(); !errors.Is(err, tandem.ErrConnectionLost) || !strings.Contains(err.Error(), "keepalive") {
		t.Fatalf("server side of a half-open connection ended with %v", err)
	}
	// Detection within interval + timeout, plus scheduling slack for -race on small machines.
	const bound = interval + timeout + time.Second
	if clientTook > bound || serverTook > bound {
		t.Fatalf("half-open connection detected after %v (client) and %v (server), want at most %v", clientTook, serverTook, bound)
	}
	p.Close()
	after := settle(t, base, 1<<20)
	t.Logf("half-open TCP connection (keepalive %v + %v) detected by the client after %v and by the server after %v; goroutines %d -> %d, fds %d -> %d",
		interval, timeout, clientTook.Round(time.Millisecond), serverTook.Round(time.Millisecond), base.goroutines, after.goroutines, base.fds, after.fds)
}

// TestCallFramesGoOutInIDOrder has many goroutines call at once and checks, on the raw
// side, that call frames arrive in increasing id order: going-away names the highest id
// accepted, which tells the caller which calls never started only if no lower id follows
// a higher one.
func TestCallFramesGoOutInIDOrder(t *testing.T) {
	p, b, br := rawCallee(t, nil)
	defer p.Close()
	const callers, calls = 16, 100
	answered := make(chan error, 1)
	frames := rawFrames(b, br)
	go func() {
		var last uint64
		for range callers * calls {
			f, ok := <-frames
			if !ok {
				answered <- errors.New("connection closed")
				return
			}
			if f.Kind != wire.KindCall || f.ID <= last {
				answered <- fmt.Errorf("a %v frame with id %d after id %d", f.Kind, f.ID, last)
				return
			}
			last = f.ID
			if _, err := b.Write(replyFrame(f.ID, []byte{0x91, 1})); err != nil {
				answered <- err
				return
			}
		}
		answered <- nil
	}()
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for range calls {
				if err := p.Call(context.Background(), "Raw.One", nil); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := <-answered; err != nil {
		t.Fatal(err)
	}
}
