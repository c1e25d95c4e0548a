package codectest

import "bytes"

// GobUint encodes x as encoding/gob does: one byte below 128, else the negated byte count
// and the big-endian bytes. Tests use it to build hostile gob streams by hand.
func GobUint(x uint64) []byte {
	if x < 0x80 {
		return []byte{byte(x)}
	}
	var b []byte
	for ; x > 0; x >>= 8 {
		b = append([]byte{byte(x)}, b...)
	}
	return append([]byte{byte(-len(b))}, b...)
}

// GobInt encodes i as encoding/gob does (zig-zag, then [GobUint]).
func GobInt(i int64) []byte {
	if i < 0 {
		return GobUint(uint64(^i)<<1 | 1)
	}
	return GobUint(uint64(i) << 1)
}

// GobMessage frames the concatenated body with its length, as one gob message.
func GobMessage(body ...[]byte) []byte {
	b := bytes.Join(body, nil)
	return append(GobUint(uint64(len(b))), b...)
}
