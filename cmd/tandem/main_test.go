package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// tandemBin is the CLI built once for every test; raceEnabled builds it with -race too,
// so a data race in a child process fails its test.
var (
	tandemBin   string
	raceEnabled bool
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tandem-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tandemBin = filepath.Join(dir, "tandem")
	args := []string{"build", "-o", tandemBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	// The race runtime sleeps a second at exit unless told not to.
	os.Setenv("GORACE", "atexit_sleep_ms=0 "+os.Getenv("GORACE"))
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building tandem: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		os.RemoveAll(dir)
		os.Exit(code)
	}))
}

// result is how a finished tandem process ended.
type result struct {
	stdout, stderr string
	code           int
}

// runTandem runs the CLI with args to completion.
func runTandem(t *testing.T, args ...string) result {
	t.Helper()
	return runTandemEnv(t, nil, args...)
}

// runTandemEnv runs the CLI with args to completion, with env ("KEY=value") added to the
// test's environment.
func runTandemEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tandemBin, args...)
	cmd.Env = childEnv(env)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("tandem %s: %v", strings.Join(args, " "), err)
		}
		r.code = ee.ExitCode()
	}
	return r
}

// server is a running 'tandem serve' process.
type server struct {
	addr   string
	cmd    *exec.Cmd
	stdout *bufio.Scanner
	stderr lockedBuffer
}

// lockedBuffer is a bytes.Buffer that a test may read while a child process writes to it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// childEnv is the environment of a child process: the test's, without a token a developer
// may have set, plus env.
func childEnv(env []string) []string {
	out := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, tokenEnv+"=") })
	return append(out, env...)
}

// startServe starts 'tandem serve' with args and waits for its "serving on" line, which
// carries the address to dial. The server is interrupted and checked at cleanup.
func startServe(t *testing.T, args ...string) *server {
	t.Helper()
	return startServeEnv(t, nil, args...)
}

// startServeEnv is [startServe] with env added to the server's environment.
func startServeEnv(t *testing.T, env []string, args ...string) *server {
	t.Helper()
	s := &server{cmd: exec.Command(tandemBin, append([]string{"serve"}, args...)...)}
	s.cmd.Env = childEnv(env)
	s.cmd.Stderr = &s.stderr
	s.cmd.WaitDelay = 10 * time.Second
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.stdout = bufio.NewScanner(out)
	if !s.stdout.Scan() {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		t.Fatalf("tandem serve %s: no output; stderr: %s", strings.Join(args, " "), s.stderr.String())
	}
	line := s.stdout.Text()
	addr, ok := strings.CutPrefix(line, "serving on ")
	if !ok {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		t.Fatalf("tandem serve: first line %q, want \"serving on ADDR\"", line)
	}
	s.addr = addr
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop interrupts the server and checks that it shut down cleanly.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Errorf("interrupting tandem serve: %v", err)
	}
	var rest []string
	for s.stdout.Scan() {
		rest = append(rest, s.stdout.Text())
	}
	if err := s.cmd.Wait(); err != nil {
		t.Errorf("tandem serve exited with %v; stderr: %s", err, s.stderr.String())
	}
	if got := strings.Join(rest, "\n"); got != "shut down" {
		t.Errorf("tandem serve printed %q after interrupt, want %q", got, "shut down")
	}
}

// wantOneLine checks that a failed command printed exactly one line to stderr, nothing to
// stdout, and exited with code.
func wantOneLine(t *testing.T, r result, code int, contains string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d (stderr %q)", r.code, code, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout %q, want nothing", r.stdout)
	}
	if strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("stderr %q, want exactly one line", r.stderr)
	}
	if !strings.Contains(r.stderr, contains) {
		t.Errorf("stderr %q, want it to contain %q", r.stderr, contains)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		r := runTandem(t, args...)
		if r.code != 0 || r.stderr != "" {
			t.Errorf("tandem %s: exit %d, stderr %q", args[0], r.code, r.stderr)
		}
		for _, name := range []string{"demo", "serve", "call", "list"} {
			if !strings.Contains(r.stdout, "\n  "+name+" ") {
				t.Errorf("tandem %s does not list %q:\n%s", args[0], name, r.stdout)
			}
		}
	}
	r := runTandem(t, "call", "-h")
	if r.code != 0 || !strings.Contains(r.stdout, "Usage: tandem call") || !strings.Contains(r.stdout, "-timeout") {
		t.Errorf("tandem call -h: exit %d, stdout %q", r.code, r.stdout)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		code     int
		contains string
	}{
		{nil, exitUsage, "missing command"},
		{[]string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{[]string{"call", "-bogus", "tcp://127.0.0.1:1", "Calc.Add"}, exitUsage, "flag provided but not defined: -bogus"},
		{[]string{"call", "-timeout", "soon", "tcp://127.0.0.1:1", "Calc.Add"}, exitUsage, "-timeout"},
		{[]string{"call", "tcp://127.0.0.1:1"}, exitUsage, "want an address and a Service.Method"},
		{[]string{"call", "tcp://127.0.0.1:1", "Add"}, exitUsage, "not of the form Service.Method"},
		{[]string{"call", "-codec", "xml", "tcp://127.0.0.1:1", "Calc.Add"}, exitUsage, "-codec"},
		{[]string{"call", "tcp://127.0.0.1:1", "Calc.Echo", "hi"}, exitUsage, "argument 1 is not JSON"},
		{[]string{"list"}, exitUsage, "want exactly one address"},
		{[]string{"serve"}, exitUsage, "want exactly one address"},
		{[]string{"serve", "-codecs", "msgpack,xml", "tcp://127.0.0.1:0"}, exitUsage, `unknown codec "xml"`},
		{[]string{"demo", "extra"}, exitUsage, "takes no arguments"},
		{[]string{"serve", "ftp://127.0.0.1:0"}, exitFailure, "unsupported scheme"},
		{[]string{"serve", "tcp://256.0.0.1:0"}, exitFailure, "tandem serve:"},
	} {
		t.Run(strings.Join(append([]string{"tandem"}, tc.args...), " "), func(t *testing.T) {
			t.Parallel()
			wantOneLine(t, runTandem(t, tc.args...), tc.code, tc.contains)
		})
	}
}

func TestUnreachable(t *testing.T) {
	// A listener that is closed at once gives a port nothing listens on.
	missing := "unix://" + filepath.Join(t.TempDir(), "nobody.sock")
	for _, args := range [][]string{
		{"call", missing, "Calc.Add", "1", "2"},
		{"list", missing},
		{"call", "-codec", "msgpack", missing, "Calc.Add", "1", "2"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			wantOneLine(t, runTandem(t, args...), exitFailure, "tandem "+args[0]+": ")
		})
	}
}

func TestServeCallList(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			addr := "tcp://127.0.0.1:0"
			if network == "unix" {
				addr = "unix://" + filepath.Join(t.TempDir(), "calc.sock")
			}
			srv := startServe(t, addr)
			if network == "unix" && srv.addr != addr {
				t.Errorf("serving on %q, want %q", srv.addr, addr)
			}
			testCalls(t, srv.addr)
		})
	}
}

func testCalls(t *testing.T, addr string) {
	for _, codec := range []string{"json", "msgpack"} {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"Calc.Add", "2", "3"}, "5\n"},
			{[]string{"Calc.Echo", `"hello, world"`}, "\"hello, world\"\n"},
			{[]string{"Calc.Div", "7", "2"}, "3.5\n"},
			{[]string{"Calc.Sleep", "1"}, "\"slept 1ms\"\n"},
		} {
			t.Run(codec+" "+strings.Join(tc.args, " "), func(t *testing.T) {
				t.Parallel()
				r := runTandem(t, append([]string{"call", "-codec", codec, addr}, tc.args...)...)
				if r.code != 0 || r.stdout != tc.want || r.stderr != "" {
					t.Errorf("exit %d, stdout %q, stderr %q; want exit 0, stdout %q", r.code, r.stdout, r.stderr, tc.want)
				}
			})
		}
		t.Run(codec+" Calc.Stats", func(t *testing.T) {
			t.Parallel()
			r := runTandem(t, "call", "-codec", codec, addr, "Calc.Stats")
			if r.code != 0 || !strings.HasPrefix(r.stdout, "{\n  \"") || !strings.Contains(r.stdout, `"calls": `) {
				t.Errorf("exit %d, stdout %q, stderr %q; want an indented object with calls", r.code, r.stdout, r.stderr)
			}
		})
		for _, tc := range []struct {
			flags, args []string
			want        string
		}{
			{nil, []string{"Calc.Div", "1", "0"}, "error: invalid_argument: division by zero (dividend=1)\n"},
			{nil, []string{"Calc.Add", "1"}, "error: invalid_argument: Calc.Add: want 2 arguments, got 1"},
			{nil, []string{"Calc.Nope"}, "error: not_found: "},
			{nil, []string{"Nope.Add"}, "error: not_found: "},
			{[]string{"-timeout", "50ms"}, []string{"Calc.Sleep", "10000"}, "deadline_exceeded"},
		} {
			t.Run(codec+" "+strings.Join(append(tc.flags, tc.args...), " "), func(t *testing.T) {
				t.Parallel()
				args := append([]string{"call", "-codec", codec}, tc.flags...)
				args = append(append(args, addr), tc.args...)
				wantOneLine(t, runTandem(t, args...), exitFailure, tc.want)
			})
		}
	}
	t.Run("list", func(t *testing.T) {
		t.Parallel()
		r := runTandem(t, "list", addr)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
		for _, want := range []string{
			"Calc (concurrent)\n",
			"  Add     func(a int, b int) int\n",
			"  Sleep   func(ctx context.Context, a int) (string, error)\n",
			"  Whoami  func(ctx context.Context) string\n",
			"Tandem (concurrent)\n",
			"  Describe  func(ctx context.Context) ([]tandem.ServiceInfo, error)\n",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("list output lacks %q:\n%s", want, r.stdout)
			}
		}
	})
}

func TestServeRefusesCodec(t *testing.T) {
	srv := startServe(t, "-codecs", "msgpack", "unix://"+filepath.Join(t.TempDir(), "m.sock"))
	if r := runTandem(t, "call", "-codec", "msgpack", srv.addr, "Calc.Add", "1", "2"); r.code != 0 || r.stdout != "3\n" {
		t.Errorf("msgpack call: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	wantOneLine(t, runTandem(t, "call", srv.addr, "Calc.Add", "1", "2"), exitFailure, `codec "json" not accepted`)
}

func TestDemo(t *testing.T) {
	start := time.Now()
	r := runTandem(t, "demo")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("tandem demo: exit %d, stderr %q\n%s", r.code, r.stderr, r.stdout)
	}
	checkDemoOutput(t, r.stdout)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("tandem demo took %v", d)
	}
}

// TestDemoInProcess runs the demo's code under this test's race detector and leak check.
func TestDemoInProcess(t *testing.T) {
	var out bytes.Buffer
	if err := demo(t.Context(), &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	checkDemoOutput(t, out.String())
}

func checkDemoOutput(t *testing.T, out string) {
	t.Helper()
	for _, want := range []string{
		"sync call ",
		"  Calc.Add(2, 3) = 5 (the first call fills the codec's caches)\n",
		"  Calc.Add(20, 22) = 42\n",
		"timeout ",
		"  Calc.Sleep(5000) with a 100ms deadline: deadline_exceeded; errors.Is(err, context.DeadlineExceeded) = true\n",
		"the handler saw ctx.Done after ",
		"async call ",
		"  Go(Calc.Echo) returned at once",
		`callback ran: Calc.Echo("hello") = "hello"`,
		"notify ",
		`  Notify(Calc.Note, "hi") returned`,
		`the server ran Calc.Note: got "hi"`,
		"callback ",
		"client ran Client.Progress(1, 3)\n",
		"client ran Client.Progress(3, 3)\n",
		`Jobs.Run(3) = "3 steps done"`,
		"remote error ",
		`  Calc.Div(1, 0): code invalid_argument, message "division by zero", detail dividend=1, remote true`,
		"Calc.Sqrt(2): code not_found, errors.Is(err, tandem.ErrUnknownMethod) = true",
		"serialized ",
		"  100 concurrent Counter.Incr calls run one at a time, no locks: Counter.Value() = 100\n",
		"done: the server shuts down gracefully\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}
