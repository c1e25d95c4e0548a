package codectest

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"
)

// Contract runs the tests every codec must pass: round trips of the value kinds all
// codecs carry, lists of several values, nil pointers that skip an element, a pointer
// count that differs from the element count (which decodes nothing), the empty list,
// trailing bytes after the list, and element errors. isElementError reports whether err
// is, or wraps, the codec's error for one element of a list, and that element's index.
func Contract(t *testing.T, c Codec, isElementError func(error) (index int, ok bool), opts ...Option) {
	t.Helper()
	equal := reflect.DeepEqual
	for _, o := range opts {
		if o.localTimes {
			equal = SameInstants
		}
	}
	t.Run("round trip", func(t *testing.T) { roundTrips(t, c, equal) })
	t.Run("list", func(t *testing.T) { list(t, c) })
	t.Run("trailing bytes", func(t *testing.T) { trailing(t, c) })
	t.Run("element errors", func(t *testing.T) { elementErrors(t, c, isElementError) })
}

// Option adapts [Contract] to a documented difference of one codec.
type Option struct {
	localTimes bool
}

// LocalTimes tells [Contract] that the codec decodes a time.Time in the local zone, so a
// decoded value need only match under [SameInstants] rather than [reflect.DeepEqual].
func LocalTimes() Option {
	return Option{localTimes: true}
}

// RoundTrip appends val after a prefix, decodes it into a new value of its type, and
// fails t unless the prefix survives and the decoded value deeply equals val.
func RoundTrip(t *testing.T, c Codec, val any) {
	t.Helper()
	roundTrip(t, c, val, reflect.DeepEqual)
}

func roundTrip(t *testing.T, c Codec, val any, equal func(a, b any) bool) {
	t.Helper()
	b, err := c.AppendList([]byte("prefix"), []any{val})
	if err != nil {
		t.Fatalf("AppendList: %v", err)
	}
	if string(b[:6]) != "prefix" {
		t.Fatalf("AppendList clobbered dst: %q", b[:6])
	}
	got := reflect.New(reflect.TypeOf(val))
	n, err := c.DecodeList(b[6:], []any{got.Interface()})
	if err != nil || n != 1 {
		t.Fatalf("DecodeList(%q) = %d, %v", b[6:], n, err)
	}
	if !equal(got.Elem().Interface(), val) {
		t.Fatalf("got %#v, want %#v", got.Elem().Interface(), val)
	}
}

func roundTrips(t *testing.T, c Codec, equal func(a, b any) bool) {
	rec := Sample()
	tests := []struct {
		name string
		val  any
	}{
		{"int", 42},
		{"zero", 0},
		{"negative int", -1 << 40},
		{"int8", int8(-128)},
		{"int64 min", int64(math.MinInt64)},
		{"uint64 max", uint64(math.MaxUint64)},
		{"float32", float32(1.5)},
		{"float64", math.Pi},
		{"bool", true},
		{"string", "héllo, 世界 <&>"},
		{"escapes", "quote \" backslash \\ brackets [{"},
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
		{"time", When()},
		{"named float", Celsius(-40)},
		{"named slice", Names{"x", "y"}},
		{"slice of structs", []Point{{1, 2}, {3, 4}}},
		{"recursive", Tree{Kids: []Tree{{}, {Kids: []Tree{{}}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { roundTrip(t, c, tt.val, equal) })
	}
}

func list(t *testing.T, c Codec) {
	const two = "two, [three]"
	b, err := c.AppendList(nil, []any{1, nil, two, Point{3, 4}})
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
	if i != 1 || z != nil || s != two || p != (Point{3, 4}) {
		t.Fatalf("decoded %v %v %q %v", i, z, s, p)
	}
	t.Run("nil pointer skips", func(t *testing.T) {
		var s2 string
		if n, err := c.DecodeList(b, []any{nil, nil, &s2, nil}); n != 4 || err != nil || s2 != two {
			t.Fatalf("DecodeList = %d, %v, %q", n, err, s2)
		}
	})
	t.Run("count mismatch decodes nothing", func(t *testing.T) {
		for _, k := range []int{0, 1, 2, 3, 5} {
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
	})
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

func trailing(t *testing.T, c Codec) {
	b, err := c.AppendList(nil, []any{1})
	if err != nil {
		t.Fatal(err)
	}
	var a any
	if n, err := c.DecodeList(append(b[:len(b):len(b)], b...), []any{&a}); err == nil {
		t.Fatalf("two lists: DecodeList = %d, nil; want an error", n)
	}
}

func elementErrors(t *testing.T, c Codec, isElementError func(error) (int, bool)) {
	t.Run("type mismatch", func(t *testing.T) {
		b, err := c.AppendList(nil, []any{1, "x"})
		if err != nil {
			t.Fatal(err)
		}
		var a, z int
		_, err = c.DecodeList(b, []any{&a, &z})
		if i, ok := isElementError(err); !ok || i != 1 {
			t.Fatalf("err = %v, want an element error for index 1", err)
		}
	})
	t.Run("not a pointer", func(t *testing.T) {
		b, err := c.AppendList(nil, []any{1})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.DecodeList(b, []any{0})
		if i, ok := isElementError(err); !ok || i != 0 {
			t.Fatalf("err = %v, want an element error for index 0", err)
		}
	})
	t.Run("unencodable", func(t *testing.T) {
		dst := []byte("keep")
		out, err := c.AppendList(dst, []any{1, make(chan int)})
		if i, ok := isElementError(err); !ok || i != 1 {
			t.Fatalf("err = %v, want an element error for index 1", err)
		}
		if string(out) != "keep" {
			t.Fatalf("dst = %q after a failed append", out)
		}
	})
}

// SameInstants reports whether a and b are deeply equal once every time.Time within them,
// directly or through struct fields and pointers, is converted to UTC: times are equal
// when they name the same instant, whatever their location.
func SameInstants(a, b any) bool {
	return reflect.DeepEqual(inUTC(reflect.ValueOf(a)), inUTC(reflect.ValueOf(b)))
}

// inUTC returns a copy of v with every time.Time in UTC.
func inUTC(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	c := reflect.New(v.Type()).Elem()
	c.Set(v)
	toUTC(c)
	return c.Interface()
}

func toUTC(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		if t, ok := v.Interface().(time.Time); ok {
			v.Set(reflect.ValueOf(t.UTC()))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Field(i).CanSet() {
				toUTC(v.Field(i))
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			c := reflect.New(v.Type().Elem())
			c.Elem().Set(v.Elem())
			toUTC(c.Elem())
			v.Set(c)
		}
	}
}

// ElementIndex returns, for [Contract], a function that finds an error of type E in err's
// chain, as [errors.As] does, and reports the element index that index reads from it.
func ElementIndex[E error](index func(E) int) func(error) (int, bool) {
	return func(err error) (int, bool) {
		var e E
		if errors.As(err, &e) {
			return index(e), true
		}
		return 0, false
	}
}
