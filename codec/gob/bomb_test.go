package gob_test

import (
	"bytes"
	stdgob "encoding/gob"
	"errors"
	"testing"
	"time"

	"github.com/tandem-rpc/tandem/codec/gob"
	"github.com/tandem-rpc/tandem/internal/codectest"
)

// readUint decodes the gob unsigned integer at s[p:] and returns it and its size.
func readUint(s []byte, p int) (uint64, int) {
	if s[p] < 0x80 {
		return uint64(s[p]), 1
	}
	size := 1 + int(-int8(s[p]))
	var x uint64
	for _, c := range s[p+1 : p+size] {
		x = x<<8 | uint64(c)
	}
	return x, size
}

// lastMessage returns the offset of the last message in a gob stream, and the type id
// that message starts with.
func lastMessage(s []byte) (off int, id int64) {
	for p := 0; p < len(s); {
		n, size := readUint(s, p)
		off = p
		p += size + int(n)
	}
	_, size := readUint(s, off)
	u, _ := readUint(s, off+size)
	return off, int64(u >> 1)
}

// sliceTypeDef defines type id as a slice of elem: wireType{SliceT: &sliceType{
// CommonType{Name: "s", Id: id}, Elem: elem}}.
func sliceTypeDef(id, elem int64) []byte {
	return codectest.GobMessage(
		codectest.GobInt(-id),
		[]byte{2},                                  // wireType field 1, SliceT
		[]byte{1},                                  // sliceType field 0, CommonType
		[]byte{1, 1, 's'},                          // Name
		[]byte{1}, codectest.GobInt(id), []byte{0}, // Id, end of CommonType
		[]byte{1}, codectest.GobInt(elem), []byte{0}, // Elem, end of sliceType
		[]byte{0}, // end of wireType
	)
}

// TestBombs feeds streams that exhaust encoding/gob when it meets them unguarded: as of
// Go 1.26 it decodes a recursive type with one stack frame per level and no limit, and dies
// of stack overflow given enough levels. Each must fail fast with a small allocation.
func TestBombs(t *testing.T) {
	c := gob.New()

	// A Tree nested 1M deep, about 2 MB: each level is a struct field (delta 1) holding a
	// slice of one Tree (count 1), closed by a zero delta.
	head, err := c.AppendList(nil, []any{codectest.Tree{}})
	if err != nil {
		t.Fatal(err)
	}
	last, treeID := lastMessage(head)
	head = head[:last] // the list header and Tree's type definitions
	const depth = 1 << 20
	value := append(codectest.GobInt(treeID), bytes.Repeat([]byte{1, 1}, depth)...)
	value = append(value, bytes.Repeat([]byte{0}, depth+1)...)
	deepTree := append(head[:len(head):len(head)], codectest.GobMessage(value)...)

	// A chain of 200,000 slice types, each the slice of the next, then an empty value of
	// the outermost: the value is shallow, the type is not.
	const chain = 200_000
	var types bytes.Buffer
	headerOnly, _ := lastMessage(head)
	types.Write(head[:headerOnly]) // the header's type definitions and value
	for id := int64(100); id < 100+chain; id++ {
		elem := id + 1
		if id == 100+chain-1 {
			elem = 2 // int
		}
		types.Write(sliceTypeDef(id, elem))
	}
	types.Write(codectest.GobMessage(codectest.GobInt(100), []byte{0, 0})) // singleton delta, count 0
	deepTypes := types.Bytes()

	tests := []struct {
		name string
		src  []byte
		want error
	}{
		{"huge message length", []byte{0xfc, 0x7f, 0xff, 0xff, 0xff, 0x01}, gob.ErrTruncated},
		{"huge slice count", append(head[:len(head):len(head)],
			codectest.GobMessage(codectest.GobInt(treeID), []byte{1}, codectest.GobUint(1<<40), []byte{0})...), gob.ErrTruncated},
		{"2 MB of nested values", deepTree, gob.ErrTooDeep},
		{"200k nested type definitions", deepTypes, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tree codectest.Tree
			var a any
			var ints []int
			for _, ptr := range []any{&tree, &a, &ints, nil} {
				var err error
				grew, elapsed := codectest.Measure(func() { _, err = c.DecodeList(tt.src, []any{ptr}) })
				t.Logf("into %T: %v", ptr, err)
				if tt.want != nil && !errors.Is(err, tt.want) {
					t.Fatalf("into %T: err = %v, want %v", ptr, err, tt.want)
				}
				if errors.Is(err, gob.ErrPanic) {
					t.Fatalf("into %T: %v", ptr, err)
				}
				limit := uint64(256 << 10)
				if tt.want == nil {
					limit = 64 * uint64(len(tt.src)) // type definitions are kept
				}
				if grew > limit {
					t.Errorf("into %T: allocated %d bytes", ptr, grew)
				}
				if elapsed > 5*time.Second {
					t.Errorf("into %T: took %v", ptr, elapsed)
				}
			}
		})
	}
}

func TestNestedInterfaces(t *testing.T) {
	stdgob.Register([]any(nil))
	stdgob.Register(map[string]any(nil))
	c := gob.New()
	v := []any{1, []any{"a", map[string]any{"b": []any{2.5, []any{}}}}, map[string]any{}}
	b, err := c.AppendList(nil, []any{v})
	if err != nil {
		t.Fatal(err)
	}
	var got any
	if _, err := c.DecodeList(b, []any{&got}); err != nil {
		t.Fatalf("DecodeList: %v", err)
	}
	if !equalAny(got, v) {
		t.Fatalf("got %#v, want %#v", got, v)
	}
	if _, err := (&gob.Codec{MaxDepth: 4}).DecodeList(b, []any{&got}); !errors.Is(err, gob.ErrTooDeep) {
		t.Fatalf("MaxDepth 4: err = %v, want ErrTooDeep", err)
	}
}

func equalAny(a, b any) bool {
	var x, y bytes.Buffer
	_ = stdgob.NewEncoder(&x).Encode(&a)
	_ = stdgob.NewEncoder(&y).Encode(&b)
	return bytes.Equal(x.Bytes(), y.Bytes())
}
