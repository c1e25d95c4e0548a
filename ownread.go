package tandem

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-rpc/tandem/wire"
)

// A caller reads its own result when nobody else needs the reading: waking the reading
// goroutine to hand a result to the caller costs more than the rest of a small call, as
// readying a goroutine wakes a second OS thread while the caller's sleeps. So when the
// reading goroutine has dispatched the last result this side waited for, and nothing else
// is going on (mayIdle), it exits and the reading goes idle. The next blocking call takes
// the idle reading and reads until its own result arrives, dispatching whatever comes
// before it, and leaves the reading idle again.
//
// A caller's turn at reading ends when the watch (watchInline) finds that it has lasted
// turnLimit, which it does within two of its periods (at most 2×maxWatch), by moving the
// read deadline to the past; or at its context's deadline, if that comes within
// turnPrecise, which the read deadline then enforces. The caller then, or as soon as a
// call to this side arrives, hands the reading to a new reading goroutine, which carries
// on where it stopped (partialFrame), and waits the usual way, on its context too: a
// cancelled call returns within turnLimit plus two watch periods (up to 33ms after a run
// of calls, when the watch has slowed down; see maxWatch). While the reading is idle, the
// watch starts a reading goroutine within two periods, so that frames the other side
// sends unasked are read.
//
// Turns used to end by a read deadline of their own, 1ms after they started. Setting it
// moved a timer every half millisecond, which woke the network poller each time; turns
// ended by the watch, which runs anyway, took a sequential caller from 16.3-17.3k to
// 20.0-21.8k calls/s (2 pairs on this project's benchmark machine; bench/README.md).
const (
	turnLimit = time.Millisecond
	// turnPrecise is as late as the watch may end a turn: a context deadline sooner than
	// that is set as the read deadline, so that the call ends on time.
	turnPrecise = turnLimit + 2*maxWatch
	// ownReadTurn bounds a turn should the watch be late: the read deadline turns leave
	// in place, moved when less than half of it remains. Each move may wake a thread, as
	// each check of the watch does, so a steady run of calls moves it twice a second.
	ownReadTurn = time.Second
)

// ownTurn is the state of a caller's turn at reading, shared with the watch. A turn starts
// holding mu, which orders it with the watch's moves of the read deadline; it ends by
// clearing started alone. A watch that found it in progress just before may then move the
// deadline to the past after it ended: harmless, as the next turn starts by setting a
// deadline if the one left is past or near (readOwnResult), and a reading goroutine
// starts by clearing it (handOn). Ending without the lock saves a lock and an unlock on
// every call.
type ownTurn struct {
	mu      sync.Mutex
	started atomic.Int64 // when the turn in progress started, in nanos (see clock); zero if none
	end     int64        // the read deadline turns left on the connection, in nanos; zero if none; guarded by mu
}

// inProgress reports whether a caller is reading its own result.
func (t *ownTurn) inProgress() bool { return t.started.Load() != 0 }

// endLongTurn ends a caller's turn at reading that has lasted turnLimit, by moving the
// read deadline to the past, and reports whether it did. The watch calls it.
func (p *Peer) endLongTurn() bool {
	t := &p.turn
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.started.Load(); s == 0 || time.Duration(p.clock.nanos()-s) < turnLimit {
		return false
	}
	t.started.Store(0)
	// The deadline set now is long past; setting it fails only on a closed connection.
	t.end = 1
	_ = p.conn.SetReadDeadline(time.Unix(1, 0))
	return true
}

// servedLately is how recently this side must have served no call for the reading to go
// idle: a peer that is being called keeps a reading goroutine, so that the calls to it
// are read at once.
const servedLately = 100 * time.Millisecond

// mayIdle reports whether the reading may go idle: this side waits for no result, runs no
// call, has nothing buffered or half-read, and has served no call lately. (A call made
// just after it looks finds the reading idle and reads itself, or, if it looks before the
// reading is left idle, waits; idle arms the watch, which then starts a reading goroutine.
// Taking p.mu to look would not change that.)
func (p *Peer) mayIdle() bool {
	return p.idleReads && p.br.Buffered() == 0 && p.asm.buf == nil && p.rd.n == 0 &&
		p.live.lastRead.Load()-p.lastServed.Load() >= int64(servedLately) &&
		p.npending.Load() == 0 && p.active.Load() == 0
}

// readOwnResult reads and dispatches frames, in the caller of c, until c's result has
// arrived or its turn ends. The caller has taken the idle reading; readOwnResult
// leaves it idle again, or hands it on to a reading goroutine.
func (p *Peer) readOwnResult(ctx context.Context, c *Call) {
	p.readTurns.Add(1)
	// The deadline a turn sets stays in place for the next callers' turns while at least
	// half of it remains: most calls move no timer (and on a net.Pipe, whose deadlines
	// allocate, allocate nothing). The time c's caller wrote its frame, a system call ago,
	// is as good as now for that and for timing the turn, and costs no clock reading.
	now := c.sent
	if now == 0 {
		now = p.clock.nanos()
	}
	dl := now + int64(ownReadTurn)
	if d, ok := ctx.Deadline(); ok {
		if d := p.clock.nanosOf(d); d < now+int64(turnPrecise) {
			dl = d
		}
	}
	t := &p.turn
	t.mu.Lock()
	if dl < t.end || t.end < now+int64(ownReadTurn/2) {
		if err := p.conn.SetReadDeadline(p.clock.at(dl)); err != nil {
			t.mu.Unlock()
			p.handOn(nil)
			return
		}
		t.end = dl
	}
	t.started.Store(now)
	t.mu.Unlock()
	p.watchReading() // armed already, unless it stopped just now
	c.ownRead = true
	first, err := p.readOwn(c, now)
	c.ownRead = false // before the reading changes hands: another reader finishes c the usual way
	// The turn is over before the reading changes hands (see ownTurn).
	t.started.Store(0)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		p.handOn(nil) // on from where this read stopped
	case err != nil:
		p.endReading(err)
	case first != nil:
		p.handOn(first) // a call to this side: for a reading goroutine, which may run it
	case p.mayIdle():
		p.idle()
	default:
		p.handOn(nil)
	}
}

// readOwn reads and dispatches frames until c's result has arrived. It stops sooner at an
// error, or at a call or notification to this side, which it returns undispatched.
// Results are taken to have been read when the turn started, at started (nanos): the
// liveness watch and the chunk scheduler need no finer time than a turn's length, and
// each clock reading costs (see clock). Other frames, such as pings, whose spacing the
// peer polices, are timed when read.
func (p *Peer) readOwn(c *Call, started int64) (*[]byte, error) {
	for !c.arrived {
		bp, err := p.readFrame()
		if err != nil {
			return nil, err
		}
		at := int64(0)
		switch wire.Kind((*bp)[0]) {
		case wire.KindCall, wire.KindNotify:
			return bp, nil
		case wire.KindReply, wire.KindError:
			at = started
		}
		if _, _, err := p.handle(bp, at); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// handOn hands the reading to a new goroutine, first clearing the deadline callers' turns
// left, and dispatching first, if not nil, a frame already read. The goroutine that holds
// the reading calls it.
func (p *Peer) handOn(first *[]byte) {
	t := &p.turn
	t.mu.Lock()
	if t.end != 0 {
		// Clearing fails only on a closed connection, which the next read finds anyway.
		_ = p.conn.SetReadDeadline(time.Time{})
		t.end = 0
	}
	t.mu.Unlock()
	go p.readFrom(first)
}

// idle leaves the reading idle; the goroutine that holds it calls it. If the connection
// ended meanwhile, whose end found the reading held, it ends the reading instead.
func (p *Peer) idle() {
	p.w.flushDeferred()
	p.readState.Store(readIdle)
	select {
	case <-p.done:
		// terminate tries the same after closing done: one of the two ends the reading.
		if p.readState.CompareAndSwap(readIdle, readEnded) {
			p.endIdleReading()
		}
	default:
		p.watchReading()
	}
}

// endIdleReading ends a reading that no goroutine holds, once the connection has ended.
func (p *Peer) endIdleReading() {
	close(p.readDone)
	p.loops.Done()
}
