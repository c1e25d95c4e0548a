// Command tandem shows, serves and calls tandem objects from the shell, and generates typed
// code for them.
//
// Usage:
//
//	tandem demo                                  run a server and a client in one process
//	tandem serve [-codecs list] ADDR             serve a demo Calc object until interrupted
//	tandem call [-timeout d] [-codec c] ADDR Service.Method [ARG...]
//	                                             call a method; ARGs and the result are JSON
//	tandem list [-timeout d] [-codec c] ADDR     describe the services at ADDR
//	tandem gen -type Name [-output file] [dir]   write typed clients for Go interfaces
//	tandem help                                  list the commands
//
// ADDR is "tcp://host:port", "unix:///path" or "host:port". A remote error prints as
// "error: code: message". Usage errors exit with status 2, failures with status 1, and
// either prints one line on standard error.
//
// serve takes -tls-cert and -tls-key to serve TLS, -tls-ca to require client certificates
// from that CA (mutual TLS), and -token to require a shared token. call, list and bench take
// -tls, -tls-ca, -tls-client-cert, -tls-client-key, -tls-server-name and -token. -token
// defaults to $TANDEM_TOKEN, which keeps it out of the process list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

// command is one subcommand. Each command's file adds itself to commands in an init func,
// so new commands (such as gen) plug in without touching this file.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{}

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed: unreachable address, remote error
	exitUsage   = 2 // the command line was wrong
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches args[0] to its command.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "tandem: missing command (run 'tandem help' for a list)")
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		printHelp(stdout)
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "tandem: unknown command %q (run 'tandem help' for a list)\n", args[0])
		return exitUsage
	}
	return cmd.run(ctx, args[1:], stdout, stderr)
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "tandem calls the methods of Go objects in other processes.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: tandem COMMAND [flags] [args]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-8s %s\n", name, commands[name].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "ADDR is tcp://host:port, unix:///path or host:port. Run 'tandem COMMAND -h' for a command's flags.")
}

// cli is one command's flags and output, so every command reports errors the same way.
type cli struct {
	fs     *flag.FlagSet
	usage  string // one line: "tandem call [-timeout d] ADDR ..."
	stdout io.Writer
	stderr io.Writer
}

// newCLI returns the flag set of the named command. It never prints on its own: parse
// reports its errors.
func newCLI(name, usage string, stdout, stderr io.Writer) *cli {
	fs := flag.NewFlagSet("tandem "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &cli{fs: fs, usage: usage, stdout: stdout, stderr: stderr}
}

// parse parses args. It returns -1 to go on, or the exit status to return: 0 after
// printing help for -h, 2 after printing one line for a bad flag.
func (c *cli) parse(args []string) int {
	err := c.fs.Parse(args)
	switch {
	case err == nil:
		return -1
	case errors.Is(err, flag.ErrHelp):
		c.printUsage()
		return exitOK
	}
	return c.usageError("%v", err)
}

// usageError prints one line about a wrong command line and returns [exitUsage].
func (c *cli) usageError(format string, args ...any) int {
	fmt.Fprintf(c.stderr, "%s: %s (usage: %s)\n", c.fs.Name(), fmt.Sprintf(format, args...), c.usage)
	return exitUsage
}

// fail prints one line about a failed command and returns [exitFailure].
func (c *cli) fail(err error) int {
	msg := strings.TrimPrefix(err.Error(), "tandem: ") // the line starts with "tandem cmd:"
	fmt.Fprintf(c.stderr, "%s: %s\n", c.fs.Name(), oneLine(msg))
	return exitFailure
}

func (c *cli) printUsage() {
	fmt.Fprintf(c.stdout, "Usage: %s\n", c.usage)
	first := true
	c.fs.VisitAll(func(f *flag.Flag) {
		if first {
			fmt.Fprintln(c.stdout, "Flags:")
			first = false
		}
		name, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(c.stdout, "  -%s %s\n    \t%s", f.Name, name, usage)
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" {
			fmt.Fprintf(c.stdout, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(c.stdout)
	})
}

// oneLine keeps an error message to one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
