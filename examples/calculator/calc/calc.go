// Package calc is the contract of the calculator example: the [Calculator] interface both
// programs share and the implementation the server exposes ([Service]). The typed client
// ([NewCalculatorClient]) and server adapter ([RegisterCalculator]) are generated into
// calculator_tandem.go by tandem gen.
package calc

//go:generate go run github.com/tandem-rpc/tandem/cmd/tandem gen -type Calculator

import (
	"context"

	"github.com/tandem-rpc/tandem"
)

// Calculator is the remote interface. Each method takes a context, which carries the
// caller's deadline to the server, and returns an error, which may come from the network.
type Calculator interface {
	Add(ctx context.Context, a, b int) (int, error)
	Sub(ctx context.Context, a, b int) (int, error)
	Mul(ctx context.Context, a, b int) (int, error)
	// Div fails with [tandem.CodeInvalidArgument] when b is zero.
	Div(ctx context.Context, a, b int) (int, error)
}

// Service implements [Calculator]. It holds no state, so it is safe for concurrent use.
type Service struct{}

var _ Calculator = Service{}

// Add returns a + b.
func (Service) Add(_ context.Context, a, b int) (int, error) { return a + b, nil }

// Sub returns a - b.
func (Service) Sub(_ context.Context, a, b int) (int, error) { return a - b, nil }

// Mul returns a * b.
func (Service) Mul(_ context.Context, a, b int) (int, error) { return a * b, nil }

// Div returns a / b, rounded toward zero.
func (Service) Div(_ context.Context, a, b int) (int, error) {
	if b == 0 {
		return 0, tandem.NewError(tandem.CodeInvalidArgument, "division by zero")
	}
	return a / b, nil
}
