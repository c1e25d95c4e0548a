package json

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
)

// DefaultMaxDepth is the nesting limit used when [Codec.MaxDepth] is zero.
const DefaultMaxDepth = 100

// Codec encodes lists of Go values as JSON arrays. It satisfies tandem's Codec interface.
//
// The zero value is ready to use. A Codec is safe for concurrent use by many goroutines as
// long as its fields are not changed meanwhile.
type Codec struct {
	// MaxDepth bounds how deeply arrays and objects may nest in decoded input, the list
	// itself counting as depth 1. Zero or less means [DefaultMaxDepth].
	MaxDepth int
}

// New returns a Codec with the default settings; it is the same as new(Codec).
func New() *Codec { return new(Codec) }

// Name returns "json", the codec's name in tandem's handshake.
func (c *Codec) Name() string { return "json" }

func (c *Codec) maxDepth() int {
	if c.MaxDepth <= 0 {
		return DefaultMaxDepth
	}
	return c.MaxDepth
}

// AppendList appends vals, encoded as one JSON array, to dst and returns the extended
// slice. Each element is encoded as by [encoding/json.Marshal], without HTML escaping; a
// [encoding/json.RawMessage] is checked and copied in compact form. On error it returns dst
// unchanged and an [*ElementError].
func (c *Codec) AppendList(dst []byte, vals []any) (out []byte, err error) {
	e := encoders.Get().(*encoder)
	i := 0
	defer func() {
		if r := recover(); r != nil {
			out, err = dst, &ElementError{Index: i, Err: fmt.Errorf("%w: %v", ErrPanic, r)}
		}
	}()
	out = append(dst, '[')
	for i = range vals {
		if i > 0 {
			out = append(out, ',')
		}
		e.buf.Reset()
		if err := e.enc.Encode(vals[i]); err != nil {
			e.release()
			return dst, &ElementError{Index: i, Err: err}
		}
		b := e.buf.Bytes()
		out = append(out, b[:len(b)-1]...) // without the newline Encode adds
	}
	e.release()
	return append(out, ']'), nil
}

// DecodeList reads the JSON array in src and returns its element count n. When n equals
// len(ptrs) it decodes element i into ptrs[i] as [encoding/json.Unmarshal] does, skipping
// it if ptrs[i] is nil; else it decodes nothing and returns n with a nil error.
//
// src is validated in full first: see [ErrNotList], [ErrSyntax], [ErrTooDeep] and
// [ErrTrailingBytes]. An element that does not fit its pointer gives an [*ElementError].
func (c *Codec) DecodeList(src []byte, ptrs []any) (n int, err error) {
	var small [8]span
	n, spans, err := scanList(src, c.maxDepth(), small[:0], len(ptrs))
	if err != nil {
		return 0, err
	}
	if !json.Valid(src) {
		var syn *json.SyntaxError
		if err := json.Unmarshal(src, new(struct{})); errors.As(err, &syn) {
			return 0, fmt.Errorf("%w: %w", ErrSyntax, syn)
		}
		return 0, ErrSyntax
	}
	if n != len(ptrs) {
		return n, nil
	}
	i := 0
	defer func() {
		if r := recover(); r != nil {
			err = &ElementError{Index: i, Err: fmt.Errorf("%w: %v", ErrPanic, r)}
		}
	}()
	for i = range ptrs {
		if ptrs[i] == nil {
			continue
		}
		if err := json.Unmarshal(src[spans[i].start:spans[i].end], ptrs[i]); err != nil {
			return n, &ElementError{Index: i, Err: err}
		}
	}
	return n, nil
}

type encoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

// maxPooled is the largest buffer an encoder keeps when it goes back to the pool.
const maxPooled = 64 << 10

func (e *encoder) release() {
	if e.buf.Cap() > maxPooled {
		return
	}
	encoders.Put(e)
}

var encoders = sync.Pool{New: func() any {
	e := new(encoder)
	e.enc = json.NewEncoder(&e.buf)
	e.enc.SetEscapeHTML(false)
	return e
}}
