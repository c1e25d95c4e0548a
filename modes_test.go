package tandem_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-rpc/tandem"
)

// Counter has no locks: it is only correct when its calls never overlap.
type Counter struct {
	n       int
	running atomic.Int32
	overlap atomic.Bool
	order   []int
}

func (c *Counter) Add(seq int) int {
	if c.running.Add(1) > 1 {
		c.overlap.Store(true)
	}
	defer c.running.Add(-1)
	c.n++
	c.order = append(c.order, seq)
	time.Sleep(time.Microsecond) // widen the window for an overlap, were there one
	return c.n
}

func TestSerialized(t *testing.T) {
	srv := newServer(t)
	c := &Counter{}
	must(t, srv.Register(c, tandem.WithSerialized(0)))
	p := dialPipe(t, srv, newServer(t))
	ctx := ctxTimeout(t, 20*time.Second)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if err := p.Call(ctx, "Counter.Add", nil, 0); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if c.overlap.Load() || c.n != 400 {
		t.Fatalf("overlap=%v n=%d, want no overlap and 400", c.overlap.Load(), c.n)
	}
	// Arrival order is kept: notifications sent in order run in order.
	c.order = nil
	for i := range 100 {
		must(t, p.Notify(ctx, "Counter.Add", i))
	}
	var n int
	must(t, p.Call(ctx, "Counter.Add", &n, 100)) // queued behind the notifications
	for i, seq := range c.order {
		if seq != i {
			t.Fatalf("call %d ran at position %d", seq, i)
		}
	}
	var services []tandem.ServiceInfo
	must(t, p.Call(ctx, "Tandem.Describe", &services))
	for _, s := range services {
		if s.Name == "Counter" && s.Mode != "serialized" {
			t.Fatalf("Counter mode = %q", s.Mode)
		}
	}
}

func TestSerializedQueueFull(t *testing.T) {
	srv := newServer(t)
	slow := Slow{started: make(chan struct{}, 10), release: make(chan struct{})}
	must(t, srv.Register(slow, tandem.WithSerialized(2)))
	p := dialPipe(t, srv, newServer(t))
	ctx := ctxTimeout(t, 20*time.Second)
	running := p.Go(ctx, "Slow.Work", nil, 1)
	<-slow.started // one runs, so the queue is empty
	queued := []*tandem.Call{p.Go(ctx, "Slow.Work", nil, 2), p.Go(ctx, "Slow.Work", nil, 3)}
	// The queue holds 2; keep calling until one is refused.
	var refused error
	for refused == nil {
		c := p.Go(ctx, "Slow.Work", nil, 4)
		select {
		case <-c.Done():
			refused = c.Err()
		case <-time.After(10 * time.Millisecond):
			queued = append(queued, c) // raced ahead of a queued call being taken
		}
	}
	if !errors.Is(refused, tandem.ErrOverloaded) || tandem.CodeOf(refused) != tandem.CodeResourceExhausted {
		t.Fatalf("call beyond the queue: %v, want ErrOverloaded", refused)
	}
	close(slow.release)
	must(t, running.Wait())
	for _, c := range queued {
		must(t, c.Wait())
	}
}

// Game is driven by the program's own loop through a pump.
type Game struct{ ticks []int }

func (g *Game) Move(x int) int { g.ticks = append(g.ticks, x); return len(g.ticks) }

func TestPumped(t *testing.T) {
	srv := newServer(t)
	pump, err := tandem.NewPump(4)
	must(t, err)
	g := &Game{}
	must(t, srv.Register(g, tandem.WithPump(pump)))
	p := dialPipe(t, srv, newServer(t))
	ctx := ctxTimeout(t, 20*time.Second)

	calls := []*tandem.Call{}
	for i := range 3 {
		calls = append(calls, p.Go(ctx, "Game.Move", nil, i))
	}
	// Nothing runs until the loop polls.
	<-pump.Ready()
	for pump.Len() < 3 {
		<-pump.Ready()
	}
	for _, c := range calls {
		select {
		case <-c.Done():
			t.Fatalf("pumped call completed before Poll: %v", c.Err())
		default:
		}
	}
	if n := pump.Poll(2); n != 2 {
		t.Fatalf("Poll(2) ran %d", n)
	}
	must(t, calls[0].Wait())
	must(t, calls[1].Wait())
	if n := pump.Poll(0); n != 1 {
		t.Fatalf("Poll(0) ran %d", n)
	}
	must(t, calls[2].Wait())
	if len(g.ticks) != 3 || pump.Poll(0) != 0 {
		t.Fatalf("ticks %v", g.ticks)
	}

	// A full pump refuses calls with ErrOverloaded.
	var waiting []*tandem.Call
	for range 4 {
		waiting = append(waiting, p.Go(ctx, "Game.Move", nil, 9))
	}
	for pump.Len() < 4 {
		<-pump.Ready()
	}
	err = p.Call(ctx, "Game.Move", nil, 10)
	if !errors.Is(err, tandem.ErrOverloaded) {
		t.Fatalf("call to a full pump: %v", err)
	}
	pump.Poll(0)
	for _, c := range waiting {
		must(t, c.Wait())
	}
}

func TestMaxInflightBackpressure(t *testing.T) {
	srv := newServer(t, tandem.WithMaxInflight(3))
	must(t, srv.Register(&Calc{}))
	p := dialPipe(t, srv, newServer(t))
	h := watchBlock(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls []*tandem.Call
	for range 3 {
		calls = append(calls, p.Go(ctx, "Calc.Block", nil))
		<-h.started
	}
	// Over the limit announced by the server, the call waits in the caller.
	waiting := p.Go(ctxTimeout(t, 10*time.Second), "Calc.Add", nil, 1, 2)
	select {
	case <-waiting.Done():
		t.Fatalf("call over the in-flight limit completed while the limit was reached: %v", waiting.Err())
	case <-time.After(50 * time.Millisecond):
	}
	calls[0].Cancel() // the server ends the handler and returns its slot
	<-h.ended
	must(t, waiting.Wait())
	cancel()
	for _, c := range calls[1:] {
		c.Wait()
		<-h.ended
	}
}

// Latch blocks until released, for a client object the server calls back.
type Latch struct{ open chan struct{} }

func (g Latch) Wait() { <-g.open }

// Relay calls back into the client's Latch while holding its in-flight slot.
type Relay struct{}

func (Relay) Through(ctx context.Context) error {
	return tandem.PeerFromContext(ctx).Call(ctx, "Latch.Wait", nil)
}

// TestMaxInflightWaitsInTheCaller pins where the backpressure lives: the caller waits for a
// slot, and the other side keeps reading, so a handler at the limit that calls back into
// the caller still gets its reply.
func TestMaxInflightWaitsInTheCaller(t *testing.T) {
	srv := newServer(t, tandem.WithMaxInflight(1))
	must(t, srv.Register(Relay{}))
	must(t, srv.Register(&Calc{}))
	client := newServer(t)
	latch := Latch{open: make(chan struct{})}
	must(t, client.Register(latch))
	p := dialPipe(t, srv, client)
	ctx := ctxTimeout(t, 10*time.Second)

	through := p.Go(ctx, "Relay.Through", nil)
	add := p.Go(ctx, "Calc.Add", nil, 1, 2) // waits for Relay.Through's slot
	select {
	case <-add.Done():
		t.Fatalf("second call ran beyond the limit of 1: %v", add.Err())
	case <-time.After(50 * time.Millisecond):
	}
	close(latch.open) // Relay.Through gets Latch's reply and returns its slot
	must(t, through.Wait())
	must(t, add.Wait())

	// A caller that gives up while waiting for a slot gets its context's error.
	h := watchBlock(t)
	hold := p.Go(ctx, "Calc.Block", nil)
	<-h.started
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := p.Call(short, "Calc.Add", nil, 1, 2)
	wantCode(t, err, tandem.CodeDeadlineExceeded, context.DeadlineExceeded, "in-flight limit")
	hold.Cancel()
	<-h.ended
}

func TestOptionsValidated(t *testing.T) {
	for _, o := range []tandem.Option{
		tandem.WithMaxFrameSize(10),
		tandem.WithMaxInflight(0),
		tandem.WithHandshakeTimeout(0),
		tandem.WithDefaultTimeout(0),
		tandem.WithCodec(nil),
		tandem.WithAcceptCodecs(),
	} {
		if _, err := tandem.NewServer(o); err == nil {
			t.Errorf("NewServer accepted an invalid option %T", o)
		}
	}
	if _, err := tandem.NewPump(-1); err == nil {
		t.Error("NewPump(-1) succeeded")
	}
}
