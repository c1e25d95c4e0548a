package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-rpc/tandem"
)

func init() {
	commands["bench"] = command{summary: "call a method under load and report its latency percentiles", run: runBench}
}

// benchFlags are the settings of one load run.
type benchFlags struct {
	callers  int
	duration time.Duration
	count    int
	rate     float64
	codec    string
	timeout  time.Duration
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCLI("bench", "tandem bench [-c callers] [-d duration | -n count] [-rate calls/s] [-codec json|msgpack] [-timeout d] [TLS flags] [-token secret] ADDR Service.Method [ARG...]", stdout, stderr)
	var f benchFlags
	c.fs.IntVar(&f.callers, "c", 1, "concurrent callers, sharing one connection")
	c.fs.DurationVar(&f.duration, "d", 10*time.Second, "how long to run; ignored with -n")
	c.fs.IntVar(&f.count, "n", 0, "make this many calls instead of running for -d")
	c.fs.Float64Var(&f.rate, "rate", 0, "calls per second across all callers; 0 means as fast as they go")
	c.fs.StringVar(&f.codec, "codec", "json", "codec to propose: json or msgpack")
	c.fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "timeout of each call, and of dialing")
	var sec dialSecurity // TLS and token flags, as call and list have
	sec.register(c)
	if code := c.parse(args); code >= 0 {
		return code
	}
	switch {
	case c.fs.NArg() < 2:
		return c.usageError("want an address and a Service.Method")
	case !strings.Contains(c.fs.Arg(1), "."):
		return c.usageError("method %q is not of the form Service.Method", c.fs.Arg(1))
	case f.codec != "json" && f.codec != "msgpack":
		return c.usageError("-codec: want json or msgpack, got %q", f.codec)
	case f.callers <= 0:
		return c.usageError("-c: must be positive")
	case f.count < 0 || f.rate < 0:
		return c.usageError("-n and -rate must not be negative")
	case f.count == 0 && f.duration <= 0:
		return c.usageError("-d: must be positive")
	case f.timeout <= 0:
		return c.usageError("-timeout: must be positive")
	}
	if err := sec.check(); err != nil {
		return c.usageError("%v", err)
	}
	addr, method := c.fs.Arg(0), c.fs.Arg(1)
	callArgs := make([]any, 0, c.fs.NArg()-2)
	for i, a := range c.fs.Args()[2:] {
		v, err := parseArg(a, f.codec)
		if err != nil {
			return c.usageError("argument %d is not JSON: %v (quote strings: '\"text\"')", i+1, err)
		}
		callArgs = append(callArgs, v)
	}

	codec, err := codecByName(f.codec)
	if err != nil {
		return c.fail(err)
	}
	secOpts, err := sec.options()
	if err != nil {
		return c.fail(err)
	}
	dialCtx, cancel := context.WithTimeout(ctx, f.timeout)
	peer, err := tandem.Dial(dialCtx, addr, append(secOpts, tandem.WithCodec(codec))...)
	cancel()
	if err != nil {
		return c.fail(sec.explain(err))
	}
	defer peer.Close()

	// One call first, so that a wrong method or argument fails once, as tandem call would,
	// instead of thousands of times.
	l := &loader{peer: peer, method: method, args: callArgs, flags: f}
	probeCtx, cancel := context.WithTimeout(ctx, f.timeout)
	err = peer.Call(probeCtx, method, l.result(), callArgs...)
	cancel()
	if err != nil {
		return callFailure(c, err)
	}

	stopProgress := progress(stderr, l)
	l.run(ctx)
	stopProgress()
	l.report(stdout)
	if n := l.failed.Load(); n > 0 {
		fmt.Fprintf(stderr, "tandem bench: %d of %d calls failed\n", n, l.done.Load())
		return exitFailure
	}
	return exitOK
}

// loader makes the calls of one run and gathers their outcome.
type loader struct {
	peer   *tandem.Peer
	method string
	args   []any
	flags  benchFlags

	start   time.Time
	end     time.Time // start + -d, when running for a duration
	elapsed time.Duration
	issued  atomic.Int64 // calls claimed by callers, the next call's index
	done    atomic.Int64 // calls completed, failed ones included
	failed  atomic.Int64
	latSum  atomic.Int64 // nanoseconds, for the progress line's mean

	mu     sync.Mutex
	hist   histogram
	errors map[string]int // count per error code
	first  error          // the first failure, shown in the report
}

// result returns a fresh place for a call's result, which is decoded and dropped.
func (l *loader) result() any {
	if l.flags.codec == "json" {
		return new(json.RawMessage)
	}
	return new(any)
}

// run starts the callers and waits for them to finish: after -n calls, after -d, or when
// ctx ends.
func (l *loader) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if l.flags.count == 0 {
		ctx, cancel = context.WithTimeout(ctx, l.flags.duration)
		defer cancel()
	}
	l.errors = map[string]int{}
	var interval time.Duration
	if l.flags.rate > 0 {
		interval = time.Duration(float64(time.Second) / l.flags.rate)
	}
	l.start = time.Now()
	l.end = l.start.Add(l.flags.duration)
	var wg sync.WaitGroup
	for range l.flags.callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.caller(ctx, interval)
		}()
	}
	wg.Wait()
	l.elapsed = time.Since(l.start)
}

// caller makes calls until the run ends. With a rate, call i is due at start + i*interval;
// a call that starts late because earlier ones were slow counts its latency from its due
// time, so that a server falling behind shows in the percentiles instead of only slowing
// the load down.
func (l *loader) caller(ctx context.Context, interval time.Duration) {
	var h histogram
	res := l.result()
	defer func() {
		l.mu.Lock()
		l.hist.merge(&h)
		l.mu.Unlock()
	}()
	// A context's deadline can pass a moment before its Err reports it; calls started in
	// that moment fail at once and must not count.
	over := func() bool { return ctx.Err() != nil || (l.flags.count == 0 && !time.Now().Before(l.end)) }
	for !over() {
		i := l.issued.Add(1) - 1
		if l.flags.count > 0 && i >= int64(l.flags.count) {
			return
		}
		t0 := time.Now()
		if interval > 0 {
			due := l.start.Add(time.Duration(i) * interval)
			if wait := time.Until(due); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					return
				}
				t0 = time.Now() // on time: the timer's own lateness is not the server's
			} else {
				t0 = due // behind: the wait since the due time is part of the latency
			}
		}
		callCtx, cancel := context.WithTimeout(ctx, l.flags.timeout)
		err := l.peer.Call(callCtx, l.method, res, l.args...)
		cancel()
		if err != nil && over() {
			return // the run ended during the call: neither a success nor a failure
		}
		lat := time.Since(t0)
		h.record(lat)
		l.latSum.Add(int64(lat))
		l.done.Add(1)
		if err != nil {
			l.failed.Add(1)
			l.mu.Lock()
			l.errors[tandem.CodeOf(err).String()]++
			if l.first == nil {
				l.first = err
			}
			l.mu.Unlock()
		}
	}
}

// progress reports the run on w as it goes: one line rewritten in place four times a second
// on a terminal, else one line per second. The returned func stops it.
func progress(w io.Writer, l *loader) func() {
	every, tty := time.Second, isTerminal(w)
	if tty {
		every = 250 * time.Millisecond
	}
	quit, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(every)
		defer t.Stop()
		var lastDone, lastSum int64
		last := time.Now()
		for {
			select {
			case <-quit:
				if tty {
					fmt.Fprint(w, "\r\033[K")
				}
				return
			case now := <-t.C:
				done, sum := l.done.Load(), l.latSum.Load()
				line := fmt.Sprintf("%6.1fs  %d calls  %.0f calls/s", now.Sub(l.start).Seconds(), done, float64(done-lastDone)/now.Sub(last).Seconds())
				if done > lastDone {
					line += "  mean " + fmtLatency(time.Duration((sum-lastSum)/(done-lastDone)))
				}
				if n := l.failed.Load(); n > 0 {
					line += fmt.Sprintf("  %d failed", n)
				}
				if tty {
					fmt.Fprint(w, "\r\033[K"+line)
				} else {
					fmt.Fprintln(w, line)
				}
				lastDone, lastSum, last = done, sum, now
			}
		}
	}()
	return func() { close(quit); <-exited }
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// report prints the run's throughput, percentiles and histogram.
func (l *loader) report(w io.Writer) {
	h := &l.hist
	done := l.done.Load()
	fmt.Fprintf(w, "%s: %d calls in %.2fs, %.0f calls/s; %d callers on one connection",
		l.method, done, l.elapsed.Seconds(), float64(done)/l.elapsed.Seconds(), l.flags.callers)
	if l.flags.rate > 0 {
		fmt.Fprintf(w, ", target %.0f calls/s", l.flags.rate)
	}
	fmt.Fprintln(w)
	if n := l.failed.Load(); n > 0 {
		codes := make([]string, 0, len(l.errors))
		for code, k := range l.errors {
			codes = append(codes, fmt.Sprintf("%s ×%d", code, k))
		}
		slices.Sort(codes)
		fmt.Fprintf(w, "failed: %d (%s); first: %s\n", n, strings.Join(codes, ", "), oneLine(l.first.Error()))
	}
	if h.n == 0 {
		return
	}
	fmt.Fprintf(w, "latency: min %s  mean %s  max %s\n", fmtLatency(h.min), fmtLatency(h.sum/time.Duration(h.n)), fmtLatency(h.max))
	for _, q := range []struct {
		name string
		q    float64
	}{{"p50", 0.50}, {"p90", 0.90}, {"p99", 0.99}, {"p99.9", 0.999}} {
		fmt.Fprintf(w, "  %-6s %s\n", q.name, fmtLatency(h.quantile(q.q)))
	}
	fmt.Fprintln(w, "histogram:")
	h.print(w)
}

// fmtLatency prints d with three significant digits.
func fmtLatency(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.3gs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.3gms", d.Seconds()*1e3)
	}
	return fmt.Sprintf("%.3gµs", d.Seconds()*1e6)
}

// histogram counts durations in log-linear buckets: 8 per power of two, so a bucket is at
// most 12.5% wide. Memory is constant however long the run.
type histogram struct {
	counts   [histBuckets]uint64
	n        uint64
	sum      time.Duration
	min, max time.Duration
}

const (
	histSubBits = 3
	histSub     = 1 << histSubBits
	histBuckets = (64 - histSubBits + 1) * histSub
)

// histIndex returns the bucket of v nanoseconds. Values below 2*histSub have a bucket
// each; above, the bucket is the value's power of two and its next histSubBits bits.
func histIndex(v uint64) int {
	if v < 2*histSub {
		return int(v)
	}
	e := bits.Len64(v) - 1
	return (e-histSubBits+1)*histSub + int(v>>(e-histSubBits)&(histSub-1))
}

// histLow returns the smallest value in bucket i.
func histLow(i int) uint64 {
	if i < 2*histSub {
		return uint64(i)
	}
	e := i/histSub + histSubBits - 1
	return uint64(histSub+i%histSub) << (e - histSubBits)
}

func (h *histogram) record(d time.Duration) {
	d = max(d, 0)
	h.counts[histIndex(uint64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	h.max = max(h.max, d)
	h.n++
	h.sum += d
}

func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// quantile returns the middle of the bucket holding the q-th fraction of the values,
// within the observed minimum and maximum.
func (h *histogram) quantile(q float64) time.Duration {
	rank := uint64(q * float64(h.n))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen > rank {
			mid := (histLow(i) + histLow(i+1)) / 2
			return min(max(time.Duration(mid), h.min), h.max)
		}
	}
	return h.max
}

// print draws the histogram with one row per power of two between the fastest and the
// slowest call.
func (h *histogram) print(w io.Writer) {
	type row struct {
		low, high time.Duration
		n         uint64
	}
	var rows []row
	for i, c := range h.counts {
		if c == 0 {
			continue
		}
		low := time.Duration(1) << (bits.Len64(histLow(i)) - 1)
		if histLow(i) == 0 {
			low = 0
		}
		if len(rows) == 0 || rows[len(rows)-1].low != low {
			for len(rows) > 0 && rows[len(rows)-1].high < low { // empty rows in between
				prev := rows[len(rows)-1].high
				rows = append(rows, row{low: prev, high: 2 * prev})
			}
			rows = append(rows, row{low: low, high: max(2*low, 1)})
		}
		rows[len(rows)-1].n += c
	}
	var most uint64
	for _, r := range rows {
		most = max(most, r.n)
	}
	const width = 40
	for _, r := range rows {
		bar := strings.Repeat("#", int((r.n*width+most-1)/most))
		fmt.Fprintf(w, "  %8s – %-8s |%-*s| %d (%.1f%%)\n", fmtLatency(r.low), fmtLatency(r.high), width, bar, r.n, 100*float64(r.n)/float64(h.n))
	}
}
