// Command server serves the calculator example's [calc.Service] until interrupted, through
// the generated, reflection-free [calc.RegisterCalculator].
//
//	go run ./examples/calculator/server -addr tcp://127.0.0.1:9000
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tandem-rpc/tandem"
	"github.com/tandem-rpc/tandem/examples/calculator/calc"
)

func main() {
	addr := flag.String("addr", "tcp://127.0.0.1:9000", "address to listen on (tcp://host:port or unix:///path)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

// run serves the calculator on addr until ctx ends, then shuts down gracefully.
func run(ctx context.Context, addr string) error {
	srv, err := tandem.NewServer()
	if err != nil {
		return err
	}
	if err := calc.RegisterCalculator(srv, &calc.Service{}); err != nil {
		return err
	}
	ln, err := tandem.Listen(addr)
	if err != nil {
		return err
	}
	fmt.Printf("calculator serving on %s://%s\n", ln.Addr().Network(), ln.Addr())

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		srv.Close()
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	<-served
	fmt.Println("calculator stopped")
	return nil
}
