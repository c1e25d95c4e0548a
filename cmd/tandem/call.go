package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tandem-rpc/tandem"
)

func init() {
	commands["call"] = command{summary: "call a method with JSON arguments and print its result", run: runCall}
	commands["list"] = command{summary: "list the services and methods at an address", run: runList}
}

// connFlags are the flags of every command that dials.
type connFlags struct {
	timeout time.Duration
	codec   string
	sec     dialSecurity
}

func (f *connFlags) register(c *cli) {
	c.fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "give up after this long, dialing included")
	c.fs.StringVar(&f.codec, "codec", "json", "codec to propose: json or msgpack")
	f.sec.register(c)
}

// check reports a wrong flag, as a usage error.
func (f *connFlags) check() error {
	switch {
	case f.codec != "json" && f.codec != "msgpack":
		return fmt.Errorf("-codec: want json or msgpack, got %q", f.codec)
	case f.timeout <= 0:
		return errors.New("-timeout: must be positive")
	}
	return f.sec.check()
}

// dial connects with the flags' codec, TLS settings and token, within ctx.
func (f *connFlags) dial(ctx context.Context, addr string) (*tandem.Peer, error) {
	codec, err := codecByName(f.codec)
	if err != nil {
		return nil, err
	}
	opts, err := f.sec.options()
	if err != nil {
		return nil, err
	}
	peer, err := tandem.Dial(ctx, addr, append(opts, tandem.WithCodec(codec))...)
	if err != nil {
		return nil, f.sec.explain(err)
	}
	return peer, nil
}

func runCall(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCLI("call", "tandem call [-timeout d] [-codec json|msgpack] [TLS flags] [-token secret] ADDR Service.Method [ARG...]", stdout, stderr)
	var f connFlags
	f.register(c)
	if code := c.parse(args); code >= 0 {
		return code
	}
	if c.fs.NArg() < 2 {
		return c.usageError("want an address and a Service.Method")
	}
	if err := f.check(); err != nil {
		return c.usageError("%v", err)
	}
	addr, method := c.fs.Arg(0), c.fs.Arg(1)
	if !strings.Contains(method, ".") {
		return c.usageError("method %q is not of the form Service.Method", method)
	}
	callArgs := make([]any, 0, c.fs.NArg()-2)
	for i, a := range c.fs.Args()[2:] {
		v, err := parseArg(a, f.codec)
		if err != nil {
			return c.usageError("argument %d is not JSON: %v (quote strings: '\"text\"')", i+1, err)
		}
		callArgs = append(callArgs, v)
	}

	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	peer, err := f.dial(ctx, addr)
	if err != nil {
		return c.fail(err)
	}
	defer peer.Close()

	// With json the result arrives as its JSON text; with msgpack it is decoded generically.
	var raw json.RawMessage
	var generic any
	result := any(&raw)
	if f.codec != "json" {
		result = &generic
	}
	if err := peer.Call(ctx, method, result, callArgs...); err != nil {
		return callFailure(c, err)
	}
	out := []byte(raw)
	if f.codec != "json" {
		if out, err = json.Marshal(jsonable(generic)); err != nil {
			return c.fail(fmt.Errorf("printing the result: %w", err))
		}
	}
	if len(out) == 0 {
		return exitOK // the method returns only an error
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, out, "", "  "); err != nil {
		return c.fail(fmt.Errorf("printing the result: %w", err))
	}
	pretty.WriteByte('\n')
	_, _ = stdout.Write(pretty.Bytes())
	return exitOK
}

// callFailure prints a remote error as "error: code: message" and anything else as a
// failure of the command.
func callFailure(c *cli, err error) int {
	var te *tandem.Error
	if !errors.As(err, &te) || !te.Remote() {
		return c.fail(err)
	}
	line := "error: " + te.Code.String() + ": " + oneLine(te.Message)
	if len(te.Details) > 0 {
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(te.Details)) {
			kv = append(kv, k+"="+te.Details[k])
		}
		line += " (" + oneLine(strings.Join(kv, ", ")) + ")"
	}
	fmt.Fprintln(c.stderr, line)
	return exitFailure
}

// parseArg checks that a is one JSON value. For json it is passed through as is, so the
// server decodes it into the parameter's type; for other codecs it is decoded, keeping
// integers integral.
func parseArg(a, codec string) (any, error) {
	var v any
	if err := json.Unmarshal([]byte(a), &v); err != nil {
		return nil, err
	}
	if codec == "json" {
		return json.RawMessage(a), nil
	}
	dec := json.NewDecoder(strings.NewReader(a))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return fromJSON(v), nil
}

// fromJSON replaces json.Number with int64 or float64 throughout v.
func fromJSON(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	case []any:
		for i := range v {
			v[i] = fromJSON(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = fromJSON(v[k])
		}
	}
	return v
}

// jsonable turns what a generic decoder produced into values encoding/json can print,
// such as maps with non-string keys.
func jsonable(v any) any {
	switch v := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case map[string]any:
		for k := range v {
			v[k] = jsonable(v[k])
		}
	case []any:
		for i := range v {
			v[i] = jsonable(v[i])
		}
	}
	return v
}

func runList(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCLI("list", "tandem list [-timeout d] [-codec json|msgpack] [TLS flags] [-token secret] ADDR", stdout, stderr)
	var f connFlags
	f.register(c)
	if code := c.parse(args); code >= 0 {
		return code
	}
	if c.fs.NArg() != 1 {
		return c.usageError("want exactly one address, got %d arguments", c.fs.NArg())
	}
	if err := f.check(); err != nil {
		return c.usageError("%v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	peer, err := f.dial(ctx, c.fs.Arg(0))
	if err != nil {
		return c.fail(err)
	}
	defer peer.Close()
	var services []tandem.ServiceInfo
	if err := peer.Call(ctx, tandem.IntrospectionService+".Describe", &services); err != nil {
		return callFailure(c, err)
	}
	for i, svc := range services {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprintf(stdout, "%s (%s)\n", svc.Name, svc.Mode)
		width := 0
		for _, m := range svc.Methods {
			width = max(width, len(m.Name))
		}
		for _, m := range svc.Methods {
			fmt.Fprintf(stdout, "  %-*s  %s\n", width, m.Name, m.Signature)
		}
	}
	return exitOK
}
