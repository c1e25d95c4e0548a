// Command client calls the calculator example's server through a [calc.Calculator], as if
// the calculator were a local object.
//
//	go run ./examples/calculator/client -addr tcp://127.0.0.1:9000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/tandem-rpc/tandem"
	"github.com/tandem-rpc/tandem/examples/calculator/calc"
)

func main() {
	addr := flag.String("addr", "tcp://127.0.0.1:9000", "address of the calculator server")
	flag.Parse()
	if err := run(*addr); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}

func run(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	peer, err := tandem.Dial(ctx, addr)
	if err != nil {
		return err
	}
	defer peer.Close()

	var c calc.Calculator = calc.NewClient(peer)
	sum, err := c.Add(ctx, 7, 5)
	if err != nil {
		return err
	}
	fmt.Println("7 + 5 =", sum)
	product, err := c.Mul(ctx, sum, 3)
	if err != nil {
		return err
	}
	fmt.Println("12 * 3 =", product)
	quotient, err := c.Div(ctx, product, 4)
	if err != nil {
		return err
	}
	fmt.Println("36 / 4 =", quotient)

	// A remote error keeps its code; errors.As finds it.
	_, err = c.Div(ctx, 1, 0)
	var te *tandem.Error
	if !errors.As(err, &te) || !te.Remote() {
		return fmt.Errorf("1 / 0: want a remote error, got %v", err)
	}
	fmt.Printf("1 / 0 failed: %s: %s\n", te.Code, te.Message)
	return nil
}
