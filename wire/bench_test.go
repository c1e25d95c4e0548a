package wire_test

import (
	"testing"
	"time"

	"github.com/tandem-rpc/tandem/wire"
)

// benchPayload stands in for a small codec-encoded argument list.
var benchPayload = []byte{0x92, 0xcd, 0x01, 0x2c, 0xcd, 0x01, 0x90}

func BenchmarkAppendCall(b *testing.B) {
	for _, bc := range []struct {
		name string
		meta []wire.Meta
	}{
		{"plain", nil},
		{"meta", []wire.Meta{{Key: "trace-id", Value: "4bf92f3577b34da6a3ce929d0e0e4736"}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 256)
			var id uint64
			for b.Loop() {
				id += 2
				buf = wire.AppendCall(buf[:0], wire.KindCall, id, 30*time.Second, "Calculator.Add", bc.meta, benchPayload)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

func BenchmarkAppendReply(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 256)
	for b.Loop() {
		buf = wire.AppendHeader(buf[:0], wire.KindReply, 0, 7, len(benchPayload))
		buf = append(buf, benchPayload...)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkParse(b *testing.B) {
	frames := []struct {
		name  string
		frame []byte
	}{
		{"call", wire.AppendCall(nil, wire.KindCall, 7, 30*time.Second, "Calculator.Add", nil, benchPayload)},
		{"call-meta", wire.AppendCall(nil, wire.KindCall, 7, 30*time.Second, "Calculator.Add",
			[]wire.Meta{{Key: "trace-id", Value: "4bf92f3577b34da6a3ce929d0e0e4736"}}, benchPayload)},
		{"reply", append(wire.AppendHeader(nil, wire.KindReply, 0, 7, len(benchPayload)), benchPayload...)},
		{"error", wire.AppendError(nil, 7, 5, 0, "Calculator.Div: division by zero", []wire.Meta{{Key: "arg", Value: "b"}})},
	}
	for _, f := range frames {
		b.Run(f.name, func(b *testing.B) {
			body := f.frame[wire.LengthSize:]
			meta := make([]wire.Meta, 0, 4)
			b.ReportAllocs()
			b.SetBytes(int64(len(f.frame)))
			for b.Loop() {
				if _, err := wire.Parse(body, meta); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
