package gob_test

import (
	"testing"

	"github.com/tandem-rpc/tandem/codec/gob"
	"github.com/tandem-rpc/tandem/internal/codectest"
)

// BenchmarkCodec decodes a map into *any: gob cannot decode a struct into *any without
// its type registered.
func BenchmarkCodec(b *testing.B) {
	codectest.Benchmarks(b, gob.New(), map[string]int{"a": 1, "b": 2})
}
