package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) == "server" {
		// The test binary re-executed as the benchmark's server process.
		os.Exit(serverMain(os.Stdin, os.Stdout, os.Stderr))
	}
	goleak.VerifyTestMain(m)
}

// TestSuiteSmoke runs every contender on every workload briefly, in separate processes as
// a real run does, and checks the report and the files written.
func TestSuiteSmoke(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	var stdout, stderr strings.Builder
	args := []string{"-d", "20ms", "-rounds", "1", "-alloccalls", "100", "-q", "-out", dir, "-label", "smoke"}
	if code := run(ctx, args, &stdout, &stderr); code != 0 {
		t.Fatalf("run exited %d: %s", code, stderr.String())
	}
	report := stdout.String()
	for _, want := range append(contenderNames(), "## Results", "## Ratios", "## Targets (issue 4)") {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	for _, ext := range []string{".md", ".svg", ".json"} {
		b, err := os.ReadFile(filepath.Join(dir, "smoke"+ext))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			t.Errorf("smoke%s is empty", ext)
		}
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-contenders", "rawtcp,nosuch"},
		{"-workloads", "seq,nosuch"},
		{"-d", "0s"},
		{"extra"},
	} {
		var stdout, stderr strings.Builder
		if code := run(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("run(%q) = %d, want 2; stderr: %s", args, code, stderr.String())
		}
	}
}

// TestTargetsWithoutOtherFrameworks pins the report of a run that left net/rpc and gRPC
// out: the seq and conc targets used to read "NaN×" and count as missed whatever tandem did.
func TestTargetsWithoutOtherFrameworks(t *testing.T) {
	r := &results{
		Contenders: []string{"rawtcp", "tandem-msgpack"},
		Workloads:  []string{"seq", "conc"},
		Samples: map[string]map[string][]sample{
			"seq":  {"rawtcp": {{Rate: 1000}}, "tandem-msgpack": {{Rate: 900}}},
			"conc": {"rawtcp": {{Rate: 1000}}, "tandem-msgpack": {{Rate: 500}}},
		},
	}
	var b strings.Builder
	r.targets(&b)
	got := b.String()
	if strings.Contains(got, "NaN") {
		t.Errorf("targets print NaN:\n%s", got)
	}
	for _, want := range []string{
		"| seq ≥ 0.85 × rawtcp, ahead of every other framework | 0.90× / – (no other framework in this run) met |",
		"| conc ≥ 0.6 × rawtcp, ≥ 2 × best of net/rpc and gRPC | 0.50× / – (no other framework in this run) **missed** |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("targets lack %q:\n%s", want, got)
		}
	}
}

// turnClient is a contender's connection that records, in a log shared by all, whose turn
// each call was.
type turnClient struct {
	name string
	mu   *sync.Mutex
	log  *[]string
}

func (c turnClient) Add(_ context.Context, a, b int64) (int64, error) {
	c.mu.Lock()
	if n := len(*c.log); n == 0 || (*c.log)[n-1] != c.name {
		*c.log = append(*c.log, c.name)
	}
	c.mu.Unlock()
	return a + b, nil
}

func (c turnClient) Echo(_ context.Context, b []byte) ([]byte, error) { return b, nil }
func (c turnClient) Close() error                                     { return nil }

// TestTurnOrdersVary checks that every contender takes every place in the order of a cycle,
// so that none always follows the same one.
func TestTurnOrdersVary(t *testing.T) {
	const n = 7
	order := turnOrders(n, 1)
	var seen [n][n]bool // seen[contender][place]
	for range 100 {
		perm := order()
		if len(perm) != n {
			t.Fatalf("order %v has %d places, want %d", perm, len(perm), n)
		}
		for place, c := range perm {
			seen[c][place] = true
		}
	}
	for c := range n {
		for place := range n {
			if !seen[c][place] {
				t.Errorf("contender %d never took place %d in 100 cycles", c, place)
			}
		}
	}
	again := turnOrders(n, 1)
	if a, b := turnOrders(n, 1)(), again(); !slices.Equal(a, b) {
		t.Errorf("first orders %v and %v differ between runs", a, b)
	}
}

// TestSeqTakesTurns checks that the seq workload (as conc and conns) alternates the contenders in turns,
// rather than running one after another, and gives each about the same measured time.
func TestSeqTakesTurns(t *testing.T) {
	var mu sync.Mutex
	var log []string
	var cs []contender
	for _, name := range []string{"a", "b"} {
		cs = append(cs, contender{name: name, dial: func(context.Context, string, bool) (client, error) {
			return turnClient{name: name, mu: &mu, log: &log}, nil
		}})
	}
	d := 3 * defaultTurn
	ss, err := takeTurns(context.Background(), cs, nil, d, defaultTurn, 1, 1, smallCall)
	if err != nil {
		t.Fatal(err)
	}
	// The warm-ups come first, one contender after the other: a, b; then a turn each, 3
	// times, in the orders turnOrders gives (a contender's turns in a row show once).
	want := []string{"a", "b"}
	order := turnOrders(2, 1)
	for range 3 {
		for _, i := range order() {
			if name := cs[i].name; want[len(want)-1] != name {
				want = append(want, name)
			}
		}
	}
	if !slices.Equal(log, want) {
		t.Errorf("turns went %v, want %v", log, want)
	}
	for i, s := range ss {
		if s.Calls == 0 || s.Elapsed < d {
			t.Errorf("%s: %d calls in %v, want some in at least %v", cs[i].name, s.Calls, s.Elapsed, d)
		}
	}
}
