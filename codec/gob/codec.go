package gob

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"reflect"
	"time"
)

// DefaultMaxDepth is the nesting limit used when [Codec.MaxDepth] is zero.
const DefaultMaxDepth = 100

// Codec encodes lists of Go values as gob streams. It satisfies tandem's Codec interface.
//
// The zero value is ready to use. A Codec is safe for concurrent use by many goroutines as
// long as its fields are not changed meanwhile.
type Codec struct {
	// MaxDepth bounds how deeply composite values (structs, slices, arrays, maps,
	// interfaces) may nest in decoded input, the list itself counting as depth 1. Zero or
	// less means [DefaultMaxDepth].
	MaxDepth int
}

// New returns a Codec with the default settings; it is the same as new(Codec).
func New() *Codec { return new(Codec) }

// Name returns "gob", the codec's name in tandem's handshake.
func (c *Codec) Name() string { return "gob" }

func (c *Codec) maxDepth() int {
	if c.MaxDepth <= 0 {
		return DefaultMaxDepth
	}
	return c.MaxDepth
}

// AppendList appends vals, encoded as one gob stream, to dst and returns the extended
// slice. Nil values, nil pointers, nil slices and nil maps are sent as nil. On error it
// returns dst unchanged and an [*ElementError].
func (c *Codec) AppendList(dst []byte, vals []any) (out []byte, err error) {
	w := &appendWriter{b: dst}
	enc := gob.NewEncoder(w)
	names := make([]string, len(vals))
	for i, v := range vals {
		names[i] = typeName(v)
	}
	i := 0
	defer func() {
		if r := recover(); r != nil {
			out, err = dst, &ElementError{Index: i, Err: fmt.Errorf("%w: %v", ErrPanic, r)}
		}
	}()
	if err := enc.Encode(names); err != nil {
		return dst, &ElementError{Index: 0, Err: err}
	}
	for i = range vals {
		if names[i] == "" {
			continue
		}
		if err := enc.Encode(vals[i]); err != nil {
			return dst, &ElementError{Index: i, Err: err}
		}
	}
	return w.b, nil
}

// DecodeList reads the gob stream in src and returns the number of elements n of the list
// it holds. When n equals len(ptrs) it decodes element i into ptrs[i], skipping it if
// ptrs[i] is nil; else it decodes nothing and returns n with a nil error. A nil element
// sets *ptrs[i] to its zero value.
//
// src is validated in full first: see [ErrTruncated], [ErrTooDeep], [ErrMalformed] and
// [ErrTrailingBytes]. An element that does not fit its pointer gives an [*ElementError].
// Decoding into a *any replaces its value, unless it holds a non-nil pointer, which is
// decoded into.
func (c *Codec) DecodeList(src []byte, ptrs []any) (n int, err error) {
	w := walker{maxDepth: c.maxDepth()}
	values, end, err := w.walk(src)
	if err != nil {
		return 0, err
	}
	if values == 0 {
		return 0, ErrTruncated
	}
	if end != len(src) {
		return 0, ErrTrailingBytes
	}
	i := 0
	defer func() {
		if r := recover(); r != nil {
			err = &ElementError{Index: i, Err: fmt.Errorf("%w: %v", ErrPanic, r)}
		}
	}()
	dec := gob.NewDecoder(bytes.NewReader(src))
	var names []string
	if err := dec.Decode(&names); err != nil {
		return 0, fmt.Errorf("%w: list header: %w", ErrMalformed, err)
	}
	want := 1
	for _, name := range names {
		if name != "" {
			want++
		}
	}
	switch {
	case values < want:
		return 0, fmt.Errorf("%w: %d values for %d elements", ErrTruncated, values-1, want-1)
	case values > want:
		return 0, ErrTrailingBytes
	}
	n = len(names)
	if n != len(ptrs) {
		return n, nil
	}
	for i = range ptrs {
		if err := decodeElement(dec, names[i], ptrs[i]); err != nil {
			return n, &ElementError{Index: i, Err: err}
		}
	}
	return n, nil
}

// decodeElement decodes the next element, sent with the given type name, into ptr.
func decodeElement(dec *gob.Decoder, name string, ptr any) error {
	if ptr == nil {
		if name == "" {
			return nil
		}
		return dec.DecodeValue(reflect.Value{}) // discards the value
	}
	rv := reflect.ValueOf(ptr)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("gob: cannot decode into %T, which is not a non-nil pointer", ptr)
	}
	if name == "" {
		rv.Elem().SetZero()
		return nil
	}
	p, ok := ptr.(*any)
	if !ok || (*p != nil && reflect.TypeOf(*p).Kind() == reflect.Pointer) {
		if ok {
			return dec.DecodeValue(reflect.ValueOf(*p))
		}
		return dec.Decode(ptr)
	}
	t, ok := anyTypes[name]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownType, name)
	}
	v := reflect.New(t)
	if err := dec.DecodeValue(v); err != nil {
		return err
	}
	*p = v.Elem().Interface()
	return nil
}

// typeName returns the name of v's type, looking through pointers, or "" if v is nil or
// holds a nil pointer, slice or map.
func typeName(v any) string {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return ""
		}
		rv = rv.Elem()
	}
	switch rv.Kind() {
	case reflect.Invalid:
		return ""
	case reflect.Slice, reflect.Map:
		if rv.IsNil() {
			return ""
		}
	}
	return rv.Type().String()
}

// anyTypes maps the names of the types that decode into *any to the types. It is never
// changed after initialization.
var anyTypes = func() map[string]reflect.Type {
	m := make(map[string]reflect.Type)
	for _, v := range []any{
		false, 0, int8(0), int16(0), int32(0), int64(0),
		uint(0), uint8(0), uint16(0), uint32(0), uint64(0), uintptr(0),
		float32(0), float64(0), complex64(0), complex128(0), "",
		[]byte(nil), []string(nil), []int(nil), []int64(nil), []float64(nil), []any(nil),
		map[string]any(nil), map[string]string(nil), map[string]int(nil),
		time.Time{}, time.Duration(0),
	} {
		t := reflect.TypeOf(v)
		m[t.String()] = t
	}
	return m
}()

// appendWriter is an io.Writer that appends to a slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}
