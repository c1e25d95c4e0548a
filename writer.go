package tandem

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// writer coalesces the frames of every goroutine using a connection into few writes.
// Senders append encoded frames to one buffer under mu (begin then commit, or beginAsync
// then commitAsync). The last of a group of concurrent senders writes the buffer out itself,
// with every frame the group appended: a burst of small calls costs one syscall, and a lone
// caller's frame goes out at once, without a hand-off to another goroutine. The
// connection's reader only uses beginAsync and commitAsync, and a background goroutine
// writes for it: a reader that wrote could deadlock against a peer whose reader is writing
// too.
type writer struct {
	conn    net.Conn
	limit   int           // buffered bytes beyond which senders wait
	timeout time.Duration // bound on each write
	onErr   func(error)

	mu       sync.Mutex
	space    sync.Cond // signalled when the buffer is taken or the writer stops
	buf      []byte    // frames waiting to be written
	spare    []byte    // the previous buffer, reused
	writing  bool      // a goroutine is writing; it holds no lock meanwhile
	err      error     // set once: no more frames are accepted
	deadline time.Time // the write deadline last set on conn

	asyncQueued int // bytes of the reader's frames in buf

	senders atomic.Int32 // goroutines between begin and commit, holding or waiting for mu

	wake   chan struct{} // there is work for the background goroutine
	quit   chan struct{} // stop at once, dropping buffered frames
	exited chan struct{} // the background goroutine returned
}

// asyncLimit bounds the bytes of frames the connection's reader may have waiting in the
// write buffer (pongs, refusals): about 2,900 pongs.
const asyncLimit = 64 << 10

func newWriter(conn net.Conn, limit int, timeout time.Duration, onErr func(error)) *writer {
	w := &writer{conn: conn, limit: limit, timeout: timeout, onErr: onErr, wake: make(chan struct{}, 1), quit: make(chan struct{}), exited: make(chan struct{})}
	w.space.L = &w.mu
	return w
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
func (w *writer) commit(b []byte) {
	w.buf = b
	last := w.senders.Add(-1) == 0
	if !last || w.writing || len(w.buf) == 0 {
		w.mu.Unlock()
		return
	}
	err := w.flushLocked()
	more := len(w.buf) > 0 || w.err != nil
	w.mu.Unlock()
	if err != nil {
		w.onErr(err)
		return
	}
	if more {
		w.signal()
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

// flushLocked writes out the buffer. It is called with mu held and no write in progress,
// releases mu during the write, and returns with mu held.
func (w *writer) flushLocked() error {
	w.writing = true
	out := w.buf
	w.buf, w.spare = w.spare[:0], nil
	w.asyncQueued = 0
	w.mu.Unlock()
	w.space.Broadcast()
	var err error
	// Moving the deadline costs a timer on some transports (net.Pipe), so it is moved only
	// when less than 3/4 of the timeout is left: a stalled write fails after 3/4 to all of it.
	if now := time.Now(); w.deadline.Sub(now) < w.timeout*3/4 {
		w.deadline = now.Add(w.timeout)
		err = w.conn.SetWriteDeadline(w.deadline)
	}
	if err == nil {
		_, err = w.conn.Write(out)
	}
	w.mu.Lock()
	w.writing = false
	if cap(out) <= 1<<20 { // don't pin a buffer grown by one large frame
		w.spare = out[:0]
	} else {
		large := out[:0]
		putBuf(&large) // pooled if it came from reserve
	}
	if err != nil && w.err == nil {
		w.err = err
	}
	return err
}

// loop writes for commitAsync and finishes a graceful stop. It returns on quit, on a write
// error (reported to onErr), or once stopped with nothing left to write.
func (w *writer) loop() {
	defer close(w.exited)
	for {
		select {
		case <-w.wake:
		case <-w.quit:
			return
		}
		w.mu.Lock()
		var err error
		if !w.writing && len(w.buf) > 0 {
			err = w.flushLocked()
			if len(w.buf) > 0 {
				w.signal()
			}
		}
		done := w.err != nil && !w.writing && len(w.buf) == 0
		w.mu.Unlock()
		if err != nil {
			w.onErr(err)
			return
		}
		if done {
			return
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

// reserve returns dst with room for n more bytes. A frame with a large payload is encoded
// into a pooled buffer of its size class, taken once, rather than into one the encoder
// grows by doubling: each doubling is a fresh allocation the size of the payload, zeroed
// and faulted in, and a copy.
func reserve(dst []byte, n int) []byte {
	if cap(dst)-len(dst) >= n {
		return dst
	}
	bp := getBuf(len(dst) + n)
	return append((*bp)[:0], dst...)
}

// payloadHint estimates the encoded size of vals from its byte slices and strings, the
// values that make frames large; 0 if there are none to speak of.
func payloadHint(vals []any) int {
	n := 0
	for _, v := range vals {
		switch x := v.(type) {
		case []byte:
			n += len(x)
		case string:
			n += len(x)
		}
	}
	if n < reserveThreshold {
		return 0
	}
	return n + 1024 // headers, method name, other arguments
}

// reserveThreshold is the payload size from which frames are encoded into a buffer sized
// in advance.
const reserveThreshold = 64 << 10
