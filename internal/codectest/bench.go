package codectest

import "testing"

// Benchmarks measures encoding and decoding of two ints, a [Record], 64 KiB of bytes, and
// dynamic decoded into *any, each as encode/NAME and decode/NAME sub-benchmarks. Pass
// [Sample] as dynamic unless the codec cannot decode a struct into *any.
func Benchmarks(b *testing.B, c Codec, dynamic any) {
	var (
		x, y int
		r    Record
		blob []byte
		a    any
	)
	cases := []struct {
		name string
		vals []any
		ptrs []any
	}{
		{"ints", []any{1000, 2000}, []any{&x, &y}},
		{"struct", []any{Sample()}, []any{&r}},
		{"bytes64KiB", []any{make([]byte, 64<<10)}, []any{&blob}},
		{"any", []any{dynamic}, []any{&a}},
	}
	for _, tc := range cases {
		src, err := c.AppendList(nil, tc.vals)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("encode/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(src)))
			dst := make([]byte, 0, len(src))
			for b.Loop() {
				if dst, err = c.AppendList(dst[:0], tc.vals); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("decode/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				if _, err := c.DecodeList(src, tc.ptrs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
