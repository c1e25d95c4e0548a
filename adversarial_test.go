package tandem_test

// Adversarial tests: a peer that sends what no tandem peer would. Each checks the
// behaviour and a bound on what it costs the other side: heap, goroutines and fds.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tandem-rpc/tandem"
	"github.com/tandem-rpc/tandem/codec/gob"
	"github.com/tandem-rpc/tandem/codec/json"
	"github.com/tandem-rpc/tandem/codec/msgpack"
	"github.com/tandem-rpc/tandem/internal/codectest"
	"github.com/tandem-rpc/tandem/wire"
)

// resources is what this process holds at one moment.
type resources struct {
	goroutines int
	fds        int    // open file descriptors; -1 without /proc
	heap       uint64 // live heap (HeapAlloc) after a garbage collection
	totalAlloc uint64
}

func measure() resources {
	runtime.GC()
	runtime.GC() // objects with finalizers, such as closed connections, go on the second
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return resources{goroutines: runtime.NumGoroutine(), fds: openFDs(), heap: ms.HeapAlloc, totalAlloc: ms.TotalAlloc}
}

func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// settle waits up to 10s for goroutines and fds to fall back to base, as sockets close and
// the goroutines serving them exit, and fails with a goroutine dump if they do not. It also
// fails if the heap, after a collection, grew by more than heapSlack.
func settle(t *testing.T, base resources, heapSlack uint64) resources {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for pause := time.Millisecond; ; pause = min(2*pause, 100*time.Millisecond) {
		now := measure()
		if now.goroutines <= base.goroutines && now.fds <= base.fds {
			if now.heap > base.heap+heapSlack {
				t.Errorf("live heap grew from %d to %d KiB, allowed %d KiB", base.heap>>10, now.heap>>10, heapSlack>>10)
			}
			return now
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("after 10s: goroutines %d, want at most %d; fds %d, want at most %d\n%s", now.goroutines, base.goroutines, now.fds, base.fds, buf)
		}
		time.Sleep(pause)
	}
}

// peaks samples the heap (live and not yet collected) and the goroutine count until stopped.
type peaks struct {
	stop, done chan struct{}
	heap       uint64
	goroutines int
}

func watchPeaks() *peaks {
	pk := &peaks{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(pk.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			pk.heap = max(pk.heap, ms.HeapAlloc)
			pk.goroutines = max(pk.goroutines, runtime.NumGoroutine()-1)
			select {
			case <-tick.C:
			case <-pk.stop:
				return
			}
		}
	}()
	return pk
}

func (pk *peaks) end() *peaks {
	close(pk.stop)
	<-pk.done
	return pk
}

// heapGrowth is how far the peak heap rose above base, in KiB.
func (pk *peaks) heapGrowth(base resources) int64 {
	return (int64(pk.heap) - int64(base.heap)) >> 10
}

// Gate's handlers run until released or cancelled, counting how many run at once.
type Gate struct {
	running, peak, ran atomic.Int64
	release            chan struct{} // closed to let every handler return
	reached            chan struct{} // closed when the handler has been entered n times
	n                  int64
}

func newGate() *Gate { return &Gate{release: make(chan struct{})} }

// newGateAt returns a gate whose reached channel is closed on the nth handler's entry.
func newGateAt(n int64) *Gate {
	return &Gate{release: make(chan struct{}), reached: make(chan struct{}), n: n}
}

func (g *Gate) enter() {
	if g.ran.Add(1) == g.n && g.reached != nil {
		close(g.reached)
	}
	n := g.running.Add(1)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
}

// Wait returns when the gate opens or ctx ends.
func (g *Gate) Wait(ctx context.Context) error {
	g.enter()
	defer g.running.Add(-1)
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Slow takes a millisecond, whatever happens.
func (g *Gate) Slow() {
	g.enter()
	defer g.running.Add(-1)
	time.Sleep(time.Millisecond)
}

// Linger notices its cancellation only a millisecond late, as many real handlers do, so
// that cancelled calls keep their slots for a while.
func (g *Gate) Linger(ctx context.Context) error {
	g.enter()
	defer g.running.Add(-1)
	<-ctx.Done()
	t := time.NewTimer(time.Millisecond)
	defer t.Stop()
	<-t.C
	return ctx.Err()
}

// Tree nests without bound.
type Tree struct{ Kids []Tree }

func (t Tree) depth() int {
	d := 1
	for len(t.Kids) > 0 {
		d, t = d+1, t.Kids[0]
	}
	return d
}

// Sink takes arguments of the shapes decoder bombs target.
type Sink struct{}

func (Sink) Tree(t Tree) int             { return t.depth() }
func (Sink) Any(v any) bool              { return v != nil }
func (Sink) Ints(v []int) int            { return len(v) }
func (Sink) Text(s string) int           { return len(s) }
func (Sink) Bytes(b []byte) int          { return len(b) }
func (Sink) Dict(m map[string]int) int   { return len(m) }
func (Sink) Anys(v []any) int            { return len(v) }
func (Sink) Nothing(ctx context.Context) {}

// rawCodecConn opens a TCP connection and completes the handshake by hand with codec.
func rawCodecConn(t *testing.T, addr, codec string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(addr, "tcp://"))
	must(t, err)
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	_, err = c.Write(wire.AppendHello(nil, wire.Hello{Version: wire.Version, MaxFrameSize: wire.DefaultMaxFrameSize, Codec: codec}))
	must(t, err)
	w, err := wire.ReadWelcome(br)
	must(t, err)
	if w.Status != wire.StatusOK {
		t.Fatalf("welcome: %+v", w)
	}
	return c, br
}

// rawFrame builds a frame from its parts, with a length prefix that matches them.
func rawFrame(k wire.Kind, id uint64, body ...[]byte) []byte {
	b := bytes.Join(body, nil)
	return append(wire.AppendHeader(nil, k, 0, id, len(b)), b...)
}

func be16(n int) []byte    { return binary.BigEndian.AppendUint16(nil, uint16(n)) }
func be64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// validStream is a handshake and a few frames of every kind a dialer sends.
func validStream() []byte {
	s := wire.AppendHello(nil, wire.Hello{Version: wire.Version, MaxFrameSize: wire.DefaultMaxFrameSize, Codec: "msgpack"})
	s = append(s, callFrame(1, "Calc.Add", []byte{0x92, 1, 2})...)
	s = wire.AppendCall(s, wire.KindNotify, 0, 0, "Calc.Add", []wire.Meta{{Key: "k", Value: "v"}}, []byte{0x92, 1, 2})
	s = append(s, callFrame(3, "Calc.Block", []byte{0x90})...)
	s = wire.AppendCancel(s, 3)
	s = wire.AppendPing(s, wire.KindPing, [8]byte{1, 2, 3})
	s = append(s, callFrame(5, "Calc.Echo", []byte{0x91, 0xc4, 5, 'h', 'e', 'l', 'l', 'o'})...)
	s = wire.AppendGoAway(s, 0, uint16(tandem.CodeUnavailable), "bye")
	return s
}

func TestAdversarialTruncatedStreams(t *testing.T) {
	srv := newServer(t)
	must(t, srv.Register(&Calc{}))
	addr := strings.TrimPrefix(serveOn(t, srv), "tcp://")
	stream := validStream()
	base := measure()
	pk := watchPeaks()
	for cut := 0; cut <= len(stream); cut++ {
		c, err := net.Dial("tcp", addr)
		must(t, err)
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(stream[:cut]); err != nil {
			t.Fatalf("cut at %d: write: %v", cut, err)
		}
		if cut%2 == 0 {
			// Half-close, then the server must close its side: read to EOF.
			must(t, c.(*net.TCPConn).CloseWrite())
			if _, err := io.Copy(io.Discard, c); err != nil {
				t.Fatalf("cut at %d of %d bytes: the server did not close the connection: %v", cut, len(stream), err)
			}
		}
		c.Close() // odd cuts: vanish at once
	}
	pk.end()
	healthy(t, addr)
	after := settle(t, base, 2<<20)
	t.Logf("%d truncation points of a %d-byte stream: 0 crashes; peak goroutines %d (base %d), peak heap +%d KiB; goroutines %d -> %d, fds %d -> %d",
		len(stream)+1, len(stream), pk.goroutines, base.goroutines, pk.heapGrowth(base), base.goroutines, after.goroutines, base.fds, after.fds)
}

func (s *logSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// hasAfter waits up to 10s for a record after the first from that mentions part.
func (s *logSink) hasAfter(from int, part string) bool {
	timeout := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		for _, m := range s.msgs[from:] {
			if strings.Contains(m, part) {
				s.mu.Unlock()
				return true
			}
		}
		s.mu.Unlock()
		select {
		case <-s.logged:
		case <-timeout:
			return false
		}
	}
}

func TestAdversarialInconsistentInnerLengths(t *testing.T) {
	addr, sink := hostileServer(t)
	method := []byte("Calc.Add")
	timeout := be64(uint64(time.Second))
	payload := []byte{0x92, 1, 2}
	tests := []struct {
		name  string
		frame []byte
	}{
		{"method length 65535 in a short frame", rawFrame(wire.KindCall, 1, timeout, be16(0xFFFF), method)},
		{"method length one past the end", rawFrame(wire.KindCall, 1, timeout, be16(len(method)+3), method, be16(0))},
		{"method length and no metadata count", rawFrame(wire.KindCall, 1, timeout, be16(len(method)), method)},
		{"timeout cut short", rawFrame(wire.KindCall, 1, timeout[:5])},
		{"timeout above MaxInt64", rawFrame(wire.KindCall, 1, be64(1<<63), be16(len(method)), method, be16(0), payload)},
		{"64 metadata entries declared, 1 present", rawFrame(wire.KindCall, 1, timeout, be16(len(method)), method, be16(64), be16(1), []byte("k"), be16(1), []byte("v"), payload)},
		{"65535 metadata entries declared", rawFrame(wire.KindCall, 1, timeout, be16(len(method)), method, be16(0xFFFF), bytes.Repeat([]byte{0}, 64))},
		{"65 metadata entries, over the limit", rawFrame(wire.KindCall, 1, timeout, be16(len(method)), method, be16(65), bytes.Repeat([]byte{0, 1, 'k', 0, 1, 'v'}, 65))},
		{"metadata key past the end", rawFrame(wire.KindNotify, 0, timeout, be16(len(method)), method, be16(1), be16(0xFFF0), []byte("k"))},
		{"metadata value past the end", rawFrame(wire.KindNotify, 0, timeout, be16(len(method)), method, be16(1), be16(1), []byte("k"), be16(9), []byte("v"))},
		{"error message past the end", rawFrame(wire.KindError, 2, be16(2), be16(0), be16(0x8000), []byte("oops"))},
		{"error details past the end", rawFrame(wire.KindError, 2, be16(2), be16(0), be16(4), []byte("oops"), be16(64), be16(1))},
		{"going-away message past the end", rawFrame(wire.KindGoAway, 0, be64(0), be16(14), be16(200), []byte("bye"))},
		{"ping with 4 bytes of data", rawFrame(wire.KindPing, 0, []byte{1, 2, 3, 4})},
		{"cancel with a body", rawFrame(wire.KindCancel, 1, []byte{1})},
	}
	base := measure()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := measure()
			c, br := rawConn(t, addr, true)
			logged := sink.count()
			_, err := c.Write(tt.frame)
			must(t, err)
			expectClosed(t, c, br)
			if !sink.hasAfter(logged, "malformed") {
				t.Fatalf("no protocol error logged; log: %q", sink.msgs)
			}
			if grew := measure().totalAlloc - before.totalAlloc; grew > 1<<20 {
				t.Fatalf("a %d-byte malformed frame cost %d bytes of allocation", len(tt.frame), grew)
			}
		})
	}
	healthy(t, addr)
	after := settle(t, base, 1<<20)
	t.Logf("%d frames with inner lengths inconsistent with their frame: all closed as malformed, 0 crashes; goroutines %d -> %d, fds %d -> %d",
		len(tests), base.goroutines, after.goroutines, base.fds, after.fds)
}

func TestAdversarialUnknownCallIDs(t *testing.T) {
	t.Run("sent to the acceptor", func(t *testing.T) {
		srv := newServer(t)
		must(t, srv.Register(&Calc{}))
		addr := serveOn(t, srv)
		c, br := rawConn(t, strings.TrimPrefix(addr, "tcp://"), true)
		call := func(id uint64, a, b byte) {
			t.Helper()
			_, err := c.Write(callFrame(id, "Calc.Add", []byte{0x92, a, b}))
			must(t, err)
			f := readFrame(t, br)
			if f.Kind != wire.KindReply || f.ID != id || !bytes.Equal(f.Payload, []byte{0x91, a + b}) {
				t.Fatalf("call %d: %v id %d %q %x", id, f.Kind, f.ID, f.Message, f.Payload)
			}
		}
		call(1, 2, 3) // finished: every later frame for id 1 is stale
		base := measure()
		// Results and cancels for ids that are finished, never used, of either parity, or 0.
		var junk []byte
		const rounds = 5000
		for i := range uint64(rounds) {
			for _, id := range []uint64{1, 2, 0, 1<<64 - 1, 1001 + 2*i, 2000 + 2*i} {
				junk = wire.AppendHeader(junk, wire.KindReply, 0, id, 3)
				junk = append(junk, 0x91, 0xa1, 'x')
				junk = wire.AppendError(junk, id, uint16(tandem.CodeInternal), 0, "stale", nil)
				junk = wire.AppendCancel(junk, id)
			}
		}
		_, err := c.Write(junk)
		must(t, err)
		call(3, 4, 5) // after the junk: the connection is up and in sync
		if got := len(srv.Peers()); got != 1 {
			t.Fatalf("server holds %d peers, want 1", got)
		}
		// Call 1 or 3 may have run on the reader or left a worker parked for the next.
		base.goroutines++
		after := settle(t, base, 256<<10)
		t.Logf("%d results and cancels for unknown or finished call ids (%d KiB): ignored, connection kept; goroutines %d -> %d, heap %+d KiB",
			rounds*18, len(junk)>>10, base.goroutines, after.goroutines, (int64(after.heap)-int64(base.heap))>>10)
	})
	t.Run("sent to the dialer", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		must(t, err)
		defer ln.Close()
		base := measure()
		// A hand-made acceptor that answers each call after a burst of stale results.
		served := make(chan error, 1)
		go func() {
			served <- func() error {
				c, err := ln.Accept()
				if err != nil {
					return err
				}
				defer c.Close()
				br := bufio.NewReader(c)
				if _, err := wire.ReadHello(br); err != nil {
					return err
				}
				if _, err := c.Write(wire.AppendWelcome(nil, wire.Welcome{Version: wire.Version, MaxFrameSize: wire.DefaultMaxFrameSize})); err != nil {
					return err
				}
				var hdr [wire.LengthSize]byte
				var finished []uint64
				for {
					n, err := wire.ReadLength(br, &hdr, wire.DefaultMaxFrameSize)
					if err != nil {
						return nil // the client hung up
					}
					buf := make([]byte, n)
					if _, err := io.ReadFull(br, buf); err != nil {
						return err
					}
					f, err := wire.Parse(buf, nil)
					if err != nil || f.Kind != wire.KindCall {
						return fmt.Errorf("client sent %v: %v", f.Kind, err)
					}
					var out []byte
					for _, id := range append(finished, f.ID+2, f.ID+200, 0, 2, 4) {
						out = wire.AppendHeader(out, wire.KindReply, 0, id, 2)
						out = append(out, 0x91, 0x7f)
						out = wire.AppendError(out, id, uint16(tandem.CodeInternal), 0, "stale", nil)
						out = wire.AppendCancel(out, id)
					}
					out = wire.AppendHeader(out, wire.KindReply, 0, f.ID, 2)
					out = append(out, 0x91, byte(f.ID))
					if _, err := c.Write(out); err != nil {
						return err
					}
					finished = append(finished, f.ID)
				}
			}()
		}()
		p, err := tandem.Dial(ctxTimeout(t, 10*time.Second), "tcp://"+ln.Addr().String())
		must(t, err)
		for range 20 {
			var got int
			must(t, p.Call(ctxTimeout(t, 10*time.Second), "Any.Thing", &got))
			if p.Err() != nil {
				t.Fatalf("client peer ended: %v", p.Err())
			}
			if got%2 != 1 {
				t.Fatalf("call got result %d, not its own id", got)
			}
		}
		p.Close()
		must(t, <-served)
		ln.Close()
		after := settle(t, base, 256<<10)
		t.Logf("client ignored stale results for finished, future and foreign ids over 20 calls; goroutines %d -> %d", base.goroutines, after.goroutines)
	})
}

// bomb is one hostile argument list.
type bomb struct {
	name    string
	method  string
	payload []byte
	decodes bool // legitimately decodable: a reply is fine, an error too
}

// gobLastMessage returns the offset of the last message in a gob stream and its type id.
func gobLastMessage(s []byte) (off int, id int64) {
	read := func(p int) (uint64, int) {
		if s[p] < 0x80 {
			return uint64(s[p]), 1
		}
		size := 1 + int(-int8(s[p]))
		var x uint64
		for _, c := range s[p+1 : p+size] {
			x = x<<8 | uint64(c)
		}
		return x, size
	}
	for p := 0; p < len(s); {
		n, size := read(p)
		off = p
		p += size + int(n)
	}
	_, size := read(off)
	u, _ := read(off + size)
	return off, int64(u >> 1)
}

// bombs returns hostile argument lists for a codec, each under the default frame limit.
func bombs(t *testing.T, codec string) []bomb {
	const twoMB = 2 << 20
	rep := func(s string, n int) []byte { return bytes.Repeat([]byte(s), n) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	switch codec {
	case "msgpack":
		return []bomb{
			{"list of 2^32-1 elements", "Sink.Any", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}, false},
			{"array32 of 2^32-1 ints", "Sink.Ints", []byte{0x91, 0xdd, 0xff, 0xff, 0xff, 0xff, 0x01}, false},
			{"map32 of 2^32-1 pairs", "Sink.Dict", []byte{0x91, 0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 'k', 0x01}, false},
			{"str32 of 4 GiB", "Sink.Text", []byte{0x91, 0xdb, 0xff, 0xff, 0xff, 0xff, 'a'}, false},
			{"bin32 of 4 GiB", "Sink.Bytes", []byte{0x91, 0xc6, 0xff, 0xff, 0xff, 0xff, 0x00}, false},
			{"ext32 of 4 GiB", "Sink.Any", []byte{0x91, 0xc9, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00}, false},
			{"array16 of 65535 in 3 bytes", "Sink.Anys", []byte{0x91, 0xdc, 0xff, 0xff, 0xc0}, false},
			{"2 MB of nested arrays into any", "Sink.Any", cat([]byte{0x91}, rep("\x91", twoMB), []byte{0xc0}), false},
			{"2 MB of nested maps into any", "Sink.Any", cat([]byte{0x91}, rep("\x81\xa1k", twoMB/3), []byte{0xc0}), false},
			{"2 MB of nested Trees", "Sink.Tree", cat([]byte{0x91}, rep("\x81\xa4Kids\x91", twoMB/7), []byte{0x80}), false},
			{"2 MB of unterminated nesting", "Sink.Any", cat([]byte{0x91}, rep("\x91", twoMB)), false},
			{"1M empty arrays into []any", "Sink.Anys", cat([]byte{0x91, 0xdd, 0x00, 0x10, 0x00, 0x00}, rep("\x90", 1<<20)), true},
		}
	case "json":
		return []bomb{
			{"2 MB of nested arrays into any", "Sink.Any", cat([]byte("["), rep("[", twoMB/2), rep("]", twoMB/2), []byte("]")), false},
			{"2 MB of nested objects into any", "Sink.Any", cat([]byte("["), rep(`{"a":`, twoMB/6), []byte("null"), rep("}", twoMB/6), []byte("]")), false},
			{"2 MB of nested Trees", "Sink.Tree", cat([]byte("["), rep(`{"Kids":[`, twoMB/11), rep("]}", twoMB/11), []byte("]")), false},
			{"2 MB of unterminated nesting", "Sink.Any", cat([]byte("["), rep("[", twoMB)), false},
			{"a number of 1M digits", "Sink.Any", cat([]byte("[1"), rep("0", 1<<20), []byte("]")), true},
			{"1M empty arrays into []any", "Sink.Anys", cat([]byte("[["), rep("[],", 1<<20), []byte("[]]]")), true},
			{"string of 300k escapes", "Sink.Text", cat([]byte(`["`), rep(`\u00e9`, 300_000), []byte(`"]`)), true},
		}
	case "gob":
		c := gob.New()
		head, err := c.AppendList(nil, []any{Tree{}})
		must(t, err)
		last, treeID := gobLastMessage(head)
		head = head[:last:last] // the list header and Tree's type definitions
		const depth = 1 << 20
		deep := cat(codectest.GobInt(treeID), rep("\x01\x01", depth), rep("\x00", depth+1))
		headerOnly, _ := gobLastMessage(head)
		var chain bytes.Buffer
		chain.Write(head[:headerOnly])
		const types = 100_000
		for id := int64(100); id < 100+types; id++ {
			elem := id + 1
			if id == 100+types-1 {
				elem = 2 // int
			}
			chain.Write(codectest.GobMessage(codectest.GobInt(-id), []byte{2, 1, 1, 1, 's', 1}, codectest.GobInt(id), []byte{0, 1}, codectest.GobInt(elem), []byte{0, 0}))
		}
		chain.Write(codectest.GobMessage(codectest.GobInt(100), []byte{0, 0}))
		return []bomb{
			{"message length 2^39", "Sink.Any", []byte{0xfb, 0x7f, 0xff, 0xff, 0xff, 0xff, 0x01}, false},
			{"slice of 2^40 Trees", "Sink.Tree", cat(head, codectest.GobMessage(codectest.GobInt(treeID), []byte{1}, codectest.GobUint(1<<40), []byte{0})), false},
			{"2 MB of nested Trees", "Sink.Tree", cat(head, codectest.GobMessage(deep)), false},
			{"2 MB of nested Trees into any", "Sink.Any", cat(head, codectest.GobMessage(deep)), false},
			{"100k nested type definitions", "Sink.Ints", chain.Bytes(), true},
		}
	}
	t.Fatalf("no bombs for %s", codec)
	return nil
}

// TestAdversarialDecodeBombs sends decoder bombs for every codec to a server in a child
// process: an unguarded decoder dies of them (stack overflow, out of memory), which would
// take the test binary with it. Each must get an error reply, cost little, and leave the
// connection and the process serving.
func TestAdversarialDecodeBombs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	child := startFaultChild(t, "server", "tcp://127.0.0.1:0")
	// A fresh probe connection sees the child as a fresh one saw it at the start: one
	// reader, one writer and one worker of its own.
	var probe *tandem.Peer
	redial := func() {
		t.Helper()
		if probe != nil {
			probe.Close()
		}
		var err error
		probe, err = tandem.Dial(ctxTimeout(t, 10*time.Second), child.addr)
		must(t, err)
	}
	redial()
	defer func() { probe.Close() }()
	stats := func() WorkerStats {
		t.Helper()
		var st WorkerStats
		if err := probe.Call(ctxTimeout(t, 20*time.Second), "Worker.Stats", &st); err != nil {
			t.Fatalf("the child stopped serving: %v\n%s", err, child.crash())
		}
		return st
	}
	base := stats()
	tried, refused, worstAlloc, worstRatio := 0, 0, uint64(0), 0.0
	for _, codec := range []string{"msgpack", "json", "gob"} {
		t.Run(codec, func(t *testing.T) {
			c, br := rawCodecConn(t, child.addr, codec)
			var id uint64 = 1
			for _, b := range bombs(t, codec) {
				before := stats()
				id += 2
				if _, err := c.Write(callFrame(id, b.method, b.payload)); err != nil {
					t.Fatalf("%s: write: %v\n%s", b.name, err, child.crash())
				}
				var hdr [wire.LengthSize]byte
				n, err := wire.ReadLength(br, &hdr, wire.DefaultMaxFrameSize)
				buf := make([]byte, n)
				if err == nil {
					_, err = io.ReadFull(br, buf)
				}
				if err != nil {
					t.Fatalf("%s: no answer: %v\n%s", b.name, err, child.crash())
				}
				f, err := wire.Parse(buf, nil)
				must(t, err)
				after := stats()
				tried++
				alloc := after.TotalAlloc - before.TotalAlloc
				ratio := float64(alloc) / float64(len(b.payload))
				worstAlloc = max(worstAlloc, alloc)
				if len(b.payload) >= 64<<10 {
					worstRatio = max(worstRatio, ratio)
				}
				t.Logf("%-32s %8d bytes: %v %q; child allocated %d KiB (%.1fx)", b.name, len(b.payload), f.Kind, tail(string(f.Message), 90), alloc>>10, ratio)
				switch {
				case f.ID != id:
					t.Fatalf("%s: answer for id %d, want %d", b.name, f.ID, id)
				case f.Kind == wire.KindError && tandem.Code(f.Code) == tandem.CodeInvalidArgument:
					refused++
				case f.Kind == wire.KindReply && b.decodes:
				default:
					t.Fatalf("%s: got %v code %v %q, want an invalid_argument error", b.name, f.Kind, tandem.Code(f.Code), f.Message)
				}
				// Reading the frame costs its size (frames over 64 KiB are not pooled); the
				// decoders may add a bounded multiple of it, never gigabytes.
				if limit := 64*uint64(len(b.payload)) + 8<<20; alloc > limit {
					t.Errorf("%s: child allocated %d bytes for %d bytes of input", b.name, alloc, len(b.payload))
				}
				if after.HeapInuse > base.HeapInuse+64<<20 {
					t.Errorf("%s: child's heap in use grew from %d to %d KiB", b.name, base.HeapInuse>>10, after.HeapInuse>>10)
				}
			}
			// The connection is still up and in sync.
			empty, err := map[string]tandem.Codec{"msgpack": msgpack.New(), "json": json.New(), "gob": gob.New()}[codec].AppendList(nil, nil)
			must(t, err)
			_, err = c.Write(callFrame(id+2, "Sink.Nothing", empty))
			must(t, err)
			if f := readFrame(t, br); f.Kind != wire.KindReply || f.ID != id+2 {
				t.Fatalf("after the bombs: %v %q", f.Kind, f.Message)
			}
		})
	}
	var end WorkerStats
	waitUntil(t, "the child's goroutines back to baseline", func() bool {
		redial()
		end = stats()
		return end.Goroutines <= base.Goroutines
	})
	if crash := child.crash(); crash != "" {
		t.Fatal(crash)
	}
	t.Logf("%d decoder bombs over msgpack, json and gob: %d refused as invalid_argument, the rest decoded within bounds; 0 crashes; worst allocation %d KiB, worst amplification %.1fx (inputs of 64 KiB or more); child goroutines %d -> %d, heap %d -> %d KiB",
		tried, refused, worstAlloc>>10, worstRatio, base.Goroutines, end.Goroutines, base.HeapInuse>>10, end.HeapInuse>>10)
}

// slowlorisConns is how many idle connections the slowloris test opens: 2000, or fewer if
// the descriptor limit (two per connection in this process) is low.
func slowlorisConns(t *testing.T) int {
	var rl syscall.Rlimit
	n := 2000
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil {
		n = min(n, int(rl.Cur-200)/2)
	}
	if n < 100 {
		t.Skipf("descriptor limit too low for a slowloris test (%d connections)", n)
	}
	return n
}

// slowloris opens n TCP connections to addr that send nothing, or (every other one) only
// the first bytes of a hello. With held, it waits until the server has accepted them all
// (a goroutine each in its handshake) and measures the process then.
func slowloris(t *testing.T, addr string, n int, held bool, base resources) ([]net.Conn, resources) {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	for i := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("opening idle connection %d: %v", len(conns), err)
		}
		conns = append(conns, c)
		if i%2 == 1 {
			c.Write([]byte(wire.Magic))
		}
	}
	if !held {
		return conns, resources{}
	}
	var at resources
	waitUntil(t, fmt.Sprintf("the server to accept %d connections", n), func() bool {
		at = measure()
		return at.goroutines >= base.goroutines+n
	})
	return conns, at
}

func TestAdversarialSlowloris(t *testing.T) {
	n := slowlorisConns(t)
	const handshake = 300 * time.Millisecond
	srv := newServer(t, tandem.WithHandshakeTimeout(handshake))
	must(t, srv.Register(&Calc{}))
	addr := strings.TrimPrefix(serveOn(t, srv), "tcp://")
	base := measure()
	pk := watchPeaks()
	client, err := tandem.Dial(ctxTimeout(t, 10*time.Second), "tcp://"+addr)
	must(t, err)
	defer client.Close()

	// A healthy client keeps calling throughout.
	stop := make(chan struct{})
	var served atomic.Int64
	callErr := make(chan error, 1)
	go func() {
		defer close(callErr)
		for {
			select {
			case <-stop:
				return
			default:
			}
			// A context of its own per call, cancelled at once: ctxTimeout's would live, with
			// their timers, until the test ends, and count against the heap bound below
			// (the faster the calls, the more: the test failed at 7,000 calls).
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			var sum int
			err := client.Call(ctx, "Calc.Add", &sum, 1, 2)
			cancel()
			if err != nil || sum != 3 {
				callErr <- fmt.Errorf("healthy client during slowloris: %d, %v", sum, err)
				return
			}
			served.Add(1)
		}
	}()
	start := time.Now()
	conns, _ := slowloris(t, addr, n, false, base)
	opened := time.Since(start)
	// New connections are still accepted and served while the idle ones are held.
	healthy(t, addr)
	// Every idle connection is closed by the server once its handshake times out.
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatalf("idle connection %d got data", i)
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("idle connection %d still open %v after the handshake timeout", i, time.Since(start))
		}
		c.Close()
		conns[i] = nil
	}
	dropped := time.Since(start)
	close(stop)
	if err := <-callErr; err != nil {
		t.Fatal(err)
	}
	client.Close()
	pk.end()
	// The runtime keeps what it grew for the peak (goroutine records, timer heaps, the
	// server's connection map): bounded by the peak, not a leak per connection.
	after := settle(t, base, 2<<20+uint64(n)*2<<10)
	t.Logf("%d idle connections opened in %v (handshake timeout %v): all dropped within %v; a healthy client made %d calls meanwhile and a new one was served; peak goroutines %d (base %d), peak heap +%d KiB; goroutines %d -> %d, fds %d -> %d",
		n, opened.Round(time.Millisecond), handshake, dropped.Round(time.Millisecond), served.Load(), pk.goroutines, base.goroutines, pk.heapGrowth(base), base.goroutines, after.goroutines, base.fds, after.fds)
	if pk.goroutines > base.goroutines+n+16 {
		t.Errorf("%d goroutines for %d idle connections", pk.goroutines-base.goroutines, n)
	}
}

func TestAdversarialSlowlorisHeapPerConnection(t *testing.T) {
	n := slowlorisConns(t)
	srv := newServer(t, tandem.WithHandshakeTimeout(10*time.Second))
	must(t, srv.Register(&Calc{}))
	addr := strings.TrimPrefix(serveOn(t, srv), "tcp://")
	base := measure()
	conns, at := slowloris(t, addr, n, true, base)
	perConn := (int64(at.heap) - int64(base.heap)) / int64(n)
	for i, c := range conns {
		c.Close()
		conns[i] = nil
	}
	settle(t, base, 2<<20)
	t.Logf("%d idle connections: %d bytes of heap each", n, perConn)
	// A goroutine stack, the conn and its bookkeeping: a few KiB, well under 16 KiB.
	if perConn > 16<<10 {
		t.Fatalf("%d KiB of heap per idle connection, want under 16 KiB", perConn>>10)
	}
}

// floodPings writes pings on c until the server closes it, never reading; it returns how
// many it wrote.
func floodPings(t *testing.T, c net.Conn) int {
	t.Helper()
	var batch []byte
	for range 256 {
		batch = wire.AppendPing(batch, wire.KindPing, [8]byte{})
	}
	_ = c.SetWriteDeadline(time.Now().Add(20 * time.Second))
	sent := 0
	for {
		if _, err := c.Write(batch); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("the server neither read nor closed the connection for 20s (%d pings sent)", sent)
			}
			return sent
		}
		sent += 256
	}
}

// TestQueuedPongsAreCapped floods pings, all within a lifted ping limit, from a peer that
// never reads, over a pipe: once 64 KiB of pongs wait unwritten, the server stops reading,
// and the write timeout then drops the connection as a slow consumer.
func TestQueuedPongsAreCapped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const writeTimeout = 30 * time.Second
		srv, err := tandem.NewServer(tandem.WithMinPingInterval(time.Nanosecond), tandem.WithWriteTimeout(writeTimeout),
			tandem.WithKeepalive(time.Hour, time.Hour), tandem.WithLogger(slog.New(slog.DiscardHandler)))
		must(t, err)
		defer srv.Close()
		peer, b, _, _, counted := rawPipe(t, srv)

		ping := wire.AppendPing(nil, wire.KindPing, [8]byte{})
		stopped := make(chan int)
		go func() {
			n := 0
			for ; n < 1_000_000; n++ {
				time.Sleep(time.Nanosecond) // fake time: just over the ping limit
				if _, err := b.Write(ping); err != nil {
					break
				}
			}
			stopped <- n
		}()
		// Fake time moves on only while every goroutine waits: this returns once the
		// flooding goroutine is stuck in a write rather than a sleep.
		time.Sleep(time.Millisecond)
		synctest.Wait()
		// The reader stops with up to 64 KiB of pongs queued behind the write that blocks,
		// which holds the pongs of at most one more 64 KiB, plus one read buffer of pings.
		pongs := int64(len(wire.AppendPing(nil, wire.KindPong, [8]byte{})))
		bound := 2*(64<<10)/pongs*int64(len(ping)) + 16<<10
		read := counted.read.Load()
		if read > bound {
			t.Fatalf("the server read %d bytes of pings from a peer that reads nothing; bound %d", read, bound)
		}
		if err := peer.Err(); err != nil {
			t.Fatalf("connection ended before the write timeout: %v", err)
		}
		time.Sleep(writeTimeout)
		<-peer.Done()
		if !errors.Is(peer.Err(), tandem.ErrConnectionLost) {
			t.Fatalf("peer ended with %v, want ErrConnectionLost", peer.Err())
		}
		b.Close()
		if n := <-stopped; n >= 1_000_000 {
			t.Fatalf("all %d pings were taken", n)
		}
		t.Logf("pings read before the server stopped reading: %d (%d bytes, bound %d)", read/int64(len(ping)), read, bound)
	})
}

func TestAdversarialPingFloodNeverReading(t *testing.T) {
	t.Run("default ping limit", func(t *testing.T) {
		sink := newLogSink()
		srv := newServer(t, tandem.WithLogger(slog.New(sink)))
		must(t, srv.Register(&Calc{}))
		addr := strings.TrimPrefix(serveOn(t, srv), "tcp://")
		base := measure()
		pk := watchPeaks()
		c, _ := rawConn(t, addr, true)
		must(t, c.(*net.TCPConn).SetReadBuffer(256<<10)) // smaller ones stall loopback TCP in retransmission backoff
		start := time.Now()
		sent := floodPings(t, c)
		took := time.Since(start)
		pk.end()
		if !sink.has("ping flood") {
			t.Fatalf("ping flood not logged: %q", sink.msgs)
		}
		c.Close()
		healthy(t, addr)
		after := settle(t, base, 1<<20)
		t.Logf("ping flood, never reading: closed as a flood after %v and %d pings written; peak heap +%d KiB; goroutines %d -> %d, fds %d -> %d",
			took.Round(time.Millisecond), sent, pk.heapGrowth(base), base.goroutines, after.goroutines, base.fds, after.fds)
		if pk.heapGrowth(base) > 8<<10 {
			t.Fatalf("heap grew by %d KiB during the flood", pk.heapGrowth(base))
		}
	})
	t.Run("pings allowed", func(t *testing.T) {
		// Every ping is within the limit, so only the cap on queued pongs and the write
		// timeout stand between the flood and the server's memory. A flooded loopback
		// connection can also stall in the kernel (receive queues pruned, retransmissions
		// backing off) with the server's writes still fitting its socket buffer: then
		// keepalive, or the TCP_USER_TIMEOUT it sets, drops it.
		const writeTimeout = 300 * time.Millisecond
		srv := newServer(t, tandem.WithMinPingInterval(time.Nanosecond), tandem.WithWriteTimeout(writeTimeout),
			tandem.WithMaxFrameSize(64<<10), tandem.WithKeepalive(200*time.Millisecond, 300*time.Millisecond))
		must(t, srv.Register(&Calc{}))
		addr := strings.TrimPrefix(serveOn(t, srv), "tcp://")
		base := measure()
		pk := watchPeaks()
		c, br := rawConn(t, addr, true)
		must(t, c.(*net.TCPConn).SetReadBuffer(256<<10))
		// One call first, so the server-side peer exists.
		_, err := c.Write(callFrame(1, "Calc.Add", []byte{0x92, 1, 2}))
		must(t, err)
		readFrame(t, br)
		peer := srv.Peers()[0]
		start := time.Now()
		sent := floodPings(t, c)
		<-peer.Done()
		took := time.Since(start)
		pk.end()
		// A slow consumer, usually; else keepalive or the TCP_USER_TIMEOUT it sets.
		why := peer.Err()
		if !errors.Is(why, tandem.ErrConnectionLost) {
			t.Fatalf("server-side peer ended with %v, want ErrConnectionLost", why)
		}
		c.Close()
		healthy(t, addr)
		after := settle(t, base, 1<<20)
		t.Logf("ping flood allowed by the ping limit, never reading: dropped after %v and %d pings (%d KiB) written (%v); peak heap +%d KiB; goroutines %d -> %d, fds %d -> %d",
			took.Round(time.Millisecond), sent, sent*(wire.LengthSize+wire.HeaderSize+wire.PingDataSize)>>10, why, pk.heapGrowth(base), base.goroutines, after.goroutines, base.fds, after.fds)
		if pk.heapGrowth(base) > 8<<10 {
			t.Fatalf("heap grew by %d KiB during the flood", pk.heapGrowth(base))
		}
	})
}

// pipelined writes the frames next returns on c, until it returns nil, while another
// goroutine reads every answer and passes it to onFrame. It returns once *want answers have
// arrived (next may change *want), and closes c.
func pipelined(t *testing.T, c net.Conn, br *bufio.Reader, next func() []byte, want *int, onFrame func(wire.Frame)) {
	t.Helper()
	var got, wantN atomic.Int64
	wantN.Store(-1)
	all := make(chan struct{})
	var once sync.Once
	check := func() {
		if w := wantN.Load(); w >= 0 && got.Load() == w {
			once.Do(func() { close(all) })
		}
	}
	readErr := make(chan error, 1)
	go func() {
		var hdr [wire.LengthSize]byte
		buf := make([]byte, 64<<10)
		for {
			n, err := wire.ReadLength(br, &hdr, 64<<10)
			if err == nil {
				_, err = io.ReadFull(br, buf[:n])
			}
			var f wire.Frame
			if err == nil {
				f, err = wire.Parse(buf[:n], nil)
			}
			if err != nil {
				readErr <- fmt.Errorf("after %d answers: %w", got.Load(), err)
				return
			}
			onFrame(f)
			got.Add(1)
			check()
		}
	}()
	defer func() {
		c.Close()
		<-readErr // the reader has returned
	}()
	for b := next(); b != nil; b = next() {
		if _, err := c.Write(b); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	wantN.Store(int64(*want))
	check()
	select {
	case <-all:
	case err := <-readErr:
		readErr <- err
		t.Fatal(err)
	}
}

func TestAdversarialOverloadOneConnection(t *testing.T) {
	const limit, total = 64, 100_000
	srv := newServer(t, tandem.WithMaxInflight(limit))
	gate := newGateAt(limit)
	must(t, srv.Register(gate))
	addr := serveOn(t, srv)
	base := measure()
	pk := watchPeaks()
	c, br := rawConn(t, strings.TrimPrefix(addr, "tcp://"), true)
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	// The gate opens once the limit is reached; until then the server must stop reading
	// rather than queue or refuse the calls beyond it.
	go func() {
		<-gate.reached
		close(gate.release)
	}()

	start := time.Now()
	replies, other, firstOther := pipelineCalls(t, c, br, total, "Gate.Wait")
	took := time.Since(start)
	pk.end()
	if other != 0 {
		t.Fatalf("%d answers other than a reply, the first: %v", other, firstOther)
	}
	if gate.peak.Load() > limit || gate.ran.Load() != total || replies != total {
		t.Fatalf("peak running %d, ran %d, replies %d; want at most %d running and %d run and answered", gate.peak.Load(), gate.ran.Load(), replies, limit, total)
	}
	c.Close()
	after := settle(t, base, 2<<20)
	t.Logf("%d calls pipelined on one connection, in-flight limit %d: peak running %d, %d replies, none refused, in %v; peak goroutines %d (base %d), peak heap +%d KiB; goroutines %d -> %d",
		total, limit, gate.peak.Load(), replies, took.Round(time.Millisecond), pk.goroutines, base.goroutines, pk.heapGrowth(base), base.goroutines, after.goroutines)
	if pk.heapGrowth(base) > 32<<10 {
		t.Fatalf("heap grew by %d KiB", pk.heapGrowth(base))
	}
	// Handlers in flight, up to 64 parked workers, and workers that have returned their
	// slot but not yet parked: bounded by the limit, not by the calls sent.
	if pk.goroutines > base.goroutines+4*limit {
		t.Fatalf("%d goroutines at the peak for %d calls in flight", pk.goroutines-base.goroutines, limit)
	}
}

// TestAdversarialMillionCallsSlowHandler pipelines a million calls on one connection to a
// handler that takes a millisecond, at the default in-flight limit: the server reads only
// as fast as handlers finish, so memory stays flat however far ahead the caller writes.
func TestAdversarialMillionCallsSlowHandler(t *testing.T) {
	const total = 1_000_000
	srv := newServer(t)
	gate := newGate()
	must(t, srv.Register(gate))
	addr := serveOn(t, srv)
	base := measure()
	pk := watchPeaks()
	c, br := rawConn(t, strings.TrimPrefix(addr, "tcp://"), true)
	_ = c.SetDeadline(time.Now().Add(5 * time.Minute))
	start := time.Now()
	replies, other, _ := pipelineCalls(t, c, br, total, "Gate.Slow")
	took := time.Since(start)
	pk.end()
	c.Close()
	after := settle(t, base, 2<<20)
	t.Logf("%d pipelined calls to a 1 ms handler on one connection, in-flight limit %d: %d replies, %d other answers, at most %d running, in %v; peak heap +%d KiB, peak goroutines %d (base %d); goroutines %d -> %d",
		total, tandem.DefaultMaxInflight, replies, other, gate.peak.Load(), took.Round(time.Millisecond), pk.heapGrowth(base), pk.goroutines, base.goroutines, base.goroutines, after.goroutines)
	if replies != total || other != 0 {
		t.Fatalf("%d replies and %d other answers for %d calls", replies, other, total)
	}
	if gate.peak.Load() > tandem.DefaultMaxInflight {
		t.Fatalf("%d handlers ran at once, limit %d", gate.peak.Load(), tandem.DefaultMaxInflight)
	}
	// The limit's handlers and their decoded calls, and one read buffer: not the calls
	// waiting in the socket.
	if pk.heapGrowth(base) > 32<<10 {
		t.Fatalf("heap grew by %d KiB", pk.heapGrowth(base))
	}
	if pk.goroutines > base.goroutines+2*tandem.DefaultMaxInflight+maxIdleWorkersForTests {
		t.Fatalf("%d goroutines at the peak", pk.goroutines-base.goroutines)
	}
}

// maxIdleWorkersForTests mirrors the workers a peer keeps parked.
const maxIdleWorkersForTests = 64

// pipelineCalls writes total calls of method with no arguments on c, in batches, without
// waiting for answers, and returns once all are answered: the replies, the other answers,
// and the first of those.
func pipelineCalls(t *testing.T, c net.Conn, br *bufio.Reader, total int, method string) (replies, other int64, firstOther any) {
	t.Helper()
	var nReplies, nOther atomic.Int64
	var first atomic.Value
	sent := 0
	want := total
	pipelined(t, c, br, func() []byte {
		if sent == total {
			return nil
		}
		var b []byte
		for range min(4096, total-sent) {
			b = wire.AppendCall(b, wire.KindCall, uint64(2*sent+1), time.Minute, method, nil, []byte{0x90})
			sent++
		}
		return b
	}, &want, func(f wire.Frame) {
		if f.Kind == wire.KindReply {
			nReplies.Add(1)
			return
		}
		nOther.Add(1)
		first.CompareAndSwap(nil, fmt.Sprintf("%v %q", f.Kind, f.Message))
	})
	return nReplies.Load(), nOther.Load(), first.Load()
}

// rawPipe serves one end of a pipe with srv and does the handshake on the other, as a raw
// peer would. It returns the server-side peer, the raw end with its reader, the welcome,
// and a count of the bytes the server reads, taken after the handshake.
func rawPipe(t *testing.T, srv *tandem.Server) (*tandem.Peer, net.Conn, *bufio.Reader, wire.Welcome, *countingConn) {
	t.Helper()
	a, b := net.Pipe()
	counted := &countingConn{Conn: a}
	peer, br, w := rawHandshake(t, srv, counted, b)
	counted.read.Store(0)
	return peer, b, br, w, counted
}

// rawHandshake has srv serve a, and says hello on b as a raw dialer with the msgpack codec.
func rawHandshake(t *testing.T, srv *tandem.Server, a, b net.Conn) (*tandem.Peer, *bufio.Reader, wire.Welcome) {
	t.Helper()
	served := make(chan *tandem.Peer, 1)
	go func() {
		p, err := srv.ServeConn(context.Background(), a)
		if err != nil {
			t.Errorf("ServeConn: %v", err)
		}
		served <- p
	}()
	_, err := b.Write(wire.AppendHello(nil, wire.Hello{Version: wire.Version, MaxFrameSize: wire.DefaultMaxFrameSize, Codec: "msgpack"}))
	must(t, err)
	br := bufio.NewReader(b)
	w, err := wire.ReadWelcome(br)
	must(t, err)
	if w.Status != wire.StatusOK {
		t.Fatalf("welcome: %+v", w)
	}
	return <-served, br, w
}

// countingConn counts the bytes read through it.
type countingConn struct {
	net.Conn
	read atomic.Int64
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.read.Add(int64(n))
	return n, err
}

// TestBackpressureStopsReading shows the reader stopping at the in-flight limit: with every
// slot held, a peer that pipelines more calls (and notifications) finds its writes blocked,
// the server has read no more than one buffer beyond them, and two minutes of silence from
// the stalled reader is not taken for a dead peer. Once the handlers return, everything
// sent is served.
func TestBackpressureStopsReading(t *testing.T) {
	for _, kind := range []wire.Kind{wire.KindCall, wire.KindNotify} {
		t.Run(kind.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const limit, total = 8, 2000
				srv, err := tandem.NewServer(tandem.WithMaxInflight(limit), tandem.WithLogger(slog.New(slog.DiscardHandler)))
				must(t, err)
				gate := newGateAt(limit)
				must(t, srv.Register(gate))
				peer, b, br, w, counted := rawPipe(t, srv)
				if w.MaxInflight != limit {
					t.Fatalf("welcome announces %d in flight, want %d", w.MaxInflight, limit)
				}

				var frame []byte
				written := make(chan int)
				go func() {
					n := 0
					for i := range total {
						id := uint64(2*i + 1)
						if kind == wire.KindNotify {
							id = 0
						}
						frame = wire.AppendCall(frame[:0], kind, id, 0, "Gate.Wait", nil, []byte{0x90})
						if _, err := b.Write(frame); err != nil {
							break
						}
						n++
					}
					written <- n
				}()
				replies := make(chan int)
				go func() {
					n := 0
					var hdr [wire.LengthSize]byte
					for {
						size, err := wire.ReadLength(br, &hdr, wire.DefaultMaxFrameSize)
						if err == nil {
							_, err = br.Discard(int(size))
						}
						if err != nil {
							replies <- n
							return
						}
						if n++; n == total {
							replies <- n
							return
						}
					}
				}()

				synctest.Wait()
				frameSize := int64(len(wire.AppendCall(nil, kind, 2*total+1, 0, "Gate.Wait", nil, []byte{0x90})))
				// What the reader may hold: the calls running, the one waiting, and one
				// read buffer of those behind it.
				bound := (limit+1)*frameSize + 16<<10
				read := counted.read.Load()
				if gate.running.Load() != limit || read > bound {
					t.Fatalf("with every slot held: %d handlers running, %d bytes read (bound %d); want %d running", gate.running.Load(), read, bound, limit)
				}
				select {
				case n := <-written:
					t.Fatalf("the server read all %d frames with %d slots held", n, limit)
				default:
				}
				// Keepalive and the idle timeout must not drop a connection whose input is
				// waiting on this side.
				time.Sleep(2 * time.Minute)
				synctest.Wait()
				if err := peer.Err(); err != nil {
					t.Fatalf("connection ended while its reader waited for a slot: %v", err)
				}
				if got := counted.read.Load(); got != read {
					t.Fatalf("the server read %d more bytes with every slot held", got-read)
				}

				close(gate.release)
				if n := <-written; n != total {
					t.Fatalf("wrote %d of %d frames", n, total)
				}
				if kind == wire.KindCall {
					if n := <-replies; n != total {
						t.Fatalf("%d replies for %d calls", n, total)
					}
				} else {
					synctest.Wait()
				}
				if gate.ran.Load() != total || gate.peak.Load() > limit {
					t.Fatalf("ran %d of %d, at most %d at once; limit %d", gate.ran.Load(), total, gate.peak.Load(), limit)
				}
				b.Close()
				<-peer.Done()
				if kind == wire.KindNotify {
					<-replies
				}
				srv.Close()
			})
		})
	}
}

func TestAdversarialOpenCancel(t *testing.T) {
	const limit = 64
	const each = 2 * time.Second
	srv := newServer(t, tandem.WithMaxInflight(limit))
	gate := newGate()
	must(t, srv.Register(gate))
	addr := serveOn(t, srv)
	base := measure()
	pk := watchPeaks()

	// A raw peer writes call and cancel pairs as fast as the connection takes them, to
	// handlers that notice their cancellation late.
	c, br := rawConn(t, strings.TrimPrefix(addr, "tcp://"), true)
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	var canceled, overloaded, other atomic.Int64
	var firstOther atomic.Value
	var id uint64 = 1
	pairs := 0
	end := time.Now().Add(each)
	pipelined(t, c, br, func() []byte {
		if time.Now().After(end) {
			return nil
		}
		var b []byte
		for range 256 {
			b = wire.AppendCall(b, wire.KindCall, id, time.Minute, "Gate.Linger", nil, []byte{0x90})
			b = wire.AppendCancel(b, id)
			id += 2
			pairs++
		}
		return b
	}, &pairs, func(f wire.Frame) {
		switch {
		case f.Kind == wire.KindError && tandem.Code(f.Code) == tandem.CodeCanceled:
			canceled.Add(1)
		case f.Kind == wire.KindError && tandem.Code(f.Code) == tandem.CodeResourceExhausted:
			overloaded.Add(1)
		default:
			other.Add(1)
			firstOther.CompareAndSwap(nil, fmt.Sprintf("%v %q", f.Kind, f.Message))
		}
	})
	pk.end()
	after := settle(t, base, 1<<20)
	t.Logf("open-cancel at full speed for %v, in-flight limit %d: %d call+cancel pairs, %d answered cancelled, %d overloaded; %d handlers ran, at most %d at once; peak goroutines %d (base %d), peak heap +%d KiB; goroutines %d -> %d, fds %d -> %d",
		each, limit, pairs, canceled.Load(), overloaded.Load(), gate.ran.Load(), gate.peak.Load(), pk.goroutines, base.goroutines, pk.heapGrowth(base), base.goroutines, after.goroutines, base.fds, after.fds)
	if other.Load() != 0 {
		t.Fatalf("%d unexpected answers, the first: %v", other.Load(), firstOther.Load())
	}
	if gate.peak.Load() > limit {
		t.Fatalf("%d handlers ran at once, limit %d", gate.peak.Load(), limit)
	}
	// Handlers in flight, up to 64 parked workers, and workers that have returned their
	// slot but not yet exited: a few hundred at most, however many calls are opened.
	if pk.goroutines > base.goroutines+4*limit {
		t.Fatalf("%d goroutines at the peak with an in-flight limit of %d", pk.goroutines-base.goroutines, limit)
	}
	if pk.heapGrowth(base) > 32<<10 {
		t.Fatalf("heap grew by %d KiB", pk.heapGrowth(base))
	}
}

func TestAdversarialOpenCancelClient(t *testing.T) {
	const limit = 4
	srv := newServer(t, tandem.WithMaxInflight(limit))
	gate := newGate()
	must(t, srv.Register(gate))
	must(t, srv.Register(Sink{}))
	t.Run("calls with a cancelled context", func(t *testing.T) {
		p := dialPipe(t, srv, newServer(t))
		defer p.Close()
		dead, cancel := context.WithCancel(context.Background())
		cancel()
		for range limit + 1 {
			if err := p.Call(dead, "Sink.Nothing", nil); !errors.Is(err, context.Canceled) {
				t.Fatalf("call with a cancelled context: %v", err)
			}
		}
		must(t, p.Call(ctxTimeout(t, 5*time.Second), "Sink.Nothing", nil))
	})
	t.Run("open-cancel from 8 goroutines", func(t *testing.T) {
		base := measure()
		p := dialPipe(t, srv, newServer(t))
		var opened, cancelled atomic.Int64
		var wg sync.WaitGroup
		end := time.Now().Add(time.Second)
		for range 8 {
			wg.Go(func() {
				for time.Now().Before(end) {
					call := p.Go(context.Background(), "Gate.Linger", nil)
					call.Cancel()
					opened.Add(1)
					if err := call.Wait(); errors.Is(err, context.Canceled) {
						cancelled.Add(1)
					} else if !errors.Is(err, tandem.ErrOverloaded) {
						t.Errorf("open-cancel call: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		// Every slot comes back once the cancelled handlers have returned.
		must(t, p.Call(ctxTimeout(t, 10*time.Second), "Sink.Nothing", nil))
		p.Close()
		after := settle(t, base, 1<<20)
		t.Logf("8 client goroutines opened and cancelled %d calls (%d cancelled); at most %d handlers at once, limit %d; goroutines %d -> %d",
			opened.Load(), cancelled.Load(), gate.peak.Load(), limit, base.goroutines, after.goroutines)
		if gate.peak.Load() > limit {
			t.Fatalf("%d handlers ran at once, limit %d", gate.peak.Load(), limit)
		}
	})
}
