package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// sample is what one contender did on one workload in one round.
type sample struct {
	Calls   int64         `json:"calls"`
	Elapsed time.Duration `json:"elapsed_ns"`
	Rate    float64       `json:"rate"` // calls/s, or MB/s for the echo workloads
	P50     time.Duration `json:"p50_ns"`
	P99     time.Duration `json:"p99_ns"`
	// Allocs and Bytes are per call, in the client process (the allocs workload only).
	Allocs float64 `json:"allocs,omitempty"`
	Bytes  float64 `json:"bytes,omitempty"`
	// Bulk is the 4 MiB echo's own MB/s while the small calls ran (the hol workload only):
	// what the large transfer gives up for the small calls' promptness.
	Bulk float64 `json:"bulk_mbps,omitempty"`
}

// workload is one way of loading a contender.
type workload struct {
	name  string
	unit  string // of sample.Rate
	about string
	run   func(ctx context.Context, c contender, addr string, o *options) (sample, error)
	// all, if set, runs the workload on every contender at once, in place of run; cs is
	// in the round's order, and addrs maps a contender's server to its address.
	all func(ctx context.Context, cs []contender, addrs map[string]string, o *options) ([]sample, error)
}

const (
	concCallers  = 64
	connsConns   = 8
	connsCallers = 16
)

var workloads = []workload{
	{name: "seq", unit: "calls/s", about: "one caller, sequential small calls", all: func(ctx context.Context, cs []contender, addrs map[string]string, o *options) ([]sample, error) {
		return takeTurns(ctx, cs, addrs, o.duration, o.turn, 1, 1, smallCall)
	}},
	{name: "conc", unit: "calls/s", about: fmt.Sprintf("%d callers sharing one connection", concCallers), all: func(ctx context.Context, cs []contender, addrs map[string]string, o *options) ([]sample, error) {
		return takeTurns(ctx, cs, addrs, o.duration, o.turn, 1, concCallers, smallCall)
	}},
	{name: "conns", unit: "calls/s", about: fmt.Sprintf("%d connections x %d callers", connsConns, connsCallers), all: func(ctx context.Context, cs []contender, addrs map[string]string, o *options) ([]sample, error) {
		return takeTurns(ctx, cs, addrs, o.duration, o.turn, connsConns, connsCallers, smallCall)
	}},
	{"echo64k", "MB/s", "sequential 64 KiB echo", func(ctx context.Context, c contender, addr string, o *options) (sample, error) {
		return echo(ctx, c, addr, o.duration, 64<<10)
	}, nil},
	{"echo4m", "MB/s", "sequential 4 MiB echo", func(ctx context.Context, c contender, addr string, o *options) (sample, error) {
		return echo(ctx, c, addr, o.duration, 4<<20)
	}, nil},
	{"hol", "calls/s", "sequential small calls while a 4 MiB echo loops on the same connection", headOfLine, nil},
	{"allocs", "", "client-side allocations per sequential small call", allocs, nil},
}

func workloadNames() []string {
	names := make([]string, len(workloads))
	for i, w := range workloads {
		names[i] = w.name
	}
	return names
}

func workloadByName(name string) workload {
	for _, w := range workloads {
		if w.name == name {
			return w
		}
	}
	panic("unknown workload " + name)
}

// op is one call made by caller number worker, for the n-th time.
type op func(ctx context.Context, c client, worker, n int) error

func smallCall(ctx context.Context, c client, worker, n int) error {
	a := int64(worker)<<32 | int64(n)
	sum, err := c.Add(ctx, a, 1000)
	if err == nil && sum != a+1000 {
		err = fmt.Errorf("Add(%d, 1000) = %d", a, sum)
	}
	return err
}

func echoCall(payload []byte) op {
	return func(ctx context.Context, c client, _, _ int) error {
		out, err := c.Echo(ctx, payload)
		if err == nil && (len(out) != len(payload) || out[len(out)-1] != payload[len(payload)-1]) {
			err = fmt.Errorf("echo of %d bytes returned %d", len(payload), len(out))
		}
		return err
	}
}

func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// dialAll opens conns connections; shared says whether callers share each one.
func dialAll(ctx context.Context, c contender, addr string, conns int, shared bool) ([]client, func(), error) {
	var cls []client
	closeAll := func() {
		for _, cl := range cls {
			cl.Close()
		}
	}
	for range conns {
		cl, err := c.dial(ctx, addr, shared)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("dial: %w", err)
		}
		cls = append(cls, cl)
	}
	return cls, closeAll, nil
}

// warmup is how long callers run before measuring: connections established, buffers grown,
// contracts checked, the server's goroutines started.
func warmup(d time.Duration) time.Duration { return min(d/5, 200*time.Millisecond) }

// drive runs perConn callers on each of conns connections making calls with f, first for
// the warm-up and then for d, and measures the second part.
func drive(ctx context.Context, c contender, addr string, d time.Duration, conns, perConn int, f op) (sample, error) {
	cls, closeAll, err := dialAll(ctx, c, addr, conns, conns*perConn > 1)
	if err != nil {
		return sample{}, err
	}
	defer closeAll()
	if _, err := callers(ctx, cls, perConn, warmup(d), f); err != nil {
		return sample{}, err
	}
	r, err := callers(ctx, cls, perConn, d, f)
	if err != nil {
		return sample{}, err
	}
	return r.sample(nil), nil
}

// defaultTurn is how long each contender calls at a time in the seq, conc and conns workloads. On
// the shared 2-core machine the suite runs on, the rate a contender gets drifts by a third
// and more over seconds (raw TCP alone ran at 20-27k sequential calls/s in consecutive 2s
// runs), which made the ratio of two contenders measured a few seconds apart swing as
// much; turns this short put every contender through the same spells.
const defaultTurn = 50 * time.Millisecond

// turnOrders returns the order of each cycle of turns among n contenders: a new
// permutation per cycle, the same sequence in every run.
func turnOrders(n, perConn int) func() []int {
	rng := rand.New(rand.NewPCG(uint64(n), uint64(perConn)))
	return func() []int { return rng.Perm(n) }
}

// takeTurns runs f from perConn callers on each of conns connections per contender, the
// contenders taking turns of the given length until each has called for d (after a
// warm-up each), and returns each contender's calls over its turns, in the order of cs.
func takeTurns(ctx context.Context, cs []contender, addrs map[string]string, d, turn time.Duration, conns, perConn int, f op) ([]sample, error) {
	cls := make([][]client, len(cs))
	for i, c := range cs {
		var closeAll func()
		var err error
		if cls[i], closeAll, err = dialAll(ctx, c, addrs[c.server], conns, conns*perConn > 1); err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		defer closeAll()
		if _, err := callers(ctx, cls[i], perConn, warmup(d), f); err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
	}
	turns := make([]runResult, len(cs))
	// Each cycle of turns runs the contenders in a new order: a turn pays for some of what
	// the turn before it left behind, and in a fixed order the contender after tandem-gob
	// was about 0.06-0.1 of raw TCP's rate slower in seq than the same contender fourth, after
	// gRPC-Go (bench/README.md). The orders are the same from run to run.
	order := turnOrders(len(cs), perConn)
	for ran := time.Duration(0); ran < d; ran += turn {
		for _, i := range order() {
			r, err := callers(ctx, cls[i], perConn, turn, f)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", cs[i].name, err)
			}
			turns[i].elapsed += r.elapsed
			turns[i].lats = append(turns[i].lats, r.lats...)
		}
	}
	out := make([]sample, len(cs))
	for i, t := range turns {
		out[i] = t.sample(nil)
	}
	return out, nil
}

// run is the outcome of one timed batch of callers.
type runResult struct {
	elapsed time.Duration
	lats    [][]time.Duration // per caller
}

// sample summarizes the run; only callers for which keep reports true count (nil: all).
func (r runResult) sample(keep func(worker int) bool) sample {
	var all []time.Duration
	for i, l := range r.lats {
		if keep == nil || keep(i) {
			all = append(all, l...)
		}
	}
	slices.Sort(all)
	s := sample{Calls: int64(len(all)), Elapsed: r.elapsed}
	s.Rate = float64(s.Calls) / r.elapsed.Seconds()
	s.P50, s.P99 = quantile(all, 0.50), quantile(all, 0.99)
	return s
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// callers runs perConn goroutines per client, each making calls with f until d has passed
// (at least one call each), and records every call's latency.
func callers(ctx context.Context, cls []client, perConn int, d time.Duration, f op) (runResult, error) {
	n := len(cls) * perConn
	res := runResult{lats: make([][]time.Duration, n)}
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := time.Now()
	timer := time.AfterFunc(d, func() { stop.Store(true) })
	defer timer.Stop()
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := cls[w/perConn]
			lats := make([]time.Duration, 0, 4096)
			for i := 0; ; i++ {
				t0 := time.Now()
				if err := f(ctx, cl, w, i); err != nil {
					errs[w] = err
					stop.Store(true)
					break
				}
				lats = append(lats, time.Since(t0))
				if stop.Load() {
					break
				}
			}
			res.lats[w] = lats
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res, errors.Join(errs...)
}

// echo measures sequential echoes of size bytes, in MB/s of payload sent (each byte also
// comes back).
func echo(ctx context.Context, c contender, addr string, d time.Duration, size int) (sample, error) {
	s, err := drive(ctx, c, addr, d, 1, 1, echoCall(payload(size)))
	s.Rate = s.Rate * float64(size) / 1e6
	return s, err
}

// headOfLine measures small sequential calls while another caller echoes 4 MiB back and
// forth on the same connection. The rate and percentiles are the small calls'.
func headOfLine(ctx context.Context, c contender, addr string, o *options) (sample, error) {
	cls, closeAll, err := dialAll(ctx, c, addr, 1, true)
	if err != nil {
		return sample{}, err
	}
	defer closeAll()
	big := echoCall(payload(bigEcho))
	f := func(ctx context.Context, c client, worker, n int) error {
		if worker == 0 {
			return big(ctx, c, worker, n)
		}
		return smallCall(ctx, c, worker, n)
	}
	if _, err := callers(ctx, cls, 2, warmup(o.duration), f); err != nil {
		return sample{}, err
	}
	r, err := callers(ctx, cls, 2, o.duration, f)
	if err != nil {
		return sample{}, err
	}
	s := r.sample(func(w int) bool { return w == 1 })
	s.Bulk = float64(len(r.lats[0])) * float64(bigEcho) / 1e6 / r.elapsed.Seconds()
	return s, nil
}

// bigEcho is the payload of the hol workload's large echo.
const bigEcho = 4 << 20

// allocs counts the client process's allocations over sequential small calls.
func allocs(ctx context.Context, c contender, addr string, o *options) (sample, error) {
	cls, closeAll, err := dialAll(ctx, c, addr, 1, false)
	if err != nil {
		return sample{}, err
	}
	defer closeAll()
	cl := cls[0]
	for i := range 200 {
		if err := smallCall(ctx, cl, 1, i); err != nil {
			return sample{}, err
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	for i := range o.allocCalls {
		if err := smallCall(ctx, cl, 1, i); err != nil {
			return sample{}, err
		}
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	n := float64(o.allocCalls)
	return sample{
		Calls:   int64(o.allocCalls),
		Elapsed: elapsed,
		Rate:    n / elapsed.Seconds(),
		Allocs:  float64(after.Mallocs-before.Mallocs) / n,
		Bytes:   float64(after.TotalAlloc-before.TotalAlloc) / n,
	}, nil
}

// results holds every sample of a run of the suite.
type results struct {
	Started    time.Time     `json:"started"`
	Machine    machine       `json:"machine"`
	Duration   time.Duration `json:"duration_ns"`
	Rounds     int           `json:"rounds"`
	Contenders []string      `json:"contenders"`
	Workloads  []string      `json:"workloads"`
	// Samples[workload][contender] has one sample per round.
	Samples map[string]map[string][]sample `json:"samples"`
}

// runRounds runs every workload on every contender, o.rounds times, rotating the order of
// the contenders each round.
func runRounds(ctx context.Context, o *options, addrs map[string]string, progress func(string, ...any)) (*results, error) {
	res := &results{
		Started: time.Now(), Duration: o.duration, Rounds: o.rounds,
		Contenders: o.contenders, Workloads: o.workloads,
		Samples: map[string]map[string][]sample{},
	}
	for _, w := range o.workloads {
		res.Samples[w] = map[string][]sample{}
	}
	for round := range o.rounds {
		order := make([]string, len(o.contenders))
		for i := range order {
			order[i] = o.contenders[(i+round)%len(o.contenders)]
		}
		for _, wname := range o.workloads {
			w := workloadByName(wname)
			if w.all != nil {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				cs := make([]contender, len(order))
				for i, cname := range order {
					cs[i] = contenderByName(cname)
				}
				ss, err := w.all(ctx, cs, addrs, o)
				if err != nil {
					return nil, fmt.Errorf("round %d, %s: %w", round+1, wname, err)
				}
				for i, s := range ss {
					res.Samples[wname][order[i]] = append(res.Samples[wname][order[i]], s)
					progress("round %d/%d  %-8s %-15s %s", round+1, o.rounds, wname, order[i], s.brief(w))
				}
				continue
			}
			for _, cname := range order {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				c := contenderByName(cname)
				s, err := w.run(ctx, c, addrs[c.server], o)
				if err != nil {
					return nil, fmt.Errorf("round %d, %s, %s: %w", round+1, wname, cname, err)
				}
				res.Samples[wname][cname] = append(res.Samples[wname][cname], s)
				progress("round %d/%d  %-8s %-15s %s", round+1, o.rounds, wname, cname, s.brief(w))
			}
		}
	}
	return res, nil
}

// brief is one progress line's worth of s.
func (s sample) brief(w workload) string {
	switch w.name {
	case "allocs":
		return fmt.Sprintf("%.1f allocs/call, %.0f B/call", s.Allocs, s.Bytes)
	case "echo64k", "echo4m":
		return fmt.Sprintf("%.0f MB/s", s.Rate)
	}
	return fmt.Sprintf("%.0f calls/s  p50 %v  p99 %v", s.Rate, s.P50, s.P99)
}
