package gob_test

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/tandem-rpc/tandem/codec/gob"
)

// codec is a copy of tandem's Codec interface; the root package is not imported.
type codec interface {
	Name() string
	AppendList(dst []byte, vals []any) ([]byte, error)
	DecodeList(src []byte, ptrs []any) (n int, err error)
}

var _ codec = (*gob.Codec)(nil)

type Celsius float64

type Names []string

type Point struct {
	X, Y int
}

type Record struct {
	ID      int64
	Name    string
	Tags    []string
	Attrs   map[string]int
	Blob    []byte
	Origin  Point
	Parent  *Record
	Missing *Point
	Temp    Celsius
	When    time.Time
}

// Tree is recursive, so a hostile stream can nest its values without bound.
type Tree struct {
	Kids []Tree
}

var when = time.Date(2024, 5, 17, 10, 11, 12, 13, time.UTC)

func sampleRecord() Record {
	return Record{
		ID: 7, Name: "seven", Tags: []string{"a", "b"}, Attrs: map[string]int{"k": 1},
		Blob: []byte{0, 1, 2}, Origin: Point{X: 1, Y: -2},
		Parent: &Record{ID: 1, Name: "root", When: when}, Temp: 21.5, When: when,
	}
}

func TestRoundTrip(t *testing.T) {
	rec := sampleRecord()
	tests := []struct {
		name string
		val  any
	}{
		{"int", 42},
		{"zero", 0},
		{"int64 min", int64(math.MinInt64)},
		{"uint64 max", uint64(math.MaxUint64)},
		{"float32", float32(1.5)},
		{"float64", math.Pi},
		{"complex", complex(1, -2)},
		{"bool", true},
		{"string", "héllo, 世界"},
		{"empty string", ""},
		{"bytes", []byte{0, 0xff, 7}},
		{"bytes 64KiB", make([]byte, 64<<10)},
		{"slice", []int{1, 2, 3}},
		{"nil slice", []int(nil)},
		{"map", map[string]int{"a": 1, "b": 2}},
		{"int keys", map[int]string{1: "a", -2: "b"}},
		{"struct", rec},
		{"pointer", &rec},
		{"nil pointer", (*Record)(nil)},
		{"time", when},
		{"named float", Celsius(-40)},
		{"named slice", Names{"x", "y"}},
		{"slice of structs", []Point{{1, 2}, {3, 4}}},
		{"recursive", Tree{Kids: []Tree{{}, {Kids: []Tree{{}}}}}},
	}
	c := gob.New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := c.AppendList([]byte("prefix"), []any{tt.val})
			if err != nil {
				t.Fatalf("AppendList: %v", err)
			}
			if string(b[:6]) != "prefix" {
				t.Fatalf("AppendList clobbered dst: %q", b[:6])
			}
			got := reflect.New(reflect.TypeOf(tt.val))
			n, err := c.DecodeList(b[6:], []any{got.Interface()})
			if err != nil || n != 1 {
				t.Fatalf("DecodeList = %d, %v", n, err)
			}
			if !reflect.DeepEqual(got.Elem().Interface(), tt.val) {
				t.Fatalf("got %#v, want %#v", got.Elem().Interface(), tt.val)
			}
		})
	}
}

func TestDecodeIntoAny(t *testing.T) {
	tests := []struct {
		name string
		val  any
		want any
	}{
		{"nil", nil, nil},
		{"nil pointer", (*Point)(nil), nil},
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
		{"time", when, when},
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
		b, _ := c.AppendList(nil, []any{Point{1, 2}})
		var got any
		_, err := c.DecodeList(b, []any{&got})
		if !errors.Is(err, gob.ErrUnknownType) {
			t.Fatalf("err = %v, want ErrUnknownType", err)
		}
		var p Point
		got = &p
		if _, err := c.DecodeList(b, []any{&got}); err != nil || p != (Point{1, 2}) {
			t.Fatalf("into *any holding *Point: %v, %v", err, p)
		}
	})
}

func TestMultipleAndMismatch(t *testing.T) {
	c := gob.New()
	b, err := c.AppendList(nil, []any{1, nil, "two", Point{3, 4}})
	if err != nil {
		t.Fatal(err)
	}
	var (
		i int
		z = &Point{9, 9}
		s string
		p Point
	)
	if n, err := c.DecodeList(b, []any{&i, &z, &s, &p}); n != 4 || err != nil {
		t.Fatalf("DecodeList = %d, %v", n, err)
	}
	if i != 1 || z != nil || s != "two" || p != (Point{3, 4}) {
		t.Fatalf("decoded %v %v %q %v", i, z, s, p)
	}
	t.Run("nil pointer skips", func(t *testing.T) {
		var s2 string
		if n, err := c.DecodeList(b, []any{nil, nil, &s2, nil}); n != 4 || err != nil || s2 != "two" {
			t.Fatalf("DecodeList = %d, %v, %q", n, err, s2)
		}
	})
	for _, k := range []int{0, 1, 3, 5} {
		ptrs := make([]any, k)
		vals := make([]int, k)
		for j := range ptrs {
			vals[j] = -1
			ptrs[j] = &vals[j]
		}
		n, err := c.DecodeList(b, ptrs)
		if n != 4 || err != nil {
			t.Fatalf("with %d pointers: DecodeList = %d, %v; want 4, nil", k, n, err)
		}
		for _, v := range vals {
			if v != -1 {
				t.Fatalf("with %d pointers: decoded %v despite the count mismatch", k, vals)
			}
		}
	}
	t.Run("empty list", func(t *testing.T) {
		e, err := c.AppendList(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := c.DecodeList(e, nil); n != 0 || err != nil {
			t.Fatalf("DecodeList = %d, %v", n, err)
		}
	})
}

func TestElementErrors(t *testing.T) {
	c := gob.New()
	t.Run("type mismatch", func(t *testing.T) {
		b, _ := c.AppendList(nil, []any{1, "x"})
		var a, z int
		_, err := c.DecodeList(b, []any{&a, &z})
		var ee *gob.ElementError
		if !errors.As(err, &ee) || ee.Index != 1 {
			t.Fatalf("err = %v, want ElementError for index 1", err)
		}
	})
	t.Run("not a pointer", func(t *testing.T) {
		b, _ := c.AppendList(nil, []any{1})
		_, err := c.DecodeList(b, []any{0})
		var ee *gob.ElementError
		if !errors.As(err, &ee) {
			t.Fatalf("err = %v, want ElementError", err)
		}
	})
	t.Run("unencodable", func(t *testing.T) {
		dst := []byte("keep")
		out, err := c.AppendList(dst, []any{1, make(chan int)})
		var ee *gob.ElementError
		if !errors.As(err, &ee) || ee.Index != 1 {
			t.Fatalf("err = %v, want ElementError for index 1", err)
		}
		if string(out) != "keep" {
			t.Fatalf("dst = %q after a failed append", out)
		}
	})
	t.Run("panicking GobDecode", func(t *testing.T) {
		b, _ := c.AppendList(nil, []any{panicky{}})
		var p panicky
		if _, err := c.DecodeList(b, []any{&p}); !errors.Is(err, gob.ErrPanic) {
			t.Fatalf("err = %v, want ErrPanic", err)
		}
	})
}

type panicky struct{}

func (panicky) GobEncode() ([]byte, error) { return []byte{1}, nil }

func (*panicky) GobDecode([]byte) error { panic("boom") }

func TestMalformed(t *testing.T) {
	c := gob.New()
	valid, _ := c.AppendList(nil, []any{1, "two"})
	one, _ := c.AppendList(nil, []any{3})
	tests := []struct {
		name string
		src  []byte
		want error
	}{
		{"empty", nil, gob.ErrTruncated},
		{"cut short", valid[:len(valid)-1], gob.ErrTruncated},
		{"trailing zero byte", append(valid[:len(valid):len(valid)], 0), gob.ErrMalformed},
		{"trailing byte", append(valid[:len(valid):len(valid)], 5), gob.ErrTruncated},
		{"two lists", append(valid[:len(valid):len(valid)], valid...), gob.ErrMalformed},
		{"extra value", append(valid[:len(valid):len(valid)], one[len(one)-4:]...), gob.ErrTrailingBytes},
		{"missing value", valid[:len(valid)-6], gob.ErrTruncated},
		{"zero-length message", []byte{0}, gob.ErrMalformed},
		{"unknown type", []byte{4, 0xff, 0x82, 0, 0}, gob.ErrMalformed}, // type 65, never defined
		{"builtin type redefined", []byte{2, 0x03, 0}, gob.ErrMalformed},
		{"huge message length", []byte{0xfc, 0x7f, 0xff, 0xff, 0xff, 1}, gob.ErrTruncated},
		{"uint of 9 bytes", []byte{0xf7, 1, 2, 3, 4, 5, 6, 7, 8, 9}, gob.ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a any
			n, err := c.DecodeList(tt.src, []any{&a})
			if !errors.Is(err, tt.want) {
				t.Fatalf("DecodeList = %d, %v; want %v", n, err, tt.want)
			}
		})
	}
}

func TestMaxDepth(t *testing.T) {
	c := &gob.Codec{MaxDepth: 3}
	// The list is depth 1, the outer Tree 2, its Kids slice 3.
	ok := Tree{Kids: []Tree{}}
	deep := Tree{Kids: []Tree{{}}} // the inner Tree is depth 4
	var got Tree
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
