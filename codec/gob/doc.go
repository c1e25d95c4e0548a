// Package gob is tandem's Go-native [Codec], built on encoding/gob: it carries any Go type
// that encoding/gob can, including ones with GobEncode methods, between Go programs only.
//
// A list is one gob stream, written by a fresh encoder so that it is self-contained: a
// header holding each element's Go type name, then each element that is not nil as a gob
// value. Decoding uses a fresh decoder over the bytes. Before that, a walk over the stream
// checks every declared length against the bytes present and bounds nesting by
// [Codec.MaxDepth]; encoding/gob has no depth limit of its own and overflows the stack on a
// deeply nested value of a recursive type.
//
// Quick start:
//
//	c := gob.New()
//	b, err := c.AppendList(nil, []any{1, "two"})
//	...
//	var x int
//	var s string
//	n, err := c.DecodeList(b, []any{&x, &s})
//
// An element decodes into *any only if its type is a predeclared type (bool, the integer,
// float and complex types, string), []byte, []string, []int, []int64, []float64, []any,
// map[string]any, map[string]string, map[string]int, time.Time or time.Duration; others
// give [ErrUnknownType]. Values inside []any and map[string]any must be of types
// registered with [encoding/gob.Register] on both sides, as encoding/gob requires.
//
// gob decodes with far less care than msgpack or json (a sender chooses which of the
// receiver's types to build); accept it only from peers you trust.
package gob
