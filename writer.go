package tandem

import (
	"net"
	"sync"
)

// writer coalesces the frames of every goroutine using a connection into few writes. Senders
// append encoded frames to one buffer under mu (begin/commit); a single goroutine swaps the
// buffer out and writes it whole, so a burst of small calls costs one syscall.
type writer struct {
	conn  net.Conn
	limit int // buffered bytes beyond which senders wait for the writer

	mu    sync.Mutex
	space sync.Cond // signalled when the buffer is swapped out or the writer stops
	buf   []byte
	err   error // set once: no more frames are accepted

	wake   chan struct{} // a frame was committed
	quit   chan struct{} // stop at once, dropping buffered frames
	exited chan struct{} // the loop returned
}

func newWriter(conn net.Conn, limit int) *writer {
	w := &writer{conn: conn, limit: limit, wake: make(chan struct{}, 1), quit: make(chan struct{}), exited: make(chan struct{})}
	w.space.L = &w.mu
	return w
}

// begin locks the buffer for appending and returns it, or the writer's terminal error. On
// success the caller must call commit, with the buffer extended or as it was.
func (w *writer) begin() ([]byte, error) {
	w.mu.Lock()
	for w.err == nil && len(w.buf) >= w.limit {
		w.space.Wait()
	}
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return nil, err
	}
	return w.buf, nil
}

// commit stores the extended buffer, unlocks it and wakes the loop.
func (w *writer) commit(b []byte) {
	w.buf = b
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// loop writes out committed frames until stop or a write error, which it reports to onErr.
func (w *writer) loop(onErr func(error)) {
	defer close(w.exited)
	var spare []byte
	for {
		select {
		case <-w.wake:
		case <-w.quit:
			return
		}
		w.mu.Lock()
		out := w.buf
		w.buf = spare[:0]
		stopping := w.err != nil
		w.mu.Unlock()
		w.space.Broadcast()
		if len(out) > 0 {
			if _, err := w.conn.Write(out); err != nil {
				onErr(err)
				return
			}
		}
		if cap(out) > 1<<20 {
			out = nil // don't pin a buffer grown by one large frame
		}
		spare = out[:0]
		if stopping {
			return
		}
	}
}

// stop makes every later begin fail with err. With flush, the loop writes out what is
// buffered before it returns; without, it returns at once.
func (w *writer) stop(err error, flush bool) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
	w.space.Broadcast()
	if flush {
		select {
		case w.wake <- struct{}{}:
		default:
		}
		return
	}
	close(w.quit)
}
