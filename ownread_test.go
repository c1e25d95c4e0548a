package tandem_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tandem-rpc/tandem"
	"github.com/tandem-rpc/tandem/wire"
)

// These tests cover a caller reading its own result (ownread.go): when no other result is
// awaited, the reading goroutine exits, the next caller reads until its result arrives or
// the watch ends its turn, and then hands the reading to a goroutine, which must carry on
// where it stopped, even inside a frame.

// ownReadTurn is the longest a caller reads its own result while the watch checks every
// 500µs, as it does after the reading has been idle (ownread.go, turnLimit).
const ownReadTurn = time.Millisecond

// rawCallee serves a Calc on one end of a pipe, optionally under TLS, and plays a raw peer
// on the other: the test answers the calls the tandem peer makes.
func rawCallee(t *testing.T, tlsConf *tls.Config) (*tandem.Peer, net.Conn, *bufio.Reader) {
	t.Helper()
	srv, err := tandem.NewServer(tandem.WithLogger(slog.New(slog.DiscardHandler)))
	must(t, err)
	t.Cleanup(func() { srv.Close() })
	must(t, srv.Register(&Calc{}))
	a, b := net.Pipe()
	if tlsConf != nil {
		a = tls.Server(a, tlsConf)
		b = tls.Client(b, &tls.Config{RootCAs: tlsConf.RootCAs, ServerName: "127.0.0.1", Time: tlsConf.Time})
	}
	p, br, _ := rawHandshake(t, srv, a, b)
	return p, b, br
}

// nextCall reads the call the tandem peer makes.
func nextCall(t *testing.T, br *bufio.Reader) wire.Frame {
	t.Helper()
	f := readWholeFrame(t, br)
	if f.Kind != wire.KindCall {
		t.Fatalf("got a %v frame, want a call", f.Kind)
	}
	return f
}

// answerOne answers the tandem peer's next call with 1, on a goroutine.
func answerOne(t *testing.T, b net.Conn, br *bufio.Reader) {
	go func() {
		f := nextCall(t, br)
		_, err := b.Write(replyFrame(f.ID, []byte{0x91, 1}))
		must(t, err)
	}()
}

// replyFrame is a reply frame, length prefix included.
func replyFrame(id uint64, payload []byte) []byte {
	return append(wire.AppendHeader(nil, wire.KindReply, 0, id, len(payload)), payload...)
}

// msgpackBin is a msgpack list holding one bin value of n bytes.
func msgpackBin(n int) []byte {
	b := []byte{0x91, 0xc6, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	for i := range n {
		b = append(b, byte(i*7))
	}
	return b
}

// TestOwnResultCutAcrossTheTurn sends results whose bytes stop, at every cut point, for
// longer than a caller reads: the reading goroutine that takes over must finish the frame.
func TestOwnResultCutAcrossTheTurn(t *testing.T) {
	for _, tc := range []struct {
		name  string
		frame func(id uint64) []byte
		want  []byte
	}{
		{"whole frame", func(id uint64) []byte { return replyFrame(id, msgpackBin(40)) }, msgpackBin(40)[6:]},
		{"chunked frame", func(id uint64) []byte {
			return chunkFrames(replyFrame(id, msgpackBin(3000)), 1000, 1500)
		}, msgpackBin(3000)[6:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p, b, br := rawCallee(t, nil)
				defer p.Close()
				// Cut 0 sends the frame whole: the first call leaves the reading idle, and the
				// later ones are read by their callers. Then every cut in the first 64 bytes
				// (length prefixes and headers), and a sample beyond.
				n := len(tc.frame(0))
				cuts := []int{0}
				for cut := 1; cut < n; cut++ {
					if cut < 64 || cut%97 == 0 {
						cuts = append(cuts, cut)
					}
				}
				for _, cut := range cuts {
					go func() {
						f := nextCall(t, br)
						frame := tc.frame(f.ID)
						if cut > 0 {
							_, err := b.Write(frame[:cut])
							must(t, err)
							time.Sleep(3 * ownReadTurn)
							frame = frame[cut:]
						}
						_, err := b.Write(frame)
						must(t, err)
					}()
					var got []byte
					if err := p.Call(context.Background(), "Raw.Echo", &got); err != nil || !bytes.Equal(got, tc.want) {
						t.Fatalf("cut at %d: %d bytes, %v", cut, len(got), err)
					}
				}
			})
		})
	}
}

// TestOwnResultCutOverTLS cuts a result inside a TLS record, across the caller's turn:
// the deadline that ends the turn must not break the TLS connection.
func TestOwnResultCutOverTLS(t *testing.T) {
	serverCert, _, pool := certs(t)
	now := time.Now() // the certificates' clock, not the bubble's
	conf := &tls.Config{Certificates: []tls.Certificate{serverCert}, RootCAs: pool, Time: func() time.Time { return now }}
	synctest.Test(t, func(t *testing.T) {
		p, b, br := rawCallee(t, conf)
		defer p.Close()
		for i := range 4 {
			go func() {
				f := nextCall(t, br)
				// A TLS record per write: the tandem side reads the first half of the
				// frame, then its read is stopped by the deadline inside the second record.
				frame := replyFrame(f.ID, msgpackBin(2000))
				_, err := b.Write(frame[:1000])
				must(t, err)
				time.Sleep(3 * ownReadTurn)
				_, err = b.Write(frame[1000:])
				must(t, err)
			}()
			var got []byte
			if err := p.Call(context.Background(), "Raw.Echo", &got); err != nil || !bytes.Equal(got, msgpackBin(2000)[6:]) {
				t.Fatalf("call %d: %d bytes, %v", i, len(got), err)
			}
		}
	})
}

// TestOwnResultWithCallsBetween has the other side call this one while a caller reads its
// own result: the call is served, and the result still reaches its caller.
func TestOwnResultWithCallsBetween(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, b, br := rawCallee(t, nil)
		defer p.Close()
		for i := range 5 {
			// A plain call first: a peer that served a call 100ms ago or more lets its
			// reading go idle after the result, and the next caller reads its own.
			time.Sleep(150 * time.Millisecond)
			answerOne(t, b, br)
			must(t, p.Call(context.Background(), "Raw.One", nil))
			go func() {
				f := nextCall(t, br)
				_, err := b.Write(callFrame(uint64(2*i+1), "Calc.Add", []byte{0x92, byte(i), 3}))
				must(t, err)
				if r := readWholeFrame(t, br); r.Kind != wire.KindReply || r.ID != uint64(2*i+1) || !bytes.Equal(r.Payload, []byte{0x91, byte(i + 3)}) {
					t.Errorf("reply to our call: %v %d %x", r.Kind, r.ID, r.Payload)
				}
				_, err = b.Write(replyFrame(f.ID, []byte{0x91, 42}))
				must(t, err)
			}()
			var n int
			if err := p.Call(context.Background(), "Raw.Answer", &n); err != nil || n != 42 {
				t.Fatalf("call %d: %d, %v", i, n, err)
			}
		}
	})
}

// TestOwnResultCancelled cancels calls whose callers read their own results: the caller
// notices within its turn, the other side gets a cancel, and the connection goes on.
func TestOwnResultCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, b, br := rawCallee(t, nil)
		defer p.Close()
		answerOne(t, b, br)
		must(t, p.Call(context.Background(), "Raw.One", nil)) // the reading goes idle

		ctx, cancel := context.WithCancel(context.Background())
		cancelled := make(chan uint64)
		go func() {
			f := nextCall(t, br)
			time.Sleep(300 * time.Microsecond)
			cancel()
			if c := readWholeFrame(t, br); c.Kind != wire.KindCancel || c.ID != f.ID {
				t.Errorf("after the cancel: a %v frame for %d, want a cancel for %d", c.Kind, c.ID, f.ID)
			}
			cancelled <- f.ID
		}()
		start := time.Now()
		err := p.Call(ctx, "Raw.Never", nil)
		if !errors.Is(err, context.Canceled) || time.Since(start) > ownReadTurn {
			t.Fatalf("cancelled call: %v after %v; want context.Canceled within %v", err, time.Since(start), ownReadTurn)
		}
		<-cancelled

		// A deadline sooner than the turn ends the call at the deadline.
		go func() {
			f := nextCall(t, br)
			if c := readWholeFrame(t, br); c.Kind != wire.KindCancel || c.ID != f.ID {
				t.Errorf("after the deadline: a %v frame for %d, want a cancel for %d", c.Kind, c.ID, f.ID)
			}
			cancelled <- f.ID
		}()
		ctx, cancel = context.WithTimeout(context.Background(), 200*time.Microsecond)
		defer cancel()
		start = time.Now()
		err = p.Call(ctx, "Raw.Never", nil)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 200*time.Microsecond {
			t.Fatalf("call past its deadline: %v after %v; want context.DeadlineExceeded after 200µs", err, time.Since(start))
		}
		<-cancelled

		answerOne(t, b, br)
		must(t, p.Call(context.Background(), "Raw.One", nil))
	})
}

// TestIdleReadingStillReads sends frames unasked while nobody reads: the watch starts a
// reading goroutine within two of its periods (500µs each), so pings are answered and
// calls served, and Close ends a peer whose reading is idle.
func TestIdleReadingStillReads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, b, br := rawCallee(t, nil)
		for i := range 3 {
			answerOne(t, b, br)
			must(t, p.Call(context.Background(), "Raw.One", nil))
			synctest.Wait()

			start := time.Now()
			if i%2 == 0 {
				_, err := b.Write(wire.AppendPing(nil, wire.KindPing, [8]byte{byte(i)}))
				must(t, err)
				if f := readWholeFrame(t, br); f.Kind != wire.KindPong || f.PingData[0] != byte(i) {
					t.Fatalf("a %v frame, want the pong", f.Kind)
				}
			} else {
				_, err := b.Write(callFrame(1, "Calc.Add", []byte{0x92, 2, 3}))
				must(t, err)
				if f := readWholeFrame(t, br); f.Kind != wire.KindReply || !bytes.Equal(f.Payload, []byte{0x91, 5}) {
					t.Fatalf("a %v frame %x, want the reply 5", f.Kind, f.Payload)
				}
			}
			took := time.Since(start)
			if took > 2*500*time.Microsecond {
				t.Fatalf("answered after %v, want within 1ms", took)
			}
			// The reading was idle: nobody read until the watch came round. (Were it
			// not, the callers above would not have read their own results.)
			if took == 0 {
				t.Fatalf("frame %d answered at once: the reading was not idle", i)
			}
			// A peer that serves calls keeps its reading goroutine for 100ms.
			time.Sleep(150 * time.Millisecond)
		}
		answerOne(t, b, br)
		must(t, p.Call(context.Background(), "Raw.One", nil))
		synctest.Wait()
		p.Close() // returns only once the reading has ended
		select {
		case <-p.Done():
		default:
			t.Fatal("peer not done after Close")
		}
	})
}

// deadlineConn counts the read deadlines set on a connection.
type deadlineConn struct {
	net.Conn
	set atomic.Int64
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	c.set.Add(1)
	return c.Conn.SetReadDeadline(t)
}

// TestLongTurnsEndedByTheWatch: callers reading their own results leave the read deadline
// alone call after call (moving it woke the network poller every half millisecond), and
// the watch ends a turn that lasts, even once it has slowed down to its longest period: a
// cancelled call returns within turnLimit plus two such periods, and a call ends at its
// deadline exactly, whether that is further off than turnPrecise (the turn ends and the
// caller waits on its context) or sooner (the read deadline).
func TestLongTurnsEndedByTheWatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, err := tandem.NewServer(tandem.WithLogger(slog.New(slog.DiscardHandler)))
		must(t, err)
		defer srv.Close()
		a, b := net.Pipe()
		conn := &deadlineConn{Conn: a}
		p, br, _ := rawHandshake(t, srv, conn, b)
		defer p.Close()
		call := func() {
			t.Helper()
			answerOne(t, b, br)
			must(t, p.Call(context.Background(), "Raw.One", nil))
		}
		call()
		synctest.Wait()
		before := conn.set.Load()
		for range 1000 { // 100ms of calls, one at a time
			call()
			time.Sleep(100 * time.Microsecond)
		}
		if n := conn.set.Load() - before; n > 4 {
			t.Errorf("1000 calls over 100ms set the read deadline %d times, want at most 4", n)
		}

		never := func(ctx context.Context) (time.Duration, error) {
			done := make(chan struct{})
			go func() {
				defer close(done)
				f := nextCall(t, br)
				if c := readWholeFrame(t, br); c.Kind != wire.KindCancel || c.ID != f.ID {
					t.Errorf("a %v frame for %d, want a cancel for %d", c.Kind, c.ID, f.ID)
				}
			}()
			start := time.Now()
			err := p.Call(ctx, "Raw.Never", nil)
			took := time.Since(start)
			<-done
			return took, err
		}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(2*time.Millisecond, cancel)
		took, err := never(ctx)
		if limit := time.Millisecond + 2*16*time.Millisecond; !errors.Is(err, context.Canceled) || took > limit {
			t.Fatalf("call cancelled after 2ms: %v after %v; want context.Canceled within %v", err, took, limit)
		}
		call()

		for range 300 { // slow the watch down again
			call()
			time.Sleep(100 * time.Microsecond)
		}
		ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if took, err := never(ctx); !errors.Is(err, context.DeadlineExceeded) || took != 50*time.Millisecond {
			t.Fatalf("call with a 50ms deadline: %v after %v; want context.DeadlineExceeded after 50ms", err, took)
		}
		call()

		// A deadline the watch might overrun is set as the read deadline. The watch's phase
		// against the call's start moves by 1ms a round, over a whole period of it.
		for extra := range 17 {
			for range 200 + 10*extra {
				call()
				time.Sleep(100 * time.Microsecond)
			}
			const d = 15 * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), d)
			took, err := never(ctx)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) || took != d {
				t.Fatalf("call with a %v deadline: %v after %v; want context.DeadlineExceeded after %v", d, err, took, d)
			}
		}
		call()
	})
}
