// Command tandembench measures tandem against the raw TCP floor, net/rpc and gRPC-Go, with
// the client and the servers in separate processes on loopback.
//
// Usage (from the bench module):
//
//	go run ./cmd/tandembench               # full run: 3 interleaved rounds, about 2.5 minutes
//	go run ./cmd/tandembench -quick        # smoke run, about 20 seconds
//	go run ./cmd/tandembench -d 2s -rounds 5 -contenders rawtcp,tandem-msgpack
//
// It re-executes itself as the server process, then runs every workload against every
// contender, round after round, rotating the order each round so that drift in the machine
// hits all alike. It prints a markdown report (medians over rounds, ratios to rawtcp and to
// the best of net/rpc and gRPC-Go, the issue 4 targets) and writes it, with an SVG chart and
// the raw samples as JSON, to the -out directory.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	"time"
)

// roleEnv tells a re-executed copy of the program to be the server.
const roleEnv = "TANDEMBENCH_ROLE"

func main() {
	if os.Getenv(roleEnv) == "server" {
		os.Exit(serverMain(os.Stdin, os.Stdout, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the command line's settings.
type options struct {
	duration   time.Duration
	rounds     int
	allocCalls int
	contenders []string
	workloads  []string
	out        string
	label      string
	cpuProfile string
	memProfile string
	quiet      bool
	turn       time.Duration
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("tandembench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	quick := fs.Bool("quick", false, "smoke run: -d 150ms -rounds 2, report named DATE-quick")
	fs.DurationVar(&o.duration, "d", time.Second, "measured duration of each contender on each workload, per round")
	fs.DurationVar(&o.turn, "turn", defaultTurn, "how long each contender calls at a time in the seq, conc and conns workloads")
	fs.IntVar(&o.rounds, "rounds", 3, "interleaved rounds; the report shows medians over rounds")
	fs.IntVar(&o.allocCalls, "alloccalls", 2000, "sequential small calls per allocation measurement")
	cs := fs.String("contenders", "", "comma-separated contenders to run (default all: "+strings.Join(contenderNames(), ",")+")")
	ws := fs.String("workloads", "", "comma-separated workloads to run (default all: "+strings.Join(workloadNames(), ",")+")")
	fs.StringVar(&o.out, "out", "results", "directory for the report, chart and samples; empty: print only")
	fs.StringVar(&o.label, "label", "", "file name stem in -out (default today's date, with -quick appended in quick mode)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write the client process's CPU profile to this file")
	fs.StringVar(&o.memProfile, "memprofile", "", "write the client process's allocation profile to this file")
	fs.BoolVar(&o.quiet, "q", false, "no progress lines on stderr")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *quick {
		o.duration, o.rounds, o.allocCalls = 150*time.Millisecond, 2, 500
	}
	if o.label == "" {
		o.label = time.Now().Format("2006-01-02")
		if *quick {
			o.label += "-quick"
		}
	}
	if o.duration <= 0 || o.rounds <= 0 || o.allocCalls <= 0 {
		return nil, errors.New("-d, -rounds and -alloccalls must be positive")
	}
	var err error
	if o.contenders, err = pick("contender", *cs, contenderNames()); err != nil {
		return nil, err
	}
	if o.workloads, err = pick("workload", *ws, workloadNames()); err != nil {
		return nil, err
	}
	return o, nil
}

// pick splits a comma-separated selection, checking each name; empty means all.
func pick(what, list string, all []string) ([]string, error) {
	if list == "" {
		return all, nil
	}
	var out []string
	for _, name := range strings.Split(list, ",") {
		if !slices.Contains(all, name) {
			return nil, fmt.Errorf("unknown %s %q (want one of %s)", what, name, strings.Join(all, ", "))
		}
		out = append(out, name)
	}
	return out, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "tandembench:", err)
		return 2
	}
	if err := bench(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "tandembench:", err)
		return 1
	}
	return 0
}

func bench(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	srv, err := startServer(ctx)
	if err != nil {
		return err
	}
	defer srv.stop()

	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	progress := func(format string, args ...any) {
		if !o.quiet {
			fmt.Fprintf(stderr, format+"\n", args...)
		}
	}
	res, err := runRounds(ctx, o, srv.addrs, progress)
	if err != nil {
		return err
	}
	res.Machine = describeMachine()

	if o.memProfile != "" {
		if err := writeHeapProfile(o.memProfile); err != nil {
			return err
		}
	}
	report := res.markdown()
	if _, err := io.WriteString(stdout, report); err != nil {
		return err
	}
	if o.out != "" {
		paths, err := res.save(o.out, o.label, report)
		if err != nil {
			return err
		}
		progress("wrote %s", strings.Join(paths, ", "))
	}
	return nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("allocs").WriteTo(f, 0)
}
