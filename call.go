package tandem

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/tandem-rpc/tandem/wire"
)

// Call is an outgoing call in progress, as returned by [Peer.Go]. Its result is decoded into
// Result before Done is closed.
type Call struct {
	// Method is the "Service.Method" being called.
	Method string
	// Result is the pointer the result is decoded into; nil discards it.
	Result any

	peer *Peer
	id   uint64
	// done is closed on completion; for a blocking call it receives one value instead,
	// unless the call's result went straight to its caller reading it (deliver).
	done chan struct{}
	err  error
	args []any // the arguments, until the call frame is written

	// A blocking Call's record is recycled: it is never handed to the caller.
	blocking bool
	arrived  bool            // its result frame has been read; set by the reading goroutine
	ownRead  bool            // its caller is reading frames itself (readOwnResult); the caller's only
	ownDone  bool            // its result was delivered to its caller reading itself (deliver)
	sent     int64           // when its caller started writing its frame, in nanos (see clock); zero if another goroutine wrote it
	swept    bool            // the default timeout applies: its context has no deadline
	shared   bool            // counted against the peer's shared Done channel (ctxwatch.go)
	watched  bool            // the shared watch covers it: it need not wait on its context
	ctx      context.Context // its context, if shared
	sweptOn  uint64          // the peer's sweeps when it started, if swept
	one      [1]any          // the result pointer as the codec's list
	lends    bool            // its arguments' byte slices may be lent to the writer (see largeFrame)
	lent     *lending        // those the writer may still read
	argBuf   [6]any          // room for args, so the caller's variadic slice stays on its stack

	mu        sync.Mutex
	finished  bool
	callbacks []func(error)
	stopCtx   func() bool // stops the context watch of an async call
	cancelFn  func()      // cancels an intercepted async call
}

// Done returns a channel, owned by the call, that is closed when the call completes.
func (c *Call) Done() <-chan struct{} { return c.done }

// Err returns the call's error once Done is closed, and nil before.
func (c *Call) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Wait blocks until the call completes and returns its error.
func (c *Call) Wait() error {
	<-c.done
	return c.err
}

// Then arranges for fn to run with the call's error once the call completes, on a goroutine
// of its own (never the connection's reader). If the call has completed, fn runs at once on
// a new goroutine. Callbacks run in the order they were added.
func (c *Call) Then(fn func(err error)) {
	c.mu.Lock()
	if !c.finished {
		c.callbacks = append(c.callbacks, fn)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	go fn(c.err)
}

// Cancel gives up on the call: it fails with [CodeCanceled] and the other side's handler
// sees its context cancelled. It does nothing if the call has completed.
func (c *Call) Cancel() {
	if c.cancelFn != nil {
		c.cancelFn()
		return
	}
	c.peer.abandon(c, &Error{Code: CodeCanceled, Message: c.Method + ": call cancelled", cause: context.Canceled})
}

// finish completes the call once; later calls are ignored by construction (only the
// goroutine that removed the call from the pending map calls it).
func (c *Call) finish(err error) {
	c.err = err
	if c.blocking {
		c.done <- struct{}{}
		return
	}
	c.mu.Lock()
	c.finished = true
	fns := c.callbacks
	c.callbacks = nil
	stopCtx := c.stopCtx
	c.mu.Unlock()
	if stopCtx != nil {
		stopCtx()
	}
	close(c.done)
	if len(fns) > 0 {
		go func() {
			for _, fn := range fns {
				fn(err)
			}
		}()
	}
}

// deliver finishes the call with its result or error as the reading goroutine read it.
// If that goroutine is the call's own caller (readOwnResult), the error is left in the
// call for the caller to take when it stops reading: no channel to go through.
func (c *Call) deliver(err error) {
	if c.ownRead {
		c.err, c.ownDone = err, true
		return
	}
	c.finish(err)
}

// Call calls method ("Service.Method") on the other side with args, waits for the result
// and decodes it into result (a pointer, or nil to discard it). It returns when the result
// arrives, ctx ends (the other side's handler is then cancelled), or the connection is lost.
// If ctx has no deadline, the default timeout applies (see [WithDefaultTimeout]).
func (p *Peer) Call(ctx context.Context, method string, result any, args ...any) error {
	if len(p.cfg.clientInterceptors) > 0 {
		a := append([]any(nil), args...)
		return p.interceptOutgoing(ctx, CallInfo{Method: method, Peer: p}, a, func(ctx context.Context) error {
			return p.call(ctx, method, result, a, true)
		})
	}
	return p.call(ctx, method, result, args, true)
}

// call is Call without interceptors. With lend, the writer may send args' large byte
// slices from where they lie until call returns (see largeFrame); without, it copies them.
func (p *Peer) call(ctx context.Context, method string, result any, args []any, lend bool) error {
	p.takeLentReading() // if a handler called us on the reading goroutine, someone must read the result
	c, _ := p.calls.Get().(*Call)
	if c == nil {
		c = &Call{done: make(chan struct{}, 1), blocking: true}
	}
	c.Method, c.Result, c.peer, c.lends = method, result, p, lend
	c.setArgs(args)
	err := p.acquireSlot(ctx, method)
	if err == nil {
		err = p.start(ctx, c)
	}
	if err == nil {
		if p.readState.Load() == readIdle && p.readState.CompareAndSwap(readIdle, readActive) {
			p.readOwnResult(ctx, c)
		}
		if c.ownDone {
			err = c.err
		} else {
			err = p.wait(ctx, c)
		}
	}
	if c.lent != nil {
		p.w.reclaim(c.lent)
	}
	*c = Call{done: c.done, blocking: true}
	p.calls.Put(c)
	return err
}

// wait waits for a blocking call's result, or for ctx, and returns the call's error. (The
// default timeout ends the call from sweepTimeouts.)
func (p *Peer) wait(ctx context.Context, c *Call) error {
	if c.watched { // the shared watch abandons c if ctx ends (ctxwatch.go)
		<-c.done
		return c.err
	}
	select {
	case <-c.done:
		return c.err // already ended: by a reader, the default timeout or the connection's end
	default:
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		p.abandon(c, contextError(ctx, c.Method))
		<-c.done // from abandon, or from a result that won the race
	}
	return c.err
}

// setArgs copies args into the call, so that the caller's variadic slice need not escape.
func (c *Call) setArgs(args []any) {
	if len(args) <= len(c.argBuf) {
		c.args = c.argBuf[:copy(c.argBuf[:], args)]
		return
	}
	c.args = append([]any(nil), args...)
}

// Go starts a call like [Peer.Call] and returns at once. The call's Done channel is closed
// when it completes; [Call.Then] adds a callback. Errors in starting the call, such as a
// closed connection, are reported by the returned call, never by a panic.
//
// Go may read args until Done is closed: with client interceptors, or while the other
// side's in-flight limit is reached, it encodes them later, on a goroutine of the call's
// own. Do not change them before then.
func (p *Peer) Go(ctx context.Context, method string, result any, args ...any) *Call {
	p.takeOverReading()
	c := &Call{Method: method, Result: result, peer: p, done: make(chan struct{})}
	if len(p.cfg.clientInterceptors) > 0 {
		// The interceptors wrap a blocking call on a goroutine of the call's own.
		a := append([]any(nil), args...)
		ctx, cancel := context.WithCancel(ctx)
		c.cancelFn = cancel
		go func() {
			err := p.interceptOutgoing(ctx, CallInfo{Method: method, Peer: p}, a, func(ctx context.Context) error {
				return p.call(ctx, method, result, a, false) // Go has returned: lend nothing
			})
			cancel()
			c.finish(err)
		}()
		return c
	}
	if !p.tryAcquireSlot() {
		// The other side's in-flight limit is reached: wait for a slot on a goroutine of the
		// call's own, so that Go still returns at once.
		a := append([]any(nil), args...)
		ctx, cancel := context.WithCancel(ctx)
		c.cancelFn = cancel
		go func() {
			err := p.call(ctx, method, result, a, false) // Go has returned: lend nothing
			cancel()
			c.finish(err)
		}()
		return c
	}
	c.setArgs(args)
	if err := p.start(ctx, c); err != nil {
		c.finish(err)
		return c
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished {
		return c
	}
	if ctx.Done() != nil {
		c.stopCtx = context.AfterFunc(ctx, func() { p.abandon(c, contextError(ctx, method)) })
	}
	return c
}

// Notify sends a one-way call: no result, no error from the other side, no waiting beyond
// handing the frame to the connection. Unknown methods and handler errors are only logged
// on the other side.
func (p *Peer) Notify(ctx context.Context, method string, args ...any) error {
	if len(p.cfg.clientInterceptors) > 0 {
		a := append([]any(nil), args...)
		return p.interceptOutgoing(ctx, CallInfo{Method: method, Peer: p, Notify: true}, a, func(ctx context.Context) error {
			return p.notify(ctx, method, a)
		})
	}
	return p.notify(ctx, method, args)
}

// notify is Notify without interceptors.
func (p *Peer) notify(ctx context.Context, method string, args []any) error {
	timeout, err := p.checkStart(ctx, method)
	if err != nil {
		return err
	}
	return p.writeCall(ctx, wire.KindNotify, nil, timeout, method, args)
}

// timeoutError reports the default timeout expiring.
func timeoutError(method string, d time.Duration) *Error {
	return &Error{Code: CodeDeadlineExceeded, Message: method + ": no result within the default timeout of " + d.String(), cause: context.DeadlineExceeded}
}

// checkStart returns the time the caller allows (0 for none), or why no call can start.
func (p *Peer) checkStart(ctx context.Context, method string) (time.Duration, error) {
	if ctx.Err() != nil {
		return 0, contextError(ctx, method)
	}
	var timeout time.Duration
	if dl, ok := ctx.Deadline(); ok {
		if timeout = time.Until(dl); timeout <= 0 {
			return 0, &Error{Code: CodeDeadlineExceeded, Message: method + ": deadline exceeded before the call started", cause: context.DeadlineExceeded}
		}
	}
	return timeout, nil
}

// start registers c as pending, then writes its call frame. The caller holds a slot
// (acquireSlot); start returns it if the call does not start.
func (p *Peer) start(ctx context.Context, c *Call) error {
	timeout, err := p.checkStart(ctx, c.Method)
	if err != nil {
		p.releaseSlot()
		return err
	}
	sent := timeout
	if sent == 0 && p.cfg.defaultTimeout > 0 {
		sent = p.cfg.defaultTimeout
	}
	c.swept = timeout == 0 && p.cfg.defaultTimeout > 0
	err = p.writeCall(ctx, wire.KindCall, c, sent, c.Method, c.args)
	clear(c.argBuf[:])
	c.args = nil
	if err != nil && c.id == 0 {
		// Not registered: refused, or its frame could not be made.
		p.releaseSlot()
		var refused *refusal
		if errors.As(err, &refused) {
			if refused.ended {
				return p.endedError(c.Method, refused.err)
			}
			return refused.err
		}
		return err
	}
	if err != nil {
		p.mu.Lock()
		mine := p.pending.get(c.id) == c
		if mine {
			p.unpendLocked(c)
			p.signalDrainedLocked()
		}
		p.mu.Unlock()
		if mine {
			p.releaseSlot()
			return err
		}
		// The connection ended meanwhile and its end claimed the call: it completes the
		// call with the connection's error, so report the call as started.
	}
	return nil
}

// register gives c its id and adds it to the pending calls, or returns a *refusal. For a
// frame encoded into the write buffer, writeCall calls it holding the buffer, so that call
// frames go out in the order of their ids: going-away names the highest id the other side
// accepted, which tells the calls it never saw only if no lower id travels behind it.
func (p *Peer) register(ctx context.Context, c *Call) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.refuseLocked(c.Method); err != nil {
		return &refusal{err: err, ended: p.pending == nil && !p.remoteGoingAway}
	}
	c.id = p.nextID.Add(2) - 2
	p.pending.put(c)
	p.npending.Add(1)
	if c.blocking {
		p.shareLocked(ctx, c)
	}
	if c.swept {
		c.sweptOn = p.sweeps
		if !p.sweeping {
			p.sweeping = true
			p.sweep.Reset(p.sweepEvery())
		}
	}
	return nil
}

// unpendLocked takes c, a pending call, out of the pending calls. Callers hold p.mu.
func (p *Peer) unpendLocked(c *Call) {
	p.pending.remove(c)
	p.npending.Add(-1)
	if c.shared {
		p.unshareLocked()
	}
}

// abandonLocked takes c, a pending call, out of the pending calls and remembers its id:
// the other side still runs the call until the cancel reaches it, and its slot is returned
// when its (ignored) result arrives. Callers hold p.mu.
func (p *Peer) abandonLocked(c *Call) {
	p.unpendLocked(c)
	p.abandoned[c.id] = struct{}{}
}

// refusal is why register did not start a call. ended: the connection had ended with no
// going-away dispatched yet, which start then waits for (endedError) once it no longer
// holds the write buffer.
type refusal struct {
	err   error
	ended bool
}

func (r *refusal) Error() string { return r.err.Error() }

// The default timeout is enforced by one sweep over the pending calls, every eighth of the
// timeout while any call it applies to is pending, not by a timer per call: adding a timer
// may wake the thread that sleeps in the network poller, on every call (A/B on the conc
// benchmark, 10 alternating pairs: median 107k calls/s with a timer per call, 112k with
// the sweep). A call fails after sweepsPerTimeout+1 sweeps: between the timeout and an
// eighth of it later.
const sweepsPerTimeout = 8

// sweepEvery is the time between sweeps.
func (p *Peer) sweepEvery() time.Duration {
	return max(p.cfg.defaultTimeout/sweepsPerTimeout, 1)
}

// sweepTimeouts runs on the sweep timer: it fails the pending calls that have outlived the
// default timeout, and arms the timer again while others remain.
func (p *Peer) sweepTimeouts() {
	var expired []*Call
	p.mu.Lock()
	p.sweeps++
	waiting := false
	for _, c := range p.pending.all() { // none once the connection has ended
		switch {
		case !c.swept:
		case p.sweeps-c.sweptOn > sweepsPerTimeout:
			// As abandon does, but under the same lock as the scan: a call completed
			// meanwhile may already be recycled.
			p.abandonLocked(c)
			expired = append(expired, c)
		default:
			waiting = true
		}
	}
	if len(expired) > 0 {
		p.signalDrainedLocked()
	}
	if p.sweeping = waiting; waiting {
		p.sweep.Reset(p.sweepEvery())
	}
	p.mu.Unlock()
	for _, c := range expired {
		p.cancelAbandoned(c, timeoutError(c.Method, p.cfg.defaultTimeout))
	}
}

// endedError is why a call could not start on a connection that has ended: err, unless
// the frames read before the end, which the reader may still be dispatching, held a
// going-away from the other side. The call was never sent either way, but after a
// going-away it fails with [ErrShuttingDown], as a call started a moment earlier would
// have, which tells the caller to retry elsewhere.
func (p *Peer) endedError(method string, err error) error {
	<-p.readDone
	p.mu.Lock()
	goneAway := p.remoteGoingAway
	p.mu.Unlock()
	if goneAway {
		return newErr(ErrShuttingDown, nil, "%s: the other side is shutting down", method)
	}
	return err
}

// acquireSlot waits until the other side's in-flight limit allows one more call of ours:
// backpressure in the caller, bounded by ctx, instead of a queue or a refusal on the other
// side.
func (p *Peer) acquireSlot(ctx context.Context, method string) error {
	if p.tryAcquireSlot() {
		return nil
	}
	s := p.slots
	s.waiters.Add(1)
	defer s.waiters.Add(-1)
	for {
		if s.tryAcquire() {
			// Returned slots leave one token between them: pass it on to the next waiter
			// while slots are free.
			if s.waiters.Load() > 1 && s.used.Load() < s.max {
				s.wake()
			}
			return nil
		}
		select {
		case <-s.freed:
		case <-ctx.Done():
			return contextError(ctx, method+": waiting for the other side's in-flight limit")
		case <-p.done:
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.refuseLocked(method)
		}
	}
}

// tryAcquireSlot takes a slot if one is free without waiting.
func (p *Peer) tryAcquireSlot() bool { return p.slots == nil || p.slots.tryAcquire() }

// refuseLocked says why no new call may start, if so. Callers hold p.mu.
func (p *Peer) refuseLocked(method string) error {
	switch {
	case p.remoteGoingAway: // first: a call refused for it was never sent, so it may be retried
		return newErr(ErrShuttingDown, nil, "%s: the other side is shutting down", method)
	case p.pending == nil:
		return &Error{Code: p.err.Code, reason: p.err.reason, Message: method + ": " + p.err.Message, cause: p.err.cause}
	case p.goingAway:
		return newErr(ErrShuttingDown, nil, "%s: this peer is shutting down", method)
	}
	return nil
}

// writeCall encodes a call or notify frame straight into the write buffer. For a call, c,
// it registers c (register) on the way, and leaves c.id zero if it does not.
func (p *Peer) writeCall(ctx context.Context, kind wire.Kind, c *Call, timeout time.Duration, method string, args []any) error {
	var meta []wire.Meta
	if md, ok := ctx.Value(outgoingKey{}).(Metadata); ok && len(md) > 0 {
		if len(md) > wire.MaxMetadata {
			return Errorf(CodeInvalidArgument, "%s: %d metadata entries, limit %d", method, len(md), wire.MaxMetadata)
		}
		meta = make([]wire.Meta, 0, len(md))
		size := 0
		for k, v := range md {
			if size += len(k) + len(v); size > wire.MaxMetadataSize {
				return Errorf(CodeInvalidArgument, "%s: metadata of more than %d bytes", method, wire.MaxMetadataSize)
			}
			meta = append(meta, wire.Meta{Key: k, Value: v})
		}
	}
	if len(method) > 0xFFFF {
		return Errorf(CodeInvalidArgument, "method name longer than 65535 bytes")
	}
	// A frame with a large payload is encoded into a buffer of its own, sized in advance
	// and without holding the write buffer, and goes out in chunks; others straight into
	// the write buffer. The byte slices of a call made with Call may be lent to the
	// writer: the caller waits for its result, which comes after they have been written,
	// and reclaims them if it stops waiting sooner.
	large := planLarge(args, p.w.refs(p.codec), c != nil && c.lends)
	var dst []byte
	var err error
	if large != nil {
		dst = (*large.bp)[:chunkHeadroom]
		// Encoded before it takes its place among the frames, it may overtake a call
		// with a lower id, or be overtaken by one (docs/protocol.md, "Going away").
		if c != nil {
			if err := p.register(ctx, c); err != nil {
				large.release()
				return err
			}
		}
	} else {
		if dst, err = p.w.begin(); err != nil {
			return p.writeFailed(method, err)
		}
		if c != nil {
			if err := p.register(ctx, c); err != nil {
				p.w.commit(dst)
				return err
			}
		}
	}
	var id uint64
	if c != nil {
		id = c.id
	}
	start := len(dst)
	dst = wire.AppendCall(dst, kind, id, timeout, method, meta, nil)
	out, left, err := large.encode(p.codec, dst, args)
	if size := len(out) + left - start - wire.LengthSize; err == nil && size > p.remoteMax {
		err = newErr(ErrFrameTooLarge, nil, "%s: call of %d bytes exceeds the other side's frame limit of %d", method, size, p.remoteMax)
	}
	if err != nil {
		if large != nil {
			large.release()
		} else {
			p.w.commit(dst[:start])
		}
		if _, ok := err.(*Error); ok {
			return err
		}
		return newErr(ErrBadArguments, err, "%s: cannot encode arguments: %v", method, err)
	}
	out = wire.FinishFrameLeavingOut(out, start, left)
	if large != nil {
		if err := p.w.sendOwn(large, out, kind, id, true); err != nil {
			return p.writeFailed(method, err)
		}
		if c != nil {
			c.lent = large.lent
		}
		return nil
	}
	// With other calls of ours in flight, callers whose results have just been read may be
	// about to send: the frame waits for them, so that one write carries the burst.
	mode := sendNow
	if p.npending.Load() > 1 {
		mode = sendGathered
	}
	wrote := p.w.commitFrame(out, start, kind, id, mode)
	if c != nil {
		c.sent = wrote
	}
	return nil
}

// writeFailed is the error of a call whose frame the writer did not take.
func (p *Peer) writeFailed(method string, err error) error {
	p.mu.Lock()
	var refused error
	if p.err != nil {
		refused = p.refuseLocked(method)
	}
	p.mu.Unlock()
	if refused == nil {
		return newErr(ErrClosed, err, "%s: %v", method, err)
	}
	// As for a call refused at its start: the frames read before the end may hold a
	// going-away that the reader has not dispatched yet.
	return p.endedError(method, refused)
}

// abandon fails a pending call with err and tells the other side to cancel it. It reports
// false if the call had already been claimed by its result or the connection's end.
func (p *Peer) abandon(c *Call, err error) bool {
	p.mu.Lock()
	ok := p.pending.get(c.id) == c
	if ok {
		p.abandonLocked(c)
		p.signalDrainedLocked()
	}
	p.mu.Unlock()
	if !ok {
		return false
	}
	p.cancelAbandoned(c, err)
	return true
}

// cancelAbandoned tells the other side to cancel c, which has just been taken out of the
// pending calls, and completes it with err.
func (p *Peer) cancelAbandoned(c *Call, err error) {
	if dst, werr := p.w.begin(); werr == nil {
		p.w.commitFrame(wire.AppendCancel(dst, c.id), len(dst), wire.KindCancel, c.id, sendNow)
	}
	c.finish(err)
}

// Metadata is a call's small string metadata, such as tracing ids. It travels with the call:
// at most 64 entries and 16 KiB of keys and values together.
type Metadata map[string]string

type outgoingKey struct{}
type incomingKey struct{}

// ContextWithMetadata returns a context whose calls carry md to the other side.
func ContextWithMetadata(ctx context.Context, md Metadata) context.Context {
	return context.WithValue(ctx, outgoingKey{}, md)
}

// MetadataFromContext returns the metadata the caller sent, inside a handler; nil if none.
func MetadataFromContext(ctx context.Context) Metadata {
	md, _ := ctx.Value(incomingKey{}).(Metadata)
	return md
}
