package gob_test

import (
	"errors"
	"testing"

	"github.com/tandem-rpc/tandem/codec/gob"
	"github.com/tandem-rpc/tandem/internal/codectest"
)

// FuzzDecodeList decodes arbitrary bytes into typed pointers and into *any. Decoding may
// fail, but must not panic (not even a recovered one). Seeds live in
// testdata/fuzz/FuzzDecodeList.
func FuzzDecodeList(f *testing.F) {
	c := gob.New()
	codectest.Seed(f, c, []any{codectest.Tree{Kids: []codectest.Tree{{}, {Kids: []codectest.Tree{{}}}}}})
	f.Fuzz(func(t *testing.T, src []byte) {
		var (
			a, a2 any
			i     int
			s     string
			r     codectest.Record
			tree  codectest.Tree
			bs    []byte
			m     map[int]string
			p     *codectest.Point
		)
		for _, ptrs := range [][]any{
			{&a},
			{&r},
			{&tree},
			{&i, &s},
			{&i, &s, &a2},
			{&m, &bs, &p, &a},
			{nil, &a2, nil, &i},
		} {
			if _, err := c.DecodeList(src, ptrs); errors.Is(err, gob.ErrPanic) {
				t.Fatalf("library panicked: %v", err)
			}
		}
	})
}
