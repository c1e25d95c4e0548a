package msgpack

import (
	"encoding/binary"
	"math"

	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Most calls' arguments and results are a few integers, strings, byte slices, booleans or
// floats. The codec encodes and decodes lists of only such values itself, with the bytes
// vmihailenco/msgpack would write and the values it would decode: no pooled encoder or
// decoder to reset, no dispatch on types through reflection. In a sequential exchange the
// library's larger code runs cold on every call, and costs far more than a microbenchmark
// shows: with these paths, one caller's Add(int64, int64) went from 0.73-0.77x to
// 0.74-0.82x a raw TCP echo through Peer.Call, and from 0.72-0.77x to 0.79-0.88x through
// generated code (4 runs in turns each; bench/README.md). Anything else, named types
// included (they may marshal themselves), takes the general path.

// appendScalars appends vals as a MessagePack array if every value is nil or of type bool,
// int, int32, int64, uint, uint32, uint64, float64, string or []byte, and reports whether
// it did; it appends nothing otherwise.
func appendScalars(dst []byte, vals []any) ([]byte, bool) {
	for _, v := range vals {
		switch v.(type) {
		case nil, bool, int, int32, int64, uint, uint32, uint64, float64, string, []byte:
		default:
			return dst, false
		}
	}
	dst = appendArrayHeader(dst, len(vals))
	for _, v := range vals {
		switch v := v.(type) {
		case nil:
			dst = append(dst, msgpcode.Nil)
		case bool:
			if v {
				dst = append(dst, msgpcode.True)
			} else {
				dst = append(dst, msgpcode.False)
			}
		case int:
			dst = appendInt(dst, int64(v))
		case int32:
			dst = appendInt(dst, int64(v))
		case int64:
			dst = appendInt(dst, v)
		case uint:
			dst = appendUint(dst, uint64(v))
		case uint32:
			dst = appendUint(dst, uint64(v))
		case uint64:
			dst = appendUint(dst, v)
		case float64:
			dst = binary.BigEndian.AppendUint64(append(dst, msgpcode.Double), math.Float64bits(v))
		case string:
			dst = append(appendStrHeader(dst, len(v)), v...)
		case []byte:
			if v == nil {
				dst = append(dst, msgpcode.Nil)
			} else {
				dst = append(appendBinHeader(dst, len(v)), v...)
			}
		}
	}
	return dst, true
}

// appendArrayHeader appends the header of a MessagePack array of n elements.
func appendArrayHeader(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, msgpcode.FixedArrayLow|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, msgpcode.Array16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, msgpcode.Array32), uint32(n))
}

// appendBinHeader appends the header of a MessagePack bin of n bytes.
func appendBinHeader(b []byte, n int) []byte {
	switch {
	case n < 256:
		return append(b, msgpcode.Bin8, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, msgpcode.Bin16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, msgpcode.Bin32), uint32(n))
}

// appendInt appends n in the fewest bytes that hold it.
func appendInt(b []byte, n int64) []byte {
	switch {
	case n >= 0:
		return appendUint(b, uint64(n))
	case n >= -32: // negative fixint
		return append(b, byte(n))
	case n >= math.MinInt8:
		return append(b, msgpcode.Int8, byte(n))
	case n >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(b, msgpcode.Int16), uint16(n))
	case n >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(b, msgpcode.Int32), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, msgpcode.Int64), uint64(n))
}

// appendUint appends n in the fewest bytes that hold it.
func appendUint(b []byte, n uint64) []byte {
	switch {
	case n <= math.MaxInt8: // positive fixint
		return append(b, byte(n))
	case n <= math.MaxUint8:
		return append(b, msgpcode.Uint8, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, msgpcode.Uint16), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, msgpcode.Uint32), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, msgpcode.Uint64), n)
}

// decodeScalars decodes src if it is an array of len(ptrs) elements (at least one) and
// nothing after it, every pointer is a *int64, *int, *uint64, *uint, *bool, *float64,
// *string or *[]byte, and every element is of a kind this function decodes as the general
// path would; it reports whether it did. It validates src as it goes, in place of
// scanList, whose walk cost a small call more than the decoding itself. On false, some of
// ptrs may hold decoded values: the general path then decodes them again, or reports the
// error it finds in src.
func decodeScalars(src []byte, ptrs []any, borrow bool) bool {
	if len(src) == 0 || len(ptrs) == 0 {
		return false
	}
	for _, p := range ptrs {
		switch p.(type) {
		case *int64, *int, *uint64, *uint, *bool, *float64, *string, *[]byte:
		default:
			return false
		}
	}
	n, at, ok := listHeader(src)
	if !ok || n != uint64(len(ptrs)) {
		return false
	}
	for _, p := range ptrs {
		if at >= len(src) {
			return false
		}
		var size int
		var ok bool
		switch p := p.(type) {
		case *int64, *int:
			var n int64
			if n, size, ok = readInt(src[at:]); ok {
				if q, is64 := p.(*int64); is64 {
					*q = n
				} else {
					*p.(*int) = int(n)
				}
			}
		case *uint64, *uint:
			var n uint64
			if n, size, ok = readUint(src[at:]); ok {
				if q, is64 := p.(*uint64); is64 {
					*q = n
				} else {
					*p.(*uint) = uint(n)
				}
			}
		case *bool:
			switch src[at] {
			case msgpcode.Nil, msgpcode.False:
				*p, size, ok = false, 1, true
			case msgpcode.True:
				*p, size, ok = true, 1, true
			}
		case *float64:
			var f float64
			if f, size, ok = readFloat(src[at:]); ok {
				*p = f
			}
		case *string:
			var b []byte
			if b, size, ok = readBinary(src[at:]); ok {
				*p = string(b)
			}
		case *[]byte:
			var b []byte
			if b, size, ok = readBinary(src[at:]); ok {
				*p = ownBytes(b, borrow)
			}
		}
		if !ok {
			return false
		}
		at += size
	}
	return at == len(src)
}

// readInt reads an integer (or nil, as 0) at the start of b, as vmihailenco/msgpack decodes
// into an int64: an unsigned 64-bit value wraps. It returns the value's size in bytes.
func readInt(b []byte) (n int64, size int, ok bool) {
	c := b[0]
	if msgpcode.IsFixedNum(c) {
		return int64(int8(c)), 1, true
	}
	switch c {
	case msgpcode.Nil:
		return 0, 1, true
	case msgpcode.Uint8:
		if len(b) >= 2 {
			return int64(b[1]), 2, true
		}
	case msgpcode.Int8:
		if len(b) >= 2 {
			return int64(int8(b[1])), 2, true
		}
	case msgpcode.Uint16:
		if len(b) >= 3 {
			return int64(binary.BigEndian.Uint16(b[1:])), 3, true
		}
	case msgpcode.Int16:
		if len(b) >= 3 {
			return int64(int16(binary.BigEndian.Uint16(b[1:]))), 3, true
		}
	case msgpcode.Uint32:
		if len(b) >= 5 {
			return int64(binary.BigEndian.Uint32(b[1:])), 5, true
		}
	case msgpcode.Int32:
		if len(b) >= 5 {
			return int64(int32(binary.BigEndian.Uint32(b[1:]))), 5, true
		}
	case msgpcode.Uint64, msgpcode.Int64:
		if len(b) >= 9 {
			return int64(binary.BigEndian.Uint64(b[1:])), 9, true
		}
	}
	return 0, 0, false
}

// readUint reads an integer (or nil, as 0) at the start of b, as vmihailenco/msgpack
// decodes into a uint64: a negative value wraps.
func readUint(b []byte) (n uint64, size int, ok bool) {
	if c := b[0]; c == msgpcode.Uint64 || c == msgpcode.Int64 {
		if len(b) >= 9 {
			return binary.BigEndian.Uint64(b[1:]), 9, true
		}
		return 0, 0, false
	}
	i, size, ok := readInt(b)
	return uint64(i), size, ok
}

// readFloat reads a float, or an integer or nil converted to one, at the start of b, as
// vmihailenco/msgpack decodes into a float64.
func readFloat(b []byte) (f float64, size int, ok bool) {
	switch b[0] {
	case msgpcode.Double:
		if len(b) >= 9 {
			return math.Float64frombits(binary.BigEndian.Uint64(b[1:])), 9, true
		}
		return 0, 0, false
	case msgpcode.Float:
		if len(b) >= 5 {
			return float64(math.Float32frombits(binary.BigEndian.Uint32(b[1:]))), 5, true
		}
		return 0, 0, false
	}
	n, size, ok := readInt(b)
	return float64(n), size, ok
}

// readBinary returns the bytes of the str or bin value at the start of b, which the general
// path also takes for a *string or a *[]byte (see decoder.binary).
func readBinary(b []byte) (v []byte, size int, ok bool) {
	var n, hdr int
	switch c := b[0]; {
	case msgpcode.IsFixedString(c):
		n, hdr = int(c&msgpcode.FixedStrMask), 1
	case (c == msgpcode.Bin8 || c == msgpcode.Str8) && len(b) >= 2:
		n, hdr = int(b[1]), 2
	case (c == msgpcode.Bin16 || c == msgpcode.Str16) && len(b) >= 3:
		n, hdr = int(binary.BigEndian.Uint16(b[1:])), 3
	case (c == msgpcode.Bin32 || c == msgpcode.Str32) && len(b) >= 5:
		n, hdr = int(binary.BigEndian.Uint32(b[1:])), 5
	default:
		return nil, 0, false
	}
	if n > len(b)-hdr {
		return nil, 0, false
	}
	return b[hdr : hdr+n], hdr + n, true
}
