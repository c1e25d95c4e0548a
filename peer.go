package tandem

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-rpc/tandem/wire"
)

// Peer is one end of an established tandem connection. Both ends are peers: each calls the
// other's registered objects ([Peer.Call], [Peer.Go], [Peer.Notify]) and serves its own.
// A handler reaches the peer that called it with [PeerFromContext].
//
// A Peer is safe for use by any number of goroutines: calls are multiplexed on the one
// connection and matched to replies by id, in any order. One goroutine at a time reads
// frames; senders coalesce their writes. A small call may run on the reading goroutine,
// which then hands the reading to another goroutine if the handler takes long, calls out,
// or waits on its context. A blocking call made while no other result is awaited
// may read its own result, for about a millisecond (up to 33ms after a run of calls, as
// the peer's watch slows down; sooner at its context's deadline), before it hands the
// reading on: a call cancelled meanwhile returns within that time.
// Between such calls, on a peer that has served no call for 100ms, nobody reads: a frame
// the other side sends unasked (a call, a notification, a ping) is read by the next call
// or by a goroutine the peer's watch starts, within a millisecond, or within 32ms of the
// end of a run of calls (the watch slows down while calls keep the reading busy).
type Peer struct {
	srv       *Server
	cfg       *config
	conn      net.Conn
	codec     Codec
	dialer    bool
	remoteMax int // the largest frame the other side accepts
	identity  Identity
	log       *slog.Logger
	w         *writer

	nextID atomic.Uint64
	live   liveness
	calls  sync.Pool // recycled records of blocking calls; per peer, as their channel
	// belongs to the peer's goroutines (and, under testing/synctest, to its bubble)
	sweep       *time.Timer  // runs sweepTimeouts
	work        chan *job    // hands a job to a parked worker goroutine
	idleWorkers atomic.Int32 // workers parked on work

	// The reader: one goroutine at a time reads frames, from br. It may run a call's
	// handler itself, lending out the reading (see runInline); reading then stops until
	// it returns or another goroutine takes the reading over.
	br         *bufio.Reader
	readState  atomic.Int32  // readActive, readLent, readIdle or readEnded
	rescue     *time.Timer   // runs watchInline
	watching   atomic.Bool   // rescue is armed
	readTurns  atomic.Uint64 // handlers run on the reader and results read by their callers
	pipelined  atomic.Bool   // a handler ran on the reader with frames behind it, since the last watch
	watchSeen  uint64        // readTurns at the last watch; used by watchInline only
	watchEvery time.Duration // the watch's period; used by watchInline only
	readDone   chan struct{} // closed when the reading has ended
	asm        assembly      // the frame being rebuilt from chunks; the reader's only
	rd         partialFrame  // how far the reading has got through the next frame
	idleReads  bool          // the reading may go idle between calls (see readOwnResult)
	turn       ownTurn       // the caller reading its own result, if any (readOwnResult)
	lastServed atomic.Int64  // nanos (see clock) of the last incoming call or notification accepted
	frameRead  int64         // when the frame being dispatched was read, in nanos (see clock); the reader's only
	ctxs       []callCtx     // contexts for the calls read next (newCallCtx); the reader's only
	clock      clock         // every time the peer reads, but for the handshake's deadlines
	lastMethod methodCache   // the reader's last method found; the reader's only

	mu              sync.Mutex
	pending         *callTable            // outgoing calls awaiting a result; nil once closed
	npending        atomic.Int32          // len(pending), changed under mu
	sweeps          uint64                // default-timeout sweeps so far (sweepTimeouts)
	sweeping        bool                  // the sweep timer is armed
	serving         map[uint64]*callCtx   // incoming calls in progress, by id, but for the one in running
	running         runningCall           // the incoming call the reader runs itself, if any
	notifying       map[*callCtx]struct{} // incoming notifications in progress
	active          atomic.Int64          // incoming calls and notifications not yet finished; changed under mu
	returning       atomic.Int64          // of those, handlers waiting for their large result to be written (awaitReturn)
	roomWanted      bool                  // the reader waits in waitForRoom for a handler to end
	lastAccepted    uint64                // highest incoming call id accepted
	goingAway       bool                  // we sent going-away: refuse new calls
	remoteGoingAway bool                  // the other side did: fail new calls fast
	remoteLastID    uint64                // the last of our call ids the other side accepted
	goaway          chan struct{}         // closed when the other side says it is going away
	abandoned       map[uint64]struct{}   // calls given up on whose result has not arrived yet
	shared          sharedDone            // the Done channel watched for pending calls (ctxwatch.go)

	// slots counts the calls of ours the other side is running, up to the limit it
	// announced; a call beyond it waits here, in the caller, so the other side never needs
	// to queue or refuse. nil when the other side set no limit.
	slots   *slotLimit
	drained chan struct{} // signalled when active and pending reach zero
	room    chan struct{} // signalled when an incoming call or notification ends, if roomWanted

	closeOnce sync.Once
	done      chan struct{}
	err       *Error // why the peer closed; set before done is closed
	loops     sync.WaitGroup
}

type peerKey struct{}

// PeerFromContext returns the peer whose call is being handled, or nil outside a handler.
// A handler may call back into it, during the call or later.
func PeerFromContext(ctx context.Context) *Peer {
	p, _ := ctx.Value(peerKey{}).(*Peer)
	return p
}

func newPeer(s *Server, conn net.Conn, br *bufio.Reader, codec Codec, dialer bool, remote limits, id Identity) *Peer {
	p := &Peer{
		identity:  id,
		srv:       s,
		cfg:       s.cfg,
		conn:      conn,
		codec:     codec,
		dialer:    dialer,
		remoteMax: int(remote.maxFrameSize),
		log:       s.cfg.logger.With("remote", conn.RemoteAddr().String()),
		pending:   new(callTable),
		serving:   make(map[uint64]*callCtx),
		notifying: make(map[*callCtx]struct{}),
		drained:   make(chan struct{}, 1),
		room:      make(chan struct{}, 1),
		readDone:  make(chan struct{}),
		work:      make(chan *job),
		goaway:    make(chan struct{}),
		abandoned: make(map[uint64]struct{}),
		done:      make(chan struct{}),
		clock:     newClock(),
	}
	if remote.maxInflight > 0 {
		p.slots = newSlotLimit(remote.maxInflight)
	}
	// Calls this side starts: odd ids for the dialer, even for the acceptor.
	if dialer {
		p.nextID.Store(1)
	} else {
		p.nextID.Store(2)
	}
	p.w = newWriter(conn, p.clock, 2*int(s.cfg.maxFrameSize), s.cfg.writeTimeout, func(err error) {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			p.terminate(newErr(ErrConnectionLost, err, "connection closed: the other side read nothing for %v (slow consumer)", s.cfg.writeTimeout), false)
			return
		}
		p.terminate(newErr(ErrConnectionLost, err, "connection lost: write: %v", err), false)
	})
	p.br = bufio.NewReaderSize(br, readBufferSize)
	p.asm.allowed = wire.ChunkWindow
	// A caller may read its own result only if a read deadline can stop it.
	p.idleReads = conn.SetReadDeadline(time.Time{}) == nil
	p.rescue = time.AfterFunc(time.Hour, p.watchInline)
	p.rescue.Stop()
	p.sweep = time.AfterFunc(time.Hour, p.sweepTimeouts)
	p.sweep.Stop()
	p.startLiveness()
	p.loops.Add(2)
	go func() {
		defer p.loops.Done()
		p.w.loop()
	}()
	go p.readLoop()
	return p
}

// RemoteAddr returns the other side's network address.
func (p *Peer) RemoteAddr() net.Addr { return p.conn.RemoteAddr() }

// LocalAddr returns this side's network address.
func (p *Peer) LocalAddr() net.Addr { return p.conn.LocalAddr() }

// Codec returns the codec agreed in the handshake.
func (p *Peer) Codec() Codec { return p.codec }

// GoingAway returns a channel that is closed when the other side announces it is shutting
// down: new calls then fail with [ErrShuttingDown] while calls in progress finish.
func (p *Peer) GoingAway() <-chan struct{} { return p.goaway }

// Done returns a channel that is closed when the connection has ended.
func (p *Peer) Done() <-chan struct{} { return p.done }

// Err returns why the connection ended, or nil while it is up. The error matches
// [ErrClosed] after a local Close and [ErrConnectionLost] or [ErrProtocol] otherwise.
func (p *Peer) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Close ends the connection at once. Pending calls on both sides fail, handlers' contexts
// are cancelled, and Close returns when the peer's own goroutines have exited. It does not
// wait for handlers to return.
func (p *Peer) Close() error {
	p.terminate(newErr(ErrClosed, nil, "peer closed"), false)
	p.loops.Wait()
	return nil
}

// Shutdown ends the connection gracefully: it tells the other side it is going away, so
// new calls from either side fail fast with [ErrShuttingDown]; lets calls in progress in
// both directions finish until ctx ends; then closes. It returns ctx's error if ctx ended
// first, after closing anyway.
func (p *Peer) Shutdown(ctx context.Context) error {
	p.takeOverReading() // the other side's going-away and last results must be read
	p.mu.Lock()
	first := !p.goingAway
	p.goingAway = true
	last := p.lastAccepted
	p.mu.Unlock()
	if first {
		if dst, err := p.w.begin(); err == nil {
			p.w.commit(wire.AppendGoAway(dst, last, uint16(CodeUnavailable), "shutting down"))
		}
	}
	var err error
	for !p.isDrained() {
		select {
		case <-p.drained:
		case <-p.done:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			break
		}
	}
	p.terminate(newErr(ErrClosed, nil, "peer shut down"), err == nil)
	p.loops.Wait()
	return err
}

func (p *Peer) isDrained() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pending == nil || (p.active.Load() == 0 && p.pending.len() == 0)
}

// signalDrained wakes Shutdown when nothing is in progress. Callers hold p.mu.
func (p *Peer) signalDrainedLocked() {
	if (p.goingAway || p.remoteGoingAway) && p.active.Load() == 0 && p.pending.len() == 0 {
		select {
		case p.drained <- struct{}{}:
		default:
		}
	}
}

// terminate ends the peer once: records why, stops the writer (flushing it for a graceful
// end), closes the connection, fails every pending call and cancels every handler.
func (p *Peer) terminate(why *Error, flush bool) {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.err = why
		pending := p.pending
		p.pending = nil
		p.npending.Store(0)
		p.releaseSharedLocked()
		serving := make([]*callCtx, 0, len(p.serving)+len(p.notifying)+1)
		for _, c := range p.serving {
			serving = append(serving, c)
		}
		if p.running.ctx != nil {
			serving = append(serving, p.running.ctx)
		}
		for c := range p.notifying {
			serving = append(serving, c)
		}
		p.mu.Unlock()
		// Stop the writer before cancelling handlers, so that their now-pointless error
		// replies are never sent.
		p.stopLiveness()
		p.rescue.Stop()
		p.sweep.Stop()
		p.w.stop(why, flush)
		if flush {
			_ = p.conn.SetWriteDeadline(time.Now().Add(p.cfg.handshakeTimeout))
			<-p.w.exited
		}
		_ = p.conn.Close()
		for _, c := range serving {
			c.end(context.Canceled)
		}
		close(p.done)
		// After done is closed, which a reader leaving the reading idle checks (idle).
		if p.readState.CompareAndSwap(readLent, readEnded) || p.readState.CompareAndSwap(readIdle, readEnded) {
			// The reader is running a handler, which Close does not wait for, or nobody
			// reads.
			p.endIdleReading()
		}
		p.srv.removePeer(p)
		if pending.len() == 0 {
			return
		}
		select {
		case <-p.readDone:
			p.failPending(pending, why)
		default:
			// The reader may still hold frames it read before the end, a going-away among
			// them, which decides how the calls fail: it ends once they are dispatched.
			go func() {
				<-p.readDone
				p.failPending(pending, why)
			}()
		}
	})
}

// failPending fails the calls still waiting when the connection ended.
func (p *Peer) failPending(pending *callTable, why *Error) {
	lost := ErrConnectionLost
	if why.reason == reasonClosed {
		lost = ErrClosed
	}
	p.mu.Lock()
	goneAway, lastID := p.remoteGoingAway, p.remoteLastID
	p.mu.Unlock()
	for _, c := range pending.all() {
		if goneAway && c.id > lastID {
			// The other side said it accepted calls up to lastID only: this one never
			// started, so it is safe to retry elsewhere.
			c.finish(newErr(ErrShuttingDown, why.cause, "%s: not started before the other side went away (%s)", c.Method, why.Message))
			continue
		}
		c.finish(&Error{Code: lost.Code, reason: lost.reason, Message: c.Method + ": " + why.Message, cause: why.cause})
	}
}

// readLoop reads and dispatches frames until the connection fails or breaks the protocol,
// until it lends the reading out and another goroutine takes it over, or until the reading
// goes idle between calls (see readOwnResult). Frame buffers are recycled once dispatched,
// unless a call keeps its buffer until its handler has decoded the arguments. The reading
// counts as one of p.loops, handed from goroutine to goroutine with the reading itself,
// and done when the reading ends.
func (p *Peer) readLoop() { p.readFrom(nil) }

// readFrom is readLoop starting with a frame already read, if first is not nil.
func (p *Peer) readFrom(first *[]byte) {
	for {
		bp, err := first, error(nil)
		if first = nil; bp == nil {
			if p.w.deferred.Load() && !p.wholeFrameBuffered() {
				p.w.flushDeferred() // replies deferred by a burst whose rest is still to come
			}
			bp, err = p.readFrame()
		}
		if err != nil {
			p.endReading(err)
			return
		}
		kind, j, err := p.handle(bp, 0)
		if j != nil && !p.runInline(j) {
			return // another goroutine reads now
		}
		if err != nil {
			p.endReading(err)
			return
		}
		if (kind == wire.KindReply || kind == wire.KindError) && p.mayIdle() {
			p.idle()
			return
		}
	}
}

// handle parses and dispatches one frame read whole, at now (nanos, see clock), or now if
// zero. It returns the frame's kind, and the job if the reader should run it itself (see
// runInline).
func (p *Peer) handle(bp *[]byte, now int64) (wire.Kind, *job, error) {
	if now == 0 {
		now = p.clock.nanos()
	}
	p.frameRead = now
	p.live.lastRead.Store(now)
	if p.asm.buf != nil {
		switch wire.Kind((*bp)[0]) {
		case wire.KindCall, wire.KindNotify, wire.KindReply, wire.KindError, wire.KindCancel:
			p.asm.lastBetween = now
		}
	}
	f, err := wire.Parse(*bp, nil)
	if err != nil {
		putBuf(bp)
		return 0, nil, err
	}
	kept, j, err := p.dispatch(&f, bp)
	if !kept {
		putBuf(bp)
	}
	return f.Kind, j, err
}

// endReading ends the reading on a read or protocol error: everything read has been
// dispatched, so pending calls can fail at once.
func (p *Peer) endReading(err error) {
	ended := p.readState.CompareAndSwap(readActive, readEnded)
	if ended {
		close(p.readDone)
	}
	p.terminate(p.readError(err), false)
	if ended {
		p.loops.Done()
	}
}

// The states of a peer's reading.
const (
	readActive = iota // a goroutine is in readLoop, or a caller reads its own result
	readLent          // the reader is running a handler; nobody reads
	readIdle          // no call of ours is waiting: nobody reads until one is made
	readEnded         // the connection has ended; nobody will read
)

// inlineWatch is how often a peer whose reader runs handlers checks that one is not taking
// too long: a handler that has run through a whole period loses the reading to a new
// goroutine (sooner, when it calls out or waits on its context; see takeOverReading).
// The watch is one timer that stops when the reader stops running handlers, not a timer
// per call, whose arming would wake an idle thread every time.
//
// While the watch finds the reading changing hands every period (handlers run one after
// another, or callers reading their own results), and no handler has frames queued behind
// it, its period doubles up to maxWatch. Each time it runs costs a goroutine and the waking
// of a second thread, and on a 2-vCPU machine that wake is dear beyond its own cost: it
// pulls the two processes of a sequential exchange apart onto both CPUs for the next calls.
// On the project's benchmark machine (bench/README.md), medians of 8-10 alternating rounds
// of sequential calls: 0.70× raw TCP with a 4ms longest period, 0.78× with 8ms, 0.83× with
// 16ms. A handler that blocks then keeps the reading for up to two maxWatch periods; once
// the watch has acted, it is back to inlineWatch.
const (
	inlineWatch = 500 * time.Microsecond
	maxWatch    = 16 * time.Millisecond
)

// runInline runs j on the reading goroutine: no hand-off to a worker, no goroutine woken,
// which is most of the cost of a small call. (With more input buffered, its reply goes
// through the writer's goroutine, so that the replies to a burst of calls share a write.)
// Reading stops meanwhile, so the watch, a call the handler makes, or the handler waiting
// on its context hands the reading to another goroutine. runInline reports whether this goroutine
// still has the reading afterwards.
func (p *Peer) runInline(j *job) bool {
	m := j.method
	// The frame was read just now: the job was accepted from it. (Read before the reading
	// is lent: from then on another goroutine may take it over.)
	more, start := j.more, p.frameRead
	if more && !p.pipelined.Load() {
		p.pipelined.Store(true)
	}
	p.readTurns.Add(1)
	p.readState.Store(readLent)
	p.watchReading()
	p.run(j)
	if more {
		// A method too slow to hold up the frames behind its calls, though its handlers
		// do not block long enough for the watch, has its next calls go to workers. Two
		// slow runs in a row, as one may just have lost its processor for a while. (Only
		// runs with frames behind them are timed, whose replies are left to the writer's
		// goroutine: a lone call's time includes writing its reply.)
		if time.Duration(p.clock.nanos()-start) <= inlineSlow {
			if m.slowInline.Load() != 0 {
				m.slowInline.Store(0)
			}
		} else if m.slowInline.Add(1) >= slowInlineRuns {
			m.slowInline.Store(0)
			m.notInline.Store(notInlineAfterRescue)
		}
	}
	if p.readState.CompareAndSwap(readLent, readActive) {
		p.warmCallCtx() // only while this goroutine has the reading
		return true
	}
	// This method's handlers may block: run its next calls on workers. This goroutine
	// has no more part to play.
	m.notInline.Store(notInlineAfterRescue)
	return false
}

// watchReading arms the watch over the reading if it is not running.
func (p *Peer) watchReading() {
	if !p.watching.Load() && p.watching.CompareAndSwap(false, true) {
		p.rescue.Reset(inlineWatch)
	}
}

// watchInline runs on the rescue timer while the reader runs handlers or the reading is
// idle. It takes the reading over from a handler that has run for a whole period, starts
// a reading goroutine when the reading has been idle for a whole period (frames the other
// side sends unasked, such as calls or pings, wait no longer), and stops watching after a
// period in which neither happened.
func (p *Peer) watchInline() {
	select {
	case <-p.done:
		return
	default:
	}
	runs := p.readTurns.Load()
	seen := p.watchSeen
	p.watchSeen = runs
	pipelined := p.pipelined.Swap(false)
	switch state := p.readState.Load(); {
	case p.endLongTurn():
		p.watchEvery = inlineWatch
	case runs != seen:
		// The reading changed hands in the last period: nobody is stuck. (Once only: that
		// may have been the handler that started the watch, which may be blocked.)
		if pipelined || runs-seen < 2 || p.watchEvery == 0 {
			p.watchEvery = inlineWatch
		} else {
			p.watchEvery = min(2*p.watchEvery, maxWatch)
		}
	case state == readLent || state == readIdle:
		p.takeOverReading() // the same handler as a period ago, or idle throughout
		p.watchEvery = inlineWatch
	case p.turn.inProgress():
		// A caller reads its own result: keep watching, to end its turn if it lasts.
	default:
		p.watchEvery = inlineWatch
		p.watching.Store(false)
		// A handler or a turn may have started after the checks above and found the watch
		// running.
		if state := p.readState.Load(); (state != readLent && state != readIdle && !p.turn.inProgress()) || !p.watching.CompareAndSwap(false, true) {
			return
		}
	}
	p.rescue.Reset(p.watchEvery)
}

// inlineSlow is the longest a handler may run on the reading goroutine without its method's
// next calls being sent to workers: a hand-off costs about 10-30µs.
const inlineSlow = 50 * time.Microsecond

// slowInlineRuns is how many runs in a row over inlineSlow send a method's calls to workers.
const slowInlineRuns = 2

// notInlineAfterRescue is how many calls of a method go to workers after one of its
// handlers kept the reading goroutine too long.
const notInlineAfterRescue = 256

// inline reports whether the method's next call may run on the reading goroutine.
func (m *boundMethod) inline() bool {
	if m.notInline.Load() > 0 {
		m.notInline.Add(-1)
		return false
	}
	return true
}

// takeOverReading starts a new reading goroutine if the reader is running a handler or
// nobody reads. It runs from the rescue timer, and when a goroutine of this side starts a
// call or waits on an incoming call's context, which might otherwise wait for a result or
// cancel frame that nobody reads.
func (p *Peer) takeOverReading() {
	p.takeLentReading()
	if p.readState.Load() == readIdle && p.readState.CompareAndSwap(readIdle, readActive) {
		p.handOn(nil)
	}
}

// takeLentReading starts a new reading goroutine if the reader is running a handler.
func (p *Peer) takeLentReading() {
	if p.readState.Load() == readLent && p.readState.CompareAndSwap(readLent, readActive) {
		go p.readLoop()
	}
}

// readError classifies the error that ended the read loop, logging protocol violations.
func (p *Peer) readError(err error) *Error {
	var te *Error
	switch {
	case errors.As(err, &te):
		p.log.Warn("tandem: protocol error; closing connection", "err", err)
		return te
	case errors.Is(err, wire.ErrFrameTooLarge), errors.Is(err, wire.ErrFrameTooSmall),
		errors.Is(err, wire.ErrUnknownKind), errors.Is(err, wire.ErrMalformed):
		p.log.Warn("tandem: protocol error; closing connection", "err", err)
		return newErr(ErrProtocol, err, "protocol error: %v", err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return newErr(ErrConnectionLost, err, "connection lost: truncated frame")
	}
	return newErr(ErrConnectionLost, err, "connection lost: %v", err)
}

// dispatch acts on one frame. It reports whether it kept buf, which then belongs to a job,
// and returns the job if the reader should run it itself (see runInline).
func (p *Peer) dispatch(f *wire.Frame, buf *[]byte) (kept bool, inline *job, err error) {
	switch f.Kind {
	case wire.KindCall, wire.KindNotify:
		return p.accept(f, buf)
	case wire.KindReply, wire.KindError:
		return p.complete(f, buf), nil, nil
	case wire.KindCancel:
		p.mu.Lock()
		c := p.servingLocked(f.ID)
		p.mu.Unlock()
		if c != nil {
			c.end(context.Canceled)
		}
	case wire.KindPing:
		if err := p.pingReceived(p.live.lastRead.Load()); err != nil {
			return false, nil, err
		}
		if dst, err := p.w.beginAsync(); err == nil {
			p.w.commitAsync(wire.AppendPing(dst, wire.KindPong, f.PingData))
		}
	case wire.KindPong:
	case wire.KindWindow:
		return false, nil, p.w.grant(f.Credit)
	case wire.KindGoAway:
		p.mu.Lock()
		if !p.remoteGoingAway {
			p.remoteGoingAway = true
			p.remoteLastID = f.LastID
			close(p.goaway)
		}
		p.signalDrainedLocked()
		p.mu.Unlock()
	}
	return false, nil, nil
}

// job is one accepted incoming call or notification, waiting to run or running.
type job struct {
	peer    *Peer
	id      uint64
	notify  bool
	method  *boundMethod
	ctx     *callCtx
	payload []byte
	buf     *[]byte // the frame buffer payload points into, recycled when the job ends
	args    argsDecoder
	one     [1]any // the result as the codec's list
	more    bool   // run on the reader with more input buffered: its reply need not go at once
	running bool   // its context is the peer's running call's, not in the serving map
	ended   bool   // its context has ended (unserve)
	read    int64  // when its frame was read (nanos, see clock), for a job the reader runs; zero otherwise
}

var jobPool = sync.Pool{New: func() any { return new(job) }}

// accept admits an incoming call or notification and starts or queues it, or returns it
// for the reader to run when nothing else waits to be read. It reports whether the job
// took buf.
func (p *Peer) accept(f *wire.Frame, buf *[]byte) (kept bool, inline *job, err error) {
	notify := f.Kind == wire.KindNotify
	if !notify && (f.ID == 0 || (f.ID%2 == 1) == p.dialer) {
		return false, nil, newErr(ErrProtocol, nil, "protocol error: call id %d has the wrong parity", f.ID)
	}
	svc, m, lookupErr := p.lookup(f.Method)
	// The reader may as well run a call to a concurrent service itself: no hand-off, no
	// goroutine woken. Not a large one, whose decoding alone would hold up the frames
	// behind it.
	here := lookupErr == nil && svc.mode == Concurrent && len(f.Payload) <= chunkOver && m.inline()
	p.mu.Lock()
	if !notify {
		if p.servingLocked(f.ID) != nil {
			p.mu.Unlock()
			return false, nil, newErr(ErrProtocol, nil, "protocol error: duplicate call id %d", f.ID)
		}
	}
	var refuse error
	for refuse == nil && lookupErr == nil && p.pending != nil && !p.goingAway && p.full(notify) {
		// Backpressure: the other side has more calls (or notifications) running here than
		// the limit it was told. Stop reading, holding this one frame, until one ends; TCP
		// then stops the sender. A tandem caller never gets here for calls, as it waits
		// for a slot before sending.
		p.roomWanted = true
		p.mu.Unlock()
		refuse = p.waitForRoom()
		p.mu.Lock()
	}
	switch {
	case p.pending == nil:
		p.mu.Unlock()
		return false, nil, nil // closing: nothing more will be served
	case refuse != nil:
	case p.goingAway:
		refuse = newErr(ErrShuttingDown, nil, "%s: peer is shutting down", f.Method)
	case lookupErr != nil:
		refuse = lookupErr
	}
	if refuse != nil {
		p.mu.Unlock()
		if notify {
			p.log.Debug("tandem: notification dropped", "method", string(f.Method), "err", refuse)
		} else {
			p.sendErrorAsync(f.ID, refuse)
		}
		return false, nil, nil
	}
	p.lastServed.Store(p.live.lastRead.Load())
	j := jobPool.Get().(*job)
	*j = job{peer: p, id: f.ID, notify: notify, method: m, payload: f.Payload, buf: buf}
	j.ctx = p.newCallCtx(incomingMetadata(f), f.Timeout, p.frameRead)
	p.active.Add(1)
	switch {
	case notify:
		p.notifying[j.ctx] = struct{}{}
	case here && p.running.ctx == nil:
		// Kept out of the map: most calls are run by the reader, one at a time.
		p.running = runningCall{id: f.ID, ctx: j.ctx}
		j.running = true
	default:
		p.serving[f.ID] = j.ctx
	}
	if !notify {
		p.lastAccepted = max(p.lastAccepted, f.ID)
	}
	p.mu.Unlock()

	if svc.mode == Concurrent {
		if here {
			j.more = p.callBuffered()
			j.read = p.frameRead
			return true, j, nil
		}
		select {
		case p.work <- j:
		default:
			go p.worker(j)
		}
		return true, nil, nil
	}
	select {
	case svc.queue <- j:
		if svc.pump != nil {
			svc.pump.signal()
		}
	default:
		p.finishJob(j)
		if !notify {
			p.sendErrorAsync(f.ID, newErr(ErrOverloaded, nil, "%s: the service's queue is full", m.full))
		}
	}
	return true, nil, nil
}

// methodCache is the last method a peer's reader found, with the services it was found
// among: a connection's calls tend to go to the same method, and comparing its name costs
// less than the two map lookups it saves.
type methodCache struct {
	services *map[string]*service
	svc      *service
	m        *boundMethod
}

// lookup is [Server.lookup] through the reader's cache. A service registered since then
// replaces the server's map of services, which the cached entry then no longer matches.
func (p *Peer) lookup(name []byte) (*service, *boundMethod, error) {
	services := p.srv.services.Load()
	if c := &p.lastMethod; c.services == services && c.m != nil && c.m.full == string(name) {
		return c.svc, c.m, nil
	}
	svc, m, err := p.srv.lookup(name)
	if err == nil {
		// Found among services or a later map: if later, the entry never matches again.
		p.lastMethod = methodCache{services: services, svc: svc, m: m}
	}
	return svc, m, err
}

// callBuffered reports whether the input buffered behind the frame just read begins with
// a call or a notification (or too little of a frame to tell): the reader runs a burst of
// those before it writes their replies together. Chunks of a large frame, results and the
// like do not make a burst: a reply waiting for them would wait for nothing.
func (p *Peer) callBuffered() bool {
	n := p.br.Buffered()
	if n == 0 {
		return false
	}
	if n <= wire.LengthSize {
		return true
	}
	b, _ := p.br.Peek(wire.LengthSize + 1) // buffered already: no read
	k := wire.Kind(b[wire.LengthSize])
	return k == wire.KindCall || k == wire.KindNotify
}

// busy reports whether more than one incoming call or notification is in progress, not
// counting handlers that have returned and wait for their large result to be written: they
// will not reply again, so a small reply need not wait to share a write with theirs.
func (p *Peer) busy() bool {
	return p.active.Load()-p.returning.Load() > 1
}

// runningCall is the incoming call the reader runs itself (runInline), kept out of the
// serving map, which then costs nothing on most calls. A second such call, whose reader
// took over the reading from the first, goes in the map.
type runningCall struct {
	id  uint64
	ctx *callCtx
}

// servingLocked returns the context of the incoming call with the given id, if it is in
// progress. Callers hold p.mu.
func (p *Peer) servingLocked(id uint64) *callCtx {
	if p.running.ctx != nil && p.running.id == id {
		return p.running.ctx
	}
	return p.serving[id]
}

// full reports whether another incoming call (or notification) would exceed the in-flight
// limit. Callers hold p.mu.
func (p *Peer) full(notify bool) bool {
	if notify {
		return len(p.notifying) >= p.cfg.maxInflight
	}
	return int(p.active.Load())-len(p.notifying) >= p.cfg.maxInflight
}

// waitForRoom parks the reader until a handler ends or the peer closes. Meanwhile the
// liveness watch does not count the unread input against the other side.
func (p *Peer) waitForRoom() error {
	p.live.paused.Store(true)
	defer p.live.paused.Store(false)
	select {
	case <-p.room:
		return nil
	case <-p.done:
		return p.err
	}
}

// roomLocked wakes a reader waiting in waitForRoom. Callers hold p.mu.
func (p *Peer) roomLocked() {
	if !p.roomWanted {
		return
	}
	p.roomWanted = false
	select {
	case p.room <- struct{}{}:
	default:
	}
}

// releaseSlot returns a call's slot.
func (p *Peer) releaseSlot() {
	if p.slots != nil {
		p.slots.release()
	}
}

// incomingMetadata copies a call's metadata out of its frame.
func incomingMetadata(f *wire.Frame) Metadata {
	if len(f.Meta) == 0 {
		return nil
	}
	md := make(Metadata, len(f.Meta))
	for _, m := range f.Meta {
		md[m.Key] = m.Value
	}
	return md
}

// maxIdleWorkers bounds the worker goroutines a peer keeps parked between calls.
const maxIdleWorkers = 64

// worker runs j and then, rather than exiting, parks to run later jobs of the peer's
// concurrent services, saving a goroutine start per call. It exits when the peer closes
// or enough workers are parked already.
func (p *Peer) worker(j *job) {
	for {
		p.run(j)
		if p.idleWorkers.Add(1) > maxIdleWorkers {
			p.idleWorkers.Add(-1)
			return
		}
		select {
		case j = <-p.work:
			p.idleWorkers.Add(-1)
		case <-p.done:
			p.idleWorkers.Add(-1)
			return
		}
	}
}

// run executes a job on the calling goroutine and sends its result.
func (p *Peer) run(j *job) {
	defer p.finishJob(j)
	// A job the reader runs at once is checked as of when its frame was read, which costs
	// no clock read; one that waited (read is zero) as of now.
	if j.ctx.errAt(j.read) != nil {
		if !j.notify {
			err := contextError(j.ctx, j.method.full)
			p.unserve(j)
			p.sendError(j.id, err)
		}
		return
	}
	res, err := p.invoke(j)
	if j.notify {
		if err != nil {
			p.log.Debug("tandem: notification handler failed", "method", j.method.full, "err", err)
		}
		return
	}
	if err != nil && j.ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		err = contextError(j.ctx, j.method.full)
	}
	if j.read == 0 {
		// A call the reader runs has its context ended once its result is written
		// (finishJob), not before: ending it (a lock, cache misses) delayed the result by
		// 150-290ns (bench/, timed in the running process). The work is the same, moved:
		// it overlaps the network when the caller is on another machine, not when both
		// share one processor (bench/README.md, Session 12). A cancel read meanwhile, by a
		// reader that took over from a handler that blocked, ends it the same way.
		p.unserve(j)
	}
	if err != nil {
		p.sendError(j.id, err)
		return
	}
	p.sendReply(j, res)
}

// unserve ends a finished call's context before its result is sent, for a call a worker
// ran (one the reader ran has it ended after; see run): a cancel arriving meanwhile ends
// nothing. Its id is forgotten in finishJob, with one taking of p.mu for
// both. The call still counts against the in-flight limit, and a graceful shutdown still
// waits for it, until then: the handler's goroutine is busy until the result is written,
// and counting it keeps the goroutines a connection can occupy bounded by the limit.
func (p *Peer) unserve(j *job) {
	j.ctx.end(context.Canceled)
	j.ended = true
}

// finishJob releases what a job held and recycles it.
func (p *Peer) finishJob(j *job) {
	if !j.ended {
		j.ctx.end(context.Canceled)
	}
	p.mu.Lock()
	switch {
	case j.notify:
		delete(p.notifying, j.ctx)
	case j.running:
		p.running = runningCall{}
	default:
		delete(p.serving, j.id)
	}
	p.active.Add(-1)
	p.roomLocked()
	p.signalDrainedLocked()
	p.mu.Unlock()
	putBuf(j.buf)
	*j = job{}
	jobPool.Put(j)
}

// invoke runs the handler, turning a panic into an error.
func (p *Peer) invoke(j *job) (res any, err error) {
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("tandem: handler panicked", "method", j.method.full, "panic", r, "stack", string(debug.Stack()))
			res, err = nil, newErr(ErrHandlerPanic, nil, "%s: handler panicked: %v", j.method.full, r)
		}
	}()
	j.args = argsDecoder{codec: p.codec, payload: j.payload, m: j.method}
	if len(p.cfg.serverInterceptors) > 0 {
		return p.interceptIncoming(j, func(ctx context.Context) (any, error) { return j.method.Invoke(ctx, &j.args) })
	}
	return j.method.Invoke(j.ctx, &j.args)
}

// argsDecoder is the [Args] handed to a method.
type argsDecoder struct {
	codec   Codec
	payload []byte
	m       *boundMethod
}

func (a *argsDecoder) Decode(ptrs ...any) error {
	var n int
	var err error
	if b, ok := a.codec.(listBorrower); a.m.borrow && ok {
		n, err = b.DecodeListBorrowing(a.payload, ptrs)
	} else {
		n, err = a.codec.DecodeList(a.payload, ptrs)
	}
	if err != nil {
		return newErr(ErrBadArguments, err, "%s: cannot decode arguments for %s: %v", a.m.full, a.m.Signature, err)
	}
	if n != len(ptrs) {
		return newErr(ErrBadArguments, nil, "%s: want %d arguments, got %d; signature %s", a.m.full, len(ptrs), n, a.m.Signature)
	}
	return nil
}

// sendReply encodes a job's result straight into the write buffer.
func (p *Peer) sendReply(j *job, res any) {
	m := j.method
	vals := j.one[:0]
	if m.HasResult {
		j.one[0] = res
		vals = j.one[:]
	}
	// As in writeCall: a large result is encoded into a buffer of its own. Its byte slices
	// are lent to the writer if a worker runs the handler, which waits for them back
	// before it takes another job; not if the connection's reader does, which must not
	// wait for the writer.
	large := planLarge(vals, p.w.refs(p.codec), j.read == 0)
	var dst []byte
	if large != nil {
		dst = (*large.bp)[:chunkHeadroom]
	} else {
		var err error
		if dst, err = p.w.begin(); err != nil {
			j.one[0] = nil
			return
		}
	}
	start := len(dst)
	dst = wire.AppendHeader(dst, wire.KindReply, 0, j.id, 0)
	out, left, err := large.encode(p.codec, dst, vals)
	j.one[0] = nil
	if size := len(out) + left - start - wire.LengthSize; err == nil && size > p.remoteMax {
		err = newErr(ErrFrameTooLarge, nil, "%s: result of %d bytes exceeds the caller's frame limit of %d", m.full, size, p.remoteMax)
	}
	if err != nil {
		if !errors.Is(err, ErrFrameTooLarge) {
			err = Errorf(CodeInternal, "%s: cannot encode result: %v", m.full, err)
		}
		if large != nil {
			large.release()
			p.sendError(j.id, err)
			return
		}
		p.w.commit(appendErrorFrame(dst[:start], j.id, toWireError(err)))
		return
	}
	out = wire.FinishFrameLeavingOut(out, start, left)
	if large != nil {
		if p.w.sendOwn(large, out, wire.KindReply, j.id, !p.busy()) == nil && large.lent != nil {
			p.returning.Add(1)
			p.w.awaitReturn(large.lent)
			p.returning.Add(-1)
		}
		return
	}
	// The reader running a burst of calls leaves their replies to the burst's last one,
	// written with all of them (or to flushDeferred). With other handlers of this
	// connection running, which will reply soon, the write is left to the writer's
	// goroutine, which takes every reply that has arrived by the time it runs in one
	// syscall.
	mode := sendNow
	switch {
	case j.more:
		mode = sendDeferred
	case p.busy():
		mode = sendLater
	}
	p.w.commitFrame(out, start, wire.KindReply, j.id, mode)
	if mode == sendDeferred && p.readState.Load() != readLent {
		// The reading was taken from this handler: its new holder may be waiting for
		// input already, having found nothing to flush.
		p.w.flushDeferred()
	}
}

func (p *Peer) sendError(id uint64, err error) {
	if dst, werr := p.w.begin(); werr == nil {
		p.w.commit(appendErrorFrame(dst, id, toWireError(err)))
	}
}

// sendErrorAsync is sendError for the reading goroutine, which must never write.
func (p *Peer) sendErrorAsync(id uint64, err error) {
	if dst, werr := p.w.beginAsync(); werr == nil {
		p.w.commitAsync(appendErrorFrame(dst, id, toWireError(err)))
	}
}

func appendErrorFrame(dst []byte, id uint64, e *Error) []byte {
	var details []wire.Meta
	if len(e.Details) > 0 {
		details = make([]wire.Meta, 0, len(e.Details))
		size := 0
		for k, v := range e.Details {
			// Details beyond the limits are dropped rather than failing the reply.
			if size += len(k) + len(v); len(details) == wire.MaxDetails || size > wire.MaxMetadataSize {
				break
			}
			details = append(details, wire.Meta{Key: k, Value: v})
		}
	}
	return wire.AppendError(dst, id, uint16(e.Code), uint16(e.reason), e.Message, details)
}

// appendList runs the codec, turning a panic in user marshalling code into an error so the
// write buffer's lock is always released.
func appendList(c Codec, dst []byte, vals []any) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = dst, fmt.Errorf("codec %s panicked: %v", c.Name(), r)
		}
	}()
	return c.AppendList(dst, vals)
}

// appendListExcept is appendList for a frame that leaves values out (see largeFrame).
func appendListExcept(c listExcepter, dst []byte, vals []any, except []int) (out []byte, at []int, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, at, err = dst, nil, fmt.Errorf("codec panicked: %v", r)
		}
	}()
	return c.AppendListExcept(dst, vals, except, make([]int, 0, len(except)))
}

// complete delivers a reply or error frame to the call waiting for it. A large result is
// decoded on a goroutine of its own, so that the frames behind it are read meanwhile; it
// keeps buf until then, and complete reports whether it did.
func (p *Peer) complete(f *wire.Frame, buf *[]byte) (kept bool) {
	p.mu.Lock()
	c := p.pending.get(f.ID)
	if c != nil {
		p.unpendLocked(c)
		p.signalDrainedLocked()
		p.releaseSlot()
	} else if _, ok := p.abandoned[f.ID]; ok {
		// The other side has finished a call we gave up on: its slot is free now.
		delete(p.abandoned, f.ID)
		p.releaseSlot()
	}
	p.mu.Unlock()
	if c == nil {
		// The call was cancelled or timed out here before its result arrived.
		p.log.Debug("tandem: result for no pending call", "id", f.ID, "kind", f.Kind)
		return false
	}
	c.arrived = true
	if f.Kind == wire.KindError {
		e := &Error{Code: Code(f.Code), Message: string(f.Message), reason: reason(f.Reason), remote: true}
		if len(f.Details) > 0 {
			e.Details = make(map[string]string, len(f.Details))
			for _, d := range f.Details {
				e.Details[d.Key] = d.Value
			}
		}
		c.deliver(e)
		return false
	}
	if len(f.Payload) > chunkOver {
		p.loops.Add(1) // the reading holds one: the count is not zero
		go func(payload []byte) {
			defer p.loops.Done()
			c.finish(p.decodeResult(c, payload))
			putBuf(buf)
		}(f.Payload)
		return true
	}
	c.deliver(p.decodeResult(c, f.Payload))
	return false
}

func (p *Peer) decodeResult(c *Call, payload []byte) error {
	ptrs := c.one[:0]
	if c.Result != nil {
		c.one[0] = c.Result
		ptrs = c.one[:]
	}
	n, err := p.codec.DecodeList(payload, ptrs)
	c.one[0] = nil
	if err != nil {
		return newErr(ErrBadArguments, err, "%s: cannot decode result: %v", c.Method, err)
	}
	if n != len(ptrs) && n > 1 {
		return newErr(ErrBadArguments, nil, "%s: result list has %d elements, want at most 1", c.Method, n)
	}
	return nil
}
