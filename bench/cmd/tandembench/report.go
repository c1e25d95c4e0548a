package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// median returns the median of f over the samples of one contender on one workload, and
// whether there were any.
func (r *results) median(wname, cname string, f func(sample) float64) (float64, bool) {
	ss := r.Samples[wname][cname]
	if len(ss) == 0 {
		return 0, false
	}
	vs := make([]float64, len(ss))
	for i, s := range ss {
		vs[i] = f(s)
	}
	slices.Sort(vs)
	if len(vs)%2 == 1 {
		return vs[len(vs)/2], true
	}
	return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2, true
}

func rate(s sample) float64    { return s.Rate }
func p50(s sample) float64     { return float64(s.P50) }
func p99(s sample) float64     { return float64(s.P99) }
func nallocs(s sample) float64 { return s.Allocs }
func nbytes(s sample) float64  { return s.Bytes }
func bulk(s sample) float64    { return s.Bulk }

func (r *results) has(wname string) bool { return slices.Contains(r.Workloads, wname) }

// column is one column of the main table.
type column struct {
	workload, title string
	cell            func(r *results, cname string) string
}

func rateColumn(wname, title string) column {
	return column{wname, title, func(r *results, c string) string {
		v, ok := r.median(wname, c, rate)
		if !ok {
			return "–"
		}
		return fmtRate(v)
	}}
}

func latColumn(wname, title string, f func(sample) float64) column {
	return column{wname, title, func(r *results, c string) string {
		v, ok := r.median(wname, c, f)
		if !ok {
			return "–"
		}
		return fmtDur(time.Duration(v))
	}}
}

var columns = []column{
	rateColumn("seq", "seq calls/s"),
	latColumn("seq", "seq p50", p50),
	latColumn("seq", "seq p99", p99),
	rateColumn("conc", "conc calls/s"),
	latColumn("conc", "conc p99", p99),
	rateColumn("conns", "conns calls/s"),
	latColumn("conns", "conns p99", p99),
	rateColumn("echo64k", "echo64k MB/s"),
	rateColumn("echo4m", "echo4m MB/s"),
	{"hol", "hol p99 (× seq p99)", func(r *results, c string) string {
		v, ok := r.median("hol", c, p99)
		if !ok {
			return "–"
		}
		s := fmtDur(time.Duration(v))
		if idle, ok := r.median("seq", c, p99); ok && idle > 0 {
			s += fmt.Sprintf(" (%.1f×)", v/idle)
		}
		return s
	}},
	{"hol", "hol echo MB/s", func(r *results, c string) string {
		v, ok := r.median("hol", c, bulk)
		if !ok {
			return "–"
		}
		return fmtRate(v)
	}},
	{"allocs", "allocs/call", func(r *results, c string) string {
		v, ok := r.median("allocs", c, nallocs)
		if !ok {
			return "–"
		}
		return fmt.Sprintf("%.1f", v)
	}},
	{"allocs", "B/call", func(r *results, c string) string {
		v, ok := r.median("allocs", c, nbytes)
		if !ok {
			return "–"
		}
		return fmt.Sprintf("%.0f", v)
	}},
}

// ratioWorkloads are the workloads whose rates the ratio table compares.
var ratioWorkloads = []string{"seq", "conc", "conns", "echo64k", "echo4m"}

// bestOther returns the best median rate on wname among the frameworks tandem must beat.
func (r *results) bestOther(wname string) (float64, bool) {
	best, found := 0.0, false
	for _, c := range r.Contenders {
		if contenderByName(c).kind != kindOther {
			continue
		}
		if v, ok := r.median(wname, c, rate); ok {
			best, found = max(best, v), true
		}
	}
	return best, found
}

// ratio returns cname's median rate on wname over rawtcp's and over the best other
// framework's; NaN where a side is missing.
func (r *results) ratio(wname, cname string) (floor, other float64) {
	floor, other = math.NaN(), math.NaN()
	v, ok := r.median(wname, cname, rate)
	if !ok {
		return
	}
	if f, ok := r.median(wname, "rawtcp", rate); ok && f > 0 {
		floor = v / f
	}
	if b, ok := r.bestOther(wname); ok && b > 0 {
		other = v / b
	}
	return
}

func fmtRatio(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.2f", v)
}

func fmtRate(v float64) string {
	switch {
	case v >= 10000:
		return fmt.Sprintf("%.1fk", v/1000)
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0fms", d.Seconds()*1e3)
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1fms", d.Seconds()*1e3)
	}
	return fmt.Sprintf("%.0fµs", d.Seconds()*1e6)
}

// markdown renders the report.
func (r *results) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# tandem benchmarks, %s\n\n", r.Started.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "Machine: %s.\n\n", r.Machine)
	fmt.Fprintf(&b, "%d interleaved rounds of %v per contender and workload (after a warm-up), client and server in separate processes on loopback; every figure is the median over rounds. Client-side allocations come from runtime.MemStats deltas over sequential small calls.\n\n", r.Rounds, r.Duration)
	b.WriteString("Workloads:")
	for _, w := range r.Workloads {
		fmt.Fprintf(&b, " `%s` %s;", w, workloadByName(w).about)
	}
	b.WriteString(" small calls are Add(int64, int64) int64, echoes count payload bytes sent per second.\n\n")

	var cols []column
	for _, c := range columns {
		if r.has(c.workload) {
			cols = append(cols, c)
		}
	}
	b.WriteString("## Results\n\n| contender |")
	for _, c := range cols {
		b.WriteString(" " + c.title + " |")
	}
	b.WriteString("\n|---|" + strings.Repeat("---:|", len(cols)) + "\n")
	for _, cname := range r.Contenders {
		b.WriteString("| " + cname + " |")
		for _, c := range cols {
			b.WriteString(" " + c.cell(r, cname) + " |")
		}
		b.WriteString("\n")
	}

	var rws []string
	for _, w := range ratioWorkloads {
		if r.has(w) {
			rws = append(rws, w)
		}
	}
	if len(rws) > 0 {
		b.WriteString("\n## Ratios\n\nEach cell: rate ÷ rawtcp's / rate ÷ the best of net/rpc and gRPC-Go's.\n\n| contender |")
		for _, w := range rws {
			b.WriteString(" " + w + " |")
		}
		b.WriteString("\n|---|" + strings.Repeat("---:|", len(rws)) + "\n")
		for _, cname := range r.Contenders {
			b.WriteString("| " + cname + " |")
			for _, w := range rws {
				f, o := r.ratio(w, cname)
				b.WriteString(" " + fmtRatio(f) + " / " + fmtRatio(o) + " |")
			}
			b.WriteString("\n")
		}
	}
	r.targets(&b)
	return b.String()
}

// targets renders issue 4's targets for each tandem contender.
func (r *results) targets(b *strings.Builder) {
	// The targets are for the default codec, reflective and generated.
	var tcs []string
	for _, c := range r.Contenders {
		if c == "tandem-msgpack" || c == "tandem-gen" {
			tcs = append(tcs, c)
		}
	}
	if len(tcs) == 0 {
		return
	}
	verdict := func(v float64, ok bool, text string) string {
		if math.IsNaN(v) {
			return "–"
		}
		if ok {
			return text + " met"
		}
		return text + " **missed**"
	}
	// pair renders a ratio to rawtcp and one to the best other framework, which a run
	// without net/rpc and gRPC lacks: the target is then judged against rawtcp alone.
	pair := func(f, o float64) string {
		if math.IsNaN(o) {
			return fmt.Sprintf("%.2f× / – (no other framework in this run)", f)
		}
		return fmt.Sprintf("%.2f× / %.2f×", f, o)
	}
	type target struct {
		name  string
		check func(cname string) string
	}
	targets := []target{
		{"seq ≥ 0.85 × rawtcp, ahead of every other framework", func(c string) string {
			f, o := r.ratio("seq", c)
			return verdict(f, f >= 0.85 && (math.IsNaN(o) || o > 1), pair(f, o))
		}},
		{"conc ≥ 0.6 × rawtcp, ≥ 2 × best of net/rpc and gRPC", func(c string) string {
			f, o := r.ratio("conc", c)
			return verdict(f, f >= 0.6 && (math.IsNaN(o) || o >= 2), pair(f, o))
		}},
		{"echo64k ≥ 0.8 × rawtcp", func(c string) string {
			f, _ := r.ratio("echo64k", c)
			return verdict(f, f >= 0.8, fmt.Sprintf("%.2f×", f))
		}},
		{"echo4m ≥ 0.8 × rawtcp", func(c string) string {
			f, _ := r.ratio("echo4m", c)
			return verdict(f, f >= 0.8, fmt.Sprintf("%.2f×", f))
		}},
		{"allocs/call ≤ 5 reflective, ≤ 3 generated", func(c string) string {
			v, ok := r.median("allocs", c, nallocs)
			if !ok {
				return "–"
			}
			limit := 5.0
			if c == "tandem-gen" {
				limit = 3
			}
			v = math.Round(v*10) / 10 // background allocations of the runtime are noise
			return verdict(v, v <= limit, fmt.Sprintf("%.1f", v))
		}},
		{"small-call p99 during a 4 MiB echo ≤ 3 × idle p99", func(c string) string {
			hol, ok1 := r.median("hol", c, p99)
			idle, ok2 := r.median("seq", c, p99)
			if !ok1 || !ok2 || idle == 0 {
				return "–"
			}
			return verdict(hol, hol <= 3*idle, fmt.Sprintf("%.1f×", hol/idle))
		}},
	}
	b.WriteString("\n## Targets (issue 4)\n\n| target |")
	for _, c := range tcs {
		b.WriteString(" " + c + " |")
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(tcs)) + "\n")
	for _, t := range targets {
		b.WriteString("| " + t.name + " |")
		for _, c := range tcs {
			b.WriteString(" " + t.check(c) + " |")
		}
		b.WriteString("\n")
	}
}

// save writes the report, the chart and the samples to dir as label.md, label.svg and
// label.json, and returns their paths.
func (r *results) save(dir, label, report string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	base := filepath.Join(dir, label)
	report += fmt.Sprintf("\n![calls/s and MB/s per contender and workload](%s.svg)\n", label)
	samples, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	files := []struct {
		path string
		data []byte
	}{
		{base + ".md", []byte(report)},
		{base + ".svg", []byte(r.svg())},
		{base + ".json", append(samples, '\n')},
	}
	var paths []string
	for _, f := range files {
		if err := os.WriteFile(f.path, f.data, 0o644); err != nil {
			return nil, err
		}
		paths = append(paths, f.path)
	}
	return paths, nil
}
