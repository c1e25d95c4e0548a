// Package json is tandem's JSON [Codec]: slower than msgpack, but readable by people and by
// any language, which suits command-line tools and debugging.
//
// A list is a JSON array; its elements are encoded and decoded by encoding/json. An element
// that is a [encoding/json.RawMessage] is sent as it is (after a validity check), so a tool
// holding JSON text need not decode it first. Before decoding, a scan of the input rejects
// nesting deeper than [Codec.MaxDepth] and anything after the array.
//
// Quick start:
//
//	c := json.New()
//	b, err := c.AppendList(nil, []any{1, "two"})
//	...
//	var x int
//	var s string
//	n, err := c.DecodeList(b, []any{&x, &s})
//
// Decoding into *any gives what encoding/json gives: nil, bool, float64, string, []any and
// map[string]any. Decode into *json.RawMessage to keep an element's text.
package json
