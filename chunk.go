package tandem

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/tandem-rpc/tandem/wire"
)

// Large frames travel in chunks (docs/protocol.md, "Chunks") so that a 4 MiB reply being
// written does not hold up the small frames behind it: the writer sends other frames
// between the chunks, and the reader rebuilds the large frame while dispatching the small
// ones as they come.
const (
	// chunkOver is the frame size above which a frame goes in chunks, and is counted
	// against the other side's window.
	chunkOver = 128 << 10
	// maxChunk is the most frame bytes one chunk carries, if the window allows. Other
	// frames wait for at most one chunk's write, and the window bounds the bytes queued
	// in front of them anyway; each chunk costs a write and, on the other side, a wakeup
	// (A/B on echo4m: 128 KiB chunks 300-372 MB/s, 512 KiB 491-534, same small-call p99).
	maxChunk = 512 << 10
	// minChunk is the least a chunk carries unless it ends its frame: a sender short of
	// window waits for this much rather than sending slivers.
	minChunk = 16 << 10
	// chunkHeadroom is the room kept in front of a frame that will be chunked, where the
	// first chunk's header is written. Later chunks' headers overwrite the end of the
	// chunk before them, which has been written by then: each chunk goes out as one
	// contiguous write, without copying the frame.
	chunkHeadroom = wire.LengthSize + wire.HeaderSize
)

// assembly is the frame a peer's reader is rebuilding from chunks. One at a time: a sender
// finishes one chunked frame before it starts the next.
type assembly struct {
	buf     *[]byte // the frame after its length prefix, from getBuf
	have    int     // bytes of it received
	allowed int     // chunk body bytes the other side may still send

	// lastBetween is when (in nanos, see clock) a call, notification, result or cancel last arrived
	// while a frame was being rebuilt: small frames travel with the chunks.
	lastBetween int64
}

// While small frames travel between the chunks of a large one, and for betweenLately
// after, the receive window is betweenWindow (or the configured one, if smaller): a small
// frame then waits behind that much chunk data at most. The large frame slows down
// meanwhile. Measured on loopback (bench/README.md): small-call p99 during a 4 MiB echo
// 1.0-1.4ms with the 512 KiB window, 536-848µs with 64 KiB, 405-514µs with 32 KiB; the
// echo's own rate meanwhile 285-402, 113-122 and 71-79 MB/s.
const (
	betweenWindow = 32 << 10
	betweenLately = 50 * time.Millisecond
)

// A window must grant more than its last quarter is worth to a sender that waits for
// minChunk: the reader grants only once a quarter of the window is used, and a sender
// holding less than minChunk of credit sends nothing, so with a window under 4/3 of
// minChunk both could wait for each other. (This fails to compile if betweenWindow is too
// small; the configurable window's least, wire.ChunkWindow, is 64 KiB.)
const _ = uint(betweenWindow - betweenWindow/4 - minChunk)

// partialFrame is how far the reading has got through the frame it is reading. It lives
// in the peer, not on a goroutine's stack, so that a read stopped by a deadline (a caller
// reading its own result gives up the reading after a while; see readOwnResult) loses
// nothing: whoever reads next carries on from here.
type partialFrame struct {
	n     int     // the frame's length, once its prefix has been read; 0 before
	bp    *[]byte // the frame's buffer, once its header shows it is read whole
	have  int     // bytes of bp filled
	chunk bool    // the frame is a chunk, whose header has been read
	left  int     // for a chunk: body bytes not yet read into the frame being rebuilt
	flags uint8   // for a chunk: its flags
}

// readFrame reads the next whole frame: one sent as it is, or one rebuilt from its chunks.
// The caller owns the returned buffer, which holds the frame after its length prefix.
// Every step either completes or leaves its progress in p.rd, so that after an error the
// next call resumes where this one stopped.
func (p *Peer) readFrame() (*[]byte, error) {
	r := &p.rd
	for {
		if r.n == 0 {
			n, err := p.readLength()
			if err != nil {
				return nil, err
			}
			r.n = n
		}
		if r.bp == nil && !r.chunk {
			hdr, err := p.br.Peek(wire.HeaderSize)
			if err != nil {
				return nil, unexpectedEOF(err)
			}
			if wire.Kind(hdr[0]) != wire.KindChunk {
				r.bp, r.have = getBuf(r.n), 0
			} else {
				r.flags = hdr[1]
				p.br.Discard(wire.HeaderSize)
				if err := p.startChunk(r.n - wire.HeaderSize); err != nil {
					return nil, err
				}
			}
		}
		if r.bp != nil {
			n, err := io.ReadFull(p.br, (*r.bp)[r.have:])
			if r.have += n; err != nil {
				return nil, unexpectedEOF(err)
			}
			bp := r.bp
			*r = partialFrame{}
			return bp, nil
		}
		bp, err := p.readChunk()
		if bp != nil || err != nil {
			return bp, err
		}
		p.live.lastRead.Store(p.clock.nanos())
	}
}

// wholeFrameBuffered reports whether the next frame has arrived whole, so that readFrame
// returns it without waiting for input: not a chunk, after which readFrame reads on.
func (p *Peer) wholeFrameBuffered() bool {
	n := p.br.Buffered()
	if p.rd.n != 0 || n < wire.LengthSize+wire.HeaderSize {
		return false
	}
	b, _ := p.br.Peek(wire.LengthSize + 1)
	return wire.Kind(b[wire.LengthSize]) != wire.KindChunk &&
		wire.LengthSize+int(binary.BigEndian.Uint32(b)) <= n
}

// readLength consumes a length prefix once all of it has arrived, and checks it against
// the frame limit before anything is allocated for the frame. At the start of a frame the
// end of input is io.EOF, a clean end; inside the prefix it is io.ErrUnexpectedEOF.
func (p *Peer) readLength() (int, error) {
	b, err := p.br.Peek(wire.LengthSize)
	if err != nil {
		if len(b) > 0 {
			err = unexpectedEOF(err)
		}
		return 0, err
	}
	n, err := wire.ParseLength(b, p.cfg.maxFrameSize)
	if err == nil {
		p.br.Discard(wire.LengthSize)
	}
	return n, err
}

// startChunk checks a chunk whose header has been read against the window, and counts its
// body as received.
func (p *Peer) startChunk(body int) error {
	a := &p.asm
	switch {
	case body == 0:
		return fmt.Errorf("%w: empty chunk", wire.ErrMalformed)
	case body > a.allowed:
		return fmt.Errorf("%w: %d bytes of chunks beyond the window", wire.ErrMalformed, body-a.allowed)
	case a.buf == nil && body < wire.LengthSize:
		return fmt.Errorf("%w: first chunk of %d bytes does not hold the frame's length", wire.ErrMalformed, body)
	}
	a.allowed -= body
	p.rd.chunk, p.rd.left = true, body
	return nil
}

// readChunk reads the rest of the body of the chunk in p.rd into the frame being rebuilt.
// It returns the frame's buffer once its last chunk has arrived, nil before. The first
// chunk carries the frame's length prefix, which is checked against the limit before the
// frame's buffer is allocated.
func (p *Peer) readChunk() (*[]byte, error) {
	a, r := &p.asm, &p.rd
	if a.buf == nil {
		size, err := p.readLength()
		if err != nil {
			return nil, unexpectedEOF(err)
		}
		a.buf, a.have = getBuf(size), 0
		r.left -= wire.LengthSize
	}
	frame := *a.buf
	if r.left > len(frame)-a.have {
		return nil, fmt.Errorf("%w: chunks carry more than the frame's %d bytes", wire.ErrMalformed, len(frame))
	}
	n, err := io.ReadFull(p.br, frame[a.have:a.have+r.left])
	a.have += n
	if r.left -= n; err != nil {
		return nil, unexpectedEOF(err)
	}
	more := r.flags&wire.FlagMore != 0
	*r = partialFrame{}
	// Keep the sender's credit topped up to the window: once a quarter of it has been
	// used, grant it back. The first grant opens the protocol's initial window to ours
	// (not before the first chunk: a peer that never sends chunks never sees a window
	// frame). While calls or results come between the chunks, the window is betweenWindow:
	// the chunk bytes in flight in front of them, and so their delay, stay small.
	window := p.cfg.receiveWindow
	if p.live.lastRead.Load()-a.lastBetween < int64(betweenLately) {
		window = min(window, betweenWindow)
	}
	if a.allowed <= window-window/4 {
		grant := window - a.allowed
		if dst, err := p.w.beginAsync(); err == nil {
			p.w.commitAsync(wire.AppendWindow(dst, uint32(grant)))
		}
		a.allowed += grant
	}
	complete := a.have == len(frame)
	if complete == more {
		if more {
			return nil, fmt.Errorf("%w: chunk says more follow, but the frame is complete", wire.ErrMalformed)
		}
		return nil, fmt.Errorf("%w: last chunk leaves the frame %d bytes short", wire.ErrMalformed, len(frame)-a.have)
	}
	if !complete {
		return nil, nil
	}
	bp := a.buf
	a.buf = nil
	if wire.Kind(frame[0]) == wire.KindChunk {
		putBuf(bp)
		return nil, fmt.Errorf("%w: a chunk inside a chunked frame", wire.ErrMalformed)
	}
	return bp, nil
}

// unexpectedEOF turns the end of input inside a frame into io.ErrUnexpectedEOF.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// putChunkHeader writes a chunk frame's length prefix and header into dst, which must have
// chunkHeadroom bytes.
func putChunkHeader(dst []byte, more bool, id uint64, bodyLen int) {
	binary.BigEndian.PutUint32(dst, uint32(wire.HeaderSize+bodyLen))
	dst[4] = byte(wire.KindChunk)
	dst[5] = 0
	if more {
		dst[5] = wire.FlagMore
	}
	binary.BigEndian.PutUint64(dst[6:], id)
}
