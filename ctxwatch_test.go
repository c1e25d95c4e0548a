package tandem_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tandem-rpc/tandem"
)

type ctxKey struct{}

// blockCalls starts n calls of Calc.Block with ctxs[i%len(ctxs)] and waits until their
// handlers run. Each call's error arrives on the returned channel.
func blockCalls(t *testing.T, p *tandem.Peer, h *hooks, n int, ctxs ...context.Context) <-chan error {
	t.Helper()
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- p.Call(ctxs[i%len(ctxs)], "Calc.Block", nil) }()
	}
	for range n {
		<-h.started
	}
	return errs
}

// collect receives n errors, failing the test if they take longer than a generous bound.
func collect(t *testing.T, errs <-chan error, n int) []error {
	t.Helper()
	var got []error
	deadline := time.After(20 * time.Second)
	for range n {
		select {
		case err := <-errs:
			got = append(got, err)
		case <-deadline:
			t.Fatalf("%d of %d calls still waiting after their context ended", n-len(got), n)
		}
	}
	return got
}

// Many calls waiting with one context (and with a context derived from it that shares its
// Done channel) end together when it ends, with its cause, and their handlers are
// cancelled; a call with another context is left alone.
func TestSharedContextEndsEveryWaitingCall(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		_, p := setup(t, tr)
		h := watchBlock(t)

		shared, cancel := context.WithCancelCause(context.Background())
		derived := context.WithValue(shared, ctxKey{}, 1)
		cause := errors.New("shared context ended")
		const n = 8
		errs := blockCalls(t, p, h, n, shared, derived)

		other, cancelOther := context.WithCancelCause(context.Background())
		otherCause := errors.New("other context ended")
		otherErr := blockCalls(t, p, h, 1, other)

		cancel(cause)
		for _, err := range collect(t, errs, n) {
			wantCode(t, err, tandem.CodeCanceled, cause, "Calc.Block")
		}
		for range n {
			if herr := <-h.ended; !errors.Is(herr, context.Canceled) {
				t.Fatalf("handler saw %v, want context.Canceled", herr)
			}
		}

		cancelOther(otherCause)
		wantCode(t, collect(t, otherErr, 1)[0], tandem.CodeCanceled, otherCause, "Calc.Block")
		<-h.ended
	})
}

// Once the calls that shared a context are over, its end touches no later call, and the
// next context shared by several calls is watched in its place.
func TestSharedContextReleasedAfterItsCalls(t *testing.T) {
	_, p := setup(t, transports()[1])
	h := watchBlock(t)

	first, cancelFirst := context.WithCancelCause(context.Background())
	done := make(chan error, 4)
	for range 4 {
		go func() {
			for range 50 {
				if err := p.Call(first, "Calc.AddCtx", nil, 1, 2); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for _, err := range collect(t, done, 4) {
		must(t, err)
	}

	next, cancelNext := context.WithCancelCause(context.Background())
	nextCause := errors.New("next context ended")
	errs := blockCalls(t, p, h, 4, next)
	cancelFirst(errors.New("first context ended"))
	// Let a stale watch of first run, if there were one: it would end the calls waiting
	// with next with first's cause.
	for range 10 {
		must(t, p.Call(context.Background(), "Calc.Add", nil, 1, 2))
	}
	cancelNext(nextCause)
	for _, err := range collect(t, errs, 4) {
		wantCode(t, err, tandem.CodeCanceled, nextCause, "Calc.Block")
	}
	for range 4 {
		<-h.ended
	}
}
