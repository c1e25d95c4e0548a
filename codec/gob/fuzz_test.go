package gob_test

import (
	"errors"
	"testing"

	"github.com/tandem-rpc/tandem/codec/gob"
)

// FuzzDecodeList decodes arbitrary bytes into typed pointers and into *any. Decoding may
// fail, but must not panic (not even a recovered one). Seeds live in
// testdata/fuzz/FuzzDecodeList.
func FuzzDecodeList(f *testing.F) {
	c := gob.New()
	for _, vals := range [][]any{
		{1, "two", 3.5},
		{sampleRecord()},
		{map[int]string{1: "a"}, []byte{1}, nil, true},
		{Tree{Kids: []Tree{{}, {Kids: []Tree{{}}}}}},
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
			tree  Tree
			bs    []byte
			m     map[int]string
			p     *Point
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
