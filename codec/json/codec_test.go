package json_test

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"math"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/tandem-rpc/tandem/codec/json"
)

// codec is a copy of tandem's Codec interface; the root package is not imported.
type codec interface {
	Name() string
	AppendList(dst []byte, vals []any) ([]byte, error)
	DecodeList(src []byte, ptrs []any) (n int, err error)
}

var _ codec = (*json.Codec)(nil)

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

func TestRoundTrip(t *testing.T) {
	rec := sampleRecord()
	tests := []struct {
		name string
		val  any
	}{
		{"int", 42},
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
		{"time", when},
		{"named float", Celsius(-40)},
		{"named slice", Names{"x", "y"}},
		{"slice of structs", []Point{{1, 2}, {3, 4}}},
	}
	c := json.New()
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
				t.Fatalf("DecodeList(%s) = %d, %v", b[6:], n, err)
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
		src  string
		want any
	}{
		{"null", `[null]`, nil},
		{"number", `[300]`, 300.0},
		{"string", `["s"]`, "s"},
		{"array", `[["a", 1]]`, []any{"a", 1.0}},
		{"object", `[{"k": {"n": [true]}}]`, map[string]any{"k": map[string]any{"n": []any{true}}}},
	}
	c := json.New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := any("stale")
			if _, err := c.DecodeList([]byte(tt.src), []any{&got}); err != nil {
				t.Fatalf("DecodeList: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestRawMessage(t *testing.T) {
	c := json.New()
	b, err := c.AppendList(nil, []any{stdjson.RawMessage(` {"a": [1, 2.5e3]} `), stdjson.RawMessage(`"x"`), 3})
	if err != nil {
		t.Fatal(err)
	}
	if want := `[{"a":[1,2.5e3]},"x",3]`; string(b) != want {
		t.Fatalf("AppendList = %s, want %s", b, want)
	}
	var r0, r1 stdjson.RawMessage
	var i int
	if _, err := c.DecodeList([]byte(` [ {"a": [1]} , "x",3 ] `), []any{&r0, &r1, &i}); err != nil {
		t.Fatal(err)
	}
	if string(r0) != `{"a": [1]}` || string(r1) != `"x"` || i != 3 {
		t.Fatalf("decoded %s %s %d", r0, r1, i)
	}
	_, err = c.AppendList(nil, []any{stdjson.RawMessage(`{bad`)})
	var ee *json.ElementError
	if !errors.As(err, &ee) || ee.Index != 0 {
		t.Fatalf("invalid RawMessage: err = %v, want an ElementError", err)
	}
}

func TestMultipleAndMismatch(t *testing.T) {
	c := json.New()
	b, err := c.AppendList(nil, []any{1, "two, [three]", Point{3, 4}})
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
	if i != 1 || s != "two, [three]" || p != (Point{3, 4}) {
		t.Fatalf("decoded %v %q %v", i, s, p)
	}
	t.Run("nil pointer skips", func(t *testing.T) {
		var s2 string
		if n, err := c.DecodeList(b, []any{nil, &s2, nil}); n != 3 || err != nil || s2 != "two, [three]" {
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
		if err != nil || string(e) != "[]" {
			t.Fatalf("AppendList = %s, %v", e, err)
		}
		if n, err := c.DecodeList([]byte(" [ ] "), nil); n != 0 || err != nil {
			t.Fatalf("DecodeList = %d, %v", n, err)
		}
	})
}

func TestElementErrors(t *testing.T) {
	c := json.New()
	t.Run("type mismatch", func(t *testing.T) {
		var a, z int
		_, err := c.DecodeList([]byte(`[1, "x"]`), []any{&a, &z})
		var ee *json.ElementError
		var te *stdjson.UnmarshalTypeError
		if !errors.As(err, &ee) || ee.Index != 1 || !errors.As(err, &te) {
			t.Fatalf("err = %v, want ElementError for index 1 wrapping UnmarshalTypeError", err)
		}
	})
	t.Run("unencodable", func(t *testing.T) {
		dst := []byte("keep")
		out, err := c.AppendList(dst, []any{1, make(chan int)})
		var ee *json.ElementError
		if !errors.As(err, &ee) || ee.Index != 1 {
			t.Fatalf("err = %v, want ElementError for index 1", err)
		}
		if string(out) != "keep" {
			t.Fatalf("dst = %q after a failed append", out)
		}
	})
	t.Run("panicking marshaler", func(t *testing.T) {
		_, err := c.AppendList(nil, []any{panicky{}})
		if !errors.Is(err, json.ErrPanic) {
			t.Fatalf("err = %v, want ErrPanic", err)
		}
		var p panicky
		_, err = c.DecodeList([]byte(`[1]`), []any{&p})
		if !errors.Is(err, json.ErrPanic) {
			t.Fatalf("err = %v, want ErrPanic", err)
		}
	})
}

type panicky struct{}

func (panicky) MarshalJSON() ([]byte, error) { panic("boom") }

func (*panicky) UnmarshalJSON([]byte) error { panic("boom") }

func TestMalformed(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want error
	}{
		{"empty", ``, json.ErrNotList},
		{"space", `  `, json.ErrNotList},
		{"object", `{"a": 1}`, json.ErrNotList},
		{"null", `null`, json.ErrNotList},
		{"unterminated", `[1, 2`, json.ErrSyntax},
		{"unterminated string", `["abc]`, json.ErrSyntax},
		{"bad grammar", `[1 2]`, json.ErrSyntax},
		{"trailing comma", `[1,]`, json.ErrSyntax},
		{"mismatched", `[1}`, json.ErrSyntax},
		{"trailing", `[1] x`, json.ErrTrailingBytes},
		{"two lists", `[1][2]`, json.ErrTrailingBytes},
	}
	c := json.New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a any
			n, err := c.DecodeList([]byte(tt.src), []any{&a})
			if !errors.Is(err, tt.want) {
				t.Fatalf("DecodeList = %d, %v; want %v", n, err, tt.want)
			}
		})
	}
	var syn *stdjson.SyntaxError
	if _, err := c.DecodeList([]byte(`[1 2]`), []any{nil}); !errors.As(err, &syn) {
		t.Fatalf("err = %v, want a wrapped *json.SyntaxError", err)
	}
}

func TestMaxDepth(t *testing.T) {
	c := &json.Codec{MaxDepth: 3}
	var a any
	if _, err := c.DecodeList([]byte(`[[{"a": "[[[[{{"}]]`), []any{&a}); err != nil {
		t.Fatalf("depth 3: %v", err)
	}
	for _, src := range []string{`[[[[]]]]`, `[[{"a": {}}]]`} {
		if _, err := c.DecodeList([]byte(src), []any{&a}); !errors.Is(err, json.ErrTooDeep) {
			t.Fatalf("%s: err = %v, want ErrTooDeep", src, err)
		}
	}
	if _, err := json.New().DecodeList([]byte(`[[[[]]]]`), []any{&a}); err != nil {
		t.Fatalf("default depth: %v", err)
	}
}

// TestBombs checks that deep nesting and long lists fail or count fast, with little memory.
func TestBombs(t *testing.T) {
	tests := []struct {
		name string
		src  []byte
		want error
	}{
		{"2 MB of nested arrays", append([]byte("["), bytes.Repeat([]byte("["), 2<<20)...), json.ErrTooDeep},
		{"2 MB of nested objects", append([]byte("["), bytes.Repeat([]byte(`{"":`), 1<<19)...), json.ErrTooDeep},
		{"2 MB list, wrong count", append(append([]byte("["), bytes.Repeat([]byte("1,"), 1<<20)...), '1', ']'), nil},
	}
	c := json.New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a any
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err := c.DecodeList(tt.src, []any{&a})
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<10 {
				t.Errorf("allocated %d bytes", grew)
			}
			if elapsed > 2*time.Second {
				t.Errorf("took %v", elapsed)
			}
		})
	}
}
