package tandem

import (
	"bufio"
	"context"
	"encoding/binary"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/tandem-rpc/tandem/codec/msgpack"
	"github.com/tandem-rpc/tandem/wire"
)

// scriptConn is a net.Conn whose other side is a function: each whole frame written to it
// is answered at once with the bytes answer appends, which later Reads return. A peer over
// it never waits and never enters the kernel, so a benchmark over it measures one side's
// own work for a call, without the other side's and without the noise of a shared machine.
//
// A Read with nothing to return blocks until a write answers or the read deadline is moved
// to the past; a future deadline does not end a blocked Read on its own.
type scriptConn struct {
	answer func(dst, frame []byte) []byte

	mu       sync.Mutex
	cond     sync.Cond
	in       []byte // answered bytes not read yet
	out      []byte // written bytes that do not make a whole frame yet
	inBuf    []byte // the array in starts over in once read, so that it is reused
	outBuf   []byte // the same for out
	deadline time.Time
	closed   bool
}

func newScriptConn(answer func(dst, frame []byte) []byte) *scriptConn {
	c := &scriptConn{answer: answer}
	c.cond.L = &c.mu
	return c
}

func (c *scriptConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.in) == 0 {
		switch {
		case c.closed:
			return 0, net.ErrClosed
		case !c.deadline.IsZero() && !time.Now().Before(c.deadline):
			return 0, os.ErrDeadlineExceeded
		}
		c.cond.Wait()
	}
	n := copy(b, c.in)
	if c.in = c.in[n:]; len(c.in) == 0 {
		c.in = c.inBuf[:0]
	}
	return n, nil
}

func (c *scriptConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	if c.out = append(c.out, b...); cap(c.out) > cap(c.outBuf) {
		c.outBuf = c.out[:0]
	}
	for len(c.out) >= wire.LengthSize {
		n := wire.LengthSize + int(binary.BigEndian.Uint32(c.out))
		if len(c.out) < n {
			break
		}
		if c.in = c.answer(c.in, c.out[wire.LengthSize:n]); cap(c.in) > cap(c.inBuf) {
			c.inBuf = c.in[:0]
		}
		c.out = c.out[n:]
	}
	if len(c.out) == 0 {
		c.out = c.outBuf[:0]
	}
	c.cond.Broadcast()
	return len(b), nil
}

func (c *scriptConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.cond.Broadcast()
	return nil
}

func (c *scriptConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	c.cond.Broadcast()
	return nil
}

func (c *scriptConn) SetDeadline(t time.Time) error    { return c.SetReadDeadline(t) }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }
func (c *scriptConn) LocalAddr() net.Addr              { return scriptAddr{} }
func (c *scriptConn) RemoteAddr() net.Addr             { return scriptAddr{} }
func (scriptAddr) Network() string                     { return "script" }
func (scriptAddr) String() string                      { return "script" }

type scriptAddr struct{}

// benchAdd is the small call of the benchmark suite (bench/), registered with
// RegisterMethods and a handler that decodes into a struct of its own.
func benchAdd(srv *Server) error {
	return srv.RegisterMethods("Bench", []Method{{
		Name: "Add", NumArgs: 2, HasResult: true,
		Signature: "func(ctx context.Context, a int64, b int64) (int64, error)",
		Invoke: func(ctx context.Context, args Args) (any, error) {
			var in struct{ a, b int64 }
			if err := args.Decode(&in.a, &in.b); err != nil {
				return nil, err
			}
			return in.a + in.b, nil
		},
	}})
}

// scriptPeer starts a peer over a scriptConn, as if its handshake had agreed msgpack.
func scriptPeer(b *testing.B, srv *Server, dialer bool, conn *scriptConn) *Peer {
	p := newPeer(srv, conn, bufio.NewReader(conn), msgpack.New(), dialer, limits{maxFrameSize: wire.DefaultMaxFrameSize}, Identity{})
	b.Cleanup(func() {
		p.Close()
		<-p.Done()
	})
	return p
}

// Large operands, as the suite's: their sum does not fit the runtime's preallocated
// small integers, so boxing it allocates.
const benchA, benchB = int64(1) << 40, int64(12345)

// BenchmarkServerSide measures what a server does for one small call: read its frame, run
// the handler on the reading goroutine, write the reply.
func BenchmarkServerSide(b *testing.B) {
	srv, err := NewServer()
	if err != nil {
		b.Fatal(err)
	}
	if err := benchAdd(srv); err != nil {
		b.Fatal(err)
	}
	payload, err := msgpack.New().AppendList(nil, []any{benchA, benchB})
	if err != nil {
		b.Fatal(err)
	}
	call := wire.AppendCall(nil, wire.KindCall, 1, 0, "Bench.Add", nil, payload)
	replies, finished := 0, make(chan struct{})
	conn := newScriptConn(func(dst, frame []byte) []byte {
		if replies++; replies == b.N {
			close(finished)
			return dst
		}
		return append(dst, call...)
	})
	conn.in = append(conn.in, call...)
	b.ReportAllocs()
	b.ResetTimer()
	scriptPeer(b, srv, false, conn)
	<-finished
	b.StopTimer()
}

// BenchmarkClientSide measures what a caller does for one small call: write its frame,
// read the reply itself and decode the result.
func BenchmarkClientSide(b *testing.B) {
	srv, err := NewServer()
	if err != nil {
		b.Fatal(err)
	}
	result, err := msgpack.New().AppendList(nil, []any{benchA + benchB})
	if err != nil {
		b.Fatal(err)
	}
	conn := newScriptConn(func(dst, frame []byte) []byte {
		id := binary.BigEndian.Uint64(frame[2:])
		start := len(dst)
		dst = wire.AppendHeader(dst, wire.KindReply, 0, id, 0)
		dst = append(dst, result...)
		return wire.FinishFrame(dst, start)
	})
	p := scriptPeer(b, srv, true, conn)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		var r int64
		if err := p.Call(ctx, "Bench.Add", &r, benchA, benchB); err != nil {
			b.Fatal(err)
		}
		if r != benchA+benchB {
			b.Fatalf("got %d", r)
		}
	}
}
