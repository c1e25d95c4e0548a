package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Magic opens every connection, sent by the dialing side.
const Magic = "TNDM"

// Version is the protocol version this package speaks.
const Version = 1

// MaxAuthSize bounds the authentication bytes in a hello.
const MaxAuthSize = 4096

// Status is the acceptor's verdict on a hello.
type Status uint8

// Handshake statuses. Values are part of the protocol.
const (
	StatusOK          Status = 0 // the connection is established
	StatusBadVersion  Status = 1 // the acceptor does not speak the dialer's version
	StatusBadCodec    Status = 2 // the acceptor does not accept the proposed codec
	StatusAuthFailed  Status = 3 // the acceptor rejected the credentials
	StatusUnavailable Status = 4 // the acceptor is shutting down or full
)

// String describes the status.
func (s Status) String() string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusBadVersion:
		return "unsupported protocol version"
	case StatusBadCodec:
		return "codec not accepted"
	case StatusAuthFailed:
		return "authentication failed"
	case StatusUnavailable:
		return "unavailable"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// ErrBadMagic reports a peer that does not open with [Magic]: it does not speak tandem.
var ErrBadMagic = errors.New("wire: not a tandem connection (bad magic)")

// Hello is the dialer's opening message.
type Hello struct {
	Version      uint8
	MaxFrameSize uint32 // the largest frame the dialer accepts
	MaxInflight  uint32 // how many of the acceptor's calls the dialer runs at once; 0: no limit
	Codec        string
	Auth         []byte
}

// Welcome is the acceptor's answer to a [Hello].
type Welcome struct {
	Version      uint8
	Status       Status
	MaxFrameSize uint32 // the largest frame the acceptor accepts
	MaxInflight  uint32 // how many of the dialer's calls the acceptor runs at once; 0: no limit
	Message      string
}

// AppendHello appends the encoding of h.
func AppendHello(dst []byte, h Hello) []byte {
	dst = append(dst, Magic...)
	dst = append(dst, h.Version)
	dst = binary.BigEndian.AppendUint32(dst, h.MaxFrameSize)
	dst = binary.BigEndian.AppendUint32(dst, h.MaxInflight)
	codec := h.Codec
	if len(codec) > 0xFF {
		codec = codec[:0xFF]
	}
	dst = append(dst, byte(len(codec)))
	dst = append(dst, codec...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(h.Auth)))
	return append(dst, h.Auth...)
}

// ReadHello reads a hello from r. A hello whose version differs from [Version] is returned
// with only its Version set and a nil error, since its layout may differ: the caller answers
// with [StatusBadVersion].
func ReadHello(r io.Reader) (Hello, error) {
	var h Hello
	var head [5]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return h, err
	}
	if string(head[:4]) != Magic {
		return h, ErrBadMagic
	}
	h.Version = head[4]
	if h.Version != Version {
		return h, nil
	}
	var rest [9]byte
	if _, err := io.ReadFull(r, rest[:]); err != nil {
		return h, err
	}
	h.MaxFrameSize = binary.BigEndian.Uint32(rest[:4])
	h.MaxInflight = binary.BigEndian.Uint32(rest[4:8])
	codec := make([]byte, rest[8])
	if _, err := io.ReadFull(r, codec); err != nil {
		return h, err
	}
	h.Codec = string(codec)
	var n [2]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return h, err
	}
	size := binary.BigEndian.Uint16(n[:])
	if size > MaxAuthSize {
		return h, fmt.Errorf("%w: auth of %d bytes, limit %d", ErrMalformed, size, MaxAuthSize)
	}
	if size > 0 {
		h.Auth = make([]byte, size)
		if _, err := io.ReadFull(r, h.Auth); err != nil {
			return h, err
		}
	}
	return h, nil
}

// AppendWelcome appends the encoding of w.
func AppendWelcome(dst []byte, w Welcome) []byte {
	dst = append(dst, Magic...)
	dst = append(dst, w.Version, byte(w.Status))
	dst = binary.BigEndian.AppendUint32(dst, w.MaxFrameSize)
	dst = binary.BigEndian.AppendUint32(dst, w.MaxInflight)
	return appendString16(dst, w.Message)
}

// ReadWelcome reads the acceptor's answer from r.
func ReadWelcome(r io.Reader) (Welcome, error) {
	var w Welcome
	var head [16]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return w, err
	}
	if string(head[:4]) != Magic {
		return w, ErrBadMagic
	}
	w.Version = head[4]
	w.Status = Status(head[5])
	w.MaxFrameSize = binary.BigEndian.Uint32(head[6:])
	w.MaxInflight = binary.BigEndian.Uint32(head[10:])
	msg := make([]byte, binary.BigEndian.Uint16(head[14:]))
	if _, err := io.ReadFull(r, msg); err != nil {
		return w, err
	}
	w.Message = string(msg)
	return w, nil
}
