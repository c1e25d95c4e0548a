package gob

import "math/bits"

// The walker validates a gob stream before encoding/gob decodes it. encoding/gob checks
// declared lengths itself, but recurses once per level of nesting with no limit: a value of
// a recursive type (type Tree struct{ Kids []Tree }) nested a million deep exhausts the
// stack and kills the process. The walker parses the stream as documented in encoding/gob
// (messages, type definitions, values) without building anything, and rejects
//
//   - declared lengths and counts that exceed the bytes that remain,
//   - composite values (struct, slice, array, map, interface) nested deeper than maxDepth,
//   - anything it cannot parse: unknown type ids, redefined types, extra bytes in a message.
//
// Its own recursion is bounded by maxDepth.

// Predefined gob type ids.
const (
	idBool      = 1
	idInt       = 2
	idUint      = 3
	idFloat     = 4
	idBytes     = 5
	idString    = 6
	idComplex   = 7
	idInterface = 8
	firstUserID = 64 // lowest id of a type defined in the stream
)

// Kinds of wire types.
const (
	kindArray = iota
	kindSlice
	kindStruct
	kindMap
	kindOpaque // GobEncoder, BinaryMarshaler, TextMarshaler: a byte count, then bytes
)

// wireType is what the walker keeps of a type definition.
type wireType struct {
	kind   int
	elem   int64
	key    int64
	length uint64
	fields []int64 // field type ids of a struct
}

type walker struct {
	maxDepth int
	types    map[int64]*wireType
}

// reader reads gob's primitive encodings from one message.
type reader struct {
	b []byte
	p int
}

func (r *reader) left() int { return len(r.b) - r.p }

// uint reads an unsigned integer: one byte below 128, else the negated byte count followed
// by that many big-endian bytes.
func (r *reader) uint() (uint64, error) {
	if r.p >= len(r.b) {
		return 0, ErrTruncated
	}
	c := r.b[r.p]
	r.p++
	if c < 0x80 {
		return uint64(c), nil
	}
	n := -int(int8(c))
	if n > 8 || n > r.left() {
		return 0, ErrTruncated
	}
	var x uint64
	for _, b := range r.b[r.p : r.p+n] {
		x = x<<8 | uint64(b)
	}
	r.p += n
	return x, nil
}

// int reads a signed integer: bit 0 of the unsigned form says whether to complement.
func (r *reader) int() (int64, error) {
	u, err := r.uint()
	if u&1 != 0 {
		return ^int64(u >> 1), err
	}
	return int64(u >> 1), err
}

// skip reads a byte count and skips that many bytes.
func (r *reader) skip() error {
	n, err := r.uint()
	if err != nil {
		return err
	}
	if n > uint64(r.left()) {
		return ErrTruncated
	}
	r.p += int(n)
	return nil
}

// count reads an element count and checks that the elements, each of which takes at least
// one byte, fit in what remains; per is the number of values per element.
func (r *reader) count(per uint64) (uint64, error) {
	n, err := r.uint()
	if err != nil {
		return 0, err
	}
	hi, lo := bits.Mul64(n, per)
	if hi != 0 || lo > uint64(r.left()) {
		return 0, ErrTruncated
	}
	return n, nil
}

// walk validates the stream in src and returns the number of values it holds and the
// offset just past the last of them.
func (w *walker) walk(src []byte) (values, end int, err error) {
	in := reader{b: src}
	for in.left() > 0 {
		n, err := in.uint()
		if err != nil {
			return 0, 0, err
		}
		if n == 0 {
			return 0, 0, ErrMalformed
		}
		if n > uint64(in.left()) {
			return 0, 0, ErrTruncated
		}
		r := reader{b: src[in.p : in.p+int(n)]}
		in.p += int(n)
		id, err := r.int()
		if err != nil {
			return 0, 0, err
		}
		if id < 0 {
			err = w.define(&r, -id)
		} else {
			// The list counts as depth 1, so its elements start there.
			err = w.top(&r, id, 1)
			values++
			end = in.p
		}
		if err != nil {
			return 0, 0, err
		}
		if r.left() != 0 {
			return 0, 0, ErrMalformed
		}
	}
	return values, end, nil
}

// top walks a value as sent on its own: a struct as is, anything else after a zero field
// delta.
func (w *walker) top(r *reader, id int64, depth int) error {
	if t := w.types[id]; t == nil || t.kind != kindStruct || id < firstUserID {
		delta, err := r.uint()
		if err != nil {
			return err
		}
		if delta != 0 {
			return ErrMalformed
		}
	}
	return w.value(r, id, depth)
}

// value walks one value of type id found at the given depth.
func (w *walker) value(r *reader, id int64, depth int) error {
	switch id {
	case idBool, idInt, idUint, idFloat:
		_, err := r.uint()
		return err
	case idComplex:
		if _, err := r.uint(); err != nil {
			return err
		}
		_, err := r.uint()
		return err
	case idBytes, idString:
		return r.skip()
	}
	if depth++; depth > w.maxDepth {
		return ErrTooDeep
	}
	if id == idInterface {
		return w.iface(r, depth)
	}
	t := w.types[id]
	if t == nil || id < firstUserID {
		return ErrMalformed
	}
	switch t.kind {
	case kindOpaque:
		return r.skip()
	case kindArray, kindSlice:
		n, err := r.count(1)
		if err != nil {
			return err
		}
		if t.kind == kindArray && n != t.length {
			return ErrMalformed
		}
		for ; n > 0; n-- {
			if err := w.value(r, t.elem, depth); err != nil {
				return err
			}
		}
	case kindMap:
		n, err := r.count(2)
		if err != nil {
			return err
		}
		for ; n > 0; n-- {
			if err := w.value(r, t.key, depth); err != nil {
				return err
			}
			if err := w.value(r, t.elem, depth); err != nil {
				return err
			}
		}
	case kindStruct:
		field := -1
		for {
			delta, err := r.uint()
			if err != nil {
				return err
			}
			if delta == 0 {
				return nil
			}
			if delta > uint64(len(t.fields)) || field+int(delta) >= len(t.fields) {
				return ErrMalformed
			}
			field += int(delta)
			if err := w.value(r, t.fields[field], depth); err != nil {
				return err
			}
		}
	}
	return nil
}

// iface walks an interface value: the registered name of the concrete type (empty for
// nil), any type definitions (each followed by a count when more bytes follow), the
// concrete type id, a byte count, and the value, as encoding/gob's decoder reads them.
func (w *walker) iface(r *reader, depth int) error {
	n, err := r.uint()
	if err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	if n > 1024 || n > uint64(r.left()) {
		return ErrMalformed
	}
	r.p += int(n)
	var id int64
	for {
		if r.left() == 0 {
			return ErrMalformed
		}
		if id, err = r.int(); err != nil {
			return err
		}
		if id >= 0 {
			break
		}
		if err := w.define(r, -id); err != nil {
			return err
		}
		if r.left() > 0 {
			if _, err := r.uint(); err != nil {
				return err
			}
		}
	}
	// A byte count follows. encoding/gob ignores it when decoding, and it does not cover
	// type definitions nested inside the value, so neither is it checked here.
	if _, err := r.uint(); err != nil {
		return err
	}
	return w.top(r, id, depth)
}

// define reads the definition of type id, a wireType struct:
//
//	wireType       {ArrayT *arrayType; SliceT *sliceType; StructT *structType; MapT *mapType;
//	                GobEncoderT, BinaryMarshalerT, TextMarshalerT *gobEncoderType}
//	arrayType      {CommonType; Elem typeId; Len int}
//	sliceType      {CommonType; Elem typeId}
//	structType     {CommonType; Field []fieldType}
//	mapType        {CommonType; Key typeId; Elem typeId}
//	gobEncoderType {CommonType}
//	CommonType     {Name string; Id typeId}
//	fieldType      {Name string; Id typeId}
func (w *walker) define(r *reader, id int64) error {
	if id < firstUserID || w.types[id] != nil {
		return ErrMalformed
	}
	t := new(wireType)
	seen := false
	err := fields(r, func(f int) error {
		if seen || f > 6 {
			return ErrMalformed
		}
		seen = true
		switch f {
		case 0, 1, 3:
			switch f {
			case 0:
				t.kind = kindArray
			case 1:
				t.kind = kindSlice
			default:
				t.kind = kindMap
			}
			return fields(r, func(g int) error {
				var err error
				switch {
				case g == 0:
					return common(r)
				case g == 1 && t.kind == kindMap:
					t.key, err = r.int()
				case g == 1, g == 2 && t.kind == kindMap:
					t.elem, err = r.int()
				case g == 2 && t.kind == kindArray:
					var l int64
					if l, err = r.int(); l < 0 {
						return ErrMalformed
					}
					t.length = uint64(l)
				default:
					return ErrMalformed
				}
				return err
			})
		case 2:
			t.kind = kindStruct
			return fields(r, func(g int) error {
				switch g {
				case 0:
					return common(r)
				case 1:
					n, err := r.count(1)
					if err != nil {
						return err
					}
					t.fields = make([]int64, 0, n)
					for ; n > 0; n-- {
						var fid int64
						err := fields(r, func(h int) error {
							var err error
							switch h {
							case 0:
								err = r.skip()
							case 1:
								fid, err = r.int()
							default:
								err = ErrMalformed
							}
							return err
						})
						if err != nil {
							return err
						}
						t.fields = append(t.fields, fid)
					}
					return nil
				}
				return ErrMalformed
			})
		default:
			t.kind = kindOpaque
			return fields(r, func(g int) error {
				if g != 0 {
					return ErrMalformed
				}
				return common(r)
			})
		}
	})
	if err != nil {
		return err
	}
	if !seen {
		return ErrMalformed
	}
	if w.types == nil {
		w.types = make(map[int64]*wireType)
	}
	w.types[id] = t
	return nil
}

// common reads a CommonType struct.
func common(r *reader) error {
	return fields(r, func(f int) error {
		switch f {
		case 0:
			return r.skip()
		case 1:
			_, err := r.int()
			return err
		}
		return ErrMalformed
	})
}

// fields reads the fields of a struct value, calling fn with each field number in turn.
func fields(r *reader, fn func(field int) error) error {
	field := -1
	for {
		delta, err := r.uint()
		if err != nil {
			return err
		}
		if delta == 0 {
			return nil
		}
		if delta > 16 {
			return ErrMalformed
		}
		field += int(delta)
		if err := fn(field); err != nil {
			return err
		}
	}
}
