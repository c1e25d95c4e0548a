package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/tandem-rpc/tandem/gen"
)

func init() {
	commands["gen"] = command{
		summary: "write typed clients and server adapters for Go interfaces",
		run:     runGen,
	}
}

// runGen is 'tandem gen -type A[,B] [-output file] [dir]'. It prints nothing on success,
// like other generators, so go generate stays quiet.
func runGen(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCLI("gen", "tandem gen -type Name[,Name...] [-output file] [package dir]", stdout, stderr)
	typeList := c.fs.String("type", "", "comma-separated `names` of the interfaces to generate code for (required)")
	output := c.fs.String("output", "", "output `file`; default: the first type, lower-cased, with _tandem.go, in the package directory")
	if code := c.parse(args); code >= 0 {
		return code
	}
	if *typeList == "" {
		return c.usageError("-type is required")
	}
	dir := "."
	switch c.fs.NArg() {
	case 0:
	case 1:
		dir = c.fs.Arg(0)
	default:
		return c.usageError("at most one package directory, got %d", c.fs.NArg())
	}
	var types []string
	for _, t := range strings.Split(*typeList, ",") {
		if t = strings.TrimSpace(t); t != "" {
			types = append(types, t)
		}
	}
	f, err := gen.Generate(ctx, gen.Config{Dir: dir, Types: types, Output: *output})
	if err == nil {
		err = f.Write()
	}
	if err != nil {
		// Not cli.fail: the generator's errors list one problem per line.
		fmt.Fprintln(stderr, err)
		return exitFailure
	}
	return exitOK
}
