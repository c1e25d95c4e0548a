package tandem

import "sync/atomic"

// slotLimit counts this side's calls that the other side is running, up to the limit it
// announced in the handshake; a call beyond it waits in its caller, so the other side never
// needs to queue or refuse one (see Peer.acquireSlot). A slot is taken when a call starts
// and returned when its result arrives or the call is refused.
//
// Taking and returning a slot are one atomic operation each; callers that must wait count
// themselves in waiters and are woken through freed. A buffered channel of tokens did the
// same with a channel send and receive a call: in a sequential exchange the channel, cold
// in the caches between calls, cost about 100-150ns of the caller's 2.5µs (bench/, timed
// in the running process).
type slotLimit struct {
	max     int32
	used    atomic.Int32
	waiters atomic.Int32
	freed   chan struct{} // holds a token when a slot was returned while callers waited
}

func newSlotLimit(max uint32) *slotLimit {
	return &slotLimit{max: int32(min(max, 1<<30)), freed: make(chan struct{}, 1)}
}

// tryAcquire takes a slot if one is free.
func (s *slotLimit) tryAcquire() bool {
	for {
		n := s.used.Load()
		if n >= s.max {
			return false
		}
		if s.used.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release returns a slot and wakes a waiting caller, if any. A waiter counts itself before
// it looks for a free slot, and release returns the slot before it looks for waiters, so
// a waiter either finds the slot or is woken.
func (s *slotLimit) release() {
	s.used.Add(-1)
	if s.waiters.Load() > 0 {
		s.wake()
	}
}

// wake leaves a token for a waiter, unless one is left already.
func (s *slotLimit) wake() {
	select {
	case s.freed <- struct{}{}:
	default:
	}
}
