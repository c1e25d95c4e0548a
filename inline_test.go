package tandem_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tandem-rpc/tandem"
	"github.com/tandem-rpc/tandem/wire"
)

// Stuck's handler blocks on a channel, never looking at its context, like a handler stuck
// on a mutex or a slow library call.
type Stuck struct{ release chan struct{} }

func (s *Stuck) Wait() { <-s.release }

func (s *Stuck) Echo(n int) int { return n }

// A call that arrives alone runs on the connection's reading goroutine. These tests check
// that the reading goes on when such a handler blocks, calls back or waits on its context.
func TestInlineHandlerThatBlocksLosesTheReading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, err := tandem.NewServer()
		must(t, err)
		defer srv.Close()
		stuck := &Stuck{release: make(chan struct{})}
		must(t, srv.Register(stuck))
		client, err := tandem.NewServer()
		must(t, err)
		defer client.Close()
		p := dialPipe(t, srv, client)
		ctx := context.Background()

		blocked := p.Go(ctx, "Stuck.Wait", nil)
		synctest.Wait() // the handler is blocked, on the reader or on a worker
		start := time.Now()
		var n int
		must(t, p.Call(ctx, "Stuck.Echo", &n, 7))
		// Fake time: the second call waits for nothing but the watch's period.
		if took := time.Since(start); n != 7 || took > 2*time.Millisecond {
			t.Fatalf("second call: %d after %v; want 7 within 2 ms", n, took)
		}
		select {
		case <-blocked.Done():
			t.Fatalf("blocked call completed: %v", blocked.Err())
		default:
		}
		close(stuck.release)
		must(t, blocked.Wait())
		p.Close()
	})
}

// Reentrant calls back the caller from its handler.
type Reentrant struct{}

func (Reentrant) Double(ctx context.Context, n int) (int, error) {
	var r int
	err := tandem.PeerFromContext(ctx).Call(ctx, "Calc.Add", &r, n, n)
	return r, err
}

func TestInlineHandlerCallsBackAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, err := tandem.NewServer()
		must(t, err)
		defer srv.Close()
		must(t, srv.Register(Reentrant{}))
		client, err := tandem.NewServer()
		must(t, err)
		defer client.Close()
		must(t, client.Register(&Calc{}))
		p := dialPipe(t, srv, client)
		for i := range 100 {
			start := time.Now()
			var n int
			must(t, p.Call(context.Background(), "Reentrant.Double", &n, i))
			// No fake time passes: the call back took the reading over at once, without
			// waiting for the watch.
			if n != 2*i || time.Since(start) != 0 {
				t.Fatalf("Double(%d) = %d after %v of fake time", i, n, time.Since(start))
			}
		}
		p.Close()
	})
}

// blockOnReader calls Calc.Block with ctx over a pipe, and returns once its handler, which
// the server's reader runs itself, has started.
func blockOnReader(t *testing.T, ctx context.Context) (*tandem.Peer, *hooks, *tandem.Call) {
	srv, err := tandem.NewServer()
	must(t, err)
	t.Cleanup(func() { srv.Close() })
	must(t, srv.Register(&Calc{}))
	h := watchBlock(t)
	client, err := tandem.NewServer()
	must(t, err)
	t.Cleanup(func() { client.Close() })
	p := dialPipe(t, srv, client)
	c := p.Go(ctx, "Calc.Block", nil)
	<-h.started
	return p, h, c
}

func TestInlineHandlerSeesCancelAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		p, h, c := blockOnReader(t, ctx)
		start := time.Now()
		cancel()
		if err := <-h.ended; !errors.Is(err, context.Canceled) {
			t.Fatalf("handler's context ended with %v", err)
		}
		if took := time.Since(start); took != 0 {
			t.Fatalf("the cancel reached the handler after %v of fake time", took)
		}
		if err := c.Wait(); !errors.Is(err, context.Canceled) {
			t.Fatalf("call: %v", err)
		}
		p.Close()
	})
}

// TestConnectionEndCancelsTheReadersOwnCall closes the connection while the reader runs a
// handler itself, blocked on its context: that call's context is kept apart from the
// serving map (runningCall), and the connection's end must cancel it all the same.
func TestConnectionEndCancelsTheReadersOwnCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, h, c := blockOnReader(t, context.Background())
		p.Close()
		if err := <-h.ended; !errors.Is(err, context.Canceled) {
			t.Fatalf("handler's context ended with %v", err)
		}
		if err := c.Wait(); !errors.Is(err, tandem.ErrClosed) {
			t.Fatalf("call: %v, want ErrClosed", err)
		}
	})
}

// TestPipelinedCallsBehindABlockedHandler sends a call whose handler blocks and, in the
// same write, one behind it: the reader runs pipelined calls itself too, and the watch
// must hand the reading on so that the second call is answered while the first blocks.
func TestPipelinedCallsBehindABlockedHandler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, err := tandem.NewServer(tandem.WithLogger(slog.New(slog.DiscardHandler)))
		must(t, err)
		defer srv.Close()
		stuck := &Stuck{release: make(chan struct{})}
		must(t, srv.Register(stuck))
		peer, b, br, _, _ := rawPipe(t, srv)
		defer peer.Close()
		for round := range 3 {
			id := uint64(4*round + 1)
			both := append(callFrame(id, "Stuck.Wait", []byte{0x90}), callFrame(id+2, "Stuck.Echo", []byte{0x91, 7})...)
			start := time.Now()
			_, err := b.Write(both)
			must(t, err)
			if f := readFrame(t, br); f.Kind != wire.KindReply || f.ID != id+2 || !bytes.Equal(f.Payload, []byte{0x91, 7}) {
				t.Fatalf("round %d: a %v frame for %d, want the reply to %d", round, f.Kind, f.ID, id+2)
			}
			// Fake time: the second call waited for nothing but the watch's periods.
			if took := time.Since(start); took > time.Millisecond {
				t.Fatalf("round %d: the call behind the blocked one was answered after %v; want within 1ms", round, took)
			}
			stuck.release <- struct{}{}
			if f := readFrame(t, br); f.Kind != wire.KindReply || f.ID != id {
				t.Fatalf("round %d: a %v frame for %d, want the reply to %d", round, f.Kind, f.ID, id)
			}
		}
	})
}

// Napper's handler takes its time without blocking on anything the watch looks at.
type Napper struct{}

func (Napper) Nap(us int) int { time.Sleep(time.Duration(us) * time.Microsecond); return us }

// TestPipelinedCallsToASlowMethod pipelines calls to a handler that takes 200µs: too slow
// to run on the reader ahead of the others, yet never caught by the watch, which looks
// for one handler running through a whole 500µs period. After the second, the calls must
// run on workers, at once, not one after another.
func TestPipelinedCallsToASlowMethod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, err := tandem.NewServer(tandem.WithLogger(slog.New(slog.DiscardHandler)))
		must(t, err)
		defer srv.Close()
		must(t, srv.Register(Napper{}))
		peer, b, br, _, _ := rawPipe(t, srv)
		defer peer.Close()
		var burst []byte
		for i := range 8 {
			burst = append(burst, callFrame(uint64(2*i+1), "Napper.Nap", []byte{0x91, 0xcc, 200})...)
		}
		start := time.Now()
		_, err = b.Write(burst)
		must(t, err)
		for range 8 {
			if f := readFrame(t, br); f.Kind != wire.KindReply || !bytes.Equal(f.Payload, []byte{0x91, 0xcc, 200}) {
				t.Fatalf("a %v frame %x, want a reply of 200", f.Kind, f.Payload)
			}
		}
		// Fake time: two naps on the reader (two slow runs in a row are needed, as one
		// may be a handler that lost its processor), then six at once.
		if took := time.Since(start); took != 600*time.Microsecond {
			t.Fatalf("8 pipelined 200µs calls took %v; want 600µs", took)
		}
	})
}

// Holder has two methods that block until released, so that each part of a test can block
// a handler of a method the watch has not yet sent to workers.
type Holder struct{ release chan struct{} }

func (h *Holder) First()         { <-h.release }
func (h *Holder) Second()        { <-h.release }
func (h *Holder) Echo(n int) int { return n }

// holderPipe serves a Holder on one end of a pipe and plays a raw peer on the other. The
// caller must run inside a synctest bubble, and close the server's end by closing b.
func holderPipe(t *testing.T) (*Holder, net.Conn, <-chan wire.Frame) {
	t.Helper()
	srv, err := tandem.NewServer(tandem.WithLogger(slog.New(slog.DiscardHandler)))
	must(t, err)
	t.Cleanup(func() { srv.Close() })
	h := &Holder{release: make(chan struct{})}
	must(t, srv.Register(h))
	_, b, br, _, _ := rawPipe(t, srv)
	return h, b, rawFrames(b, br)
}

// TestWatchPeriod checks how soon the watch takes the reading from a blocked handler, in
// fake time: after a run of calls that came one at a time, the watch has slowed down to
// its longest period, 16ms, so it takes one to two of those periods, whatever its phase
// against the handler's start; after a run of calls pipelined behind each other, for which
// the watch keeps its 500µs period, within 1ms.
func TestWatchPeriod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// blocked runs calls, then has method's handler block on the reader, sends a call
		// behind it and returns how long its reply took. A fresh peer each time: a method
		// whose handler blocked runs its next calls on workers.
		blocked := func(method string, calls func(send func(...[]byte), call func(string, ...byte) []byte, reply func())) time.Duration {
			t.Helper()
			h, b, replies := holderPipe(t)
			defer b.Close()
			id := uint64(1)
			call := func(method string, payload ...byte) []byte {
				id += 2
				return callFrame(id, method, payload)
			}
			send := func(frames ...[]byte) {
				_, err := b.Write(bytes.Join(frames, nil))
				must(t, err)
			}
			reply := func() {
				t.Helper()
				if f := <-replies; f.Kind != wire.KindReply {
					t.Fatalf("got a %v frame, want a reply", f.Kind)
				}
			}
			calls(send, call, reply)
			go send(call(method, 0x90))
			synctest.Wait()
			start := time.Now()
			go send(call("Holder.Echo", 0x91, 7))
			reply()
			took := time.Since(start)
			h.release <- struct{}{}
			reply()
			return took
		}

		// The watch's phase against the blocked call moves by 1ms a round, over a whole
		// period of it.
		for extra := range 17 {
			took := blocked("Holder.First", func(send func(...[]byte), call func(string, ...byte) []byte, reply func()) {
				for range 100 + 5*extra {
					send(call("Holder.Echo", 0x91, 1))
					reply()
					time.Sleep(200 * time.Microsecond)
				}
			})
			if took < 16*time.Millisecond || took > 32*time.Millisecond {
				t.Errorf("after calls one at a time (round %d), a call behind a blocked handler took %v; want 16-32ms (one to two periods of the slowed-down watch)", extra, took)
			}
		}

		took := blocked("Holder.Second", func(send func(...[]byte), call func(string, ...byte) []byte, reply func()) {
			for range 60 {
				send(call("Holder.Echo", 0x91, 1), call("Holder.Echo", 0x91, 2), call("Holder.Echo", 0x91, 3))
				reply()
				reply()
				reply()
				time.Sleep(300 * time.Microsecond)
			}
		})
		if took > time.Millisecond {
			t.Errorf("after pipelined calls, a call behind a blocked handler took %v; want at most 1ms", took)
		}
	})
}

// rawFrames reads, for a raw peer, the frames the tandem peer on the other end of b sends:
// it answers pings and passes every other frame on. The channel closes when reading fails.
func rawFrames(b net.Conn, br *bufio.Reader) <-chan wire.Frame {
	frames := make(chan wire.Frame, 64)
	go func() {
		defer close(frames)
		for {
			f, err := tryReadFrame(br)
			if err != nil {
				return
			}
			if f.Kind == wire.KindPing {
				var data [wire.PingDataSize]byte
				copy(data[:], f.Payload)
				if _, err := b.Write(wire.AppendPing(nil, wire.KindPong, data)); err != nil {
					return
				}
				continue
			}
			frames <- f
		}
	}()
	return frames
}

// TestBurstRepliesAreNotLeftBehind covers the replies the reader defers while it runs a
// burst of calls (writer.go, sendDeferred): each must go out once nothing else will write
// it, not wait for the next frame to arrive. Over a pipe, in fake time: a lost reply
// leaves every goroutine blocked, which synctest reports.
func TestBurstRepliesAreNotLeftBehind(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, b, replies := holderPipe(t)
		defer b.Close()
		reply := func(id uint64) {
			t.Helper()
			if f := <-replies; f.Kind != wire.KindReply || f.ID != id {
				t.Fatalf("got a %v frame for %d, want the reply to %d", f.Kind, f.ID, id)
			}
		}

		// A call whose frame has only begun to arrive behind it: the reader, about to
		// wait for the rest, writes the first call's reply first.
		first := callFrame(1, "Holder.Echo", []byte{0x91, 1})
		second := callFrame(3, "Holder.Echo", []byte{0x91, 2})
		go func() {
			_, err := b.Write(append(first, second[:5]...))
			must(t, err)
		}()
		reply(1)
		go func() {
			_, err := b.Write(second[5:])
			must(t, err)
		}()
		reply(3)

		// A burst whose first handler blocks until the watch has given the reading to
		// another goroutine, which answers the second call and waits for input: the first
		// reply, deferred when it comes, must still go out.
		go func() {
			_, err := b.Write(append(callFrame(5, "Holder.First", []byte{0x90}), callFrame(7, "Holder.Echo", []byte{0x91, 3})...))
			must(t, err)
		}()
		reply(7)
		synctest.Wait() // the new reader waits for input
		h.release <- struct{}{}
		start := time.Now()
		reply(5)
		if took := time.Since(start); took != 0 {
			t.Errorf("the blocked call's reply came %v after its handler returned, want at once", took)
		}
	})
}
