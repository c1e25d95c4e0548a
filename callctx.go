package tandem

import (
	"context"
	"sync"
	"time"
)

// callCtx is the context an incoming call's handler runs with. It carries the calling peer
// and metadata, ends at the caller's deadline, on a cancel frame, when the connection ends,
// or when the handler returns (once its result is written, for a call the connection's
// reader runs; see Peer.run). It comes from a batch the reader allocates (newCallCtx); its
// Done channel and deadline timer are made only if someone waits on it (Done, AfterFunc,
// or a derived context).
type callCtx struct {
	peer     *Peer
	md       Metadata
	deadline time.Time // zero: none
	dlNanos  int64     // deadline in nanos by the peer's clock (see clock), if not zero

	mu     sync.Mutex
	done   chan struct{}
	err    error
	timer  *time.Timer
	afters map[*afterFunc]struct{}
}

type afterFunc struct{ f func() }

var _ context.Context = (*callCtx)(nil)

// ctxBatch is how many call contexts the reader allocates at a time (see newCallCtx).
const ctxBatch = 32

// newCallCtx returns the context of a call read at now (nanos by p's clock) that the
// caller gave timeout, if positive. The reading goroutine calls it.
//
// Contexts come from an array of ctxBatch, allocated when the last one is used up: each
// call still has a context of its own, which its handler may keep as long as it likes (it
// keeps the array alive), but the allocator runs once per ctxBatch calls. In a sequential
// exchange, allocating one context a call took 350-450ns of the server's 2.3µs per call
// (bench/, timed in the running process), mostly cache misses in the allocator's own
// records; taking the next element of the array, 160-250ns.
func (p *Peer) newCallCtx(md Metadata, timeout time.Duration, now int64) *callCtx {
	p.refillCtxs()
	c := &p.ctxs[0]
	p.ctxs = p.ctxs[1:]
	c.peer, c.md = p, md
	if timeout > 0 {
		c.dlNanos = now + int64(timeout)
		c.deadline = p.clock.at(c.dlNanos)
	}
	return c
}

// Deadline returns the caller's deadline, if it sent one.
func (c *callCtx) Deadline() (time.Time, bool) { return c.deadline, !c.deadline.IsZero() }

// Value returns the calling peer and incoming metadata; there are no other values.
func (c *callCtx) Value(key any) any {
	switch key.(type) {
	case peerKey:
		return c.peer
	case incomingKey:
		if c.md != nil {
			return c.md
		}
	}
	return nil
}

// Done returns a channel closed when the context ends.
func (c *callCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.watchLocked()
	return c.done
}

// Err returns context.DeadlineExceeded or context.Canceled once the context has ended.
func (c *callCtx) Err() error { return c.errAt(0) }

// errAt is Err as of now, nanos the caller has read already, or the clock's if now is
// zero: the clock is not free on every machine (kvm-clock: 8% of a busy server's time
// went to reading it).
func (c *callCtx) errAt(now int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil && c.dlNanos != 0 {
		if now == 0 {
			now = c.peer.clock.nanos()
		}
		if now >= c.dlNanos {
			c.endLocked(context.DeadlineExceeded)
		}
	}
	return c.err
}

// AfterFunc arranges for f to run on its own goroutine when the context ends; the context
// package uses it for contexts derived from this one, so they need no watching goroutine.
func (c *callCtx) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.watchLocked()
	a := &afterFunc{f: f}
	if c.err != nil {
		go f()
		return func() bool { return false }
	}
	if c.afters == nil {
		c.afters = make(map[*afterFunc]struct{})
	}
	c.afters[a] = struct{}{}
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.afters[a]
		delete(c.afters, a)
		return ok
	}
}

// watchLocked makes the Done channel and arms the deadline timer, once.
func (c *callCtx) watchLocked() {
	if c.done != nil {
		return
	}
	c.done = make(chan struct{})
	if c.err != nil {
		close(c.done)
		return
	}
	// A handler that waits on its context needs the cancel frame read, and may be the
	// reader's (see Peer.runInline).
	if c.peer != nil {
		c.peer.takeOverReading()
	}
	if !c.deadline.IsZero() {
		d := time.Until(c.deadline)
		if d <= 0 {
			c.endLocked(context.DeadlineExceeded)
			return
		}
		c.timer = time.AfterFunc(d, func() { c.end(context.DeadlineExceeded) })
	}
}

func (c *callCtx) end(err error) {
	c.mu.Lock()
	c.endLocked(err)
	c.mu.Unlock()
}

func (c *callCtx) endLocked(err error) {
	if c.err != nil {
		return
	}
	c.err = err
	if c.done != nil {
		close(c.done)
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	for a := range c.afters {
		go a.f()
	}
	c.afters = nil
}

// String describes the context, as the context package's own types do.
func (c *callCtx) String() string { return "tandem.callContext" }

// warmCallCtx prepares the context of the next call the reader reads, once a call it ran
// has had its result written: it allocates the next batch, or writes to the next context,
// so that its memory is in the processor's caches when the call comes. In a sequential
// exchange that took about 100ns off the server's time to take in a call (bench/, timed in
// the running process: 480-550 -> 340-470ns), work moved to after the reply, where it
// overlaps the network unless caller and server share a processor (bench/README.md,
// Session 12). The reading goroutine calls it.
func (p *Peer) warmCallCtx() {
	p.refillCtxs()
	p.ctxs[0].peer = p
}

// refillCtxs allocates the next batch of call contexts once the last is used up. The
// reading goroutine calls it.
func (p *Peer) refillCtxs() {
	if len(p.ctxs) == 0 {
		p.ctxs = make([]callCtx, ctxBatch)
	}
}
