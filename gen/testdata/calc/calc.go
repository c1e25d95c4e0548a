// Package calc is a six-method contract, the size benchmark for generated code.
package calc

import (
	"context"
	"time"
)

// Stats is a struct result.
type Stats struct {
	Calls int
	Since time.Time
}

// Calculator is the contract.
type Calculator interface {
	Add(ctx context.Context, a, b int) (int, error)
	Div(ctx context.Context, a, b float64) (float64, error)
	Sum(ctx context.Context, xs ...int) (int, error)
	Stats(ctx context.Context) (Stats, error)
	Sleep(ctx context.Context, d time.Duration) error
	Lookup(ctx context.Context, names []string, by map[string][]byte) (*Stats, error)
}
