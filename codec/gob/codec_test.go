package gob_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/tandem-rpc/tandem/codec/gob"
	"github.com/tandem-rpc/tandem/internal/codectest"
)

var _ codectest.Codec = (*gob.Codec)(nil)

func TestContract(t *testing.T) {
	index := codectest.ElementIndex(func(e *gob.ElementError) int { return e.Index })
	codectest.Contract(t, gob.New(), index)
}

// TestRoundTripComplex covers the one value kind, beyond the contract's, that gob carries
// and the other codecs do not.
func TestRoundTripComplex(t *testing.T) {
	codectest.RoundTrip(t, gob.New(), complex(1, -2))
}

func TestDecodeIntoAny(t *testing.T) {
	tests := []struct {
		name string
		val  any
		want any
	}{
		{"nil", nil, nil},
		{"nil pointer", (*codectest.Point)(nil), nil},
		{"int", 300, 300},
		{"pointer to int", new(int), 0},
		{"uint8", uint8(5), uint8(5)},
		{"float64", 2.5, 2.5},
		{"string", "s", "s"},
		{"bytes", []byte("b"), []byte("b")},
		{"strings", []string{"a"}, []string{"a"}},
		{"map", map[string]int{"k": 1}, map[string]int{"k": 1}},
		{"any slice", []any{1, "a", 2.5}, []any{1, "a", 2.5}},
		{"any map", map[string]any{"k": []string{"v"}}, map[string]any{"k": []string{"v"}}},
		{"time", codectest.When(), codectest.When()},
		{"duration", time.Second, time.Second},
	}
	c := gob.New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := c.AppendList(nil, []any{tt.val})
			if err != nil {
				t.Fatalf("AppendList: %v", err)
			}
			got := any("stale")
			if _, err := c.DecodeList(b, []any{&got}); err != nil {
				t.Fatalf("DecodeList: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v (%T), want %#v (%T)", got, got, tt.want, tt.want)
			}
		})
	}
	t.Run("user type", func(t *testing.T) {
		b, _ := c.AppendList(nil, []any{codectest.Point{X: 1, Y: 2}})
		var got any
		_, err := c.DecodeList(b, []any{&got})
		if !errors.Is(err, gob.ErrUnknownType) {
			t.Fatalf("err = %v, want ErrUnknownType", err)
		}
		var p codectest.Point
		got = &p
		if _, err := c.DecodeList(b, []any{&got}); err != nil || p != (codectest.Point{X: 1, Y: 2}) {
			t.Fatalf("into *any holding *Point: %v, %v", err, p)
		}
	})
}

func TestPanickingGobDecode(t *testing.T) {
	c := gob.New()
	b, _ := c.AppendList(nil, []any{panicky{}})
	var p panicky
	if _, err := c.DecodeList(b, []any{&p}); !errors.Is(err, gob.ErrPanic) {
		t.Fatalf("err = %v, want ErrPanic", err)
	}
}

type panicky struct{}

func (panicky) GobEncode() ([]byte, error) { return []byte{1}, nil }

func (*panicky) GobDecode([]byte) error { panic("boom") }

func TestMalformed(t *testing.T) {
	c := gob.New()
	valid, _ := c.AppendList(nil, []any{1, "two"})
	one, _ := c.AppendList(nil, []any{3})
	codectest.Rejects(t, c, []codectest.Input{
		{Name: "empty", Src: nil, Want: gob.ErrTruncated},
		{Name: "cut short", Src: valid[:len(valid)-1], Want: gob.ErrTruncated},
		{Name: "trailing zero byte", Src: append(valid[:len(valid):len(valid)], 0), Want: gob.ErrMalformed},
		{Name: "trailing byte", Src: append(valid[:len(valid):len(valid)], 5), Want: gob.ErrTruncated},
		{Name: "two lists", Src: append(valid[:len(valid):len(valid)], valid...), Want: gob.ErrMalformed},
		{Name: "extra value", Src: append(valid[:len(valid):len(valid)], one[len(one)-4:]...), Want: gob.ErrTrailingBytes},
		{Name: "missing value", Src: valid[:len(valid)-6], Want: gob.ErrTruncated},
		{Name: "zero-length message", Src: []byte{0}, Want: gob.ErrMalformed},
		{Name: "unknown type", Src: []byte{4, 0xff, 0x82, 0, 0}, Want: gob.ErrMalformed}, // type 65, never defined
		{Name: "builtin type redefined", Src: []byte{2, 0x03, 0}, Want: gob.ErrMalformed},
		{Name: "huge message length", Src: []byte{0xfc, 0x7f, 0xff, 0xff, 0xff, 1}, Want: gob.ErrTruncated},
		{Name: "uint of 9 bytes", Src: []byte{0xf7, 1, 2, 3, 4, 5, 6, 7, 8, 9}, Want: gob.ErrTruncated},
	})
}

func TestMaxDepth(t *testing.T) {
	c := &gob.Codec{MaxDepth: 3}
	// The list is depth 1, the outer Tree 2, its Kids slice 3.
	ok := codectest.Tree{Kids: []codectest.Tree{}}
	deep := codectest.Tree{Kids: []codectest.Tree{{}}} // the inner Tree is depth 4
	var got codectest.Tree
	b, _ := c.AppendList(nil, []any{ok})
	if _, err := c.DecodeList(b, []any{&got}); err != nil {
		t.Fatalf("depth 3: %v", err)
	}
	b, _ = c.AppendList(nil, []any{deep})
	if _, err := c.DecodeList(b, []any{&got}); !errors.Is(err, gob.ErrTooDeep) {
		t.Fatalf("err = %v, want ErrTooDeep", err)
	}
	if _, err := gob.New().DecodeList(b, []any{&got}); err != nil {
		t.Fatalf("default depth: %v", err)
	}
}
