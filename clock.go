package tandem

import "time"

// clock tells the time from the monotonic clock alone. A time.Now reads two clocks, the
// wall clock and the monotonic one; time.Since a time that has a monotonic reading reads
// only the latter. On the virtual machines tandem is measured on each read costs about
// 75ns; a small call reads the time three times across its two sides, once in the
// caller's process.
//
// The hot paths keep times as nanos: an int64 of nanoseconds, the epoch's wall clock
// reading plus the monotonic time since, so that comparing two is one subtraction and
// reading one builds no time.Time. The times at returns carry a monotonic reading, so
// comparisons, deadlines and time.Until use that; their wall clock part is the nanos'. A
// step of the system's wall clock moves neither: the liveness watch cannot take one for
// silence.
type clock struct {
	epoch time.Time
	base  int64 // epoch.UnixNano()
}

func newClock() clock {
	epoch := time.Now()
	return clock{epoch: epoch, base: epoch.UnixNano()}
}

// nanos returns the current time in nanos.
func (c clock) nanos() int64 { return c.base + int64(time.Since(c.epoch)) }

// at returns the time of nanos n, with a monotonic reading.
func (c clock) at(n int64) time.Time { return c.epoch.Add(time.Duration(n - c.base)) }

// nanosOf returns t in nanos, by its monotonic reading if it has one.
func (c clock) nanosOf(t time.Time) int64 { return c.base + int64(t.Sub(c.epoch)) }
