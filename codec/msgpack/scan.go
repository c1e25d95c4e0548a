package msgpack

import "encoding/binary"

// scanList validates that src is exactly one MessagePack array and returns its element
// count. It walks every value once without recursion and checks that
//
//   - every declared length of a str, bin or ext fits in the bytes that remain,
//   - the elements still owed by all open arrays and maps (each needs at least one byte)
//     never exceed the bytes that remain,
//   - arrays and maps nest at most maxDepth deep, the list itself being depth 1,
//   - no reserved code (0xc1) appears and nothing follows the list.
//
// Only after this may the library decode src: its allocations are then bounded by the
// input size and its recursion by maxDepth.
func scanList(src []byte, maxDepth int) (int, error) {
	if len(src) == 0 {
		return 0, at(ErrNotList, 0)
	}
	length, p, ok := listHeader(src)
	if !ok {
		if p < 0 {
			return 0, at(ErrTruncated, 0)
		}
		return 0, at(ErrNotList, 0)
	}
	if length > uint64(len(src)-p) {
		return 0, at(ErrTruncated, 0)
	}
	n := int(length)
	if n == 0 {
		if p != len(src) {
			return 0, at(ErrTrailingBytes, p)
		}
		return 0, nil
	}

	// open[i] is how many values the container at depth i+1 still owes; pending is their
	// sum, the least number of bytes the rest of the input must hold.
	var small [64]int
	open := append(small[:0], n)
	pending := n
	for len(open) > 0 {
		top := len(open) - 1
		if open[top] == 0 {
			open = open[:top]
			continue
		}
		open[top]--
		pending--

		start := p
		if p >= len(src) {
			return 0, at(ErrTruncated, p)
		}
		c := src[p]
		p++
		var count int // elements of an array or map header
		switch {
		case c <= 0x7f || c >= 0xe0: // fixint
			continue
		case c <= 0x8f: // fixmap
			count = 2 * int(c&0x0f)
		case c <= 0x9f: // fixarray
			count = int(c & 0x0f)
		case c <= 0xbf: // fixstr
			p += int(c & 0x1f)
			if p > len(src) {
				return 0, at(ErrTruncated, start)
			}
			continue
		default:
			size, kind := fixed[c-0xc0], kinds[c-0xc0]
			if kind == kindInvalid {
				return 0, at(ErrInvalidCode, start)
			}
			hdr := size
			if kind == kindExt || kind == kindFixExt {
				hdr++ // the extension type byte
			}
			if hdr > len(src)-p {
				return 0, at(ErrTruncated, start)
			}
			var length uint64
			switch size {
			case 1:
				length = uint64(src[p])
			case 2:
				length = uint64(binary.BigEndian.Uint16(src[p:]))
			case 4:
				length = uint64(binary.BigEndian.Uint32(src[p:]))
			}
			p += hdr
			left := uint64(len(src) - p)
			switch kind {
			case kindScalar, kindFixExt:
				continue
			case kindBytes, kindExt:
				if length > left {
					return 0, at(ErrTruncated, start)
				}
				p += int(length)
				continue
			case kindMap:
				length *= 2
			}
			// Each value still owed needs at least one byte.
			if length > left-uint64(pending) {
				return 0, at(ErrTruncated, start)
			}
			count = int(length)
		}
		// An array or map header: count more values, one level deeper.
		if len(open) >= maxDepth {
			return 0, at(ErrTooDeep, start)
		}
		if count > len(src)-p-pending {
			return 0, at(ErrTruncated, start)
		}
		pending += count
		open = append(open, count)
	}
	if p > len(src) {
		return 0, at(ErrTruncated, len(src))
	}
	if p != len(src) {
		return 0, at(ErrTrailingBytes, p)
	}
	return n, nil
}

// listHeader reads the array header at the start of src and returns the element count and
// the header's size. ok is false if src does not start with an array header; p is then -1
// if the header is cut short.
func listHeader(src []byte) (n uint64, p int, ok bool) {
	c := src[0]
	switch {
	case c >= 0x90 && c <= 0x9f:
		return uint64(c & 0x0f), 1, true
	case c == 0xdc:
		if len(src) < 3 {
			return 0, -1, false
		}
		return uint64(binary.BigEndian.Uint16(src[1:])), 3, true
	case c == 0xdd:
		if len(src) < 5 {
			return 0, -1, false
		}
		return uint64(binary.BigEndian.Uint32(src[1:])), 5, true
	}
	return 0, 0, false
}

// Kinds of the type codes 0xc0 to 0xdf.
const (
	kindInvalid = iota
	kindScalar  // fixed bytes follow (nil, bool, numbers)
	kindBytes   // str or bin: a length of fixed size, then that many bytes
	kindExt     // ext: a length of fixed size, a type byte, then that many bytes
	kindFixExt  // fixext: a type byte and a fixed number of bytes
	kindArray   // a count of fixed size, then that many values
	kindMap     // a count of fixed size, then twice that many values
)

// kinds and fixed describe the codes 0xc0 to 0xdf, indexed by code-0xc0: the kind, and the
// size of what follows the code (the scalar, the length field, or the fixext payload).
var kinds = [32]uint8{
	0x00: kindScalar, // nil
	0x01: kindInvalid,
	0x02: kindScalar, // false
	0x03: kindScalar, // true
	0x04: kindBytes,  // bin 8
	0x05: kindBytes,  // bin 16
	0x06: kindBytes,  // bin 32
	0x07: kindExt,    // ext 8
	0x08: kindExt,    // ext 16
	0x09: kindExt,    // ext 32
	0x0a: kindScalar, // float 32
	0x0b: kindScalar, // float 64
	0x0c: kindScalar, // uint 8
	0x0d: kindScalar, // uint 16
	0x0e: kindScalar, // uint 32
	0x0f: kindScalar, // uint 64
	0x10: kindScalar, // int 8
	0x11: kindScalar, // int 16
	0x12: kindScalar, // int 32
	0x13: kindScalar, // int 64
	0x14: kindFixExt, // fixext 1
	0x15: kindFixExt, // fixext 2
	0x16: kindFixExt, // fixext 4
	0x17: kindFixExt, // fixext 8
	0x18: kindFixExt, // fixext 16
	0x19: kindBytes,  // str 8
	0x1a: kindBytes,  // str 16
	0x1b: kindBytes,  // str 32
	0x1c: kindArray,  // array 16
	0x1d: kindArray,  // array 32
	0x1e: kindMap,    // map 16
	0x1f: kindMap,    // map 32
}

var fixed = [32]int{
	0x00: 0, 0x02: 0, 0x03: 0,
	0x04: 1, 0x05: 2, 0x06: 4,
	0x07: 1, 0x08: 2, 0x09: 4,
	0x0a: 4, 0x0b: 8,
	0x0c: 1, 0x0d: 2, 0x0e: 4, 0x0f: 8,
	0x10: 1, 0x11: 2, 0x12: 4, 0x13: 8,
	0x14: 1, 0x15: 2, 0x16: 4, 0x17: 8, 0x18: 16,
	0x19: 1, 0x1a: 2, 0x1b: 4,
	0x1c: 2, 0x1d: 4,
	0x1e: 2, 0x1f: 4,
}
