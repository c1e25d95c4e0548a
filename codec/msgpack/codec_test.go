package msgpack_test

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/tandem-rpc/tandem/codec/msgpack"
	"github.com/tandem-rpc/tandem/internal/codectest"
)

var _ codectest.Codec = (*msgpack.Codec)(nil)

func TestContract(t *testing.T) {
	index := codectest.ElementIndex(func(e *msgpack.ElementError) int { return e.Index })
	codectest.Contract(t, msgpack.New(), index, codectest.LocalTimes())
}

func TestDecodeIntoAny(t *testing.T) {
	tests := []struct {
		name string
		val  any
		want any
	}{
		{"nil", nil, nil},
		{"small int", 5, int8(5)},
		{"int", 300, uint16(300)},
		{"negative", -70000, int32(-70000)},
		{"uint64", uint64(math.MaxUint64), uint64(math.MaxUint64)},
		{"float64", 2.5, 2.5},
		{"float32", float32(0.5), float32(0.5)},
		{"string", "s", "s"},
		{"bytes", []byte("b"), []byte("b")},
		{"slice", []string{"a"}, []any{"a"}},
		{"map", map[string]int{"k": 1}, map[string]any{"k": int8(1)}},
		{"int keys", map[int]bool{1: true}, map[any]any{int8(1): true}},
		{"struct", codectest.Point{X: 1, Y: 2}, map[string]any{"X": int8(1), "Y": int8(2)}},
		{"nil pointer", (*codectest.Point)(nil), nil},
		{"time", codectest.When(), codectest.When()},
		{"nested", map[string]any{"a": []any{map[string]any{"b": nil}}}, map[string]any{"a": []any{map[string]any{"b": nil}}}},
	}
	c := msgpack.New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := c.AppendList(nil, []any{tt.val})
			if err != nil {
				t.Fatalf("AppendList: %v", err)
			}
			var got any
			if _, err := c.DecodeList(b, []any{&got}); err != nil {
				t.Fatalf("DecodeList: %v", err)
			}
			if !codectest.SameInstants(got, tt.want) {
				t.Fatalf("got %#v (%T), want %#v (%T)", got, got, tt.want, tt.want)
			}
		})
	}
}

func TestDecodeMapWithUnhashableKey(t *testing.T) {
	// [{1: 1, [1]: 2}]: the second key is an array, which Go cannot use as a map key.
	src := []byte{0x91, 0x82, 0x01, 0x01, 0x91, 0x01, 0x02}
	var got any
	_, err := msgpack.New().DecodeList(src, []any{&got})
	var ee *msgpack.ElementError
	if !errors.As(err, &ee) || ee.Index != 0 || errors.Is(err, msgpack.ErrPanic) {
		t.Fatalf("err = %v, want an ElementError for element 0 without a panic", err)
	}
}

func TestMalformed(t *testing.T) {
	codectest.Rejects(t, msgpack.New(), []codectest.Input{
		{Name: "empty", Src: nil, Want: msgpack.ErrNotList},
		{Name: "not an array", Src: []byte{0x01}, Want: msgpack.ErrNotList},
		{Name: "map at top", Src: []byte{0x80}, Want: msgpack.ErrNotList},
		{Name: "nil at top", Src: []byte{0xc0}, Want: msgpack.ErrNotList},
		{Name: "short array16 header", Src: []byte{0xdc, 0x00}, Want: msgpack.ErrTruncated},
		{Name: "missing element", Src: []byte{0x92, 0x01}, Want: msgpack.ErrTruncated},
		{Name: "short uint32", Src: []byte{0x91, 0xce, 0, 0}, Want: msgpack.ErrTruncated},
		{Name: "short fixstr", Src: []byte{0x91, 0xa3, 'a'}, Want: msgpack.ErrTruncated},
		{Name: "short fixext", Src: []byte{0x91, 0xd6, 0xff, 0, 0}, Want: msgpack.ErrTruncated},
		{Name: "ext32 too long", Src: []byte{0x91, 0xc9, 0xff, 0xff, 0xff, 0xff, 0x01}, Want: msgpack.ErrTruncated},
		{Name: "reserved code", Src: []byte{0x91, 0xc1}, Want: msgpack.ErrInvalidCode},
		{Name: "trailing byte", Src: []byte{0x91, 0x01, 0x02}, Want: msgpack.ErrTrailingBytes},
		{Name: "trailing after empty", Src: []byte{0x90, 0x00}, Want: msgpack.ErrTrailingBytes},
		{Name: "two lists", Src: []byte{0x91, 0x01, 0x91, 0x01}, Want: msgpack.ErrTrailingBytes},
	})
}

func TestMaxDepth(t *testing.T) {
	c := &msgpack.Codec{MaxDepth: 3}
	ok := []byte{0x91, 0x91, 0x91, 0x01}            // [[[1]]]: depth 3
	deep := []byte{0x91, 0x91, 0x91, 0x90}          // [[[[]]]]: depth 4
	deepMap := []byte{0x91, 0x91, 0x81, 0x01, 0x90} // [[{1: []}]]: depth 4
	var a any
	if _, err := c.DecodeList(ok, []any{&a}); err != nil {
		t.Fatalf("depth 3: %v", err)
	}
	for _, src := range [][]byte{deep, deepMap} {
		if _, err := c.DecodeList(src, []any{&a}); !errors.Is(err, msgpack.ErrTooDeep) {
			t.Fatalf("%x: err = %v, want ErrTooDeep", src, err)
		}
	}
	if _, err := msgpack.New().DecodeList(deep, []any{&a}); err != nil {
		t.Fatalf("default depth: %v", err)
	}
}

func TestDecodedBytesDoNotAliasInput(t *testing.T) {
	c := msgpack.New()
	b, _ := c.AppendList(nil, []any{[]byte("abc"), "def"})
	var bs []byte
	var s string
	if _, err := c.DecodeList(b, []any{&bs, &s}); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0
	}
	if string(bs) != "abc" || s != "def" {
		t.Fatalf("decoded values changed with the input: %q %q", bs, s)
	}
}

func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under -race")
	}
	c := msgpack.New()
	vals := []any{1000, 2000}
	dst := make([]byte, 0, 64)
	if a := testing.AllocsPerRun(1000, func() {
		dst, _ = c.AppendList(dst[:0], vals)
	}); a != 0 {
		t.Errorf("AppendList(int, int): %v allocs, want 0", a)
	}
	src, _ := c.AppendList(nil, []any{123456})
	var x int
	ptrs := []any{&x}
	if a := testing.AllocsPerRun(1000, func() {
		_, _ = c.DecodeList(src, ptrs)
	}); a != 0 {
		t.Errorf("DecodeList(*int): %v allocs, want 0", a)
	}
	if x != 123456 {
		t.Fatalf("decoded %d", x)
	}
}

// TestBytesAndStringsDoNotAlias decodes every bin and str encoding into *[]byte and
// *string, and checks the values and that a byte slice does not share src's memory.
func TestBytesAndStringsDoNotAlias(t *testing.T) {
	c := msgpack.New()
	for _, n := range []int{0, 5, 31, 200, 300, 70000} {
		want := bytes.Repeat([]byte{'x'}, n)
		for _, v := range []any{want, string(want)} {
			src, err := c.AppendList(nil, []any{v, 7})
			if err != nil {
				t.Fatal(err)
			}
			var b []byte
			var s string
			var i int
			for _, ptr := range []any{&b, &s} {
				if _, err := c.DecodeList(src, []any{ptr, &i}); err != nil || i != 7 {
					t.Fatalf("%T of %d bytes into %T: %v, then %d", v, n, ptr, err, i)
				}
			}
			if !bytes.Equal(b, want) || s != string(want) {
				t.Fatalf("%T of %d bytes: got %d bytes and a string of %d", v, n, len(b), len(s))
			}
			for j := range src {
				src[j] = 0
			}
			if n > 0 && b[0] != 'x' {
				t.Fatalf("%T of %d bytes: the decoded slice aliases the input", v, n)
			}
		}
	}
}

// TestAppendListExcept leaves out byte slices and strings of every header size and checks
// that putting their bytes back at the offsets it reports gives what AppendList encodes.
func TestAppendListExcept(t *testing.T) {
	c := msgpack.New()
	var vals []any
	var except []int
	for i, n := range []int{0, 1, 31, 32, 255, 256, 65535, 65536, 70000} {
		b := bytes.Repeat([]byte{byte(i + 1)}, n)
		vals = append(vals, b, i, string(b))
		except = append(except, len(vals)-3, len(vals)-1)
	}
	want, err := c.AppendList([]byte("prefix"), vals)
	if err != nil {
		t.Fatal(err)
	}
	out, at, err := c.AppendListExcept([]byte("prefix"), vals, except, []int{-1})
	if err != nil {
		t.Fatal(err)
	}
	if len(at) != 1+len(except) || at[0] != -1 {
		t.Fatalf("at = %v: want the given -1 followed by %d offsets", at, len(except))
	}
	var whole []byte
	prev := 0
	for k, i := range except {
		whole = append(whole, out[prev:at[k+1]]...)
		switch v := vals[i].(type) {
		case []byte:
			whole = append(whole, v...)
		case string:
			whole = append(whole, v...)
		}
		prev = at[k+1]
	}
	whole = append(whole, out[prev:]...)
	if !bytes.Equal(whole, want) {
		t.Fatalf("with the bytes put back: %d bytes, not the %d AppendList writes", len(whole), len(want))
	}

	// Only byte slices and strings can be left out; on error, dst and at come back as given.
	out, at, err = c.AppendListExcept([]byte("x"), []any{"s", 5}, []int{1}, []int{7})
	if err == nil || string(out) != "x" || len(at) != 1 || at[0] != 7 {
		t.Fatalf("leaving out an int: %q, %v, %v; want an error, \"x\" and [7]", out, at, err)
	}
}
