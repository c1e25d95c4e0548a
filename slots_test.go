package tandem

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// Callers contending for few slots never hold more than the limit between them, and none
// is left waiting while a slot is free: with a lost wake-up the test would hang.
func TestSlotLimitUnderContention(t *testing.T) {
	const limit, callers, rounds = 3, 16, 400
	p := &Peer{slots: newSlotLimit(limit), done: make(chan struct{})}
	var holding, peak atomic.Int32
	var waited atomic.Bool
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for range rounds {
				if err := p.acquireSlot(context.Background(), "T.M"); err != nil {
					t.Error(err)
					return
				}
				n := holding.Add(1)
				for old := peak.Load(); n > old && !peak.CompareAndSwap(old, n); old = peak.Load() {
				}
				if p.slots.waiters.Load() > 0 {
					waited.Store(true)
				}
				runtime.Gosched() // hold the slot while others run, so that they wait
				holding.Add(-1)
				p.releaseSlot()
			}
		})
	}
	wg.Wait()
	if got := peak.Load(); got > limit {
		t.Errorf("%d callers held a slot at once, limit %d", got, limit)
	}
	if used := p.slots.used.Load(); used != 0 {
		t.Errorf("%d slots still taken after every caller returned its own", used)
	}
	if !waited.Load() {
		t.Error("no caller ever waited for a slot: the test did not test waiting")
	}
}

// A caller waiting for a slot gives up when its context ends, without taking one.
func TestSlotLimitWaitEndsWithContext(t *testing.T) {
	p := &Peer{slots: newSlotLimit(1), done: make(chan struct{})}
	if !p.tryAcquireSlot() {
		t.Fatal("no slot free at first")
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() { errc <- p.acquireSlot(ctx, "T.M") }()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if used := p.slots.used.Load(); used != 1 {
		t.Errorf("%d slots taken, want the first caller's only", used)
	}
}
