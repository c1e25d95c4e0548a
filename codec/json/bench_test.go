package json_test

import (
	"testing"

	"github.com/tandem-rpc/tandem/codec/json"
	"github.com/tandem-rpc/tandem/internal/codectest"
)

func BenchmarkCodec(b *testing.B) {
	codectest.Benchmarks(b, json.New(), codectest.Sample())
}
