package msgpack_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/tandem-rpc/tandem/codec/msgpack"
	"github.com/tandem-rpc/tandem/internal/codectest"
)

// TestBombs feeds inputs that crash or exhaust unguarded decoders: vmihailenco/msgpack
// v5.4.1 dies with a fatal out-of-memory error on the 5-byte array32 header and overflows
// its stack on 2 MB of nested arrays. Each must fail fast with a small allocation.
func TestBombs(t *testing.T) {
	nest := func(unit []byte, times int, tail ...byte) []byte {
		return append(bytes.Repeat(unit, times), tail...)
	}
	tests := []struct {
		name string
		src  []byte
		want error
	}{
		{"array32 header as list", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}, msgpack.ErrTruncated},
		{"array32 element", []byte{0x91, 0xdd, 0xff, 0xff, 0xff, 0xff}, msgpack.ErrTruncated},
		{"map32 element", []byte{0x91, 0xdf, 0xff, 0xff, 0xff, 0xff}, msgpack.ErrTruncated},
		{"str32 element", []byte{0x91, 0xdb, 0xff, 0xff, 0xff, 0xff}, msgpack.ErrTruncated},
		{"bin32 element", []byte{0x91, 0xc6, 0xff, 0xff, 0xff, 0xff}, msgpack.ErrTruncated},
		{"ext32 element", []byte{0x91, 0xc9, 0xff, 0xff, 0xff, 0xff, 0x01}, msgpack.ErrTruncated},
		{"map16 headers", append([]byte{0x91}, nest([]byte{0xde, 0xff, 0xff}, 1<<16)...), msgpack.ErrTruncated},
		{"2 MB of nested arrays", nest([]byte{0x91}, 2<<20, 0xc0), msgpack.ErrTooDeep},
		{"2 MB of nested array16", nest([]byte{0xdc, 0x00, 0x01}, 700_000, 0xc0), msgpack.ErrTooDeep},
		{"2 MB of nested maps", append([]byte{0x91}, nest([]byte{0x81, 0xa0}, 1<<20, 0xc0)...), msgpack.ErrTooDeep},
		{"many elements owed", append([]byte{0x91, 0x91}, nest([]byte{0x9f}, 1000)...), msgpack.ErrTruncated},
	}
	c := msgpack.New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a any
			var s []int
			for _, ptr := range []any{&a, &s} {
				var err error
				grew, elapsed := codectest.Measure(func() { _, err = c.DecodeList(tt.src, []any{ptr}) })
				if !errors.Is(err, tt.want) {
					t.Fatalf("into %T: err = %v, want %v", ptr, err, tt.want)
				}
				if grew > 64<<10 {
					t.Errorf("into %T: allocated %d bytes", ptr, grew)
				}
				if elapsed > 2*time.Second {
					t.Errorf("into %T: took %v", ptr, elapsed)
				}
			}
		})
	}
}

// TestBombAllocs pins the 5-byte array32 header at zero allocations.
func TestBombAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	src := []byte{0x91, 0xdd, 0xff, 0xff, 0xff, 0xff}
	var a any
	ptrs := []any{&a}
	c := msgpack.New()
	// The error wraps the offset, which costs a few small allocations.
	if n := testing.AllocsPerRun(100, func() { _, _ = c.DecodeList(src, ptrs) }); n > 4 {
		t.Fatalf("%v allocs", n)
	}
}
