package json_test

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/tandem-rpc/tandem/codec/json"
	"github.com/tandem-rpc/tandem/internal/codectest"
)

var _ codectest.Codec = (*json.Codec)(nil)

func TestContract(t *testing.T) {
	index := codectest.ElementIndex(func(e *json.ElementError) int { return e.Index })
	codectest.Contract(t, json.New(), index)
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

func TestEmptyList(t *testing.T) {
	c := json.New()
	e, err := c.AppendList(nil, nil)
	if err != nil || string(e) != "[]" {
		t.Fatalf("AppendList = %s, %v", e, err)
	}
	if n, err := c.DecodeList([]byte(" [ ] "), nil); n != 0 || err != nil {
		t.Fatalf("DecodeList = %d, %v", n, err)
	}
}

func TestElementErrors(t *testing.T) {
	c := json.New()
	t.Run("type mismatch wraps UnmarshalTypeError", func(t *testing.T) {
		var a, z int
		_, err := c.DecodeList([]byte(`[1, "x"]`), []any{&a, &z})
		var ee *json.ElementError
		var te *stdjson.UnmarshalTypeError
		if !errors.As(err, &ee) || ee.Index != 1 || !errors.As(err, &te) {
			t.Fatalf("err = %v, want ElementError for index 1 wrapping UnmarshalTypeError", err)
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
	c := json.New()
	codectest.Rejects(t, c, []codectest.Input{
		{Name: "empty", Src: []byte(``), Want: json.ErrNotList},
		{Name: "space", Src: []byte(`  `), Want: json.ErrNotList},
		{Name: "object", Src: []byte(`{"a": 1}`), Want: json.ErrNotList},
		{Name: "null", Src: []byte(`null`), Want: json.ErrNotList},
		{Name: "unterminated", Src: []byte(`[1, 2`), Want: json.ErrSyntax},
		{Name: "unterminated string", Src: []byte(`["abc]`), Want: json.ErrSyntax},
		{Name: "bad grammar", Src: []byte(`[1 2]`), Want: json.ErrSyntax},
		{Name: "trailing comma", Src: []byte(`[1,]`), Want: json.ErrSyntax},
		{Name: "mismatched", Src: []byte(`[1}`), Want: json.ErrSyntax},
		{Name: "trailing", Src: []byte(`[1] x`), Want: json.ErrTrailingBytes},
		{Name: "two lists", Src: []byte(`[1][2]`), Want: json.ErrTrailingBytes},
	})
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
			var err error
			grew, elapsed := codectest.Measure(func() { _, err = c.DecodeList(tt.src, []any{&a}) })
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if grew > 64<<10 {
				t.Errorf("allocated %d bytes", grew)
			}
			if elapsed > 2*time.Second {
				t.Errorf("took %v", elapsed)
			}
		})
	}
}
