package tandem

import (
	"context"
	"errors"
	"os"
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
// The caller reads for at most ownReadTurn (less if its context's deadline is sooner):
// then, or as soon as a call to this side arrives, it hands the reading to a new reading
// goroutine, which carries on where it stopped (partialFrame), and waits the usual way,
// on its context too. While the reading is idle, the watch (watchInline) starts a reading
// goroutine within two periods, so that frames the other side sends unasked are read.

// ownReadTurn is the longest a caller reads its own result before it hands the reading
// to a goroutine and waits for the result like any other.
const ownReadTurn = time.Millisecond

// servedLately is how recently this side must have served no call for the reading to go
// idle: a peer that is being called keeps a reading goroutine, so that the calls to it
// are read at once.
const servedLately = 100 * time.Millisecond

// mayIdle reports whether the reading may go idle: this side waits for no result, runs no
// call, has nothing buffered or half-read, and has served no call lately.
func (p *Peer) mayIdle() bool {
	if !p.idleReads || p.br.Buffered() > 0 || p.asm.buf != nil || p.rd.n != 0 ||
		p.live.lastRead.Load()-p.lastServed.Load() < int64(servedLately) {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pending) == 0 && p.active == 0
}

// readOwnResult reads and dispatches frames, in the caller of c, until c's result has
// arrived, for at most ownReadTurn. The caller has taken the idle reading; readOwnResult
// leaves it idle again, or hands it on to a reading goroutine.
func (p *Peer) readOwnResult(ctx context.Context, c *Call) {
	p.readTurns.Add(1)
	// The deadline a turn sets stays in place for the next callers' turns while at least
	// half a turn of it remains: most calls move no timer (and on a net.Pipe, whose
	// deadlines allocate, allocate nothing).
	now := time.Now()
	dl := now.Add(ownReadTurn)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	if dl.Before(p.turnEnd) || p.turnEnd.Before(now.Add(ownReadTurn/2)) {
		if err := p.conn.SetReadDeadline(dl); err != nil {
			p.handOn(nil)
			return
		}
		p.turnEnd = dl
	}
	for !c.arrived {
		bp, err := p.readFrame()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				p.handOn(nil) // on from where this read stopped
				return
			}
			p.endReading(err)
			return
		}
		if k := wire.Kind((*bp)[0]); k == wire.KindCall || k == wire.KindNotify {
			// Calls to this side are for a reading goroutine, which may run them itself.
			p.handOn(bp)
			return
		}
		if _, _, err := p.handle(bp); err != nil {
			p.endReading(err)
			return
		}
	}
	if p.mayIdle() {
		p.idle()
		return
	}
	p.handOn(nil)
}

// handOn hands the reading to a new goroutine, first clearing the deadline callers' turns
// left, and dispatching first, if not nil, a frame already read. The goroutine that holds
// the reading calls it.
func (p *Peer) handOn(first *[]byte) {
	if !p.turnEnd.IsZero() {
		// Clearing fails only on a closed connection, which the next read finds anyway.
		_ = p.conn.SetReadDeadline(time.Time{})
		p.turnEnd = time.Time{}
	}
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
