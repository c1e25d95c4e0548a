package msgpack_test

import (
	"testing"

	"github.com/tandem-rpc/tandem/codec/msgpack"
	"github.com/tandem-rpc/tandem/internal/codectest"
)

func BenchmarkCodec(b *testing.B) {
	codectest.Benchmarks(b, msgpack.New(), codectest.Sample())
}
