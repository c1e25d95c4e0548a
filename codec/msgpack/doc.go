// Package msgpack is tandem's default [Codec]: MessagePack, compact and fast, readable from
// any language.
//
// A list is a MessagePack array. Encoding and decoding are done by
// github.com/vmihailenco/msgpack/v5; before that library sees a byte, a validating scan
// walks the input once and rejects declared lengths that exceed the bytes present, nesting
// deeper than [Codec.MaxDepth], reserved codes and trailing bytes, so hostile input cannot
// exhaust memory or the stack.
//
// Quick start:
//
//	c := msgpack.New()
//	b, err := c.AppendList(nil, []any{1, "two"})
//	...
//	var x int
//	var s string
//	n, err := c.DecodeList(b, []any{&x, &s})
//
// Decoding into *any gives nil, bool, int8 to int64 or uint8 to uint64 (the width and
// signedness on the wire; non-negative integers are sent unsigned), float32 or float64,
// string, []byte, time.Time, []any, and map[string]any (map[any]any when a key is not a
// string).
//
// Encoding cyclic data is not supported: the library recurses without a limit.
package msgpack
