package tandem_test

import (
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

// TestDefaultTimeoutSweep checks the default timeout, which one sweep enforces for every
// call (call.go, sweepTimeouts): a blocking and an async call without a deadline fail once
// it has passed, at most an eighth of it later, and the other side is told to cancel them;
// a call answered in time, and one whose context has its own deadline, are left alone; and
// the sweep starts again for calls made after it stopped.
func TestDefaultTimeoutSweep(t *testing.T) {
	const d = 80 * time.Millisecond
	synctest.Test(t, func(t *testing.T) {
		srv, err := tandem.NewServer(tandem.WithLogger(slog.New(slog.DiscardHandler)), tandem.WithDefaultTimeout(d))
		must(t, err)
		defer srv.Close()
		a, b := net.Pipe()
		p, br, _ := rawHandshake(t, srv, a, b)
		defer p.Close()

		defer b.Close()
		frames := rawFrames(b, br)
		next := func(kind wire.Kind) wire.Frame {
			t.Helper()
			f, ok := <-frames
			if !ok || f.Kind != kind {
				t.Fatalf("got a %v frame (open %v), want a %v", f.Kind, ok, kind)
			}
			return f
		}
		start := time.Now()
		type result struct {
			err error
			at  time.Time
		}
		blocking := make(chan result, 1)
		go func() {
			err := p.Call(context.Background(), "Raw.Never", nil)
			blocking <- result{err, time.Now()}
		}()
		blockingCall := next(wire.KindCall)

		// Just before a sweep (they come every d/8 = 10ms from the first call): it must
		// not count as a whole period.
		time.Sleep(39 * time.Millisecond)
		async := p.Go(context.Background(), "Raw.Never", nil)
		asyncCall := next(wire.KindCall)

		// Answered in time.
		time.Sleep(10 * time.Millisecond)
		var one int
		answered := p.Go(context.Background(), "Raw.One", &one)
		f := next(wire.KindCall)
		_, err = b.Write(replyFrame(f.ID, []byte{0x91, 1}))
		must(t, err)
		must(t, answered.Wait())

		// Its own deadline, longer than the default timeout.
		ctx, cancel := context.WithTimeout(context.Background(), 10*d)
		defer cancel()
		own := p.Go(ctx, "Raw.Own", nil)
		ownCall := next(wire.KindCall)

		for _, c := range []struct {
			name string
			id   uint64
			sent time.Time
			wait func() result
		}{
			{"blocking call", blockingCall.ID, start, func() result { return <-blocking }},
			{"async call", asyncCall.ID, start.Add(39 * time.Millisecond), func() result { err := async.Wait(); return result{err, time.Now()} }},
		} {
			r := c.wait()
			var te *tandem.Error
			if !errors.As(r.err, &te) || te.Code != tandem.CodeDeadlineExceeded || !errors.Is(r.err, context.DeadlineExceeded) {
				t.Fatalf("%s: %v, want CodeDeadlineExceeded", c.name, r.err)
			}
			if took := r.at.Sub(c.sent); took < d || took > d+d/8 {
				t.Errorf("%s failed after %v, want between %v and %v", c.name, took, d, d+d/8)
			}
			if f := next(wire.KindCancel); f.ID != c.id {
				t.Errorf("%s: cancel for call %d, want %d", c.name, f.ID, c.id)
			}
		}
		if own.Err() != nil {
			t.Fatalf("call with its own deadline ended early: %v", own.Err())
		}
		_, err = b.Write(replyFrame(ownCall.ID, []byte{0x90}))
		must(t, err)
		must(t, own.Wait())

		// Nothing left to sweep: the sweep stops, and starts again for the next call.
		time.Sleep(time.Second)
		start = time.Now()
		go func() {
			err := p.Call(context.Background(), "Raw.Never", nil)
			blocking <- result{err, time.Now()}
		}()
		next(wire.KindCall)
		if r := <-blocking; !errors.Is(r.err, context.DeadlineExceeded) || r.at.Sub(start) < d || r.at.Sub(start) > d+d/8 {
			t.Fatalf("call after the sweep stopped: %v after %v, want a deadline error after %v to %v", r.err, r.at.Sub(start), d, d+d/8)
		}
		next(wire.KindCancel)
	})
}
