package msgpack

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"reflect"
	"sync"

	vmsgpack "github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// DefaultMaxDepth is the nesting limit used when [Codec.MaxDepth] is zero.
const DefaultMaxDepth = 100

// Codec encodes lists of Go values as MessagePack arrays. It satisfies tandem's Codec
// interface.
//
// The zero value is ready to use. A Codec is safe for concurrent use by many goroutines as
// long as its fields are not changed meanwhile.
type Codec struct {
	// MaxDepth bounds how deeply arrays and maps may nest in decoded input, the list
	// itself counting as depth 1. Zero or less means [DefaultMaxDepth].
	MaxDepth int
}

// New returns a Codec with the default settings; it is the same as new(Codec).
func New() *Codec { return new(Codec) }

// Name returns "msgpack", the codec's name in tandem's handshake.
func (c *Codec) Name() string { return "msgpack" }

func (c *Codec) maxDepth() int {
	if c.MaxDepth <= 0 {
		return DefaultMaxDepth
	}
	return c.MaxDepth
}

// AppendList appends vals, encoded as one MessagePack array, to dst and returns the
// extended slice. On error it returns dst unchanged and an [*ElementError].
//
// Structs encode as maps keyed by field name (honouring `msgpack` tags), integers in the
// fewest bytes that hold them, time.Time as the timestamp extension.
func (c *Codec) AppendList(dst []byte, vals []any) (out []byte, err error) {
	out, _, err = c.appendList(dst, vals, nil, nil)
	return out, err
}

// AppendListExcept is [Codec.AppendList], except that it leaves out the bytes of the values
// whose indexes are in except (ascending), each a []byte or a string: for those it appends
// the bin or str header only, and appends to at the offset in out at which the value's
// bytes belong. tandem uses it to write large payloads from where they lie, with vectored
// I/O, rather than copy them into the frame. On error it returns dst and at unchanged.
func (c *Codec) AppendListExcept(dst []byte, vals []any, except, at []int) (out []byte, _ []int, err error) {
	return c.appendList(dst, vals, except, at)
}

func (c *Codec) appendList(dst []byte, vals []any, except, at []int) (out []byte, _ []int, err error) {
	if len(except) == 0 {
		if out, ok := appendScalars(dst, vals); ok {
			return out, at, nil
		}
	}
	e := encoders.Get().(*encoder)
	e.w.b = dst
	i, at0 := 0, len(at)
	defer func() {
		if r := recover(); r != nil {
			// The encoder's state is unknown: drop it rather than pool it.
			out, at, err = dst, at[:at0], &ElementError{Index: i, Err: fmt.Errorf("%w: %v", ErrPanic, r)}
		}
	}()
	if err = e.enc.EncodeArrayLen(len(vals)); err == nil {
		for i = range vals {
			if len(except) > 0 && except[0] == i {
				except = except[1:]
				switch v := vals[i].(type) {
				case []byte:
					err = e.enc.EncodeBytesLen(len(v))
				case string:
					e.w.b = appendStrHeader(e.w.b, len(v))
				default:
					err = fmt.Errorf("msgpack: cannot leave out a %T", v)
				}
				if err == nil {
					at = append(at, len(e.w.b))
					continue
				}
			} else {
				err = e.enc.Encode(vals[i])
			}
			if err != nil {
				err = &ElementError{Index: i, Err: err}
				break
			}
		}
	}
	out = e.w.b
	e.w.b = nil
	encoders.Put(e)
	if err != nil {
		return dst, at[:at0], err
	}
	return out, at, nil
}

// appendStrHeader appends the header of a MessagePack str of n bytes.
func appendStrHeader(b []byte, n int) []byte {
	switch {
	case n < 32:
		return append(b, msgpcode.FixedStrLow|byte(n))
	case n < 256:
		return append(b, msgpcode.Str8, byte(n))
	case n <= 0xFFFF:
		return binary.BigEndian.AppendUint16(append(b, msgpcode.Str16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, msgpcode.Str32), uint32(n))
}

// DecodeList reads the MessagePack array in src and returns its element count n. When n
// equals len(ptrs) it decodes element i into ptrs[i], skipping it if ptrs[i] is nil; else
// it decodes nothing and returns n with a nil error.
//
// src is validated in full first: see [ErrNotList], [ErrTruncated], [ErrTooDeep],
// [ErrInvalidCode] and [ErrTrailingBytes]. Decoding into a *any replaces its value, unless
// it holds a non-nil pointer, which is decoded into. An element that does not fit its pointer gives an
// [*ElementError]. Decoded strings and byte slices never alias src.
func (c *Codec) DecodeList(src []byte, ptrs []any) (n int, err error) {
	return c.decodeList(src, ptrs, false)
}

// DecodeListBorrowing is [Codec.DecodeList], except that a byte slice decoded into a
// *[]byte element of ptrs is a view of src, its capacity cut to its length, rather than a
// copy: it is valid as long as src is. tandem uses it for the services registered with
// tandem.WithBorrowedBytes. Byte slices nested in other values are copied as ever.
func (c *Codec) DecodeListBorrowing(src []byte, ptrs []any) (n int, err error) {
	return c.decodeList(src, ptrs, true)
}

func (c *Codec) decodeList(src []byte, ptrs []any, borrow bool) (n int, err error) {
	if decodeScalars(src, ptrs, borrow) {
		return len(ptrs), nil
	}
	n, err = scanList(src, c.maxDepth())
	if err != nil || n != len(ptrs) || n == 0 {
		return n, err
	}
	d := decoders.Get().(*decoder)
	d.r.Reset(src)
	d.dec.ResetReader(&d.r)
	d.dec.SetMapDecoder(decodeMap)
	i := 0
	defer func() {
		if r := recover(); r != nil {
			err = &ElementError{Index: i, Err: fmt.Errorf("%w: %v", ErrPanic, r)}
		}
	}()
	if _, err = d.dec.DecodeArrayLen(); err != nil {
		err = &ElementError{Index: 0, Err: err}
	} else {
		for i = range ptrs {
			switch p := ptrs[i].(type) {
			case nil:
				err = d.dec.Skip()
			case *any:
				err = decodeAny(d.dec, p)
			case *[]byte:
				if ok := d.binary(src, func(b []byte) { *p = ownBytes(b, borrow) }); !ok {
					err = d.dec.Decode(p)
				}
			case *string:
				if ok := d.binary(src, func(b []byte) { *p = string(b) }); !ok {
					err = d.dec.Decode(p)
				}
			default:
				err = d.dec.Decode(p)
			}
			if err != nil {
				err = &ElementError{Index: i, Err: err}
				break
			}
		}
	}
	d.r.Reset(nil)
	decoders.Put(d)
	return n, err
}

// binary hands the bytes of the bin (for a *[]byte) or str (for a *string) value at the
// decoder's position to set, and moves past it. vmihailenco/msgpack would allocate a zeroed
// slice and then copy into it; set copies once, into memory it need not zero. It reports
// false, having consumed nothing, if the value is of another kind.
func (d *decoder) binary(src []byte, set func([]byte)) bool {
	at := int(d.r.Size()) - d.r.Len()
	if at >= len(src) {
		return false
	}
	v, size, ok := readBinary(src[at:])
	if !ok {
		return false
	}
	set(v)
	d.r.Seek(int64(at+size), io.SeekStart)
	return true
}

// ownBytes returns b as a decoded []byte: a view with its capacity cut to its length if
// borrowing, else a copy.
func ownBytes(b []byte, borrow bool) []byte {
	if borrow {
		return b[:len(b):len(b)]
	}
	return bytes.Clone(b)
}

// decodeAny decodes into *p: into the pointer *p holds, if any, as encoding/json does;
// else it replaces *p with a new value.
func decodeAny(d *vmsgpack.Decoder, p *any) (err error) {
	if *p != nil && reflect.TypeOf(*p).Kind() == reflect.Pointer {
		return d.Decode(*p)
	}
	*p, err = d.DecodeInterface()
	return err
}

// appendWriter is an io.Writer (and io.ByteWriter) that appends to a slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *appendWriter) WriteByte(c byte) error {
	w.b = append(w.b, c)
	return nil
}

func (w *appendWriter) WriteString(s string) (int, error) {
	w.b = append(w.b, s...)
	return len(s), nil
}

type encoder struct {
	w   appendWriter
	enc *vmsgpack.Encoder
}

var encoders = sync.Pool{New: func() any {
	e := new(encoder)
	e.enc = vmsgpack.NewEncoder(&e.w)
	e.enc.UseCompactInts(true)
	return e
}}

type decoder struct {
	r   bytes.Reader
	dec *vmsgpack.Decoder
}

var decoders = sync.Pool{New: func() any {
	d := new(decoder)
	d.dec = vmsgpack.NewDecoder(&d.r)
	return d
}}

// mapHint caps the size hint for maps decoded into any, so that a map declaring many
// duplicate keys cannot reserve much more memory than its entries use.
const mapHint = 64

// decodeMap decodes a map into map[string]any, or into map[any]any once a key that is not
// a string turns up.
func decodeMap(d *vmsgpack.Decoder) (any, error) {
	n, err := d.DecodeMapLen()
	if err != nil || n < 0 {
		return nil, err
	}
	m := make(map[string]any, min(n, mapHint))
	for i := 0; i < n; i++ {
		k, err := d.DecodeInterface()
		if err != nil {
			return nil, err
		}
		ks, ok := k.(string)
		if !ok {
			return decodeAnyMap(d, m, k, n-i)
		}
		v, err := d.DecodeInterface()
		if err != nil {
			return nil, err
		}
		m[ks] = v
	}
	return m, nil
}

// decodeAnyMap continues decodeMap with map[any]any: it copies done, then decodes the
// value of key and the left-1 pairs that follow.
func decodeAnyMap(d *vmsgpack.Decoder, done map[string]any, key any, left int) (any, error) {
	m := make(map[any]any, len(done)+min(left, mapHint))
	for k, v := range done {
		m[k] = v
	}
	for i := 0; i < left; i++ {
		if i > 0 {
			var err error
			if key, err = d.DecodeInterface(); err != nil {
				return nil, err
			}
		}
		if key != nil && !reflect.TypeOf(key).Comparable() {
			return nil, fmt.Errorf("msgpack: map key of type %T cannot be a Go map key", key)
		}
		v, err := d.DecodeInterface()
		if err != nil {
			return nil, err
		}
		m[key] = v
	}
	return m, nil
}
