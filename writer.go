package tandem

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/tandem-rpc/tandem/wire"
)

// writer coalesces the frames of every goroutine using a connection into few writes.
// Senders append encoded frames to one buffer under mu (begin then commit, or beginAsync
// then commitAsync). The last of a group of concurrent senders writes the buffer out itself,
// with every frame the group appended: a burst of small calls costs one syscall, and a lone
// caller's frame goes out at once, without a hand-off to another goroutine. A caller with
// other calls in flight yields once before it writes (commitGathering), so that the group
// also takes the callers that were ready to run. The connection's reader only uses
// beginAsync and commitAsync, and a background goroutine writes for it: a reader that
// wrote could deadlock against a peer whose reader is writing too. (A handler the reader
// runs has lent the reading out, and the watch takes it back if a write blocks: its reply
// is written like any sender's, except that in a burst of calls the replies wait for the
// burst's last one, which writes them all; see sendDeferred.)
//
// Frames with large payloads are encoded into buffers of their own and queued (sendOwn,
// or commitFrame for one that turned out large); those over chunkOver go out a chunk at a
// time, as the other side's window allows, with the small frames buffered meanwhile
// written in the same writev, so that a large transfer holds them up by at most about a
// window. The largest byte slices and strings of such frames may stay where they lie and
// go out in the same writev too (largeFrame).
type writer struct {
	conn    net.Conn
	clock   clock
	limit   int           // buffered bytes beyond which senders wait
	timeout time.Duration // bound on each write
	onErr   func(error)
	// vectored: conn writes net.Buffers with one writev, so frames may hold refs.
	vectored bool

	mu        sync.Mutex
	space     sync.Cond // signalled when the buffer is taken or the writer stops
	buf       []byte    // frames waiting to be written
	spare     []byte    // the previous buffer, reused
	writing   bool      // a goroutine is writing; it holds no lock meanwhile
	gathering bool      // a sender that is to write yields first (commitGathering)
	yield     func()    // runtime.Gosched, but in tests
	err       error     // set once: no more frames are accepted
	deadline  int64     // the write deadline last set on conn, in nanos (see clock)

	asyncQueued int // bytes of the reader's frames in buf

	// deferred: buf holds replies the reader left for the last call of a burst to write,
	// or for flushDeferred (commitFrame with sendDeferred); they end at deferredEnd.
	deferred    atomic.Bool
	deferredEnd int

	// Large frames go out in chunks, with the frames in buf sent between them.
	queue        []queued            // frames to send in chunks, and frames that must stay behind them
	queueBytes   int                 // bytes of the frames in queue
	notifies     int                 // notifications in queue: later ones queue behind them
	credit       int                 // chunk body bytes the other side allows us to send
	sent         int                 // bytes of queue[0]'s frame written
	pieceEnd     int                 // where in queue[0]'s frame the write in progress ends
	pieceIsChunk bool                // the write in progress is a chunk, counted against credit
	lentInFlight bool                // the write in progress holds bytes lent with queue[0]
	vec          net.Buffers         // buf and a piece of queue[0], written together
	vecArr       [8][]byte           // vec's backing array
	chunkHdr     [chunkHeadroom]byte // the header of a chunk of a frame with refs

	senders atomic.Int32 // goroutines between begin and commit, holding or waiting for mu

	wake   chan struct{} // there is work for the background goroutine
	quit   chan struct{} // stop at once, dropping buffered frames
	exited chan struct{} // the background goroutine returned
}

// queued is a frame that goes out in chunks, or behind such a frame to keep its order.
type queued struct {
	b    []byte  // chunkHeadroom bytes, then the frame, less the bytes in refs
	bp   *[]byte // the pooled buffer b lives in, if it is one
	refs []ref   // bytes of the frame written from where they lie (see largeFrame)
	lent *lending
	size int // the frame's length: len(b)-chunkHeadroom plus the bytes in refs
	kind wire.Kind
	id   uint64
}

// ref is bytes of a queued frame that are not in its buffer: they come in the frame
// right before b[chunkHeadroom+at].
type ref struct {
	at int
	b  []byte
}

// lending is the byte slices in a queued frame's refs, which their owner may change once
// the writer has given them back: when the frame has been written (pieceWritten), or
// copied (reclaimLocked). Guarded by the writer's mu.
type lending struct{ returned bool }

// appendRange appends to vec the slices that hold bytes [from, to) of q's frame.
func (q *queued) appendRange(vec net.Buffers, from, to int) net.Buffers {
	own := q.b[chunkHeadroom:]
	pos, o := 0, 0 // where in the frame, and in own, the next segment starts
	for i := 0; i <= len(q.refs) && pos < to; i++ {
		seg := own[o:]
		if i < len(q.refs) {
			seg = own[o:q.refs[i].at]
			o = q.refs[i].at
		}
		for _, seg := range [2][]byte{seg, q.refAt(i)} {
			if lo, hi := max(from, pos), min(to, pos+len(seg)); lo < hi {
				vec = append(vec, seg[lo-pos:hi-pos])
			}
			pos += len(seg)
		}
	}
	return vec
}

// refAt returns the bytes of q.refs[i], or nil past its end.
func (q *queued) refAt(i int) []byte {
	if i < len(q.refs) {
		return q.refs[i].b
	}
	return nil
}

// queueLimit is the size of the frames in the chunk queue beyond which senders of large
// frames wait for it to drain. A frame larger than that waits for the queue to be empty.
const queueLimit = 8 << 20

// asyncLimit bounds the bytes of frames the connection's reader may have waiting in the
// write buffer (pongs, refusals): about 2,900 pongs.
const asyncLimit = 64 << 10

func newWriter(conn net.Conn, clock clock, limit int, timeout time.Duration, onErr func(error)) *writer {
	w := &writer{conn: conn, clock: clock, limit: limit, timeout: timeout, onErr: onErr, credit: wire.ChunkWindow, wake: make(chan struct{}, 1), quit: make(chan struct{}), exited: make(chan struct{})}
	w.space.L = &w.mu
	w.yield = runtime.Gosched
	switch conn.(type) {
	case *net.TCPConn, *net.UnixConn:
		w.vectored = true
	}
	return w
}

// refs reports whether frames may leave values out of their buffers, for the writer to
// send from where they lie (see largeFrame): the codec can, and conn writes vectors.
func (w *writer) refs(c Codec) bool {
	_, ok := c.(listExcepter)
	return ok && w.vectored
}

// begin locks the buffer for appending and returns it, or the writer's terminal error. On
// success the caller must call commit, with the buffer extended or as it was.
func (w *writer) begin() ([]byte, error) { return w.lock(false) }

// beginAsync is begin for the connection's reader, whose frames (pongs and refusals) go out
// through commitAsync. Beyond the buffer's limit it also waits while asyncLimit bytes of
// such frames are queued, so that a peer which sends pings or bad calls but never reads
// stops being read long before the buffer fills.
func (w *writer) beginAsync() ([]byte, error) { return w.lock(true) }

func (w *writer) lock(async bool) ([]byte, error) {
	w.senders.Add(1)
	w.mu.Lock()
	if w.err == nil && w.full(async) {
		// Wait for the buffer to drain. A waiting sender does not count, or the senders
		// ahead of it would leave the flushing to it.
		w.senders.Add(-1)
		for w.err == nil && w.full(async) {
			w.signal()
			w.space.Wait()
		}
		w.senders.Add(1)
	}
	if w.err != nil {
		err := w.err
		w.senders.Add(-1)
		w.mu.Unlock()
		return nil, err
	}
	return w.buf, nil
}

// full reports whether a sender must wait for the buffer to be taken. Callers hold mu.
func (w *writer) full(async bool) bool {
	return len(w.buf) >= w.limit || (async && w.asyncQueued >= asyncLimit)
}

// commit stores the extended buffer and unlocks it. If no other sender is on its way and
// no write is in progress, it writes the buffer out on the calling goroutine.
func (w *writer) commit(b []byte) { w.commitGathering(b, false) }

// commitGathering is commit; with gather, a last sender that is to write first yields its
// processor once (runtime.Gosched), so that goroutines ready to send, such as callers whose
// results have just been read, add their frames to the same write. Meanwhile (gathering)
// the senders that commit leave the write to it. If it wrote the buffer itself, without
// error, it returns when it started to, in nanos (see clock); otherwise zero.
func (w *writer) commitGathering(b []byte, gather bool) (wrote int64) {
	w.buf = b
	last := w.senders.Add(-1) == 0
	if !last || w.writing || w.gathering || len(w.buf) == 0 {
		w.mu.Unlock()
		return 0
	}
	if gather {
		w.gathering = true
		w.mu.Unlock()
		w.yield()
		w.mu.Lock()
		w.gathering = false
		if w.writing || len(w.buf) == 0 { // the background goroutine took the buffer
			w.mu.Unlock()
			return 0
		}
	}
	wrote, err := w.flushLocked(false)
	more := len(w.buf) > 0 || w.sendable() || w.err != nil
	w.mu.Unlock()
	if err != nil {
		w.onErr(err)
		return 0
	}
	if more {
		w.signal()
	}
	return wrote
}

// How commitFrame sends a frame.
type sendMode uint8

const (
	sendNow      sendMode = iota // commit: write at once unless other senders are on their way
	sendLater                    // commitAsync: leave the write to the background goroutine
	sendDeferred                 // leave the write to the next sender, or to flushDeferred
	sendGathered                 // commitGathering: as sendNow, after others ready to send
)

// commitFrame is commit, commitAsync or, for the connection's reader replying to a call
// with more of a burst behind it, a commit that writes nothing and wakes no goroutine: the
// burst's last reply is written at once, taking the others with it, or the reader calls
// flushDeferred before it waits for input. b is a buffer whose last frame, of the given
// kind and id, starts at start. A frame over chunkOver moves to the chunk queue (a copy,
// for frames whose size was not foreseen; see sendOwn), as does a notification or cancel
// that must not overtake a queued frame; the background goroutine is woken to send it.
// It returns what commitGathering does: when it wrote the frame itself, or zero.
func (w *writer) commitFrame(b []byte, start int, kind wire.Kind, id uint64, mode sendMode) (wrote int64) {
	if n := len(b) - start; n > chunkOver || len(w.queue) > 0 && w.mustFollow(kind, id) {
		var bp *[]byte
		var own []byte
		if n > chunkOver {
			bp = getBuf(chunkHeadroom + n)
			own = *bp
		} else {
			own = make([]byte, chunkHeadroom+n)
		}
		copy(own[chunkHeadroom:], b[start:])
		w.enqueueLocked(queued{b: own, bp: bp, size: n, kind: kind, id: id})
		b = b[:start]
		// The background goroutine sends the queue: commit writes only the buffer, and
		// nothing at all when the buffer is empty.
		mode = sendLater
	}
	if mode == sendDeferred && start != w.deferredEnd {
		// Frames of other senders are waiting in front of this one: a sender that found
		// the reader on its way left the write to it.
		mode = sendNow
	}
	switch mode {
	case sendNow:
		return w.commitGathering(b, false)
	case sendGathered:
		return w.commitGathering(b, true)
	case sendLater:
		w.commitAsync(b)
	default:
		w.buf = b
		w.deferredEnd = len(b)
		w.deferred.Store(true)
		w.senders.Add(-1)
		w.mu.Unlock()
	}
	return 0
}

// flushDeferred wakes the background goroutine to write the replies the reader deferred,
// if no sender has written them since.
func (w *writer) flushDeferred() {
	if w.deferred.Load() && w.deferred.CompareAndSwap(true, false) {
		w.signal()
	}
}

// mustFollow reports whether a small frame of the given kind and id must go out after the
// frames in the queue: notifications keep their order, and a cancel follows its call.
// Callers hold mu.
func (w *writer) mustFollow(kind wire.Kind, id uint64) bool {
	switch kind {
	case wire.KindNotify:
		return w.notifies > 0
	case wire.KindCancel:
		for _, q := range w.queue {
			if q.id == id && q.kind == wire.KindCall {
				return true
			}
		}
	}
	return false
}

// sendOwn queues a large frame f encoded into b, which begins with chunkHeadroom bytes of
// room and lives in f's buffer unless the encoder outgrew it; f's refs go with it, and if
// they hold byte slices, f.lent is set for their owner to wait on (awaitReturn, reclaim).
// Senders encode frames they know will be large that way, without holding the lock. It
// waits while the queue is full, and returns the writer's terminal error if the frame
// cannot be sent. With direct, if the frame is first in the queue and nothing is being
// written, the calling goroutine writes it (its first chunk, if it goes in chunks) rather
// than waking the writer's; as with commit, the connection's reader must not.
func (w *writer) sendOwn(f *largeFrame, b []byte, kind wire.Kind, id uint64, direct bool) error {
	q := queued{b: b, bp: f.ownedBy(b), refs: f.refs, size: len(b) - chunkHeadroom, kind: kind, id: id}
	for _, r := range f.refs {
		q.size += len(r.b)
	}
	if f.bytesLent {
		q.lent = new(lending)
		f.lent = q.lent
	}
	w.mu.Lock()
	for w.err == nil && w.queueBytes > 0 && w.queueBytes+q.size > queueLimit {
		w.space.Wait()
	}
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		if q.bp != nil {
			putBuf(q.bp)
		}
		f.lent = nil
		return err
	}
	w.enqueueLocked(q)
	if !direct || w.writing || len(w.queue) > 1 || !w.sendable() {
		w.mu.Unlock()
		w.signal()
		return nil
	}
	_, err := w.flushLocked(true)
	more := len(w.buf) > 0 || w.sendable() || w.err != nil
	w.mu.Unlock()
	if err != nil {
		w.onErr(err)
		return nil // the frame was taken; the connection's end fails the call
	}
	if more {
		w.signal()
	}
	return nil
}

func (w *writer) enqueueLocked(q queued) {
	w.queue = append(w.queue, q)
	w.queueBytes += q.size
	if q.kind == wire.KindNotify {
		w.notifies++
	}
}

// sendable reports whether the next piece of the queue may go out: a frame sent whole, or a
// chunk the other side's window has room for. Callers hold mu.
func (w *writer) sendable() bool {
	if len(w.queue) == 0 {
		return false
	}
	frame := w.queue[0].size
	if w.sent == 0 && frame <= chunkOver {
		return true
	}
	return w.credit >= min(minChunk, frame-w.sent)
}

// grant adds credit from a window frame, failing if the other side allows more than it
// could ever need.
func (w *writer) grant(credit uint32) error {
	w.mu.Lock()
	w.credit += int(credit)
	over := w.credit > maxCredit
	wake := w.sendable()
	w.mu.Unlock()
	if over {
		return fmt.Errorf("%w: window of more than %d bytes", wire.ErrMalformed, maxCredit)
	}
	if wake {
		w.signal()
	}
	return nil
}

// maxCredit bounds the chunk window a peer may grant: far beyond any frame limit, far below
// an overflow.
const maxCredit = 1 << 40

// appendPiece appends to vec the next bytes of queue[0] to write: the whole frame if it
// fits one chunk and none of it has gone out, else the next chunk, its header in front of
// it. Callers hold mu and are the writing goroutine.
func (w *writer) appendPiece(vec net.Buffers) net.Buffers {
	q := &w.queue[0]
	if w.sent == 0 && q.size <= chunkOver {
		w.pieceEnd, w.pieceIsChunk = q.size, false
		return q.appendRange(vec, 0, q.size)
	}
	end := w.sent + min(maxChunk, q.size-w.sent, w.credit)
	w.pieceEnd, w.pieceIsChunk = end, true
	if q.refs == nil {
		// The header goes in the headroom, or over the end of the chunk already written:
		// the chunk is one slice.
		putChunkHeader(q.b[w.sent:], end < q.size, q.id, end-w.sent)
		return append(vec, q.b[w.sent:chunkHeadroom+end])
	}
	putChunkHeader(w.chunkHdr[:], end < q.size, q.id, end-w.sent)
	return q.appendRange(append(vec, w.chunkHdr[:]), w.sent, end)
}

// pieceWritten records that the piece from appendPiece went out, and drops queue[0] once
// all of it has. Callers hold mu.
func (w *writer) pieceWritten() {
	q := w.queue[0]
	if w.pieceIsChunk {
		w.credit -= w.pieceEnd - w.sent
	}
	w.sent = w.pieceEnd
	if w.sent < q.size {
		return
	}
	w.sent = 0
	w.queueBytes -= q.size
	if q.kind == wire.KindNotify {
		w.notifies--
	}
	if q.bp != nil {
		putBuf(q.bp)
	}
	if q.lent != nil {
		q.lent.returned = true
	}
	n := copy(w.queue, w.queue[1:])
	w.queue[n] = queued{}
	w.queue = w.queue[:n]
	w.space.Broadcast()
}

// awaitReturn waits until the writer gives back the byte slices lent with l: once they
// are written, or, if the writer stops first, copied.
func (w *writer) awaitReturn(l *lending) {
	w.mu.Lock()
	for !l.returned && w.err == nil {
		w.space.Wait()
	}
	w.reclaimLocked(l)
	w.mu.Unlock()
}

// reclaim gives back the byte slices lent with l at once: if they have not all been
// written, it waits for a write of them in progress and copies the rest of their frame
// into a buffer of the writer's own, which goes out in their place.
func (w *writer) reclaim(l *lending) {
	w.mu.Lock()
	w.reclaimLocked(l)
	w.mu.Unlock()
}

func (w *writer) reclaimLocked(l *lending) {
	for !l.returned {
		i := slices.IndexFunc(w.queue, func(q queued) bool { return q.lent == l })
		if i == 0 && w.lentInFlight {
			w.space.Wait()
			continue
		}
		if i >= 0 {
			q := &w.queue[i]
			bp := getBuf(chunkHeadroom + q.size)
			at := chunkHeadroom
			for _, s := range q.appendRange(nil, 0, q.size) {
				at += copy((*bp)[at:], s)
			}
			if q.bp != nil {
				putBuf(q.bp)
			}
			q.b, q.bp, q.refs, q.lent = *bp, bp, nil, nil
		}
		l.returned = true
	}
}

// commitAsync stores the extended buffer, unlocks it and leaves the writing to the
// background goroutine.
func (w *writer) commitAsync(b []byte) {
	w.asyncQueued += len(b) - len(w.buf)
	w.buf = b
	w.senders.Add(-1)
	w.mu.Unlock()
	w.signal()
}

func (w *writer) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// flushLocked writes out the buffer and, withQueue, the next piece of the chunk queue. It is
// called with mu held and no write in progress, releases mu during the write, and returns
// with mu held. It returns when the write started, in nanos (see clock).
func (w *writer) flushLocked(withQueue bool) (started int64, _ error) {
	w.writing = true
	out := w.buf
	w.buf, w.spare = w.spare[:0], nil
	w.asyncQueued = 0
	w.deferredEnd = 0
	if w.deferred.Load() {
		w.deferred.Store(false)
	}
	vec := w.vecArr[:0]
	if len(out) > 0 {
		vec = append(vec, out)
	}
	piece := withQueue && w.sendable()
	if piece {
		vec = w.appendPiece(vec)
		w.lentInFlight = w.queue[0].lent != nil
	}
	w.mu.Unlock()
	w.space.Broadcast()
	var err error
	// Moving the deadline costs a timer on some transports (net.Pipe), so it is moved only
	// when less than 3/4 of the timeout is left: a stalled write fails after 3/4 to all of it.
	now := w.clock.nanos()
	if time.Duration(w.deadline-now) < w.timeout*3/4 {
		w.deadline = now + int64(w.timeout)
		err = w.conn.SetWriteDeadline(w.clock.at(w.deadline))
	}
	if err == nil {
		switch len(vec) {
		case 0:
		case 1:
			_, err = w.conn.Write(vec[0])
		default:
			w.vec = vec
			_, err = w.vec.WriteTo(w.conn) // one writev on TCP and Unix sockets
		}
	}
	clear(w.vecArr[:]) // keep no lent slice alive
	w.mu.Lock()
	w.writing = false
	if w.lentInFlight {
		w.lentInFlight = false
		w.space.Broadcast() // for reclaimLocked
	}
	if err == nil && piece {
		w.pieceWritten()
	}
	if cap(out) <= 1<<20 { // don't pin a buffer grown by one large frame
		w.spare = out[:0]
	} else {
		large := out[:0]
		putBuf(&large) // pooled if it came from getBuf
	}
	if err != nil && w.err == nil {
		w.err = err
	}
	return now, err
}

// loop writes for commitAsync and finishes a graceful stop. It returns on quit, on a write
// error (reported to onErr), or once stopped with nothing left to write.
func (w *writer) loop() {
	defer close(w.exited)
	// starved runs out when chunks have waited a whole write timeout for the other side
	// to open its window: like a write that stalls that long, a slow consumer.
	starved := time.NewTimer(time.Hour)
	starved.Stop()
	defer starved.Stop()
	var starving bool
	for {
		select {
		case <-w.wake:
		case <-w.quit:
			return
		case <-starved.C:
			w.onErr(fmt.Errorf("%w: no window to send in for %v", os.ErrDeadlineExceeded, w.timeout))
			return
		}
		w.mu.Lock()
		var err error
		if !w.writing && (len(w.buf) > 0 || w.sendable()) {
			_, err = w.flushLocked(true)
			if len(w.buf) > 0 || w.sendable() {
				w.signal()
			}
		}
		done := w.err != nil && !w.writing && len(w.buf) == 0 && len(w.queue) == 0
		waiting := len(w.queue) > 0 && !w.sendable()
		w.mu.Unlock()
		if err != nil {
			w.onErr(err)
			return
		}
		if done {
			return
		}
		if waiting != starving {
			starving = waiting
			if waiting {
				starved.Reset(w.timeout)
			} else {
				starved.Stop()
			}
		}
	}
}

// stop makes every later begin fail with err. With flush, the background goroutine writes
// out what is buffered before it returns; without, it returns at once.
func (w *writer) stop(err error, flush bool) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
	w.space.Broadcast()
	if flush {
		w.signal()
		return
	}
	close(w.quit)
}

// largeFrame is a frame whose values make it large (see planLarge). It is encoded into a
// buffer of its own, sized in advance, without holding the write buffer (encoding into a
// buffer grown by doubling would allocate, zero, fault in and copy the payload's size
// several times over), and goes out through sendOwn.
//
// Where the codec can leave values out of a list (listExcepter) and the connection writes
// vectors (a TCP or Unix socket), the byte slices and strings of refMin bytes or more
// among the values are not copied at all: the writer sends them from where they lie, in
// the same writev as the rest of the frame. A string cannot change meanwhile. A byte slice
// can, so it is left out only when its owner can wait to get it back (lendBytes): a
// caller blocked in Call until its result arrives (reclaim), a handler's goroutine until
// its result is written (awaitReturn).
type largeFrame struct {
	bp     *[]byte
	except []int    // indexes of the values left out of the encoding
	refs   []ref    // their bytes, once encoded
	lent   *lending // set by sendOwn if refs hold byte slices

	bytesLent bool // refs hold byte slices, which their owner wants back
}

// refMin is the size from which a byte slice or string is written from where it lies
// rather than copied into a large frame's buffer.
const refMin = 16 << 10

// ownThreshold is the payload size from which frames are encoded into a buffer of their
// own, sized in advance.
const ownThreshold = 64 << 10

// planLarge returns nil unless vals, the values of a frame, make it large: byte slices and
// strings of ownThreshold bytes or more in all. If they do, it chooses the values to leave
// out and takes a buffer for the rest. refs says whether values may be left out at all.
func planLarge(vals []any, refs, lendBytes bool) *largeFrame {
	total, kept := 0, 0
	var except []int
	for i, v := range vals {
		var n int
		leave := refs
		switch x := v.(type) {
		case []byte:
			n, leave = len(x), refs && lendBytes
		case string:
			n = len(x)
		default:
			continue
		}
		total += n
		if leave && n >= refMin {
			except = append(except, i)
		} else {
			kept += n
		}
	}
	if total < ownThreshold {
		return nil
	}
	// The buffer's size: + headers, method name, other values.
	return &largeFrame{bp: getBuf(chunkHeadroom + kept + 1024), except: except}
}

// encode appends vals, as a list, to dst, leaving out the values planLarge chose; it
// returns the extended slice and the number of bytes left out. A nil f (a frame that is
// not large, encoded into the write buffer) leaves nothing out.
func (f *largeFrame) encode(c Codec, dst []byte, vals []any) (out []byte, left int, err error) {
	if f == nil || len(f.except) == 0 {
		out, err = appendList(c, dst, vals)
		return out, 0, err
	}
	var at []int
	out, at, err = appendListExcept(c.(listExcepter), dst, vals, f.except)
	if err != nil {
		return out, 0, err
	}
	if len(at) != len(f.except) {
		return dst, 0, fmt.Errorf("codec %s left out %d values, not %d", c.Name(), len(at), len(f.except))
	}
	f.refs = make([]ref, len(at))
	for k, i := range f.except {
		var b []byte
		switch x := vals[i].(type) {
		case []byte:
			b, f.bytesLent = x, true
		case string:
			b = unsafe.Slice(unsafe.StringData(x), len(x)) // only ever read, by write(2)
		}
		f.refs[k] = ref{at: at[k] - chunkHeadroom, b: b}
		left += len(b)
	}
	return out, left, nil
}

// ownedBy returns f.bp if b, encoded into it, still lives in it, or else recycles f.bp
// (the encoder outgrew it) and returns nil.
func (f *largeFrame) ownedBy(b []byte) *[]byte {
	if cap(b) == cap(*f.bp) {
		return f.bp
	}
	putBuf(f.bp)
	return nil
}

// release recycles f's buffer, for a frame that is not sent.
func (f *largeFrame) release() { putBuf(f.bp) }
