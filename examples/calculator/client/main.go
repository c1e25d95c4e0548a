// Command client calls the calculator example's server through a [calc.Calculator], as if
// the calculator were a local object: past the dial, nothing in it says the object is
// remote. The generated [calc.NewCalculatorClient] checks on the first call that the
// server serves the same Calculator.
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

	return compute(ctx, calc.NewCalculatorClient(peer))
}

// compute is written against the interface alone; a local calc.Service would do as well.
func compute(ctx context.Context, c calc.Calculator) error {
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

	// Div's documented error arrives with its code and message, as it would locally.
	_, err = c.Div(ctx, 1, 0)
	var te *tandem.Error
	if !errors.As(err, &te) || te.Code != tandem.CodeInvalidArgument {
		return fmt.Errorf("1 / 0: want an invalid-argument error, got %v", err)
	}
	fmt.Printf("1 / 0 failed: %s: %s\n", te.Code, te.Message)
	return nil
}
