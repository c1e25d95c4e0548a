package tandem_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-rpc/tandem"
	"github.com/tandem-rpc/tandem/wire"
)

// soakCounts are the figures a soak run reports.
type soakCounts struct {
	calls, notifies, gos, cancels, deadlines, panics, unknown, echoes atomic.Int64
	conns, closedByFault, shutDownByFault, hostile, idle              atomic.Int64
	connErrors                                                        atomic.Int64 // calls cut by a fault
	wrong                                                             atomic.Int64 // wrong results or unexpected errors
	firstWrong                                                        atomic.Value
}

func (sc *soakCounts) bad(format string, args ...any) {
	sc.wrong.Add(1)
	sc.firstWrong.CompareAndSwap(nil, fmt.Sprintf(format, args...))
}

// expect checks err against what the operation may legitimately end with; faults may cut
// any call short.
func (sc *soakCounts) expect(op string, err error, want ...error) {
	if err == nil && len(want) == 0 {
		return
	}
	for _, w := range want {
		if errors.Is(err, w) {
			return
		}
	}
	switch {
	case errors.Is(err, tandem.ErrConnectionLost), errors.Is(err, tandem.ErrClosed),
		errors.Is(err, tandem.ErrShuttingDown), errors.Is(err, tandem.ErrOverloaded):
		sc.connErrors.Add(1)
	default:
		sc.bad("%s: %v", op, err)
	}
}

// TestSoak runs mixed calls, notifications, async calls and cancellations over churning
// connections while faults hit the server side (peers closed or shut down, hostile and idle
// connections), sampling the heap and goroutines, and fails if either trends up. It runs on
// demand only:
//
//	TANDEM_SOAK=1 go test -run TestSoak -timeout 10m .
//
// TANDEM_SOAK_DURATION (a Go duration, default 2m) sets how long the load runs.
func TestSoak(t *testing.T) {
	if os.Getenv("TANDEM_SOAK") != "1" {
		t.Skip("soak test: run with TANDEM_SOAK=1 go test -run TestSoak -timeout 10m .")
	}
	dur := 2 * time.Minute
	if s := os.Getenv("TANDEM_SOAK_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			t.Fatalf("TANDEM_SOAK_DURATION=%q: want a positive Go duration", s)
		}
		dur = d
	}
	every := min(3*time.Second, dur/20)

	base := measure()
	opts := []tandem.Option{tandem.WithKeepalive(time.Second, time.Second), tandem.WithMinPingInterval(500 * time.Millisecond)}
	srv := newServer(t, append(opts, tandem.WithMaxInflight(256), tandem.WithHandshakeTimeout(500*time.Millisecond))...)
	gate := newGate()
	must(t, srv.Register(&Calc{}))
	must(t, srv.RegisterName("Borrow", &Calc{}, tandem.WithBorrowedBytes()))
	must(t, srv.Register(gate))
	must(t, srv.Register(Sink{}))
	must(t, srv.Register(&Worker{}))
	addr := serveOn(t, srv)
	hostAddr := strings.TrimPrefix(addr, "tcp://")

	ctx, stop := context.WithTimeout(context.Background(), dur)
	defer stop()
	var sc soakCounts
	var wg sync.WaitGroup

	// Clients: each dials, runs a few hundred random operations and hangs up, or is cut
	// off by a fault first.
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				soakClient(ctx, addr, opts, &sc)
			}
		})
	}

	// Faults on the server side, a few every second.
	wg.Go(func() {
		tick := time.NewTicker(150 * time.Millisecond)
		defer tick.Stop()
		var idle []net.Conn
		defer func() {
			for _, c := range idle {
				c.Close()
			}
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			switch rand.IntN(5) {
			case 0:
				if peers := srv.Peers(); len(peers) > 0 {
					peers[rand.IntN(len(peers))].Close()
					sc.closedByFault.Add(1)
				}
			case 1:
				if peers := srv.Peers(); len(peers) > 0 {
					p := peers[rand.IntN(len(peers))]
					sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
					p.Shutdown(sctx)
					cancel()
					sc.shutDownByFault.Add(1)
				}
			case 2, 3:
				soakHostile(hostAddr)
				sc.hostile.Add(1)
			case 4:
				// A few silent connections, dropped by the handshake timeout; closed
				// here a few ticks later in any case.
				for _, c := range idle {
					c.Close()
				}
				idle = idle[:0]
				for range 10 {
					if c, err := net.Dial("tcp", hostAddr); err == nil {
						idle = append(idle, c)
						sc.idle.Add(1)
					}
				}
			}
		}
	})

	// Samples of the heap and goroutines.
	type sample struct {
		heap       uint64
		goroutines int
	}
	var samples []sample
	tick := time.NewTicker(every)
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
			r := measure()
			samples = append(samples, sample{r.heap, r.goroutines})
		}
	}
	tick.Stop()
	wg.Wait()

	third := len(samples) / 3
	if third < 2 {
		t.Fatalf("only %d samples; run longer", len(samples))
	}
	median := func(s []sample, f func(sample) float64) float64 {
		v := make([]float64, len(s))
		for i := range s {
			v[i] = f(s[i])
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	heapOf := func(s sample) float64 { return float64(s.heap) }
	goroutinesOf := func(s sample) float64 { return float64(s.goroutines) }
	heap0, heap1 := median(samples[:third], heapOf), median(samples[len(samples)-third:], heapOf)
	g0, g1 := median(samples[:third], goroutinesOf), median(samples[len(samples)-third:], goroutinesOf)
	var peakHeap uint64
	peakG := 0
	for _, s := range samples {
		peakHeap, peakG = max(peakHeap, s.heap), max(peakG, s.goroutines)
	}
	t.Logf("soak %v: %d connections; %d calls, %d notifications, %d async calls, %d cancelled, %d deadlines, %d panics, %d unknown methods, %d echoes; faults: %d peers closed, %d shut down, %d hostile streams, %d idle connections; %d calls cut by faults, %d wrong",
		dur, sc.conns.Load(), sc.calls.Load(), sc.notifies.Load(), sc.gos.Load(), sc.cancels.Load(), sc.deadlines.Load(), sc.panics.Load(), sc.unknown.Load(), sc.echoes.Load(),
		sc.closedByFault.Load(), sc.shutDownByFault.Load(), sc.hostile.Load(), sc.idle.Load(), sc.connErrors.Load(), sc.wrong.Load())
	t.Logf("%d samples every %v: live heap median %d KiB in the first third, %d KiB in the last (peak %d KiB); goroutines %.0f then %.0f (peak %d)",
		len(samples), every, int(heap0)/1024, int(heap1)/1024, peakHeap>>10, g0, g1, peakG)
	if n := sc.wrong.Load(); n > 0 {
		t.Errorf("%d wrong results or unexpected errors; the first: %v", n, sc.firstWrong.Load())
	}
	if heap1 > heap0*1.5+4<<20 {
		t.Errorf("the live heap trends up: median %d KiB in the first third, %d KiB in the last", int(heap0)/1024, int(heap1)/1024)
	}
	if g1 > g0*1.5+32 {
		t.Errorf("goroutines trend up: median %.0f in the first third, %.0f in the last", g0, g1)
	}
	srv.Close()
	settle(t, base, 8<<20)
}

// soakClient runs one connection's worth of random operations.
func soakClient(ctx context.Context, addr string, opts []tandem.Option, sc *soakCounts) {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	p, err := tandem.Dial(dctx, addr, opts...)
	cancel()
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, tandem.ErrHandshake) && !errors.Is(err, tandem.ErrShuttingDown) {
			sc.bad("dial: %v", err)
		}
		return
	}
	defer p.Close()
	sc.conns.Add(1)
	for range 50 + rand.IntN(450) {
		if ctx.Err() != nil {
			return
		}
		select {
		case <-p.Done():
			return // cut off by a fault
		default:
		}
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // not cut by the end of the run
		soakOp(cctx, p, sc)
		cancel()
	}
}

func soakOp(ctx context.Context, p *tandem.Peer, sc *soakCounts) {
	switch rand.IntN(9) {
	case 0, 1:
		a, b := rand.IntN(1000), rand.IntN(1000)
		var sum int
		err := p.Call(ctx, "Calc.Add", &sum, a, b)
		if err == nil && sum != a+b {
			sc.bad("Add(%d, %d) = %d", a, b, sum)
		}
		sc.expect("Add", err)
		sc.calls.Add(1)
	case 2:
		sc.expect("Notify", p.Notify(ctx, "Calc.Add", 1, 2))
		sc.notifies.Add(1)
	case 3:
		var ms int
		c := p.Go(ctx, "Worker.Do", &ms, 1+rand.IntN(5))
		sc.expect("Go Worker.Do", c.Wait())
		sc.gos.Add(1)
	case 4:
		c := p.Go(ctx, "Gate.Linger", nil)
		c.Cancel()
		sc.expect("cancelled Gate.Linger", c.Wait(), context.Canceled)
		sc.cancels.Add(1)
	case 5:
		dctx, cancel := context.WithTimeout(ctx, time.Duration(1+rand.IntN(5))*time.Millisecond)
		sc.expect("Calc.Block", p.Call(dctx, "Calc.Block", nil), context.DeadlineExceeded)
		cancel()
		sc.deadlines.Add(1)
	case 6:
		sc.expect("Calc.Panic", p.Call(ctx, "Calc.Panic", nil), tandem.ErrHandlerPanic)
		sc.panics.Add(1)
	case 7:
		sc.expect("unknown", p.Call(ctx, "Calc.Nope", nil), tandem.ErrUnknownMethod)
		sc.unknown.Add(1)
	case 8:
		n := rand.IntN(64 << 10)
		if rand.IntN(8) == 0 {
			n = rand.IntN(1536 << 10) // often over 128 KiB: in chunks
		}
		in := make([]byte, n)
		seed := byte(rand.IntN(256)) // distinct contents, so a buffer reused too soon shows
		for i := range in {
			in[i] = byte(i) + seed
		}
		svc := "Calc"
		if rand.IntN(2) == 0 {
			svc = "Borrow" // its handler's argument is a view of the frame
		}
		var out []byte
		err := p.Call(ctx, svc+".Echo", &out, in)
		if err == nil && !bytes.Equal(in, out) {
			sc.bad("Echo of %d bytes returned %d different bytes", len(in), len(out))
		}
		sc.expect("Echo", err)
		sc.echoes.Add(1)
	}
}

// soakHostile sends one hostile stream and hangs up.
func soakHostile(addr string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	stream := validStream()
	switch rand.IntN(4) {
	case 0: // truncated at a random point
		stream = stream[:rand.IntN(len(stream))]
	case 1: // random bytes after the hello
		hello := len(wire.AppendHello(nil, wire.Hello{Version: wire.Version, MaxFrameSize: wire.DefaultMaxFrameSize, Codec: "msgpack"}))
		junk := make([]byte, 1+rand.IntN(4096))
		for i := range junk {
			junk[i] = byte(rand.Uint32())
		}
		stream = append(stream[:hello], junk...)
	case 2: // one byte flipped
		stream[rand.IntN(len(stream))] ^= byte(1 + rand.IntN(255))
	case 3: // a decoder bomb
		hello := len(wire.AppendHello(nil, wire.Hello{Version: wire.Version, MaxFrameSize: wire.DefaultMaxFrameSize, Codec: "msgpack"}))
		stream = append(stream[:hello], callFrame(1, "Sink.Any", append([]byte{0x91}, bytes.Repeat([]byte{0x91}, 64<<10)...))...)
	}
	if _, err := c.Write(stream); err == nil {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}
}
