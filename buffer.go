package tandem

import (
	"math/bits"
	"sync"
)

// Frame buffers are recycled by size class so that reading a frame allocates nothing in the
// steady state. Class i holds buffers of capacity 1<<(minBufShift+i); frames larger than the
// biggest class get a buffer of their own, left to the garbage collector.
const (
	minBufShift = 8  // 256 B
	maxBufShift = 23 // 8 MiB: a 4 MiB payload plus its header fits the largest class
)

var bufPools [maxBufShift - minBufShift + 1]sync.Pool

// getBuf returns a buffer of length n, pooled when n fits a size class.
func getBuf(n int) *[]byte {
	if n > 1<<maxBufShift {
		b := make([]byte, n)
		return &b
	}
	class := 0
	if n > 1<<minBufShift {
		class = bits.Len(uint(n-1)) - minBufShift
	}
	if v := bufPools[class].Get(); v != nil {
		bp := v.(*[]byte)
		*bp = (*bp)[:n]
		return bp
	}
	b := make([]byte, n, 1<<(minBufShift+class))
	return &b
}

// putBuf recycles a buffer from getBuf. The caller must not use it afterwards.
func putBuf(bp *[]byte) {
	c := cap(*bp)
	if c > 1<<maxBufShift || c < 1<<minBufShift || c&(c-1) != 0 {
		return
	}
	bufPools[bits.Len(uint(c))-1-minBufShift].Put(bp)
}
