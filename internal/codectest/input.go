package codectest

import (
	"errors"
	"runtime"
	"testing"
	"time"
)

// Input is a byte stream that a codec must reject with an error matching Want.
type Input struct {
	Name string
	Src  []byte
	Want error
}

// Rejects decodes each input, in a subtest named after it, into one *any, and fails
// unless the error matches Want under [errors.Is].
func Rejects(t *testing.T, c Codec, inputs []Input) {
	t.Helper()
	for _, in := range inputs {
		t.Run(in.Name, func(t *testing.T) {
			var a any
			if n, err := c.DecodeList(in.Src, []any{&a}); !errors.Is(err, in.Want) {
				t.Fatalf("DecodeList = %d, %v; want %v", n, err, in.Want)
			}
		})
	}
}

// Measure runs f and returns the bytes it allocated and the time it took, for tests that
// require hostile inputs to fail fast and small.
func Measure(f func()) (allocated uint64, elapsed time.Duration) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	f()
	elapsed = time.Since(start)
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, elapsed
}

// Seed adds to f the encodings by c of the value lists every codec's fuzz test starts
// from, then those of extra.
func Seed(f *testing.F, c Codec, extra ...[]any) {
	f.Helper()
	lists := [][]any{
		{1, "two", 3.5},
		{Sample()},
		{map[int]string{1: "a"}, []byte{1}, nil, true},
	}
	for _, vals := range append(lists, extra...) {
		b, err := c.AppendList(nil, vals)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}
