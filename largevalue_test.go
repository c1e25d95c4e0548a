package tandem_test

import (
	"bytes"
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/tandem-rpc/tandem"
	"github.com/tandem-rpc/tandem/codec/msgpack"
	"github.com/tandem-rpc/tandem/wire"
)

// Blobs is a service of large values. Over TCP and Unix sockets, frames carrying them are
// written with their largest byte slices and strings left where they lie (writer.go,
// largeFrame); registered WithBorrowedBytes, its handlers get views of the frame.
type Blobs struct{ notes chan string }

// Join returns a, s and b one after the other, with n bytes of 'n' between them.
func (Blobs) Join(a []byte, s string, n int, b []byte) []byte {
	out := append(bytes.Clone(a), s...)
	out = append(out, bytes.Repeat([]byte{'n'}, n)...)
	return append(out, b...)
}

func (Blobs) Echo(b []byte) []byte    { return b }
func (Blobs) Text(s string) string    { return s + "!" }
func (Blobs) Cap(b []byte) int        { return cap(b) }
func (b Blobs) Note(s string)         { b.notes <- s }
func (Blobs) Grow(a, b []byte) []byte { return append(append(a, "0123456789"...), b...) }

// pattern returns n bytes that differ from those of any other seed at every offset.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i/251) + seed
	}
	return b
}

// TestLargeValuesTravelIntact sends byte slices and strings large enough to be written
// from where they lie, several to a frame, in frames sent whole (under 128 KiB) and in
// chunks, both ways, to a service that copies its arguments and to one that borrows them;
// and many such calls at once.
func TestLargeValuesTravelIntact(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := newServer(t)
		blobs := Blobs{notes: make(chan string, 1)}
		must(t, srv.Register(blobs))
		must(t, srv.RegisterName("Borrowing", blobs, tandem.WithBorrowedBytes()))
		p := tr.dial(t, srv, newServer(t))
		ctx := ctxTimeout(t, 30*time.Second)
		sizes := []int{10 << 10, 20 << 10, 70 << 10, 300 << 10, 3 << 20}
		for _, svc := range []string{"Blobs", "Borrowing"} {
			for i, na := range sizes {
				ns, nb := sizes[(i+1)%len(sizes)], sizes[(i+3)%len(sizes)]
				a, s, b := pattern(na, 1), string(pattern(ns, 2)), pattern(nb, 3)
				var got []byte
				must(t, p.Call(ctx, svc+".Join", &got, a, s, 5, b))
				want := (Blobs{}).Join(a, s, 5, b)
				if !bytes.Equal(got, want) {
					t.Fatalf("%s.Join(%d, %d, 5, %d bytes): %d bytes back, not the %d sent", svc, na, ns, nb, len(got), len(want))
				}
				var text string
				must(t, p.Call(ctx, svc+".Text", &text, s))
				if text != s+"!" {
					t.Fatalf("%s.Text(%d bytes) came back different", svc, ns)
				}
			}
		}

		// Many at once, both services, blocking and async calls.
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				svc := []string{"Blobs", "Borrowing"}[g%2]
				for k := range 6 {
					b := pattern(sizes[(g+k)%len(sizes)], byte(16*g+k))
					var got []byte
					var err error
					if k%2 == 0 {
						err = p.Call(ctx, svc+".Echo", &got, b)
					} else {
						err = p.Go(ctx, svc+".Echo", &got, b).Wait()
					}
					if err != nil || !bytes.Equal(got, b) {
						t.Errorf("%s.Echo of %d bytes by caller %d: %v, %d bytes back, equal: %v", svc, len(b), g, err, len(got), bytes.Equal(got, b))
						return
					}
				}
			})
		}
		wg.Wait()

		// A notification's large string goes out from where it lies too.
		note := string(pattern(200<<10, 7))
		must(t, p.Notify(ctx, "Blobs.Note", note))
		if got := <-blobs.notes; got != note {
			t.Fatalf("note of %d bytes arrived as %d different bytes", len(note), len(got))
		}
	})
}

// TestBorrowedBytesAreViews checks what WithBorrowedBytes hands a handler: a view of the
// frame, its capacity cut to its length, so that appending to it cannot run into the bytes
// of the next argument; and what a service without the option gets: a copy, whose
// capacity is that of its allocation (1,000 bytes take a 1,024-byte size class).
func TestBorrowedBytesAreViews(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := newServer(t)
		must(t, srv.Register(Blobs{}))
		must(t, srv.RegisterName("Borrowing", Blobs{}, tandem.WithBorrowedBytes()))
		p := tr.dial(t, srv, newServer(t))
		ctx := ctxTimeout(t, 10*time.Second)
		for svc, want := range map[string]int{"Blobs": 1024, "Borrowing": 1000} {
			var c int
			must(t, p.Call(ctx, svc+".Cap", &c, make([]byte, 1000)))
			if c != want {
				t.Errorf("%s: a 1000-byte argument has capacity %d, want %d", svc, c, want)
			}
		}
		a, b := pattern(100, 1), pattern(100, 2)
		var got []byte
		must(t, p.Call(ctx, "Borrowing.Grow", &got, a, b))
		want := (Blobs{}).Grow(bytes.Clone(a), b)
		if !bytes.Equal(got, want) {
			t.Fatalf("Grow: appending to the first argument changed the second: got %q..., want %q...", got[95:115], want[95:115])
		}
	})
}

// TestLentArgumentsReclaimedWhenCallEnds: a blocking call's large byte slice is written
// from the caller's memory. When the call ends before all of it is out (here its context
// expires while the other side reads nothing, so no window to send in), the rest of the
// frame must be copied before Call returns, so that the caller may reuse the slice: the
// other side, reading at last, gets the bytes as they were at the call.
func TestLentArgumentsReclaimedWhenCallEnds(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			addr := "127.0.0.1:0"
			if network == "unix" {
				addr = t.TempDir() + "/s.sock"
			}
			ln, err := net.Listen(network, addr)
			must(t, err)
			defer ln.Close()
			b, err := net.Dial(network, ln.Addr().String())
			must(t, err)
			defer b.Close()
			a, err := ln.Accept()
			must(t, err)
			p, br, _ := rawHandshake(t, newServer(t), a, b)
			defer p.Close()

			arg := pattern(2<<20, 5)
			sent := bytes.Clone(arg)
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			err = p.Call(ctx, "Raw.Take", nil, arg)
			cancel()
			wantCode(t, err, tandem.CodeDeadlineExceeded, nil, "")
			for i := range arg {
				arg[i] = 0xFF // the caller's slice is its own again
			}

			// Read the call frame's chunks, granting window as they come.
			var frame []byte
			for {
				f, err := tryReadFrame(br)
				must(t, err)
				if f.Kind == wire.KindPing {
					continue
				}
				if f.Kind != wire.KindChunk {
					t.Fatalf("got a %v frame before the call's last chunk", f.Kind)
				}
				frame = append(frame, f.Payload...)
				_, err = b.Write(wire.AppendWindow(nil, uint32(len(f.Payload))))
				must(t, err)
				if f.Flags&wire.FlagMore == 0 {
					break
				}
			}
			call, err := wire.Parse(frame[wire.LengthSize:], nil)
			must(t, err)
			var got []byte
			if _, err := msgpack.New().DecodeList(call.Payload, []any{&got}); err != nil {
				t.Fatalf("decoding the call's argument: %v", err)
			}
			if !bytes.Equal(got, sent) {
				i := 0
				for i < len(got) && i < len(sent) && got[i] == sent[i] {
					i++
				}
				t.Fatalf("the call's argument changed after Call returned: %d bytes, first difference at %d", len(got), i)
			}
		})
	}
}

// Filler reuses one buffer for every result, which is fine for a serialized service only
// if each result has been written before the next call runs.
type Filler struct{ buf []byte }

func (f *Filler) Fill(n int, v byte) []byte {
	if cap(f.buf) < n {
		f.buf = make([]byte, n)
	}
	f.buf = f.buf[:n]
	for i := range f.buf {
		f.buf[i] = v
	}
	return f.buf
}

// TestResultsWrittenBeforeTheNextCall: a handler's large result is written from where it
// lies, so its goroutine waits until it is out before it runs another call. A serialized
// service that refills one buffer for each result must not see a later call's bytes go out
// as an earlier call's result.
func TestResultsWrittenBeforeTheNextCall(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := newServer(t)
		must(t, srv.Register(&Filler{}, tandem.WithSerialized(0)))
		p := tr.dial(t, srv, newServer(t))
		ctx := ctxTimeout(t, 30*time.Second)
		var wg sync.WaitGroup
		for g := range 6 {
			wg.Go(func() {
				for k := range 5 {
					v := byte(10*g + k)
					var got []byte
					if err := p.Call(ctx, "Filler.Fill", &got, 300<<10, v); err != nil {
						t.Errorf("Fill: %v", err)
						return
					}
					if n := bytes.Count(got, []byte{v}); n != 300<<10 {
						t.Errorf("Fill(%d): %d of %d bytes are %d; first bytes %v", v, n, len(got), v, got[:min(len(got), 8)])
						return
					}
				}
			})
		}
		wg.Wait()
	})
}

// TestGoLendsNothing: Go encodes its call before it returns (without client interceptors
// and with an in-flight slot free), and the caller may then reuse its arguments, so large
// byte slices must be copied into the frame, not lent to the writer as Call lends them.
func TestGoLendsNothing(t *testing.T) {
	for _, tr := range transports()[1:3] { // TCP and Unix: the sockets that lend
		t.Run(tr.name, func(t *testing.T) {
			srv := newServer(t)
			must(t, srv.Register(Blobs{}))
			p := tr.dial(t, srv, newServer(t))
			ctx := ctxTimeout(t, 30*time.Second)
			for k := range 4 {
				arg := pattern(3<<20, byte(k))
				sent := bytes.Clone(arg)
				var got []byte
				c := p.Go(ctx, "Blobs.Echo", &got, arg)
				for i := range arg {
					arg[i] = 0xFF
				}
				must(t, c.Wait())
				if !bytes.Equal(got, sent) {
					i := 0
					for i < len(got) && i < len(sent) && got[i] == sent[i] {
						i++
					}
					t.Fatalf("call %d: the echo of %d bytes differs from the argument as it was when Go returned, first at %d", k, len(got), i)
				}
			}
		})
	}
}
