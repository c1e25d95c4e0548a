// Package examples_test runs each example's server and client as real processes and checks
// what they print.
package examples_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

var (
	bin         string // directory of the built examples
	raceEnabled bool   // build the examples with -race, so a race in a child fails its test
)

// programs are the example programs, built once by TestMain and named after their paths.
var programs = []string{"calculator/server", "calculator/client", "chat/server", "chat/client"}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tandem-examples-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = dir
	// The race runtime sleeps a second at exit unless told not to.
	os.Setenv("GORACE", strings.TrimSpace("atexit_sleep_ms=0 "+os.Getenv("GORACE")))
	for _, p := range programs {
		args := []string{"build", "-o", program(p)}
		if raceEnabled {
			args = append(args, "-race")
		}
		if out, err := exec.Command("go", append(args, "./"+p)...).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", p, err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		os.RemoveAll(dir)
		os.Exit(code)
	}))
}

func program(path string) string { return filepath.Join(bin, strings.ReplaceAll(path, "/", "-")) }

// proc is a running example program whose output is read line by line.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // stdout, closed at EOF
	stderr bytes.Buffer
}

// start runs an example program with args; it is killed at cleanup if still running.
func start(t *testing.T, path string, args ...string) *proc {
	t.Helper()
	p := &proc{name: path, cmd: exec.Command(program(path), args...), lines: make(chan string, 64)}
	p.cmd.Stderr = &p.stderr
	p.cmd.WaitDelay = 10 * time.Second
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.wait(t)
		}
	})
	return p
}

// expect reads lines until one satisfies ok, failing after a generous timeout.
func (p *proc) expect(t *testing.T, what string, ok func(line string) bool) string {
	t.Helper()
	timeout := time.After(30 * time.Second)
	var seen []string
	for {
		select {
		case line, open := <-p.lines:
			if !open {
				t.Fatalf("%s ended before printing %s; printed %q; stderr %q", p.name, what, seen, p.stderr.String())
			}
			if ok(line) {
				return line
			}
			seen = append(seen, line)
		case <-timeout:
			t.Fatalf("%s did not print %s; printed %q", p.name, what, seen)
		}
	}
}

func (p *proc) expectLine(t *testing.T, want string) {
	t.Helper()
	p.expect(t, fmt.Sprintf("%q", want), func(l string) bool { return l == want })
}

// wait waits for the program to exit, returns the rest of its output, and fails the test
// if it exited with an error.
func (p *proc) wait(t *testing.T) []string {
	t.Helper()
	var rest []string
	for l := range p.lines {
		rest = append(rest, l)
	}
	if err := p.cmd.Wait(); err != nil && !p.cmd.ProcessState.Exited() {
		return rest // killed at cleanup
	} else if err != nil {
		t.Errorf("%s: %v; stderr %q", p.name, err, p.stderr.String())
	}
	return rest
}

// interrupt asks a server to shut down and checks that it says it stopped.
func (p *proc) interrupt(t *testing.T, stopped string) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if rest := p.wait(t); !slices.Contains(rest, stopped) {
		t.Errorf("%s printed %q after interrupt, want %q", p.name, rest, stopped)
	}
}

// serve starts an example server on a fresh address and returns the address it prints.
func serve(t *testing.T, path, prefix string) (*proc, string) {
	t.Helper()
	srv := start(t, path, "-addr", "tcp://127.0.0.1:0")
	line := srv.expect(t, "its address", func(l string) bool { return strings.HasPrefix(l, prefix) })
	return srv, strings.TrimPrefix(line, prefix)
}

func TestCalculator(t *testing.T) {
	srv, addr := serve(t, "calculator/server", "calculator serving on ")
	client := start(t, "calculator/client", "-addr", addr)
	client.stdin.Close()
	got := strings.Join(client.wait(t), "\n")
	want := strings.Join([]string{
		"7 + 5 = 12",
		"12 * 3 = 36",
		"36 / 4 = 9",
		"1 / 0 failed: invalid_argument: division by zero",
	}, "\n")
	if got != want {
		t.Errorf("client printed:\n%s\nwant:\n%s", got, want)
	}
	srv.interrupt(t, "calculator stopped")
}

func TestCalculatorUnreachable(t *testing.T) {
	client := start(t, "calculator/client", "-addr", "unix://"+filepath.Join(t.TempDir(), "none.sock"))
	client.stdin.Close()
	for range client.lines {
	}
	if err := client.cmd.Wait(); err == nil || !strings.HasPrefix(client.stderr.String(), "client: ") {
		t.Errorf("client against no server: %v, stderr %q; want a failure", err, client.stderr.String())
	}
}

func TestChat(t *testing.T) {
	srv, addr := serve(t, "chat/server", "chat serving on ")

	alice := start(t, "chat/client", "-addr", addr, "-name", "alice")
	alice.expectLine(t, "joined as alice; in the room: alice")
	srv.expectLine(t, "alice joined")

	bob := start(t, "chat/client", "-addr", addr, "-name", "bob")
	bob.expectLine(t, "joined as bob; in the room: alice, bob")
	alice.expectLine(t, "* bob joined")

	// A taken name is refused with the server's error.
	carol := start(t, "chat/client", "-addr", addr, "-name", "bob")
	carol.stdin.Close()
	for range carol.lines {
	}
	if err := carol.cmd.Wait(); err == nil || !strings.Contains(carol.stderr.String(), `already_exists: the name "bob" is taken`) {
		t.Errorf("second bob: %v, stderr %q; want the name refused", err, carol.stderr.String())
	}

	// bob's lines reach alice through her own Member.Receive, in order; then bob leaves.
	io.WriteString(bob.stdin, "hello alice\nhow are you?\n")
	alice.expectLine(t, "bob: hello alice")
	alice.expectLine(t, "bob: how are you?")
	bob.stdin.Close()
	if rest := bob.wait(t); len(rest) != 0 {
		t.Errorf("bob printed %q, want nothing: senders do not get their own lines", rest)
	}
	alice.expectLine(t, "* bob left")

	io.WriteString(alice.stdin, "bye\n")
	alice.stdin.Close()
	alice.wait(t)
	srv.interrupt(t, "chat stopped")
}
