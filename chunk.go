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
	unacked int     // chunk body bytes read and not yet allowed again
	opened  bool    // the window has been opened from the protocol's initial one to ours
}

// readChunk reads the body of a chunk frame whose length prefix n and header (flags) have
// been read, into the frame being rebuilt. It returns the frame's buffer once its last
// chunk has arrived, nil before. The first chunk must carry the frame's whole length
// prefix, which is checked against the limit before the frame's buffer is allocated.
func (p *Peer) readChunk(n int, flags uint8) (*[]byte, error) {
	body := n - wire.HeaderSize
	if body == 0 {
		return nil, fmt.Errorf("%w: empty chunk", wire.ErrMalformed)
	}
	a := &p.asm
	if body > a.allowed {
		return nil, fmt.Errorf("%w: %d bytes of chunks beyond the window", wire.ErrMalformed, body-a.allowed)
	}
	a.allowed -= body
	a.unacked += body
	if a.buf == nil {
		var hdr [wire.LengthSize]byte
		if body < wire.LengthSize {
			return nil, fmt.Errorf("%w: first chunk of %d bytes does not hold the frame's length", wire.ErrMalformed, body)
		}
		size, err := wire.ReadLength(p.br, &hdr, p.cfg.maxFrameSize)
		if err != nil {
			return nil, unexpectedEOF(err)
		}
		a.buf, a.have = getBuf(size), 0
		body -= wire.LengthSize
	}
	frame := *a.buf
	if body > len(frame)-a.have {
		return nil, fmt.Errorf("%w: chunks carry more than the frame's %d bytes", wire.ErrMalformed, len(frame))
	}
	if _, err := io.ReadFull(p.br, frame[a.have:a.have+body]); err != nil {
		return nil, unexpectedEOF(err)
	}
	a.have += body
	grant := 0
	if !a.opened {
		// The first chunk: open the protocol's initial window to ours. (Not before: a
		// peer that never sends chunks never sees a window frame.)
		a.opened = true
		grant = p.cfg.receiveWindow - wire.ChunkWindow
	}
	if a.unacked >= p.cfg.receiveWindow/4 {
		// The bytes are in the frame's buffer: let the sender send as many more.
		grant += a.unacked
		a.unacked = 0
	}
	if grant > 0 {
		if dst, err := p.w.beginAsync(); err == nil {
			p.w.commitAsync(wire.AppendWindow(dst, uint32(grant)))
		}
		a.allowed += grant
	}
	complete := a.have == len(frame)
	if more := flags&wire.FlagMore != 0; complete == more {
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

// readFrame reads the next whole frame: one sent as it is, or one rebuilt from its chunks.
// The caller owns the returned buffer, which holds the frame after its length prefix.
func (p *Peer) readFrame(lenBuf *[wire.LengthSize]byte) (*[]byte, error) {
	for {
		n, err := wire.ReadLength(p.br, lenBuf, p.cfg.maxFrameSize)
		if err != nil {
			return nil, err
		}
		hdr, err := p.br.Peek(wire.HeaderSize)
		if err != nil {
			return nil, unexpectedEOF(err)
		}
		if wire.Kind(hdr[0]) == wire.KindChunk {
			flags := hdr[1]
			p.br.Discard(wire.HeaderSize)
			bp, err := p.readChunk(n, flags)
			if bp != nil || err != nil {
				return bp, err
			}
			p.live.lastRead.Store(time.Now().UnixNano())
			continue
		}
		bp := getBuf(n)
		if _, err := io.ReadFull(p.br, *bp); err != nil {
			putBuf(bp)
			return nil, unexpectedEOF(err)
		}
		return bp, nil
	}
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
