package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// The raw TCP floor's frame: a 4-byte length (of what follows), an 8-byte request id, and
// the payload. The server echoes each frame as it is. Add sends a and b and sums the echo.
const rawHeader = 4 + 8

// readRawHeader reads a frame header into hdr and returns the payload's length.
func readRawHeader(br *bufio.Reader, hdr *[rawHeader]byte) (int, error) {
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return 0, err
	}
	n := int(binary.BigEndian.Uint32(hdr[:4])) - 8
	if n < 0 || n > 4*maxMessage {
		return 0, fmt.Errorf("rawtcp: bad frame length %d", n+8)
	}
	return n, nil
}

func putRawHeader(hdr []byte, id uint64, n int) {
	binary.BigEndian.PutUint32(hdr[:4], uint32(8+n))
	binary.BigEndian.PutUint64(hdr[4:rawHeader], id)
}

func dialRaw(ctx context.Context, addr string, shared bool) (client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if shared {
		return newRawMux(conn), nil
	}
	return &rawDirect{conn: conn, br: bufio.NewReaderSize(conn, 64<<10)}, nil
}

// rawDirect is the floor for one caller: write the frame, read the answer, on the calling
// goroutine. Small frames go out in one write, large ones with writev (no copy).
type rawDirect struct {
	conn    net.Conn
	br      *bufio.Reader
	id      uint64
	scratch [rawHeader + 16]byte
	hdr     [rawHeader]byte
}

func (c *rawDirect) Add(_ context.Context, a, b int64) (int64, error) {
	c.id++
	f := c.scratch[:]
	putRawHeader(f, c.id, 16)
	binary.BigEndian.PutUint64(f[rawHeader:], uint64(a))
	binary.BigEndian.PutUint64(f[rawHeader+8:], uint64(b))
	if _, err := c.conn.Write(f); err != nil {
		return 0, err
	}
	if _, err := io.ReadFull(c.br, f); err != nil {
		return 0, err
	}
	if binary.BigEndian.Uint64(f[4:]) != c.id {
		return 0, errors.New("rawtcp: reply out of order")
	}
	return int64(binary.BigEndian.Uint64(f[rawHeader:]) + binary.BigEndian.Uint64(f[rawHeader+8:])), nil
}

func (c *rawDirect) Echo(_ context.Context, b []byte) ([]byte, error) {
	c.id++
	putRawHeader(c.hdr[:], c.id, len(b))
	bufs := net.Buffers{c.hdr[:], b}
	if _, err := bufs.WriteTo(c.conn); err != nil {
		return nil, err
	}
	n, err := readRawHeader(c.br, &c.hdr)
	if err != nil {
		return nil, err
	}
	out := make([]byte, n)
	if _, err := io.ReadFull(c.br, out); err != nil {
		return nil, err
	}
	return out, nil
}

func (c *rawDirect) Close() error { return c.conn.Close() }

// rawMux is the floor for many callers on one connection: request ids, a map of waiting
// callers, one reader goroutine, and writes batched so that the last of a burst of callers
// flushes for all.
type rawMux struct {
	conn net.Conn

	wmu    sync.Mutex // guards bw
	bw     *bufio.Writer
	queued atomic.Int32 // callers writing or waiting to write; the last one out flushes

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan rawReply
	err     error // set when the reader stops; pending is then empty for good

	done chan struct{}
}

type rawReply struct {
	b   []byte
	err error
}

var rawReplyChans = sync.Pool{New: func() any { return make(chan rawReply, 1) }}

func newRawMux(conn net.Conn) *rawMux {
	m := &rawMux{conn: conn, bw: bufio.NewWriterSize(conn, 64<<10), pending: map[uint64]chan rawReply{}, done: make(chan struct{})}
	go m.read()
	return m
}

func (m *rawMux) read() {
	defer close(m.done)
	br := bufio.NewReaderSize(m.conn, 64<<10)
	var hdr [rawHeader]byte
	var err error
	for {
		var n int
		if n, err = readRawHeader(br, &hdr); err != nil {
			break
		}
		b := make([]byte, n)
		if _, err = io.ReadFull(br, b); err != nil {
			break
		}
		id := binary.BigEndian.Uint64(hdr[4:])
		m.mu.Lock()
		ch := m.pending[id]
		delete(m.pending, id)
		m.mu.Unlock()
		if ch != nil {
			ch <- rawReply{b: b}
		}
	}
	m.mu.Lock()
	m.err = err
	for id, ch := range m.pending {
		ch <- rawReply{err: err}
		delete(m.pending, id)
	}
	m.mu.Unlock()
}

func (m *rawMux) call(payload []byte) ([]byte, error) {
	ch := rawReplyChans.Get().(chan rawReply)
	m.mu.Lock()
	if m.err != nil {
		m.mu.Unlock()
		return nil, m.err
	}
	m.nextID++
	id := m.nextID
	m.pending[id] = ch
	m.mu.Unlock()

	var hdr [rawHeader]byte
	putRawHeader(hdr[:], id, len(payload))
	m.queued.Add(1)
	m.wmu.Lock()
	m.bw.Write(hdr[:])
	m.bw.Write(payload)
	var err error
	if m.queued.Add(-1) == 0 {
		err = m.bw.Flush()
	}
	m.wmu.Unlock()
	if err != nil {
		m.conn.Close() // the reader fails every pending call, this one included
	}
	r := <-ch
	rawReplyChans.Put(ch)
	return r.b, r.err
}

func (m *rawMux) Add(_ context.Context, a, b int64) (int64, error) {
	var p [16]byte
	binary.BigEndian.PutUint64(p[:], uint64(a))
	binary.BigEndian.PutUint64(p[8:], uint64(b))
	r, err := m.call(p[:])
	if err != nil {
		return 0, err
	}
	if len(r) != 16 {
		return 0, errors.New("rawtcp: short reply")
	}
	return int64(binary.BigEndian.Uint64(r) + binary.BigEndian.Uint64(r[8:])), nil
}

func (m *rawMux) Echo(_ context.Context, b []byte) ([]byte, error) { return m.call(b) }

func (m *rawMux) Close() error {
	err := m.conn.Close()
	<-m.done
	return err
}
