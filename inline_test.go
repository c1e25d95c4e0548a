package tandem_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tandem-rpc/tandem"
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

func TestInlineHandlerSeesCancelAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, err := tandem.NewServer()
		must(t, err)
		defer srv.Close()
		must(t, srv.Register(&Calc{}))
		h := watchBlock(t)
		client, err := tandem.NewServer()
		must(t, err)
		defer client.Close()
		p := dialPipe(t, srv, client)
		ctx, cancel := context.WithCancel(context.Background())
		c := p.Go(ctx, "Calc.Block", nil)
		<-h.started
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
