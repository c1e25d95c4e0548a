package json_test

import (
	stdjson "encoding/json"
	"errors"
	"testing"

	"github.com/tandem-rpc/tandem/codec/json"
	"github.com/tandem-rpc/tandem/internal/codectest"
)

// FuzzDecodeList decodes arbitrary bytes into typed pointers and into *any, and checks the
// element count and the verdict against encoding/json decoding the whole input as an array.
// Seeds live in testdata/fuzz/FuzzDecodeList.
func FuzzDecodeList(f *testing.F) {
	c := json.New()
	codectest.Seed(f, c)
	f.Fuzz(func(t *testing.T, src []byte) {
		var (
			a, a2 any
			i     int
			s     string
			r     codectest.Record
			raw   stdjson.RawMessage
			m     map[string]any
			p     *codectest.Point
		)
		for _, ptrs := range [][]any{
			{&r},
			{&i, &s},
			{&raw, &m, &p},
			{nil, &a2, nil, &i},
		} {
			if _, err := c.DecodeList(src, ptrs); errors.Is(err, json.ErrPanic) {
				t.Fatalf("library panicked: %v", err)
			}
		}

		n, err := c.DecodeList(src, []any{&a})
		var elems []stdjson.RawMessage
		stdErr := stdjson.Unmarshal(src, &elems)
		switch {
		case err == nil && stdErr != nil:
			t.Fatalf("accepted %q, which encoding/json rejects: %v", src, stdErr)
		case err == nil && n != len(elems):
			t.Fatalf("%q: count %d, encoding/json finds %d", src, n, len(elems))
		case err != nil && stdErr == nil && elems != nil:
			var ee *json.ElementError
			if !errors.Is(err, json.ErrTooDeep) && !errors.As(err, &ee) {
				t.Fatalf("rejected %q, which encoding/json accepts: %v", src, err)
			}
		}
		if err != nil || n != 1 {
			return
		}
		b, err := c.AppendList(nil, []any{a})
		if err != nil {
			t.Fatalf("re-encoding %#v: %v", a, err)
		}
		var again any
		if _, err := c.DecodeList(b, []any{&again}); err != nil {
			t.Fatalf("decoding re-encoded %s: %v", b, err)
		}
	})
}
