package msgpack_test

import (
	"errors"
	"testing"

	"github.com/tandem-rpc/tandem/codec/msgpack"
)

// FuzzDecodeList decodes arbitrary bytes into typed pointers and into *any. Decoding may
// fail, but must not panic (not even a recovered one), and whatever decodes into *any must
// encode and decode again. Seeds live in testdata/fuzz/FuzzDecodeList.
func FuzzDecodeList(f *testing.F) {
	c := msgpack.New()
	for _, vals := range [][]any{
		{1, "two", 3.5},
		{sampleRecord()},
		{map[int]string{1: "a"}, []byte{1}, nil, true},
		{when, []any{[]any{map[string]any{}}}},
	} {
		b, err := c.AppendList(nil, vals)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		var (
			a, a2 any
			i     int
			s     string
			r     Record
			bs    []byte
			m     map[string]any
			p     *Point
		)
		for _, ptrs := range [][]any{
			{&a},
			{&r},
			{&i, &s},
			{&bs, &m, &p},
			{nil, &a2, nil, &i},
		} {
			_, err := c.DecodeList(src, ptrs)
			if errors.Is(err, msgpack.ErrPanic) {
				t.Fatalf("library panicked: %v", err)
			}
		}
		var got any
		if n, err := c.DecodeList(src, []any{&got}); n != 1 || err != nil {
			return
		}
		b, err := c.AppendList(nil, []any{got})
		if err != nil {
			t.Fatalf("re-encoding %#v: %v", got, err)
		}
		var again any
		if _, err := c.DecodeList(b, []any{&again}); err != nil {
			t.Fatalf("decoding re-encoded %x: %v", b, err)
		}
	})
}
