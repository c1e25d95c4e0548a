package msgpack_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/tandem-rpc/tandem/codec/msgpack"
	"github.com/tandem-rpc/tandem/internal/codectest"
)

// FuzzDecodeList decodes arbitrary bytes into typed pointers and into *any. Decoding may
// fail, but must not panic (not even a recovered one), and whatever decodes into *any must
// encode and decode again; scalars the codec decodes itself must decode as on the general
// path. Seeds live in testdata/fuzz/FuzzDecodeList.
func FuzzDecodeList(f *testing.F) {
	c := msgpack.New()
	codectest.Seed(f, c, []any{codectest.When(), []any{[]any{map[string]any{}}}})
	f.Fuzz(func(t *testing.T, src []byte) {
		var (
			a, a2 any
			i     int
			s     string
			r     codectest.Record
			bs    []byte
			m     map[string]any
			p     *codectest.Point
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
		// Scalars the codec decodes itself decode as on the general path, src taken as one
		// element of a list.
		for _, target := range scalarTargets() {
			decodeBothWays(t, c, src, target)
		}
		// Whole lists of scalars, which the codec validates itself, decode as on the general
		// path, which scanList validates.
		decodeListBothWays(t, c, src)
		// Borrowing decodes what copying does, as views of src.
		var copied, borrowed []byte
		var ca, ba any
		nc, errc := c.DecodeList(src, []any{&copied, &ca})
		nb, errb := c.DecodeListBorrowing(src, []any{&borrowed, &ba})
		if nc != nb || (errc == nil) != (errb == nil) || !bytes.Equal(copied, borrowed) || cap(borrowed) != len(borrowed) {
			t.Fatalf("DecodeList: %d, %v, %q; DecodeListBorrowing: %d, %v, %q (capacity %d)", nc, errc, copied, nb, errb, borrowed, cap(borrowed))
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
