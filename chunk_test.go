package tandem_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tandem-rpc/tandem"
	"github.com/tandem-rpc/tandem/wire"
)

// chunkFrames cuts frame (length prefix included) into chunk frames carrying the given
// numbers of bytes, the last one carrying the rest.
func chunkFrames(frame []byte, sizes ...int) []byte {
	var out []byte
	for _, n := range sizes {
		out = append(wire.AppendHeader(out, wire.KindChunk, wire.FlagMore, 0, n), frame[:n]...)
		frame = frame[n:]
	}
	return append(wire.AppendHeader(out, wire.KindChunk, 0, 0, len(frame)), frame...)
}

// chunk is one chunk frame with the given flags.
func chunk(flags uint8, data []byte) []byte {
	return append(wire.AppendHeader(nil, wire.KindChunk, flags, 0, len(data)), data...)
}

// readWholeFrame reads the next frame, rebuilding it if it comes in chunks, and skipping
// window frames.
func readWholeFrame(t *testing.T, br *bufio.Reader) wire.Frame {
	t.Helper()
	var a chunkAssembler
	for {
		f := readFrame(t, br)
		if f.Kind == wire.KindWindow {
			continue
		}
		if whole, ok := a.add(t, f); ok {
			return whole
		}
	}
}

// chunkAssembler rebuilds a frame from its chunks, as a raw peer reads them.
type chunkAssembler struct{ rebuilt []byte }

// add takes the next frame read, and returns the whole frame once there is one.
func (a *chunkAssembler) add(t *testing.T, f wire.Frame) (wire.Frame, bool) {
	t.Helper()
	if f.Kind != wire.KindChunk {
		if a.rebuilt != nil {
			t.Fatalf("a %v frame between the chunks of one frame", f.Kind)
		}
		return f, true
	}
	a.rebuilt = append(a.rebuilt, f.Payload...)
	if f.Flags&wire.FlagMore != 0 {
		return wire.Frame{}, false
	}
	whole, err := wire.Parse(a.rebuilt[wire.LengthSize:], nil)
	must(t, err)
	a.rebuilt = nil
	return whole, true
}

// rawCalcPipe serves a Calc, logging nothing, on one end of a pipe, and returns the
// server, its peer and the other end, handshake done, for a test to play a raw peer.
func rawCalcPipe(t *testing.T) (*tandem.Server, *tandem.Peer, net.Conn, *bufio.Reader) {
	t.Helper()
	srv, err := tandem.NewServer(tandem.WithLogger(slog.New(slog.DiscardHandler)))
	must(t, err)
	must(t, srv.Register(&Calc{}))
	peer, b, br, _, _ := rawPipe(t, srv)
	return srv, peer, b, br
}

func echoPayload(b []byte) []byte {
	p := append([]byte{0x91, 0xc6}, binary.BigEndian.AppendUint32(nil, uint32(len(b)))...)
	return append(p, b...)
}

// TestChunkedReplyLetsSmallRepliesThrough sends a call whose 2 MiB reply travels in
// chunks, and shows (with a raw peer, on a pipe, in fake time) that the server sends no
// more chunk bytes than the window allows, answers a small call while the large reply
// waits for window, and sends the rest once the window opens; the chunks rebuild the reply.
func TestChunkedReplyLetsSmallRepliesThrough(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, _, b, br := rawCalcPipe(t)
		big := bytes.Repeat([]byte("0123456789abcdef"), 128<<10) // 2 MiB
		go b.Write(callFrame(1, "Calc.Echo", echoPayload(big)))

		var rebuilt []byte
		chunkBytes := 0
		for chunkBytes < wire.ChunkWindow {
			f := readFrame(t, br)
			if f.Kind != wire.KindChunk || f.ID != 1 || f.Flags&wire.FlagMore == 0 {
				t.Fatalf("got %v id %d flags %d, want chunks of call 1's reply", f.Kind, f.ID, f.Flags)
			}
			chunkBytes += len(f.Payload)
			rebuilt = append(rebuilt, f.Payload...)
		}
		if chunkBytes != wire.ChunkWindow {
			t.Fatalf("server sent %d bytes of chunks, window %d", chunkBytes, wire.ChunkWindow)
		}
		// The window is spent: the reply waits, and a small call goes through.
		go b.Write(callFrame(3, "Calc.Add", []byte{0x92, 20, 22}))
		if f := readFrame(t, br); f.Kind != wire.KindReply || f.ID != 3 || !bytes.Equal(f.Payload, []byte{0x91, 42}) {
			t.Fatalf("got %v id %d payload %x, want call 3's reply [42]", f.Kind, f.ID, f.Payload)
		}
		go b.Write(wire.AppendWindow(nil, 4<<20))
		for {
			f := readFrame(t, br)
			if f.Kind != wire.KindChunk || f.ID != 1 {
				t.Fatalf("got %v id %d, want the rest of call 1's reply", f.Kind, f.ID)
			}
			if len(f.Payload) > 512<<10 {
				t.Fatalf("chunk of %d bytes", len(f.Payload))
			}
			rebuilt = append(rebuilt, f.Payload...)
			if f.Flags&wire.FlagMore == 0 {
				break
			}
		}
		n, err := wire.ReadLength(bytes.NewReader(rebuilt), new([wire.LengthSize]byte), wire.DefaultMaxFrameSize)
		must(t, err)
		if n != len(rebuilt)-wire.LengthSize {
			t.Fatalf("rebuilt frame says %d bytes, has %d", n, len(rebuilt)-wire.LengthSize)
		}
		f, err := wire.Parse(rebuilt[wire.LengthSize:], nil)
		must(t, err)
		if f.Kind != wire.KindReply || f.ID != 1 || !bytes.Equal(f.Payload, echoPayload(big)) {
			t.Fatalf("rebuilt %v id %d with %d bytes of payload, want the echo of 2 MiB", f.Kind, f.ID, len(f.Payload))
		}
		b.Close()
		srv.Close()
	})
}

// TestChunkedCallFromRawPeer sends a call in chunks of uneven sizes, with a small call
// between them, and gets both answered.
func TestChunkedCallFromRawPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, _, b, br := rawCalcPipe(t)
		big := bytes.Repeat([]byte{7}, 300<<10)
		chunks := chunkFrames(callFrame(1, "Calc.Echo", echoPayload(big)), 4, 100<<10, 1)
		first := 14 + 4 + 14 + 100<<10 + 14 + 1 // three chunks, the frame's last one held back
		go func() {
			b.Write(wire.AppendWindow(nil, 4<<20)) // room for the reply's chunks
			b.Write(chunks[:first])
			b.Write(callFrame(3, "Calc.Add", []byte{0x92, 1, 2}))
			b.Write(chunks[first:])
		}()
		got := map[uint64]wire.Frame{}
		for len(got) < 2 {
			f := readWholeFrame(t, br)
			got[f.ID] = f
			if f.ID == 1 && got[3].ID != 3 {
				t.Fatalf("call 1 answered before call 3, which arrived before its last chunk")
			}
		}
		if f := got[3]; f.Kind != wire.KindReply || !bytes.Equal(f.Payload, []byte{0x91, 3}) {
			t.Fatalf("call 3: %v %x", f.Kind, f.Payload)
		}
		if f := got[1]; f.Kind != wire.KindReply || !bytes.Equal(f.Payload, echoPayload(big)) {
			t.Fatalf("call 1: %v with %d bytes of payload, want the echo", f.Kind, len(f.Payload))
		}
		b.Close()
		srv.Close()
	})
}

// TestBadChunksCloseTheConnection sends chunk sequences that break the protocol's rules;
// each must close the connection with a protocol error, and leave the server serving.
func TestBadChunksCloseTheConnection(t *testing.T) {
	call := callFrame(1, "Calc.Echo", echoPayload(bytes.Repeat([]byte{1}, 200<<10)))
	huge := binary.BigEndian.AppendUint32(nil, wire.DefaultMaxFrameSize+1)
	tests := []struct {
		name   string
		stream []byte
	}{
		{"empty chunk", wire.AppendHeader(nil, wire.KindChunk, wire.FlagMore, 0, 0)},
		{"first chunk shorter than a length prefix", chunk(wire.FlagMore, []byte{0, 0, 0})},
		{"frame over the limit", append(wire.AppendHeader(nil, wire.KindChunk, wire.FlagMore, 0, 4), huge...)},
		{"frame under the minimum", append(wire.AppendHeader(nil, wire.KindChunk, wire.FlagMore, 0, 4), 0, 0, 0, 3)},
		{"last chunk leaves the frame short", chunkFrames(call[:len(call)-10], 1000)},
		{"more follow, but the frame is complete", append(chunk(wire.FlagMore, call[:1000]), chunk(wire.FlagMore, call[1000:])...)},
		{"chunks past the frame's end", chunkFrames(append(bytes.Clone(call), 1, 2, 3), 1000)},
		{"a chunk inside a chunk", chunkFrames(chunkFrames(callFrame(1, "Calc.Add", []byte{0x92, 1, 2})))},
		{"chunk bytes beyond the initial window", chunkFrames(callFrame(1, "Calc.Echo", echoPayload(make([]byte, wire.ChunkWindow+1000))))},
		{"chunk bytes beyond the opened window", append(chunk(wire.FlagMore, call[:1000]), chunk(wire.FlagMore, make([]byte, tandem.DefaultReceiveWindow))...)},
		{"window of zero", rawFrame(wire.KindWindow, 0, []byte{0, 0, 0, 0})},
		{"window beyond 1 TiB", bytes.Repeat(wire.AppendWindow(nil, 0xFFFFFFFF), 257)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv, peer, b, br := rawCalcPipe(t)
				go b.Write(tt.stream)
				go io.Copy(io.Discard, br)
				<-peer.Done()
				if !errors.Is(peer.Err(), tandem.ErrProtocol) {
					t.Fatalf("connection ended with %v, want a protocol error", peer.Err())
				}
				b.Close()
				srv.Close()
			})
		})
	}
}

// TestLargeFramesAroundTheChunkSize echoes payloads on either side of the chunk size and
// of the window, with small calls running alongside, over every transport, with the
// default window and the smallest.
func TestLargeFramesAroundTheChunkSize(t *testing.T) {
	for _, window := range []int{tandem.DefaultReceiveWindow, wire.ChunkWindow} {
		t.Run(fmt.Sprint(window>>10, "KiB"), func(t *testing.T) {
			largeFrames(t, tandem.WithReceiveWindow(window))
		})
	}
	if _, err := tandem.NewServer(tandem.WithReceiveWindow(wire.ChunkWindow - 1)); err == nil {
		t.Fatal("a window under the protocol's initial one was accepted")
	}
}

func largeFrames(t *testing.T, opts ...tandem.Option) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		_, client := setup(t, tr, opts...)
		ctx := ctxTimeout(t, 60e9)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		defer func() {
			close(stop)
			wg.Wait()
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var sum int
				if err := client.Call(ctx, "Calc.Add", &sum, i, 1); err != nil || sum != i+1 {
					t.Errorf("Add(%d, 1) = %d, %v", i, sum, err)
					return
				}
			}
		}()
		for _, n := range []int{128<<10 - 20, 128 << 10, 128<<10 + 1, 512 << 10, 512<<10 + 1, 3<<20 + 12345} {
			in := make([]byte, n)
			for i := range in {
				in[i] = byte(i * 7)
			}
			var out []byte
			must(t, client.Call(ctx, "Calc.Echo", &out, in))
			if !bytes.Equal(in, out) {
				t.Fatalf("echo of %d bytes came back as %d bytes, different", n, len(out))
			}
		}
	})
}

// Order records the notifications it gets; it is served one call at a time.
type Order struct{ got []int }

func (o *Order) Note(i int, pad []byte) { o.got = append(o.got, i) }
func (o *Order) Count() int             { return len(o.got) }

// TestNotificationsKeepTheirOrderAcrossChunks sends a large notification followed by small
// ones: the small ones must not overtake it while it goes out in chunks.
func TestNotificationsKeepTheirOrderAcrossChunks(t *testing.T) {
	srv := newServer(t)
	order := &Order{}
	must(t, srv.Register(order, tandem.WithSerialized(64)))
	client := dialPipe(t, srv, newServer(t))
	ctx := ctxTimeout(t, 30e9)
	big := make([]byte, 2<<20)
	const n = 50
	for i := range n {
		pad := []byte(nil)
		if i%10 == 0 {
			pad = big
		}
		must(t, client.Notify(ctx, "Order.Note", i, pad))
	}
	// Calls run in the same queue as the notifications, after those that have arrived.
	// (A call may overtake notifications still going out, so ask until all are in.)
	for count := 0; count < n; {
		must(t, client.Call(ctx, "Order.Count", &count))
	}
	for i, got := range order.got {
		if got != i {
			t.Fatalf("notifications arrived in the order %v", order.got)
		}
	}
}

// TestWindowNarrowsWhileSmallFramesComeBetween sends two large calls in 16 KiB chunks,
// keeping to the credit the server grants: the first alone, the second with a small call
// between every two chunks. Alone, the server opens its window to 512 KiB; with small
// calls between, it keeps the credit it hands out to 32 KiB, so that they wait behind
// little chunk data.
func TestWindowNarrowsWhileSmallFramesComeBetween(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, _, b, br := rawCalcPipe(t)
		defer srv.Close()
		var credit atomic.Int64
		credit.Store(wire.ChunkWindow)
		replies := make(chan wire.Frame, 16)
		go func() {
			for {
				f, err := tryReadFrame(br)
				if err != nil {
					close(replies)
					return
				}
				if f.Kind == wire.KindWindow {
					credit.Add(int64(f.Credit))
					continue
				}
				replies <- f
			}
		}()
		_, err := b.Write(wire.AppendWindow(nil, 8<<20)) // room for the echoes' chunks
		must(t, err)
		const piece = 16 << 10
		send := func(id uint64, between bool) (most int64) {
			frame := callFrame(id, "Calc.Echo", echoPayload(bytes.Repeat([]byte{byte(id)}, 1<<20)))
			for sent, n := 0, 0; sent < len(frame); n++ {
				synctest.Wait() // the server has read what was sent, and granted
				if c := credit.Load(); n > 40 {
					most = max(most, c) // once the credit left from before is spent
				}
				if credit.Load() < piece {
					t.Fatalf("call %d: %d bytes of credit after %d chunks: stalled", id, credit.Load(), n)
				}
				end := min(sent+piece, len(frame))
				flags := uint8(0)
				if end < len(frame) {
					flags = wire.FlagMore
				}
				_, err := b.Write(chunk(flags, frame[sent:end]))
				must(t, err)
				credit.Add(-int64(end - sent))
				sent = end
				if between && n%2 == 1 {
					_, err := b.Write(callFrame(id+2*uint64(n)+2, "Calc.Add", []byte{0x92, 1, 2}))
					must(t, err)
					if f := <-replies; f.Kind != wire.KindReply || !bytes.Equal(f.Payload, []byte{0x91, 3}) {
						t.Fatalf("small call: %v %x", f.Kind, f.Payload)
					}
				}
			}
			if f := readEcho(t, replies); f.ID != id {
				t.Fatalf("reply to %d, want %d", f.ID, id)
			}
			return most
		}
		if most := send(1, false); most < 400<<10 {
			t.Errorf("alone: at most %d bytes of credit; want the window opened to 512 KiB", most)
		}
		if most := send(3, true); most > 32<<10 {
			t.Errorf("with small calls between: up to %d bytes of credit; want at most 32 KiB", most)
		}
		b.Close()
	})
}

// readEcho returns the next reply from replies, rebuilding it if it came in chunks.
func readEcho(t *testing.T, replies <-chan wire.Frame) wire.Frame {
	t.Helper()
	var a chunkAssembler
	for f := range replies {
		if whole, ok := a.add(t, f); ok {
			return whole
		}
	}
	t.Fatal("connection closed before the echo")
	return wire.Frame{}
}

// Bulk has methods whose arguments and results are large without a large []byte or string
// in them, so their size is not foreseen before encoding (planLarge): the frame is encoded
// into the write buffer and then moved to the chunk queue.
type Bulk struct{}

func (Bulk) Sum(xs []int64) int64 {
	var s int64
	for _, x := range xs {
		s += x
	}
	return s
}

func (Bulk) Make(n int) []int64 {
	xs := make([]int64, n)
	for i := range xs {
		xs[i] = int64(i) << 20
	}
	return xs
}

// TestUnforeseenLargeFrames sends calls and results of about 500 KiB whose size shows only
// once encoded, on an idle connection. They used to stay in the chunk queue, unsent, until
// another frame came along: every call here timed out.
func TestUnforeseenLargeFrames(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := newServer(t)
		must(t, srv.Register(Bulk{}))
		p := tr.dial(t, srv, newServer(t))
		ctx := ctxTimeout(t, 10*time.Second)
		const n = 60000 // 8-byte msgpack integers (9 bytes each): about 530 KiB
		xs := make([]int64, n)
		var want int64
		for i := range xs {
			xs[i] = int64(i) << 20
			want += xs[i]
		}
		for range 3 {
			var sum int64
			must(t, p.Call(ctx, "Bulk.Sum", &sum, xs))
			var out []int64
			must(t, p.Call(ctx, "Bulk.Make", &out, n))
			if sum != want || len(out) != n || out[n-1] != xs[n-1] {
				t.Fatalf("Sum = %d, want %d; Make returned %d values ending in %d", sum, want, len(out), out[len(out)-1])
			}
		}
	})
}
