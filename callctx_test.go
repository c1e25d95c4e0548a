package tandem_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-rpc/tandem"
)

// Deriver derives contexts from its handler context and reports how they end.
type Deriver struct {
	started chan struct{}
	ended   chan string
}

func (d Deriver) Derive(ctx context.Context) error {
	child, cancel := context.WithTimeout(ctx, time.Hour)
	defer cancel()
	after := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { close(after) })
	defer stop()
	d.started <- struct{}{}
	<-child.Done()
	<-after
	d.ended <- fmt.Sprint(child.Err(), "|", context.Cause(ctx), "|", ctx.Err())
	return ctx.Err()
}

func TestHandlerContextDerivedAndCancelled(t *testing.T) {
	srv := newServer(t)
	d := Deriver{started: make(chan struct{}, 1), ended: make(chan string, 1)}
	must(t, srv.Register(d))
	p := dialPipe(t, srv, newServer(t))

	c := p.Go(context.Background(), "Deriver.Derive", nil)
	<-d.started
	c.Cancel()
	if got, want := <-d.ended, "context canceled|context canceled|context canceled"; got != want {
		t.Fatalf("derived contexts ended with %q, want %q", got, want)
	}
	// A deadline reaches derived contexts too.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	c = p.Go(ctx, "Deriver.Derive", nil)
	<-d.started
	got := <-d.ended
	if !strings.Contains(got, "deadline exceeded") && !strings.Contains(got, "canceled") {
		t.Fatalf("after the deadline: %q", got)
	}
	if err := c.Wait(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call: %v", err)
	}
}

// TestRecycledBuffersAreNotShared pins the rule that decoded values never point into a
// recycled frame buffer: many small echoes at once must each come back intact, and stay
// intact after later calls reuse the buffers.
func TestRecycledBuffersAreNotShared(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		_, p := setup(t, tr)
		ctx := ctxTimeout(t, 20*time.Second)
		var wg sync.WaitGroup
		var mu sync.Mutex
		kept := map[byte][]byte{}
		for g := range 16 {
			wg.Go(func() {
				for i := range 50 {
					in := bytes.Repeat([]byte{byte(g*50 + i)}, 100+i)
					var out []byte
					if err := p.Call(ctx, "Calc.Echo", &out, in); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					kept[in[0]] = out
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		for b, out := range kept {
			if len(out) < 100 || !bytes.Equal(out, bytes.Repeat([]byte{b}, len(out))) {
				t.Fatalf("echo of %d changed after later calls: %x", b, out[:8])
			}
		}
	})
}

func TestCallT(t *testing.T) {
	_, p := setup(t, transports()[0])
	sum, err := tandem.CallT[int](ctxTimeout(t, 5*time.Second), p, "Calc.Add", 20, 22)
	if err != nil || sum != 42 {
		t.Fatalf("CallT = %d, %v", sum, err)
	}
	_, err = tandem.CallT[int](ctxTimeout(t, 5*time.Second), p, "Calc.Add", "x", 1)
	wantCode(t, err, tandem.CodeInvalidArgument, tandem.ErrBadArguments, "func(a int, b int) int")
}

// Keeper keeps every handler context it is called with.
type Keeper struct {
	mu   sync.Mutex
	ctxs []context.Context
}

func (k *Keeper) Keep(ctx context.Context) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.ctxs = append(k.ctxs, ctx)
}

// A handler may keep its context after it returns: the reader allocates contexts in
// batches, but each call's stays its own, ended, with its own metadata, whatever the
// calls after it. (Regression guard for the batches of newCallCtx.)
func TestKeptHandlerContextsStayTheirOwn(t *testing.T) {
	srv := newServer(t)
	k := &Keeper{}
	must(t, srv.Register(k))
	p := dialPipe(t, srv, newServer(t))
	const calls = 100 // several batches
	for i := range calls {
		ctx := tandem.ContextWithMetadata(context.Background(), tandem.Metadata{"call": fmt.Sprint(i)})
		must(t, p.Call(ctx, "Keeper.Keep", nil))
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.ctxs) != calls {
		t.Fatalf("kept %d contexts, want %d", len(k.ctxs), calls)
	}
	seen := map[context.Context]int{}
	for i, ctx := range k.ctxs {
		if j, ok := seen[ctx]; ok {
			t.Fatalf("calls %d and %d got the same context", j, i)
		}
		seen[ctx] = i
		if got := tandem.MetadataFromContext(ctx)["call"]; got != fmt.Sprint(i) {
			t.Errorf("call %d's kept context carries call %q's metadata", i, got)
		}
		// A call the reader runs has its context ended just after its result is written:
		// the last one may still be ending.
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("call %d's kept context did not end", i)
		}
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Errorf("call %d's kept context: Err() = %v, want context.Canceled", i, ctx.Err())
		}
		if tandem.PeerFromContext(ctx) == nil {
			t.Errorf("call %d's kept context lost its peer", i)
		}
	}
}
