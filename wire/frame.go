package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Kind says what a frame carries.
type Kind uint8

// The frame kinds. Values are part of the protocol; see docs/protocol.md.
const (
	KindCall    Kind = 1  // a call that expects a reply or an error
	KindReply   Kind = 2  // the successful result of a call
	KindError   Kind = 3  // the failed result of a call
	KindNotify  Kind = 4  // a one-way call: no reply, no error
	KindCancel  Kind = 5  // the caller gave up on a call
	KindPing    Kind = 6  // liveness probe; answered with a pong
	KindPong    Kind = 7  // answer to a ping, echoing its data
	KindGoAway  Kind = 8  // the sender is shutting down and accepts no new calls
	KindChunk   Kind = 9  // a piece of a larger frame, sent so that other frames can interleave
	KindWindow  Kind = 10 // the receiver of chunks allows the sender more chunk bytes
	maxKnownKnd      = KindWindow
)

// FlagMore, in a chunk frame's flags, says that more chunks of the same frame follow.
const FlagMore uint8 = 1

// String returns the kind's protocol name.
func (k Kind) String() string {
	switch k {
	case KindCall:
		return "call"
	case KindReply:
		return "reply"
	case KindError:
		return "error"
	case KindNotify:
		return "notify"
	case KindCancel:
		return "cancel"
	case KindPing:
		return "ping"
	case KindPong:
		return "pong"
	case KindGoAway:
		return "goaway"
	case KindChunk:
		return "chunk"
	case KindWindow:
		return "window"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

const (
	// LengthSize is the size of the length prefix in front of every frame.
	LengthSize = 4
	// HeaderSize is the size of the fixed header after the length prefix: kind, flags, id.
	HeaderSize = 1 + 1 + 8
	// MinFrameSize is the smallest legal value of the length prefix.
	MinFrameSize = HeaderSize
	// DefaultMaxFrameSize bounds the length prefix unless configured otherwise (4 MiB, like
	// gRPC's default receive limit).
	DefaultMaxFrameSize = 4 << 20
	// ChunkWindow is how many bytes of chunk bodies a peer may send before the other side
	// has allowed more with window frames; the receiver may allow more at any time.
	ChunkWindow = 64 << 10
	// PingDataSize is the size of a ping's and a pong's opaque body.
	PingDataSize = 8
	// MaxMetadata bounds the number of metadata entries on one call.
	MaxMetadata = 64
	// MaxMetadataSize bounds the bytes of all keys and values of one call's metadata, or of
	// one error's details, together.
	MaxMetadataSize = 16 << 10
	// MaxDetails bounds the number of detail entries on one error.
	MaxDetails = 64
)

// Typed decoding errors. A frame that fails to parse is a protocol violation: the connection
// that carried it cannot be trusted to stay in sync and should be closed.
var (
	// ErrFrameTooLarge reports a length prefix above the receiver's limit.
	ErrFrameTooLarge = errors.New("wire: frame too large")
	// ErrFrameTooSmall reports a length prefix below the fixed header size.
	ErrFrameTooSmall = errors.New("wire: frame too small")
	// ErrUnknownKind reports a frame kind this version does not know.
	ErrUnknownKind = errors.New("wire: unknown frame kind")
	// ErrMalformed reports a frame whose body does not match its kind's layout.
	ErrMalformed = errors.New("wire: malformed frame")
)

// Meta is one entry of a call's string metadata.
type Meta struct {
	Key, Value string
}

// Frame is one decoded frame. Fields that do not belong to Kind are zero. Byte slices returned
// by [Parse] alias the buffer they were parsed from.
type Frame struct {
	Kind  Kind
	Flags uint8
	ID    uint64

	// Call and Notify.
	Timeout time.Duration // remaining time the caller allows; 0 means none
	Method  []byte        // "Service.Method"
	Meta    []Meta

	// Call, Notify and Reply: the codec-encoded argument list or result list. Chunk: the
	// piece of the larger frame it carries.
	Payload []byte

	// Error and GoAway.
	Code    uint16
	Reason  uint16 // Error only
	Message []byte
	Details []Meta // Error only

	// GoAway: the highest call id from the receiver that the sender accepted.
	LastID uint64

	// Ping and Pong.
	PingData [PingDataSize]byte

	// Window: how many more bytes of chunk bodies the sender of the window frame allows.
	Credit uint32
}

// AppendHeader appends the length prefix and the fixed header for a frame whose body is
// bodyLen bytes long.
func AppendHeader(dst []byte, k Kind, flags uint8, id uint64, bodyLen int) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(HeaderSize+bodyLen))
	dst = append(dst, byte(k), flags)
	return binary.BigEndian.AppendUint64(dst, id)
}

// AppendCall appends a call or notify frame (k selects which) with the given payload.
func AppendCall(dst []byte, k Kind, id uint64, timeout time.Duration, method string, meta []Meta, payload []byte) []byte {
	start := len(dst)
	dst = AppendHeader(dst, k, 0, id, 0)
	if timeout < 0 {
		timeout = 0
	}
	dst = binary.BigEndian.AppendUint64(dst, uint64(timeout))
	dst = appendString16(dst, method)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(meta)))
	for _, m := range meta {
		dst = appendString16(dst, m.Key)
		dst = appendString16(dst, m.Value)
	}
	dst = append(dst, payload...)
	return FinishFrame(dst, start)
}

// AppendError appends an error frame.
func AppendError(dst []byte, id uint64, code, reason uint16, message string, details []Meta) []byte {
	start := len(dst)
	dst = AppendHeader(dst, KindError, 0, id, 0)
	dst = binary.BigEndian.AppendUint16(dst, code)
	dst = binary.BigEndian.AppendUint16(dst, reason)
	dst = appendString16(dst, message)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(details)))
	for _, d := range details {
		dst = appendString16(dst, d.Key)
		dst = appendString16(dst, d.Value)
	}
	return FinishFrame(dst, start)
}

// AppendGoAway appends a going-away frame.
func AppendGoAway(dst []byte, lastID uint64, code uint16, message string) []byte {
	start := len(dst)
	dst = AppendHeader(dst, KindGoAway, 0, 0, 0)
	dst = binary.BigEndian.AppendUint64(dst, lastID)
	dst = binary.BigEndian.AppendUint16(dst, code)
	dst = appendString16(dst, message)
	return FinishFrame(dst, start)
}

// AppendPing appends a ping or pong frame (k selects which).
func AppendPing(dst []byte, k Kind, data [PingDataSize]byte) []byte {
	dst = AppendHeader(dst, k, 0, 0, PingDataSize)
	return append(dst, data[:]...)
}

// AppendWindow appends a window frame allowing credit more bytes of chunk bodies.
func AppendWindow(dst []byte, credit uint32) []byte {
	dst = AppendHeader(dst, KindWindow, 0, 0, 4)
	return binary.BigEndian.AppendUint32(dst, credit)
}

// AppendCancel appends a cancel frame for call id.
func AppendCancel(dst []byte, id uint64) []byte {
	return AppendHeader(dst, KindCancel, 0, id, 0)
}

// FinishFrame rewrites the length prefix of the frame that starts at dst[start], after its
// body was appended (for example a payload appended by a codec after [AppendCall]).
func FinishFrame(dst []byte, start int) []byte { return FinishFrameLeavingOut(dst, start, 0) }

// FinishFrameLeavingOut is [FinishFrame] for a frame of which left more bytes are not in
// dst: they are written from where they lie, with vectored I/O.
func FinishFrameLeavingOut(dst []byte, start, left int) []byte {
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-LengthSize+left))
	return dst
}

// appendString16 appends s with a 16-bit length prefix, cutting it at 65535 bytes.
func appendString16(dst []byte, s string) []byte {
	if len(s) > 0xFFFF {
		s = s[:0xFFFF]
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

// ReadLength reads a length prefix from r and checks it against max before the caller
// allocates anything for the frame.
func ReadLength(r io.Reader, hdr *[LengthSize]byte, max uint32) (int, error) {
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, err
	}
	return ParseLength(hdr[:], max)
}

// ParseLength decodes the length prefix at the start of b, which must hold at least
// [LengthSize] bytes, and checks it against max and [MinFrameSize].
func ParseLength(b []byte, max uint32) (int, error) {
	n := binary.BigEndian.Uint32(b)
	if n > max {
		return 0, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, max)
	}
	if n < MinFrameSize {
		return 0, fmt.Errorf("%w: %d bytes", ErrFrameTooSmall, n)
	}
	return int(n), nil
}

// Parse decodes one frame from b, which holds everything after the length prefix. The
// returned frame's slices alias b. meta is reused for metadata and details if it has room.
func Parse(b []byte, meta []Meta) (Frame, error) {
	var f Frame
	if len(b) < HeaderSize {
		return f, ErrFrameTooSmall
	}
	f.Kind = Kind(b[0])
	f.Flags = b[1]
	f.ID = binary.BigEndian.Uint64(b[2:])
	body := b[HeaderSize:]
	if f.Kind == 0 || f.Kind > maxKnownKnd {
		return f, fmt.Errorf("%w: %d", ErrUnknownKind, uint8(f.Kind))
	}
	p := parser{b: body}
	switch f.Kind {
	case KindCall, KindNotify:
		t := p.u64()
		if t > uint64(1<<63-1) {
			p.fail()
		}
		f.Timeout = time.Duration(t)
		f.Method = p.bytes16()
		f.Meta = p.pairs(meta, MaxMetadata)
		f.Payload = p.rest()
	case KindReply:
		f.Payload = p.rest()
	case KindChunk:
		if f.Payload = p.rest(); len(f.Payload) == 0 {
			p.fail()
		}
	case KindError:
		f.Code = p.u16()
		f.Reason = p.u16()
		f.Message = p.bytes16()
		f.Details = p.pairs(meta, MaxDetails)
	case KindCancel:
	case KindPing, KindPong:
		copy(f.PingData[:], p.take(PingDataSize))
	case KindWindow:
		if f.Credit = p.u32(); f.Credit == 0 {
			p.fail()
		}
	case KindGoAway:
		f.LastID = p.u64()
		f.Code = p.u16()
		f.Message = p.bytes16()
	}
	if p.bad || len(p.b) != 0 {
		return f, fmt.Errorf("%w: %s frame", ErrMalformed, f.Kind)
	}
	return f, nil
}

// parser reads fields from a frame body, remembering the first overrun instead of
// returning an error from every step.
type parser struct {
	b   []byte
	bad bool
}

func (p *parser) fail() { p.bad = true; p.b = nil }

func (p *parser) take(n int) []byte {
	if p.bad || len(p.b) < n {
		p.fail()
		return nil
	}
	v := p.b[:n:n]
	p.b = p.b[n:]
	return v
}

func (p *parser) u16() uint16 {
	if v := p.take(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (p *parser) u32() uint32 {
	if v := p.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (p *parser) u64() uint64 {
	if v := p.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (p *parser) bytes16() []byte { return p.take(int(p.u16())) }

func (p *parser) rest() []byte {
	v := p.b
	p.b = nil
	return v
}

// pairs reads a 16-bit count and that many key/value strings. Each pair takes at least 4
// bytes, so the count is checked against the bytes present before anything is allocated.
func (p *parser) pairs(dst []Meta, max int) []Meta {
	n := int(p.u16())
	if n == 0 || p.bad {
		return nil
	}
	if n > max || n*4 > len(p.b) {
		p.fail()
		return nil
	}
	dst = dst[:0]
	size := 0
	for range n {
		k := p.bytes16()
		v := p.bytes16()
		if size += len(k) + len(v); p.bad || size > MaxMetadataSize {
			p.fail()
			return nil
		}
		dst = append(dst, Meta{Key: string(k), Value: string(v)})
	}
	return dst
}
