package wire_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/tandem-rpc/tandem/wire"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// roundTrip parses one frame written by an Append function.
func roundTrip(t *testing.T, b []byte) wire.Frame {
	t.Helper()
	var hdr [wire.LengthSize]byte
	r := bytes.NewReader(b)
	n, err := wire.ReadLength(r, &hdr, wire.DefaultMaxFrameSize)
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatal(err)
	}
	if r.Len() != 0 {
		t.Fatalf("%d bytes left after the frame", r.Len())
	}
	f, err := wire.Parse(body, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestRoundTrip(t *testing.T) {
	meta := []wire.Meta{{Key: "trace", Value: "abc"}, {Key: "", Value: ""}}
	tests := []struct {
		name  string
		frame []byte
		want  wire.Frame
	}{
		{"call", wire.AppendCall(nil, wire.KindCall, 7, 3*time.Second, "Calc.Add", meta, []byte{1, 2, 3}),
			wire.Frame{Kind: wire.KindCall, ID: 7, Timeout: 3 * time.Second, Method: []byte("Calc.Add"), Meta: meta, Payload: []byte{1, 2, 3}}},
		{"notify without payload", wire.AppendCall(nil, wire.KindNotify, 0, 0, "A.B", nil, nil),
			wire.Frame{Kind: wire.KindNotify, Method: []byte("A.B"), Payload: []byte{}}},
		{"reply", append(wire.AppendHeader(nil, wire.KindReply, 0, 9, 2), 0x91, 0x05),
			wire.Frame{Kind: wire.KindReply, ID: 9, Payload: []byte{0x91, 0x05}}},
		{"error", wire.AppendError(nil, 4, 3, 3, "bad", meta[:1]),
			wire.Frame{Kind: wire.KindError, ID: 4, Code: 3, Reason: 3, Message: []byte("bad"), Details: meta[:1]}},
		{"cancel", wire.AppendCancel(nil, 11), wire.Frame{Kind: wire.KindCancel, ID: 11}},
		{"ping", wire.AppendPing(nil, wire.KindPing, [8]byte{1, 2, 3, 4, 5, 6, 7, 8}),
			wire.Frame{Kind: wire.KindPing, PingData: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}}},
		{"goaway", wire.AppendGoAway(nil, 99, 14, "bye"),
			wire.Frame{Kind: wire.KindGoAway, LastID: 99, Code: 14, Message: []byte("bye")}},
		{"chunk", append(wire.AppendHeader(nil, wire.KindChunk, wire.FlagMore, 3, 2), 7, 8),
			wire.Frame{Kind: wire.KindChunk, Flags: wire.FlagMore, ID: 3, Payload: []byte{7, 8}}},
		{"window", wire.AppendWindow(nil, 1<<20), wire.Frame{Kind: wire.KindWindow, Credit: 1 << 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := roundTrip(t, tt.frame)
			if got.Payload == nil && tt.want.Payload != nil && len(tt.want.Payload) == 0 {
				got.Payload = []byte{}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestRejects(t *testing.T) {
	body := func(kind byte, rest ...byte) []byte {
		return append([]byte{kind, 0, 0, 0, 0, 0, 0, 0, 0, 1}, rest...)
	}
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"short header", []byte{1, 0, 0}, wire.ErrFrameTooSmall},
		{"kind 0", body(0), wire.ErrUnknownKind},
		{"kind 200", body(200), wire.ErrUnknownKind},
		{"call without timeout", body(1, 0, 0), wire.ErrMalformed},
		{"call method past the end", body(1, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 'a'), wire.ErrMalformed},
		{"call metadata count past the end", body(1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF), wire.ErrMalformed},
		{"negative timeout", body(1, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), wire.ErrMalformed},
		{"cancel with a body", body(5, 1), wire.ErrMalformed},
		{"ping too short", body(6, 1, 2), wire.ErrMalformed},
		{"error truncated", body(3, 0, 1), wire.ErrMalformed},
		{"metadata over 16 KiB", wire.AppendCall(nil, wire.KindCall, 1, 0, "A.B", []wire.Meta{{Key: "a", Value: string(make([]byte, 9000))}, {Key: "b", Value: string(make([]byte, 9000))}}, nil)[4:], wire.ErrMalformed},
		{"goaway with trailing bytes", append(wire.AppendGoAway(nil, 1, 1, "")[4:], 0), wire.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := wire.Parse(tt.b, nil); !errors.Is(err, tt.want) {
				t.Fatalf("Parse = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestReadLengthLimits(t *testing.T) {
	var hdr [wire.LengthSize]byte
	for _, tt := range []struct {
		n    uint32
		want error
	}{{0xFFFFFFFF, wire.ErrFrameTooLarge}, {1025, wire.ErrFrameTooLarge}, {9, wire.ErrFrameTooSmall}, {0, wire.ErrFrameTooSmall}, {1024, nil}} {
		_, err := wire.ReadLength(bytes.NewReader(binary.BigEndian.AppendUint32(nil, tt.n)), &hdr, 1024)
		if !errors.Is(err, tt.want) {
			t.Errorf("length %d: %v, want %v", tt.n, err, tt.want)
		}
	}
}

func TestHandshake(t *testing.T) {
	h := wire.Hello{Version: wire.Version, MaxFrameSize: 1 << 20, MaxInflight: 77, Codec: "msgpack", Auth: []byte("token")}
	got, err := wire.ReadHello(bufio.NewReader(bytes.NewReader(wire.AppendHello(nil, h))))
	if err != nil || !reflect.DeepEqual(got, h) {
		t.Fatalf("hello round trip: %+v %v", got, err)
	}
	w := wire.Welcome{Version: wire.Version, Status: wire.StatusBadCodec, MaxFrameSize: 1 << 22, MaxInflight: 9, Message: "no"}
	gotW, err := wire.ReadWelcome(bytes.NewReader(wire.AppendWelcome(nil, w)))
	if err != nil || gotW != w {
		t.Fatalf("welcome round trip: %+v %v", gotW, err)
	}
	if _, err := wire.ReadHello(bytes.NewReader([]byte("HTTP/1.1"))); !errors.Is(err, wire.ErrBadMagic) {
		t.Fatalf("bad magic: %v", err)
	}
	other, err := wire.ReadHello(bytes.NewReader([]byte("TNDM\x09anything")))
	if err != nil || other.Version != 9 {
		t.Fatalf("other version: %+v %v", other, err)
	}
	big := append([]byte("TNDM\x01\x00\x10\x00\x00\x00\x00\x00\x00\x00"), 0xFF, 0xFF)
	if _, err := wire.ReadHello(bytes.NewReader(big)); !errors.Is(err, wire.ErrMalformed) {
		t.Fatalf("auth over the limit: %v", err)
	}
	full := wire.AppendHello(nil, h)
	for i := range full {
		if _, err := wire.ReadHello(bytes.NewReader(full[:i])); err == nil {
			t.Fatalf("hello truncated at %d parsed", i)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(wire.AppendCall(nil, wire.KindCall, 1, time.Second, "Calc.Add", []wire.Meta{{Key: "k", Value: "v"}}, []byte{0x92, 1, 2})[4:])
	f.Add(wire.AppendError(nil, 2, 3, 3, "bad", []wire.Meta{{Key: "a", Value: "b"}})[4:])
	f.Add(wire.AppendGoAway(nil, 5, 14, "bye")[4:])
	f.Add(wire.AppendPing(nil, wire.KindPing, [8]byte{1})[4:])
	f.Add(append(wire.AppendHeader(nil, wire.KindChunk, wire.FlagMore, 1, 3), 1, 2, 3)[4:])
	f.Add(wire.AppendWindow(nil, 4096)[4:])
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := wire.Parse(b, nil)
		if err != nil {
			return
		}
		// Whatever parses must re-encode to the same bytes (flags aside).
		var again []byte
		switch fr.Kind {
		case wire.KindCall, wire.KindNotify:
			again = wire.AppendCall(nil, fr.Kind, fr.ID, fr.Timeout, string(fr.Method), fr.Meta, fr.Payload)
		case wire.KindError:
			again = wire.AppendError(nil, fr.ID, fr.Code, fr.Reason, string(fr.Message), fr.Details)
		case wire.KindGoAway:
			again = wire.AppendGoAway(nil, fr.LastID, fr.Code, string(fr.Message))
		case wire.KindWindow:
			// The id of a window frame means nothing; it is kept to compare the rest.
			again = binary.BigEndian.AppendUint32(wire.AppendHeader(nil, wire.KindWindow, 0, fr.ID, 4), fr.Credit)
		default:
			return
		}
		if fr.Kind != wire.KindGoAway && !bytes.Equal(again[4+2:], b[2:]) {
			t.Fatalf("re-encoding differs:\n%x\n%x", again[4:], b)
		}
	})
}

func FuzzReadHello(f *testing.F) {
	f.Add(wire.AppendHello(nil, wire.Hello{Version: 1, MaxFrameSize: 4096, Codec: "msgpack", Auth: []byte("x")}))
	f.Add([]byte("TNDM\x02"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := wire.ReadHello(bytes.NewReader(b))
		if err == nil && len(h.Auth) > wire.MaxAuthSize {
			t.Fatalf("auth of %d bytes accepted", len(h.Auth))
		}
		_, _ = wire.ReadWelcome(bytes.NewReader(b))
	})
}
