package msgpack_test

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/tandem-rpc/tandem/codec/msgpack"
)

// codec is a copy of tandem's Codec interface; the root package is not imported.
type codec interface {
	Name() string
	AppendList(dst []byte, vals []any) ([]byte, error)
	DecodeList(src []byte, ptrs []any) (n int, err error)
}

var _ codec = (*msgpack.Codec)(nil)

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

var when = time.Date(2024, 5, 17, 10, 11, 12, 13, time.UTC)

func sampleRecord() Record {
	return Record{
		ID: 7, Name: "seven", Tags: []string{"a", "b"}, Attrs: map[string]int{"k": 1},
		Blob: []byte{0, 1, 2}, Origin: Point{X: 1, Y: -2},
		Parent: &Record{ID: 1, Name: "root", When: when}, Temp: 21.5, When: when,
	}
}

// equal compares decoded values, treating times as equal when they name the same instant.
func equal(a, b any) bool {
	return reflect.DeepEqual(normalize(reflect.ValueOf(a)), normalize(reflect.ValueOf(b)))
}

// normalize converts every time.Time within v to UTC so that DeepEqual ignores locations.
func normalize(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	c := reflect.New(v.Type()).Elem()
	c.Set(v)
	utc(c)
	return c.Interface()
}

func utc(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		if t, ok := v.Interface().(time.Time); ok {
			v.Set(reflect.ValueOf(t.UTC()))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Field(i).CanSet() {
				utc(v.Field(i))
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			c := reflect.New(v.Type().Elem())
			c.Elem().Set(v.Elem())
			utc(c.Elem())
			v.Set(c)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	rec := sampleRecord()
	tests := []struct {
		name string
		val  any
	}{
		{"int", 42},
		{"negative int", -1 << 40},
		{"int8", int8(-128)},
		{"int64 min", int64(math.MinInt64)},
		{"uint64 max", uint64(math.MaxUint64)},
		{"float32", float32(1.5)},
		{"float64", math.Pi},
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
	}
	c := msgpack.New()
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
			if !equal(got.Elem().Interface(), tt.val) {
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
		{"struct", Point{X: 1, Y: 2}, map[string]any{"X": int8(1), "Y": int8(2)}},
		{"nil pointer", (*Point)(nil), nil},
		{"time", when, when},
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
			if !equal(got, tt.want) {
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

func TestMultipleAndMismatch(t *testing.T) {
	c := msgpack.New()
	b, err := c.AppendList(nil, []any{1, "two", Point{3, 4}})
	if err != nil {
		t.Fatal(err)
	}
	var (
		i int
		s string
		p Point
	)
	if n, err := c.DecodeList(b, []any{&i, &s, &p}); n != 3 || err != nil {
		t.Fatalf("DecodeList = %d, %v", n, err)
	}
	if i != 1 || s != "two" || p != (Point{3, 4}) {
		t.Fatalf("decoded %v %q %v", i, s, p)
	}

	t.Run("nil pointer skips", func(t *testing.T) {
		var s2 string
		if n, err := c.DecodeList(b, []any{nil, &s2, nil}); n != 3 || err != nil || s2 != "two" {
			t.Fatalf("DecodeList = %d, %v, %q", n, err, s2)
		}
	})
	for _, k := range []int{0, 1, 2, 4} {
		ptrs := make([]any, k)
		vals := make([]int, k)
		for j := range ptrs {
			vals[j] = -1
			ptrs[j] = &vals[j]
		}
		n, err := c.DecodeList(b, ptrs)
		if n != 3 || err != nil {
			t.Fatalf("with %d pointers: DecodeList = %d, %v; want 3, nil", k, n, err)
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
	c := msgpack.New()
	t.Run("type mismatch", func(t *testing.T) {
		b, _ := c.AppendList(nil, []any{1, "x"})
		var a, z int
		_, err := c.DecodeList(b, []any{&a, &z})
		var ee *msgpack.ElementError
		if !errors.As(err, &ee) || ee.Index != 1 {
			t.Fatalf("err = %v, want ElementError for index 1", err)
		}
	})
	t.Run("not a pointer", func(t *testing.T) {
		b, _ := c.AppendList(nil, []any{1})
		_, err := c.DecodeList(b, []any{0})
		var ee *msgpack.ElementError
		if !errors.As(err, &ee) {
			t.Fatalf("err = %v, want ElementError", err)
		}
	})
	t.Run("unencodable", func(t *testing.T) {
		dst := []byte("keep")
		out, err := c.AppendList(dst, []any{1, make(chan int)})
		var ee *msgpack.ElementError
		if !errors.As(err, &ee) || ee.Index != 1 {
			t.Fatalf("err = %v, want ElementError for index 1", err)
		}
		if string(out) != "keep" {
			t.Fatalf("dst = %q after a failed append", out)
		}
	})
}

func TestMalformed(t *testing.T) {
	tests := []struct {
		name string
		src  []byte
		want error
	}{
		{"empty", nil, msgpack.ErrNotList},
		{"not an array", []byte{0x01}, msgpack.ErrNotList},
		{"map at top", []byte{0x80}, msgpack.ErrNotList},
		{"nil at top", []byte{0xc0}, msgpack.ErrNotList},
		{"short array16 header", []byte{0xdc, 0x00}, msgpack.ErrTruncated},
		{"missing element", []byte{0x92, 0x01}, msgpack.ErrTruncated},
		{"short uint32", []byte{0x91, 0xce, 0, 0}, msgpack.ErrTruncated},
		{"short fixstr", []byte{0x91, 0xa3, 'a'}, msgpack.ErrTruncated},
		{"short fixext", []byte{0x91, 0xd6, 0xff, 0, 0}, msgpack.ErrTruncated},
		{"ext32 too long", []byte{0x91, 0xc9, 0xff, 0xff, 0xff, 0xff, 0x01}, msgpack.ErrTruncated},
		{"reserved code", []byte{0x91, 0xc1}, msgpack.ErrInvalidCode},
		{"trailing byte", []byte{0x91, 0x01, 0x02}, msgpack.ErrTrailingBytes},
		{"trailing after empty", []byte{0x90, 0x00}, msgpack.ErrTrailingBytes},
		{"two lists", []byte{0x91, 0x01, 0x91, 0x01}, msgpack.ErrTrailingBytes},
	}
	c := msgpack.New()
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
