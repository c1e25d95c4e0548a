package tandem

import "context"

// A blocking call waits for its result and for its context to end. Waiting for both is a
// select on two channels, which locks both; when many goroutines call with one context (a
// program's root context, a handler's), every wait locks that context's Done channel, and
// the threads contend for it.
//
// So the peer keeps one shared watch: the Done channel of a pending blocking call, claimed
// by the first such call when no pending call holds it. Calls started with the same
// channel while it is held count against it, and from the second on, one registration on
// the context (context.AfterFunc) ends them all (endShared) when it closes: such calls wait
// on their own channel only. The watch stops, and the channel is released, when the last
// call counted against it leaves the pending calls. Calls with another channel select as
// before.
//
// In the conc benchmark (64 callers, one context), the select was 1.1 µs of the client's
// 13.7 µs per call (perf); A/B in turns, 5 pairs, median ratio to raw TCP: 0.62 → 0.68
// (reflective path), 0.71 → 0.72 (generated).

// sharedDone is the Done channel the peer watches for its pending calls. Guarded by the
// peer's mu.
type sharedDone struct {
	done  <-chan struct{} // nil while no pending call holds it
	calls int             // pending calls counted against done (Call.shared)
	stop  func() bool     // stops the watch; nil until a second call shares done
	gen   uint64          // changes whenever done is released, so a late watch ends nothing
}

// shareLocked counts c, a blocking call about to be pending, against the shared Done
// channel if ctx's is that one or none is held, and starts the watch when a second call
// shares it. It records in c whether the watch covers it. Callers hold p.mu.
func (p *Peer) shareLocked(ctx context.Context, c *Call) {
	done := ctx.Done()
	s := &p.shared
	if done == nil || (s.calls > 0 && s.done != done) {
		return
	}
	s.done = done
	s.calls++
	c.shared, c.ctx = true, ctx
	if s.calls == 2 && s.stop == nil {
		gen := s.gen
		s.stop = context.AfterFunc(ctx, func() { p.endShared(gen) })
	}
	c.watched = s.stop != nil
}

// unshareLocked uncounts a shared call that has left the pending calls, and releases the
// channel after the last. Callers hold p.mu.
func (p *Peer) unshareLocked() {
	s := &p.shared
	if s.calls--; s.calls == 0 {
		p.releaseSharedLocked()
	}
}

// releaseSharedLocked stops the shared watch, if any, and releases its channel. Callers
// hold p.mu.
func (p *Peer) releaseSharedLocked() {
	if p.shared.stop != nil {
		p.shared.stop()
	}
	p.shared = sharedDone{gen: p.shared.gen + 1}
}

// endShared runs when the shared Done channel closes: it abandons every pending call
// counted against it, as their own waits would have (abandon), unless the channel was
// released since the watch of generation gen started.
func (p *Peer) endShared(gen uint64) {
	var ended []*Call
	p.mu.Lock()
	if p.shared.gen == gen && p.pending != nil {
		for _, c := range p.pending.all() {
			if c.shared {
				// Under the same lock as the scan, as sweepTimeouts does: a call that
				// completed meanwhile may already be recycled. The last one releases
				// the channel.
				p.abandonLocked(c)
				ended = append(ended, c)
			}
		}
		p.signalDrainedLocked()
	}
	p.mu.Unlock()
	for _, c := range ended {
		p.cancelAbandoned(c, contextError(c.ctx, c.Method))
	}
}
