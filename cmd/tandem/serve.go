package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/tandem-rpc/tandem"
)

func init() {
	commands["serve"] = command{summary: "serve a demo Calc object until interrupted", run: runServe}
}

// shutdownGrace bounds how long serve lets calls in progress finish after a signal.
const shutdownGrace = 5 * time.Second

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCLI("serve", "tandem serve [-codecs msgpack,json,gob] [-tls-cert file -tls-key file [-tls-ca file]] [-token secret] ADDR", stdout, stderr)
	codecs := c.fs.String("codecs", "msgpack,json", "comma-separated codecs to accept; the first is also proposed when dialing")
	var sec serveSecurity
	sec.register(c)
	if code := c.parse(args); code >= 0 {
		return code
	}
	if c.fs.NArg() != 1 {
		return c.usageError("want exactly one address, got %d arguments", c.fs.NArg())
	}
	if err := sec.check(); err != nil {
		return c.usageError("%v", err)
	}
	var accept []tandem.Codec
	for _, name := range strings.Split(*codecs, ",") {
		codec, err := codecByName(strings.TrimSpace(name))
		if err != nil {
			return c.usageError("-codecs: %v", err)
		}
		accept = append(accept, codec)
	}
	secOpts, err := sec.options()
	if err != nil {
		return c.fail(err)
	}
	srv, err := tandem.NewServer(append(secOpts, tandem.WithCodec(accept[0]), tandem.WithAcceptCodecs(accept...))...)
	if err != nil {
		return c.fail(err)
	}
	if err := srv.Register(newCalc()); err != nil {
		return c.fail(err)
	}
	ln, err := tandem.Listen(c.fs.Arg(0))
	if err != nil {
		return c.fail(err)
	}
	if sec.plaintextToken(c.fs.Arg(0)) {
		fmt.Fprintf(stderr, "tandem serve: warning: the token crosses the network in clear text; add -tls-cert and -tls-key\n")
	}
	fmt.Fprintf(stdout, "serving on %s\n", listenAddr(ln))

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served: // the listener failed
		srv.Close()
		return c.fail(err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-served; !errors.Is(serr, tandem.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return c.fail(fmt.Errorf("shutdown: %w", err))
	}
	fmt.Fprintln(stdout, "shut down")
	return exitOK
}

// listenAddr renders a listener's address in the form Listen and Dial take, with the port
// the system chose for ":0".
func listenAddr(ln net.Listener) string {
	a := ln.Addr()
	return a.Network() + "://" + a.String()
}
